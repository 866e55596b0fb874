"""Fixtures for the local model tests: one real model server per test session.

The real server lives on an event loop that runs in a background thread for the whole
session (``support.LoopThread``), because a :class:`LocalModelServer` belongs to the loop
that started it and each ``asyncio.run`` makes a new loop. Tests hand coroutines to that
loop with ``LoopThread.run``.

When the ``local`` extra is missing the real-model tests are skipped, except under CI
(``CI`` set), where that is a setup bug and they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchpoint.local import missing_local_modules
from switchpoint.local.model_files import ensure_default_model
from switchpoint.local.server import LocalModelServer

from .support import LoopThread, real_server_config


def require_extra_or_skip() -> None:
    missing = missing_local_modules()
    if not missing:
        return
    message = f"the 'local' extra is not installed (missing: {', '.join(missing)})"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must install it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def local_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache directory holding the packaged model, assembled once per session."""
    require_extra_or_skip()
    cache_dir = tmp_path_factory.mktemp("model-cache")
    ensure_default_model(cache_dir)
    return cache_dir


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def local_server(local_model_cache: Path, loop_thread: LoopThread) -> Iterator[LocalModelServer]:
    """One real model server shared by the whole session."""
    server = LocalModelServer(real_server_config(local_model_cache))
    loop_thread.run(server.start())
    yield server
    loop_thread.run(server.stop())
