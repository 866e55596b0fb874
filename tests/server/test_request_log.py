"""The durable request log behind a served gateway: every acknowledged request is recorded (F13)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from switchpoint.storage.sqlite import SQLiteStore
from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway, chat_config, free_port

HELLO = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


async def _count(path: Path) -> tuple[int, list[str]]:
    store = SQLiteStore(str(path))
    try:
        return await store.count("requests"), await store.request_ids()
    finally:
        await store.close()


async def _fire(url: str, n: int, *, stream: bool = False) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=20, limits=limits) as client:
        calls = [client.post("/v1/chat/completions", json={**HELLO, "stream": stream}) for _ in range(n)]
        return [r for r in await asyncio.gather(*calls, return_exceptions=True) if isinstance(r, httpx.Response)]


def test_records_written_equal_requests_acknowledged(upstream: FakeOpenAIUpstream, tmp_path: Path) -> None:
    database = tmp_path / "logs.db"
    config = {**chat_config(upstream), "logs": {"url": f"sqlite:///{database}", "spool_dir": str(tmp_path / "spool"),
                                                "flush_ms": 20}}
    with ServedGateway(config) as served:
        plain = asyncio.run(_fire(served.url, 150))
        streamed = asyncio.run(_fire(served.url, 50, stream=True))
        acknowledged = {r.headers["x-request-id"] for r in [*plain, *streamed] if r.status_code == 200}
        metrics = httpx.get(served.url + "/metrics").text
    assert len(acknowledged) == 200
    count, ids = asyncio.run(_count(database))
    assert count == 200 and set(ids) == acknowledged
    assert "switchpoint_log_store_up 1" in metrics


def _writer_processes(database: Path) -> list[str]:
    """Live SQLite writer processes for this database (they run in a session of their own)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "sqlite_child" in cmdline and str(database) in cmdline:
            found.append(proc.name)
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_under_load_loses_no_acknowledged_record(
    upstream: FakeOpenAIUpstream, tmp_path: Path, sig: signal.Signals
) -> None:
    upstream.script("up-chat", latency=0.2)
    database = tmp_path / "logs.db"
    config_file = tmp_path / "switchpoint.yaml"
    config_file.write_text(
        f"logs: {{url: 'sqlite:///{database}', spool_dir: '{tmp_path / 'spool'}'}}\n"
        "models:\n  - name: chat\n    provider: openai_compat\n    model: up-chat\n"
        f"    api_base: {upstream.base_url}\n"
    )
    port = free_port()
    env = {**os.environ, "SWITCHPOINT_NO_LOCAL": "1"}
    stderr = (tmp_path / "stderr.log").open("wb")
    # A shell starts background jobs with SIGINT ignored, and children inherit that: the gateway gets
    # the default disposition back, as when started from a terminal (else Ctrl-C could not be tested).
    process = subprocess.Popen([sys.executable, "-m", "switchpoint", "serve", "--config", str(config_file),
                                "--port", str(port)], env=env, stderr=stderr,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "the gateway did not become ready"
            try:
                if httpx.get(url + "/health/readiness").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)

        async def load_then_terminate() -> list[httpx.Response]:
            # the signal comes once the first answers are back, with the rest of the load still in flight
            limits = httpx.Limits(max_connections=32)
            async with httpx.AsyncClient(base_url=url, timeout=20, limits=limits) as client:
                calls = [asyncio.create_task(client.post("/v1/chat/completions", json=HELLO)) for _ in range(120)]
                await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED, timeout=15)
                process.send_signal(sig)
                done = await asyncio.gather(*calls, return_exceptions=True)
            return [r for r in done if isinstance(r, httpx.Response)]

        responses = asyncio.run(load_then_terminate())
        # Ctrl-C ends with the shell's 130 for an interrupt, and no traceback.
        assert process.wait(30) in ((0, -signal.SIGTERM) if sig == signal.SIGTERM else (130,))
    finally:
        if process.poll() is None:
            process.kill()
        stderr.close()
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()
    assert _writer_processes(database) == []  # the writer process finished and exited with the gateway
    acknowledged = {r.headers["x-request-id"] for r in responses if r.status_code == 200}
    assert acknowledged, "some requests were served before the signal"
    count, ids = asyncio.run(_count(database))
    assert acknowledged <= set(ids)
    assert count == len(ids)


@pytest.mark.parametrize("url", ["mysql://x", "sqlite:/x"])
def test_unknown_log_url_is_a_config_error(url: str) -> None:
    from switchpoint.config.load import parse_config
    from switchpoint.errors import ConfigError

    with pytest.raises(ConfigError, match="logs.url"):
        parse_config({"logs": {"url": url}}, {})
