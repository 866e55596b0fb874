"""End-to-end tests: the real Gemma 3 270M served by a managed ``_serve`` subprocess.

They assert protocol facts (object types, usage counts, finish reasons, SSE framing),
never generated text. One server is shared by the session (see ``conftest.py``); the
tests that stop or orphan a server start their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

import switchpoint.local
from switchpoint.local.server import DEFAULT_ALIAS, LocalModelServer, LocalServerError

from .support import LoopThread, real_server_config

PROMPT = [{"role": "user", "content": "Name three colours."}]


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def serve_processes(port: int) -> list[int]:
    """Pids of live ``_serve`` children listening on ``port``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"switchpoint.local._serve" in argv and str(port).encode() in argv and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def post_json(url: str, payload: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as session, session.post(url, json=payload) as response:
        assert response.status == 200, await response.text()
        return await response.json(content_type=None)


async def post_sse(url: str, payload: dict[str, Any]) -> tuple[str, list[str]]:
    """Return the content type and the ``data:`` payloads of a streamed response, in order."""
    async with aiohttp.ClientSession() as session, session.post(url, json=payload) as response:
        assert response.status == 200, await response.text()
        events = []
        async for raw in response.content:
            line = raw.decode().strip()
            if line.startswith("data:"):
                events.append(line.removeprefix("data:").strip())
        return response.headers.get("Content-Type", ""), events


def chat_payload(server: LocalModelServer, **extra: Any) -> dict[str, Any]:
    return {"model": server.model, "messages": PROMPT, "temperature": 0, "max_tokens": 12, **extra}


def test_health_and_model_listing(local_server: LocalModelServer, loop_thread: LoopThread) -> None:
    assert loop_thread.run(local_server.health()) is True
    assert local_server.base_url.startswith("http://127.0.0.1:")
    assert local_server.base_url.endswith("/v1")
    listing = loop_thread.run(get_json(f"{local_server.base_url}/models"))
    assert listing["object"] == "list"
    assert [model["id"] for model in listing["data"]] == [DEFAULT_ALIAS]


def test_packaged_model_gets_the_gemma_chat_template(local_server: LocalModelServer, loop_thread: LoopThread) -> None:
    rendered = loop_thread.run(post_json(f"{local_server.root_url}/apply-template", {"messages": PROMPT}))
    assert rendered["prompt"].startswith("<start_of_turn>user\n")
    assert rendered["prompt"].endswith("<start_of_turn>model\n")


def test_chat_completion(local_server: LocalModelServer, loop_thread: LoopThread) -> None:
    body = loop_thread.run(post_json(f"{local_server.base_url}/chat/completions", chat_payload(local_server)))
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("length", "stop")
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    assert 0 < usage["completion_tokens"] <= 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_chat_completion_stream(local_server: LocalModelServer, loop_thread: LoopThread) -> None:
    url = f"{local_server.base_url}/chat/completions"
    content_type, events = loop_thread.run(post_sse(url, chat_payload(local_server, stream=True)))
    assert content_type.startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert len(chunks) >= 2
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    assert text.strip()
    finish = [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]]
    assert finish[-1] in ("length", "stop")
    assert all(reason is None for reason in finish[:-1])


def test_requests_after_a_stream_succeed_on_fresh_connections(
    local_server: LocalModelServer, loop_thread: LoopThread
) -> None:
    """llama.cpp closes the connection after a streamed response although it announced
    keep-alive, so a pooled client would reuse a dead socket; with ``force_close`` every
    request gets its own connection and alternating stream / non-stream calls all succeed."""

    async def alternate() -> list[int]:
        url = f"{local_server.base_url}/chat/completions"
        connector = aiohttp.TCPConnector(force_close=True)
        statuses = []
        async with aiohttp.ClientSession(connector=connector) as session:
            for stream in (True, False, True, False):
                payload = chat_payload(local_server, max_tokens=3, stream=stream)
                async with session.post(url, json=payload) as response:
                    await response.read()
                    statuses.append(response.status)
        return statuses

    assert loop_thread.run(alternate()) == [200, 200, 200, 200]


def test_supervisor_restarts_a_killed_child(local_server: LocalModelServer, loop_thread: LoopThread) -> None:
    old_pid, old_url, old_restarts = local_server.pid, local_server.base_url, local_server.restarts
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    assert wait_until(lambda: local_server.restarts > old_restarts, timeout=30)
    assert local_server.pid not in (None, old_pid)
    assert local_server.base_url == old_url
    assert loop_thread.run(local_server.health()) is True
    body = loop_thread.run(post_json(f"{old_url}/chat/completions", chat_payload(local_server, max_tokens=2)))
    assert body["object"] == "chat.completion"
    assert not process_alive(old_pid)


def test_stop_leaves_no_process(local_model_cache: Path) -> None:
    async def scenario() -> tuple[int, int, bool]:
        async with LocalModelServer(real_server_config(local_model_cache, ctx_size=512)) as server:
            pid, port = server.pid, int(server.base_url.rsplit(":", 1)[1].split("/")[0])
            assert pid is not None
            assert serve_processes(port) == [pid]
        return pid, port, await server.health()

    pid, port, healthy_after_stop = asyncio.run(scenario())
    assert healthy_after_stop is False
    assert not process_alive(pid)
    assert serve_processes(port) == []


PARENT_SCRIPT = """
import asyncio, sys
from pathlib import Path
from switchpoint.local.server import LocalModelServer, LocalServerConfig

async def main() -> None:
    config = LocalServerConfig(cache_dir=Path(sys.argv[1]), threads=1, ctx_size=512)
    server = LocalModelServer(config)
    await server.start()
    sys.stdout.write(f"{server.pid}\\n")
    sys.stdout.flush()
    await asyncio.sleep(120)

asyncio.run(main())
"""


def test_child_does_not_outlive_a_killed_parent(local_model_cache: Path, tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    import_root = str(Path(switchpoint.local.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [import_root, os.environ.get("PYTHONPATH")]))}
    parent = subprocess.Popen(
        [sys.executable, str(script), str(local_model_cache)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert process_alive(child_pid)
    finally:
        parent.kill()
        parent.wait(timeout=10)
    assert wait_until(lambda: not process_alive(child_pid), timeout=15)


def test_unloadable_model_fails_with_the_engine_stderr(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a gguf file" * 100)

    async def scenario() -> LocalServerError:
        server = LocalModelServer(real_server_config(tmp_path, model_path=bogus))
        try:
            await server.start()
        except LocalServerError as exc:
            assert server.pid is None
            return exc
        await server.stop()
        raise AssertionError("start() accepted a bogus model file")

    message = str(asyncio.run(scenario()))
    assert "exited with code 1 before it was ready" in message
    assert "stderr tail" in message
    assert "failed to load model" in message
