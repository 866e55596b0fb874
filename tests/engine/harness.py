"""A gateway wired like ``build_gateway`` but on a fake clock with a recording sleep, for engine tests."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from switchpoint.clock import FakeClock
from switchpoint.config.build import build_groups, build_resilience
from switchpoint.config.load import parse_config
from switchpoint.engine import Completion, Gateway, StreamingCompletion
from switchpoint.providers.registry import create_adapter
from switchpoint.storage.records import RequestRecord
from switchpoint.storage.sinks import MemorySink
from switchpoint.testing import FakeOpenAIUpstream
from switchpoint.types import ChatRequest
from switchpoint.validation import validate_chat_body
from tests.helpers import free_port

HELLO = [{"role": "user", "content": "Say hello"}]


def dep(upstream: FakeOpenAIUpstream | None, name: str, **extra: Any) -> dict[str, Any]:
    """A deployment ``name`` (also its upstream model id); ``upstream=None`` is a refused port."""
    base = upstream.base_url if upstream is not None else f"http://127.0.0.1:{free_port()}/v1"
    return {"provider": "openai_compat", "id": name, "model": name, "api_base": base, **extra}


class Harness:
    def __init__(self, models: list[dict[str, Any]], reliability: dict[str, Any] | None = None,
                 timeouts: dict[str, Any] | None = None, seed: int = 7) -> None:
        data: dict[str, Any] = {"models": models, "reliability": reliability or {}}
        if timeouts:
            data["timeouts"] = timeouts
        self.config = parse_config(data, {})
        self.clock = FakeClock()
        self.sleeps: list[float] = []
        self.sink = MemorySink()
        groups = build_groups(self.config, {})
        resilience = build_resilience(self.config, groups, self.clock, random.Random(seed))
        self.gateway = Gateway(
            groups, {"openai_compat": create_adapter("openai_compat")}, resilience.balancer, self.sink, self.clock,
            sleep=self._sleep, rng=random.Random(seed), **resilience.gateway_options(),
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)

    @property
    def records(self) -> list[RequestRecord]:
        return list(self.sink.records)

    @property
    def last(self) -> RequestRecord:
        return self.sink.records[-1]

    def request(self, model: str, *, stream: bool = False, **body: Any) -> ChatRequest:
        payload: dict[str, Any] = {"model": model, "messages": body.pop("messages", HELLO), **body}
        if stream:
            payload["stream"] = True
        return validate_chat_body(payload, request_id=f"req-{len(self.sink.records)}")

    async def complete(self, model: str, **body: Any) -> Completion:
        return await self.gateway.complete(self.request(model, **body))

    async def stream(self, model: str, **body: Any) -> tuple[StreamingCompletion, bytes]:
        stream = await self.gateway.stream(self.request(model, stream=True, **body))
        data = b"".join([block async for block in stream])
        return stream, data

    def state(self, deployment_id: str) -> dict[str, Any]:
        for deployments in self.gateway.health()["deployments"].values():
            for entry in deployments:
                if entry["id"] == deployment_id:
                    return entry  # type: ignore[no-any-return]
        raise KeyError(deployment_id)


def drive(scenario: Callable[[Harness], Awaitable[None]], models: list[dict[str, Any]], **options: Any) -> Harness:
    """Build a harness, run ``scenario`` on one event loop, close the gateway."""
    harness = Harness(models, **options)

    async def main() -> None:
        try:
            await scenario(harness)
        finally:
            await harness.gateway.aclose()

    asyncio.run(main())
    return harness
