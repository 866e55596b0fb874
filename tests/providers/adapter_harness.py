"""What the native adapters' tests share: one call or one whole stream through a fresh adapter,
against a fake on loopback, with short timeouts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from switchpoint.errors import ProviderError
from switchpoint.protocols import Provider
from switchpoint.testing import FakeOpenAIUpstream
from switchpoint.types import ChatRequest, ChatResponse, Deployment, Timeouts, Usage

T = TypeVar("T")
TIMEOUTS = Timeouts(connect=2, first_token=5, idle=5, total=10)
Streamed = tuple[list[bytes], Usage | None, str | None, Exception | None]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def chat_request(body: dict[str, Any], *, include_usage: bool = False) -> ChatRequest:
    return ChatRequest(body=body, model=body["model"], stream=bool(body.get("stream")), include_usage=include_usage,
                       request_id="test")


async def complete(provider: Callable[[], Provider], d: Deployment, r: ChatRequest) -> ChatResponse:
    """One answer through a fresh adapter."""
    adapter = provider()
    try:
        return await adapter.complete(r, d, d.model)
    finally:
        await adapter.aclose()


async def stream(provider: Callable[[], Provider], d: Deployment, r: ChatRequest) -> Streamed:
    """Every block a stream through a fresh adapter yields, its usage and finish reason, and the
    error it ended in."""
    adapter = provider()
    blocks: list[bytes] = []
    error: Exception | None = None
    try:
        upstream = await adapter.stream(r, d, d.model)
        try:
            async for block in upstream:
                blocks.append(block)
        except ProviderError as exc:
            error = exc
        finally:
            await upstream.aclose()
        return blocks, upstream.usage, upstream.finish_reason, error
    finally:
        await adapter.aclose()


async def read_one_block(provider: Callable[[], Provider], d: Deployment, r: ChatRequest) -> None:
    """Open a stream, read one block, and close it early."""
    adapter = provider()
    upstream = await adapter.stream(r, d, d.model)
    async for _ in upstream:
        break
    await upstream.aclose()
    await adapter.aclose()


@dataclass(frozen=True)
class Kit:
    """One native adapter under test: its class, a deployment on its fake, and the default request."""

    provider: Callable[[], Provider]
    base: Deployment
    hi: dict[str, Any]

    def deployment(self, **changes: Any) -> Deployment:
        return replace(self.base, **changes)

    def request(self, body: dict[str, Any] | None = None, *, include_usage: bool = False) -> ChatRequest:
        return chat_request(body or self.hi, include_usage=include_usage)

    async def complete(self, d: Deployment, r: ChatRequest) -> ChatResponse:
        return await complete(self.provider, d, r)

    async def stream(self, d: Deployment, r: ChatRequest) -> Streamed:
        return await stream(self.provider, d, r)

    async def read_one_block(self, d: Deployment) -> None:
        await read_one_block(self.provider, d, self.request())


def wait_for_abort(fake: FakeOpenAIUpstream) -> None:
    """Wait until the fake saw its client abandon one stream."""
    deadline = time.monotonic() + 5
    while not fake.aborted_streams and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.aborted_streams == 1
