"""A small Chrome DevTools Protocol client for the browser tests: headless Debian ``chromium``
driven over a websocket with aiohttp's client (already a dependency), no extra package.

:class:`Browser` starts chromium with ``--remote-debugging-port=0``, reads the port from the
profile's ``DevToolsActivePort`` file, and runs the protocol on its own event loop in a thread,
so tests call it synchronously. Each :class:`Page` is a target attached in flat mode; it records
console errors, uncaught exceptions and every URL the page requested.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson

T = TypeVar("T")

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--font-render-hinting=none", "--remote-debugging-port=0",
)  # fmt: skip


def find_chromium() -> str | None:
    for name in (os.environ.get("SWITCHPOINT_TEST_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


class CDPError(Exception):
    pass


class Browser:
    def __init__(self, executable: str) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="switchpoint-chromium-")
        self._process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cdp", daemon=True)
        self._thread.start()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        try:
            self.run(self._connect(Path(self._profile.name) / "DevToolsActivePort"))
        except BaseException:
            self.close()
            raise

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _connect(self, port_file: Path) -> None:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self._process.poll() is not None:
                raise CDPError(f"chromium exited with status {self._process.returncode}")
            if time.monotonic() > deadline:
                raise CDPError("chromium did not open its DevTools port")
            await asyncio.sleep(0.02)
        port, path = port_file.read_text().splitlines()[:2]
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = orjson.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(CDPError(str(data["error"])))
                    else:
                        future.set_result(data.get("result", {}))
            elif "sessionId" in data:
                self.events.setdefault(data["sessionId"], []).append(data)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CDPError("the DevTools connection closed"))

    async def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self._ws.send_str(orjson.dumps(message).decode())  # DevTools reads text frames only
        return await asyncio.wait_for(future, 30)

    def page(self, width: int = 1440, height: int = 900) -> Page:
        return Page(self, width, height)

    def close(self) -> None:
        async def shutdown() -> None:
            if hasattr(self, "_ws"):
                try:
                    await asyncio.wait_for(self.send("Browser.close"), 5)
                except (CDPError, TimeoutError, ConnectionError):
                    pass
                await self._ws.close()
                await self._session.close()

        try:
            self.run(shutdown(), timeout=10)
        finally:
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
            self._profile.cleanup()


class Page:
    """One tab. ``errors`` holds console errors and uncaught exceptions; ``requests`` every URL fetched."""

    def __init__(self, browser: Browser, width: int, height: int) -> None:
        self.browser = browser
        target = browser.run(browser.send("Target.createTarget", url="about:blank"))
        self.target = target["targetId"]
        attached = browser.run(browser.send("Target.attachToTarget", targetId=self.target, flatten=True))
        self.session: str = attached["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Network.enable"):
            self.send(domain)
        self.send("Page.bringToFront")  # only the front tab renders frames (and runs animation callbacks)
        self.resize(width, height)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.run(self.browser.send(method, self.session, **params))

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)  # fmt: skip

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> None:
        """Poll until ``expression`` is truthy in the page (tested there: a DOM node has no JSON value)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.eval(f"!!({expression})")
            except CDPError:
                value = False
            if value:
                return
            if time.monotonic() > deadline:
                state = self.eval("document.body ? document.body.dataset.state + ' ' + location.href : 'no body'")
                raise AssertionError(f"timed out waiting for {expression} (page: {state}; errors: {self.errors})")
            time.sleep(0.05)

    def screenshot(self, path: Path, *, full_page: bool = True) -> None:
        """A PNG of the page; ``full_page`` grows the viewport to the document's height first."""
        if full_page:
            height = int(self.eval("Math.ceil(document.documentElement.scrollHeight)"))
            self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=max(height, self.height),
                      deviceScaleFactor=1, mobile=self.width < 600)  # fmt: skip
            time.sleep(0.15)  # let the charts redraw for the new size
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        if full_page:
            self.resize(self.width, self.height)

    @property
    def _events(self) -> list[dict[str, Any]]:
        return self.browser.events.get(self.session, [])

    @property
    def errors(self) -> list[str]:
        out = []
        for event in self._events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                out.append(str(params.get("exceptionDetails", {}).get("exception", {}).get("description")))
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
        return out

    @property
    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self._events if e["method"] == "Network.requestWillBeSent"]

    def close(self) -> None:
        self.browser.run(self.browser.send("Target.closeTarget", targetId=self.target))
