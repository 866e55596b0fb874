"""The ``local`` provider: the embedded model, served by a supervised subprocess on loopback.

Each ``local`` deployment gets its own :class:`~switchpoint.local.server.LocalModelServer`
(llama.cpp's OpenAI-compatible server through ``xllamacpp``), started when the gateway starts
(or on the first request), restarted if it dies, and stopped on shutdown. Requests then go
through the ordinary OpenAI-compatible adapter. The model runs in a child process, not on the
gateway's event loop: streaming in-process was measured to be about 30x slower.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from switchpoint.errors import ConfigError, ProviderConnectionError
from switchpoint.local import LocalModelUnavailable, require_local_extra
from switchpoint.providers.http import ClientPool
from switchpoint.providers.openai_compat import OpenAICompatProvider, OpenAIStream
from switchpoint.types import ChatRequest, ChatResponse, Deployment

__all__ = ["LocalProvider", "server_config"]


def server_config(deployment: Deployment) -> Any:
    """The :class:`LocalServerConfig` for a deployment: its port from ``api_base``, the rest from ``options``."""
    from switchpoint.local.server import LocalServerConfig

    options = deployment.options
    port = int(deployment.api_base.rsplit(":", 1)[1].split("/", 1)[0])
    model_path = options.get("model_path")
    return LocalServerConfig(
        model_path=Path(model_path) if model_path else None,
        port=port,
        threads=int(options["threads"]) if options.get("threads") else None,
        ctx_size=int(options.get("ctx_size", 4096)),
        parallel=int(options.get("parallel", 1)),
        chat_template=options.get("chat_template"),
        alias=deployment.model,
    )


class LocalProvider:
    kind = "local"

    def __init__(self) -> None:
        # llama.cpp's server closes connections after streams while announcing keep-alive.
        self._http = OpenAICompatProvider(ClientPool(force_close=True))
        self._servers: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    def prepare(self, deployment: Deployment) -> None:
        """Register a deployment, so that :meth:`start` can launch its server before any request."""
        if deployment.id not in self._servers:
            from switchpoint.local.server import LocalModelServer

            try:
                require_local_extra(default_model=deployment.options.get("model_path") is None)
            except LocalModelUnavailable as exc:
                raise ConfigError(f"deployment {deployment.id}: {exc}") from None
            self._servers[deployment.id] = LocalModelServer(server_config(deployment))

    async def start(self) -> None:
        async with self._lock:
            for server in self._servers.values():
                if server.pid is None:
                    await server.start()

    async def _ensure(self, deployment: Deployment) -> None:
        server = self._servers.get(deployment.id)
        if server is None or server.pid is None:
            try:
                self.prepare(deployment)
                await self.start()
            except (LocalModelUnavailable, ConfigError) as exc:
                raise ProviderConnectionError(
                    f"local model {deployment.id} is unavailable: {exc}", provider=self.kind, deployment=deployment.id
                ) from None

    async def complete(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> ChatResponse:
        await self._ensure(deployment)
        return await self._http.complete(request, deployment, upstream_model)

    async def stream(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> OpenAIStream:
        await self._ensure(deployment)
        return await self._http.stream(request, deployment, upstream_model)

    async def aclose(self) -> None:
        await self._http.aclose()
        for server in self._servers.values():
            await server.stop()
