"""The upstream calls an attempt makes, with the checks that wrap them.

``complete_once`` adds the optional per-attempt timeout of a non-streamed call and turns a
content-filtered answer into :class:`ContentFiltered` when the group has a content-policy
fallback. ``open_stream`` opens a stream and waits for its first events, so that a failure
before the first byte can still fail over.
"""

from __future__ import annotations

import asyncio

from switchpoint.balancing.attempts import Opened
from switchpoint.balancing.policy import GroupPolicy
from switchpoint.errors import ContentFiltered, ProviderTimeout
from switchpoint.protocols import Provider
from switchpoint.types import ChatRequest, ChatResponse, Deployment

__all__ = ["complete_once", "open_stream"]


async def complete_once(
    adapter: Provider, request: ChatRequest, deployment: Deployment, model: str, policy: GroupPolicy
) -> ChatResponse:
    if policy.attempt_timeout is None:
        response = await adapter.complete(request, deployment, model)
    else:
        try:
            async with asyncio.timeout(policy.attempt_timeout):
                response = await adapter.complete(request, deployment, model)
        except TimeoutError:
            raise ProviderTimeout(
                f"upstream {deployment.id} timed out (attempt, {policy.attempt_timeout:g}s)",
                phase="attempt",
                provider=deployment.provider,
                deployment=deployment.id,
            ) from None
    if response.finish_reason == "content_filter" and policy.fallbacks.content_policy:
        raise ContentFiltered(
            f"upstream {deployment.id} filtered the answer (content policy)",
            response=response,
            provider=deployment.provider,
            deployment=deployment.id,
        )
    return response


async def open_stream(adapter: Provider, request: ChatRequest, deployment: Deployment, model: str) -> Opened:
    upstream = await adapter.stream(request, deployment, model)
    try:
        blocks = aiter(upstream)
        first = await anext(blocks, b"")
    except BaseException:
        await upstream.aclose()
        raise
    return Opened(upstream, blocks, first)
