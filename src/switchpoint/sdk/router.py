"""The in-process Python SDK: the same engine as ``switchpoint serve``, without HTTP in front.

::

    router = Router({"models": [{"name": "fast", "provider": "openai", "model": "gpt-4o-mini"}]})
    reply = await router.chat(model="fast", messages=[{"role": "user", "content": "Hi"}])
    async for chunk in await router.chat(model="fast", messages=[...], stream=True):
        ...

Answers are the OpenAI wire dictionaries (``chat.completion`` and ``chat.completion.chunk``).
:class:`SyncRouter` is a thin blocking wrapper that runs the engine on a private event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from switchpoint.config.build import build_gateway
from switchpoint.config.load import load_config, parse_config
from switchpoint.config.schema import GatewayConfig
from switchpoint.engine import Gateway
from switchpoint.protocols import EventSink
from switchpoint.providers.sse import SSEBuffer, event_data
from switchpoint.storage.ids import new_request_id
from switchpoint.validation import validate_chat_body

__all__ = ["Router", "SyncRouter"]

ConfigSource = str | Path | Mapping[str, Any] | GatewayConfig


def _load(config: ConfigSource, environ: Mapping[str, str] | None) -> GatewayConfig:
    if isinstance(config, GatewayConfig):
        return config
    if isinstance(config, str | Path):
        return load_config(config, environ)
    return parse_config(dict(config), environ)


class Router:
    """Routes chat requests in-process. Use ``async with`` or call :meth:`aclose` when done."""

    def __init__(
        self, config: ConfigSource, *, environ: Mapping[str, str] | None = None, sink: EventSink | None = None
    ) -> None:
        self.config = _load(config, environ)
        self.gateway: Gateway = build_gateway(self.config, environ=environ, sink=sink)

    @property
    def models(self) -> list[str]:
        return [g.name for g in self.gateway.groups]

    async def chat(self, *, model: str, messages: list[dict[str, Any]], stream: bool = False, **params: Any) -> Any:
        """A ``chat.completion`` dict, or with ``stream=True`` an async iterator of chunk dicts."""
        body = {"model": model, "messages": messages, **params}
        if stream:
            body["stream"] = True
        request = validate_chat_body(body, request_id=new_request_id())
        if stream:
            return self._chunks(await self.gateway.stream(request))
        completion = await self.gateway.complete(request)
        return completion.response.body

    async def stream(
        self, *, model: str, messages: list[dict[str, Any]], **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Same as ``chat(stream=True)``, as one async generator."""
        chunks: AsyncIterator[dict[str, Any]] = await self.chat(model=model, messages=messages, stream=True, **params)
        async for chunk in chunks:
            yield chunk

    @staticmethod
    async def _chunks(stream: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
        buffer = SSEBuffer()
        async for block in stream:
            for event in buffer.feed(block):
                payload = event_data(event)
                if payload:
                    yield orjson.loads(payload)

    async def aclose(self) -> None:
        await self.gateway.aclose()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class SyncRouter:
    """A blocking wrapper: each call runs on a private event loop in a background thread."""

    def __init__(
        self, config: ConfigSource, *, environ: Mapping[str, str] | None = None, sink: EventSink | None = None
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="switchpoint-sdk", daemon=True)
        self._thread.start()
        self._router = Router(config, environ=environ, sink=sink)

    @property
    def models(self) -> list[str]:
        return self._router.models

    def chat(self, *, model: str, messages: list[dict[str, Any]], stream: bool = False, **params: Any) -> Any:
        """A ``chat.completion`` dict, or with ``stream=True`` an iterator of chunk dicts."""
        result = self._run(self._router.chat(model=model, messages=messages, stream=stream, **params))
        return self._iterate(result) if stream else result

    def _iterate(self, chunks: AsyncIterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        iterator = aiter(chunks)
        while True:
            try:
                yield self._run(anext(iterator))
            except StopAsyncIteration:
                return

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        if self._loop.is_running():
            self._run(self._router.aclose())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SyncRouter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
