"""Helpers shared by the local model tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from switchpoint.local.server import LocalServerConfig

T = TypeVar("T")

# One thread: on a shared 2-core machine two llama.cpp threads slow down far more under
# contention than one does (see docs/local-model.md), and the tests generate few tokens.
TEST_THREADS = 1
TEST_CTX = 2048


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="local-test-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def real_server_config(cache_dir: Path, **overrides: Any) -> LocalServerConfig:
    """The packaged model from ``cache_dir``, with a small context, one thread and quick restarts."""
    settings: dict[str, Any] = {
        "cache_dir": cache_dir,
        "threads": TEST_THREADS,
        "ctx_size": TEST_CTX,
        "backoff_initial": 0.2,
        "startup_timeout": 60.0,
    }
    settings.update(overrides)
    return LocalServerConfig(**settings)
