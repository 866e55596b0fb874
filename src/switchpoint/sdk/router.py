"""The in-process Python SDK: the same engine as ``switchpoint serve``, without HTTP in front.

::

    router = Router({"models": [{"name": "fast", "provider": "openai", "model": "gpt-4o-mini"}]})
    reply = await router.chat(model="fast", messages=[{"role": "user", "content": "Hi"}])
    async for chunk in await router.chat(model="fast", messages=[...], stream=True):
        ...

Answers are the OpenAI wire dictionaries (``chat.completion`` and ``chat.completion.chunk``);
each answer also carries the gateway's ``request_id`` (the id ``X-Request-Id`` has over HTTP),
which :meth:`Router.feedback` takes::

    reply = await router.chat(model="fast", messages=[...])
    await router.feedback(reply.request_id, score=1.0, label="good")

The request log is written when the config names one (``logs: {url: ...}``); without it the SDK
keeps no log, and :meth:`Router.feedback` says so. :class:`SyncRouter` is a thin blocking wrapper
that runs the engine on a private event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from switchpoint.analytics.feedback import DEFAULT_WAIT, record_feedback
from switchpoint.config.build import build_gateway, build_log_sink, build_tracing_sink
from switchpoint.config.load import load_config, parse_config
from switchpoint.config.schema import GatewayConfig
from switchpoint.engine import Gateway
from switchpoint.errors import ConfigError
from switchpoint.protocols import EventSink
from switchpoint.providers.sse import SSEBuffer, event_data
from switchpoint.storage.ids import new_request_id
from switchpoint.storage.sinks import FanoutSink
from switchpoint.storage.store import LogStore
from switchpoint.storage.writer import BatchingSink
from switchpoint.validation import validate_chat_body

__all__ = ["ChatChunks", "Completion", "Router", "SyncChatChunks", "SyncRouter"]

ConfigSource = str | Path | Mapping[str, Any] | GatewayConfig


def _load(config: ConfigSource, environ: Mapping[str, str] | None) -> GatewayConfig:
    if isinstance(config, GatewayConfig):
        return config
    if isinstance(config, str | Path):
        return load_config(config, environ)
    return parse_config(dict(config), environ)


def _log_named(config: GatewayConfig) -> bool:
    """Whether the config names a request log itself (the SDK does not use the server's default)."""
    return "logs" in config.model_fields_set and "url" in config.logs.model_fields_set


class Completion(dict[str, Any]):
    """A ``chat.completion`` dict, as the upstream answered, plus the gateway's :attr:`request_id`."""

    request_id: str


class ChatChunks:
    """A streamed answer: an async iterator of ``chat.completion.chunk`` dicts, and its :attr:`request_id`."""

    def __init__(self, request_id: str, chunks: AsyncGenerator[dict[str, Any], None]) -> None:
        self.request_id = request_id
        self._chunks = chunks

    def __aiter__(self) -> ChatChunks:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await anext(self._chunks)

    async def aclose(self) -> None:
        """Stop early: closes the upstream stream."""
        await self._chunks.aclose()


class Router:
    """Routes chat requests in-process. Use ``async with`` or call :meth:`aclose` when done."""

    def __init__(
        self, config: ConfigSource, *, environ: Mapping[str, str] | None = None, sink: EventSink | None = None
    ) -> None:
        self.config = _load(config, environ)
        logs = build_log_sink(self.config.logs) if _log_named(self.config) else None
        self._log: BatchingSink | None = None
        self._store: LogStore | None = None
        self._migrated = False
        sinks: list[EventSink] = [] if sink is None else [sink]
        if logs is not None:
            self._log, self._store = logs
            sinks.append(self._log)
        tracing = build_tracing_sink(self.config.tracing)
        if tracing is not None:
            sinks.append(tracing)
        combined = sinks[0] if len(sinks) == 1 else FanoutSink(sinks) if sinks else None
        self.gateway: Gateway = build_gateway(self.config, environ=environ, sink=combined)

    @property
    def models(self) -> list[str]:
        return [g.name for g in self.gateway.groups]

    async def chat(self, *, model: str, messages: list[dict[str, Any]], stream: bool = False, **params: Any) -> Any:
        """A :class:`Completion` (a ``chat.completion`` dict), or with ``stream=True`` a
        :class:`ChatChunks` (an async iterator of chunk dicts). Both have ``request_id``."""
        body = {"model": model, "messages": messages, **params}
        if stream:
            body["stream"] = True
        request_id = new_request_id()
        request = validate_chat_body(body, request_id=request_id)
        if stream:
            return ChatChunks(request_id, self._chunks(await self.gateway.stream(request)))
        completion = await self.gateway.complete(request)
        answer = Completion(completion.response.body)
        answer.request_id = request_id
        return answer

    async def feedback(
        self,
        request_id: str,
        *,
        score: float | None = None,
        label: str | None = None,
        comment: str | None = None,
        wait: float = DEFAULT_WAIT,
    ) -> str:
        """Attach a score, a label and/or a comment to an answered request; returns the feedback id.

        The same path as ``POST /v1/feedback``: validated the same way (:class:`InvalidRequest`),
        stored in the request log, and :class:`~switchpoint.analytics.feedback.UnknownRequest` when
        no such request appears within ``wait`` seconds. Needs ``logs.url`` in the config.
        """
        if self._log is None or self._store is None:
            raise ConfigError("Router.feedback needs the request log: set logs.url in the config.")
        if not self._migrated:
            await self._store.migrate()
            self._migrated = True
        await self._log.flush()  # the request's own record is likely still queued: write it now
        return await record_feedback(self._store, request_id, score, label, comment, wait=wait)

    async def stream(
        self, *, model: str, messages: list[dict[str, Any]], **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Same as ``chat(stream=True)``, as one async generator."""
        chunks: AsyncIterator[dict[str, Any]] = await self.chat(model=model, messages=messages, stream=True, **params)
        async for chunk in chunks:
            yield chunk

    @staticmethod
    async def _chunks(stream: AsyncIterable[bytes]) -> AsyncGenerator[dict[str, Any], None]:
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


class SyncChatChunks:
    """A streamed answer for :class:`SyncRouter`: an iterator of chunk dicts, and its :attr:`request_id`."""

    def __init__(self, chunks: ChatChunks, run: Callable[[Any], Any]) -> None:
        self.request_id = chunks.request_id
        self._chunks = chunks
        self._run = run

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        try:
            chunk: dict[str, Any] = self._run(anext(self._chunks))
        except StopAsyncIteration:
            raise StopIteration from None
        return chunk

    def close(self) -> None:
        self._run(self._chunks.aclose())


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
        """A :class:`Completion`, or with ``stream=True`` a :class:`SyncChatChunks`; both have ``request_id``."""
        result = self._run(self._router.chat(model=model, messages=messages, stream=stream, **params))
        return SyncChatChunks(result, self._run) if stream else result

    def feedback(
        self,
        request_id: str,
        *,
        score: float | None = None,
        label: str | None = None,
        comment: str | None = None,
        wait: float = DEFAULT_WAIT,
    ) -> str:
        """:meth:`Router.feedback`, blocking."""
        feedback_id: str = self._run(
            self._router.feedback(request_id, score=score, label=label, comment=comment, wait=wait)
        )
        return feedback_id

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
