"""Test helpers: a gateway served over real HTTP on loopback, and standard configs."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from switchpoint.config.load import parse_config
from switchpoint.server.run import build_app
from switchpoint.storage.sinks import FanoutSink, MemorySink
from switchpoint.testing import FakeOpenAIUpstream


def in_cycles(match: Callable[[object], bool]) -> int:
    """Collect, and count the objects ``match`` accepts that only the garbage collector could free (they were in
    reference cycles)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return sum(1 for o in gc.garbage if match(o))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServedGateway:
    """A gateway app on uvicorn in a background thread, on a free loopback port."""

    def __init__(self, config: dict[str, Any], environ: dict[str, str] | None = None) -> None:
        config = {"logs": {"url": None}, **config}  # no request log unless a test asks for one
        self.config = parse_config(config, environ or {})
        self.app = build_app(self.config)
        self.sink = MemorySink()
        self.app.gateway.sink = FanoutSink([self.app.gateway.sink, self.sink])
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, loop="asyncio", http="httptools",
                           lifespan="on", log_level="warning", access_log=False)
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()  # the server's loop, to run coroutines on from the test
        await self.server.serve()

    def __enter__(self) -> ServedGateway:
        self._thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            threading.Event().wait(0.01)
        raise RuntimeError("gateway did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(10)


def chat_config(upstream: FakeOpenAIUpstream, **server: Any) -> dict[str, Any]:
    """A config with groups 'chat' (one deployment) and 'pair' (two deployments) on the fake upstream."""
    return {
        "server": server,
        "models": [
            {"name": "chat", "provider": "openai_compat", "model": "up-chat", "api_base": upstream.base_url,
             "api_key": "sk-upstream-secret-0123456789", "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0},
            {"name": "pair", "deployments": [
                {"provider": "openai_compat", "id": "first", "model": "up-a", "api_base": upstream.base_url,
                 "weight": 1000},
                {"provider": "openai_compat", "id": "second", "model": "up-b", "api_base": upstream.base_url,
                 "weight": 0.001},
            ]},
        ],
    }
