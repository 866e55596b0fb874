"""``POST /v1/embeddings`` (OpenAI's shape), routed to the embedding deployments of a model group.

A group's deployments whose adapter can ``embed`` (the OpenAI-compatible and Gemini adapters) are
tried in their configured order; a retryable :class:`ProviderError` moves on to the next one. This
is a simple failover: the engine's balancing, health tracking, retry budgets, fallback groups and
request records do not apply to embeddings yet.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, cast

import orjson

from switchpoint.engine import Gateway, upstream_model
from switchpoint.errors import (
    AllAttemptsFailed,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    SwitchpointError,
    UnsupportedCapability,
)
from switchpoint.server.asgi import DisconnectWatch, Headers, Receive, Scope, Send, json_body, read_body, send_bytes
from switchpoint.types import Deployment, ModelGroup

__all__ = ["EMBEDDINGS_PATHS", "Embedder", "EmbeddingsEndpoint", "validate_embeddings_body"]

EMBEDDINGS_PATHS = frozenset({"/v1/embeddings", "/embeddings"})
JSON = b"application/json"


class Embedder(Protocol):
    """An adapter that can embed: the answer is an OpenAI embeddings response dict, with usage."""

    async def embed(self, body: dict[str, Any], deployment: Deployment, upstream_model: str) -> dict[str, Any]: ...


class EmbeddingsEndpoint:
    def __init__(self, gateway: Gateway, max_body_bytes: int) -> None:
        self._gateway = gateway
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        body = json_body(await read_body(scope, receive, self._limit))
        validate_embeddings_body(body)
        group, matched = self._gateway.resolve(body["model"])
        async with DisconnectWatch(receive) as watch:
            result, deployment = await self._embed(body, group, matched)
            watch.finished = True
            route: Headers = [
                (b"x-switchpoint-model", group.name.encode()),
                (b"x-switchpoint-deployment", deployment.id.encode()),
            ]
            await send_bytes(send, 200, orjson.dumps(result), [*headers, *route], JSON)

    async def _embed(
        self, body: dict[str, Any], group: ModelGroup, matched: str | None
    ) -> tuple[dict[str, Any], Deployment]:
        candidates = [(d, a) for d in group.deployments if (a := self._embedder(d)) is not None]
        if not candidates:
            raise UnsupportedCapability(
                f"No deployment of the model group '{group.name}' serves embeddings "
                "(OpenAI-compatible and Gemini deployments do).",
                param="model",
            )
        errors: list[SwitchpointError] = []
        try:
            async with asyncio.timeout(group.total_timeout):
                for deployment, adapter in candidates[: group.max_attempts or len(candidates)]:
                    try:
                        return await adapter.embed(body, deployment, upstream_model(deployment, matched)), deployment
                    except ProviderError as exc:
                        errors.append(exc)
                        if not exc.retryable:
                            break
        except TimeoutError:
            errors.append(
                ProviderTimeout(f"model group {group.name} timed out (total, {group.total_timeout:g}s)", phase="total")
            )
        raise errors[0] if len(errors) == 1 else AllAttemptsFailed(errors)

    def _embedder(self, deployment: Deployment) -> Embedder | None:
        # The gateway offers no public accessor for its adapters yet; this reads its map of them.
        adapter = self._gateway._adapters.get(deployment.provider)
        return cast(Embedder, adapter) if callable(getattr(adapter, "embed", None)) else None


def validate_embeddings_body(body: Any) -> None:
    """Clear 400s for what the gateway reads or translates; other fields go to the upstream as sent."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a non-empty string.", param="model")
    _check_input(body.get("input"))
    if body.get("encoding_format") not in (None, "float", "base64"):
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1):
        raise InvalidRequest("'dimensions' must be a positive integer.", param="dimensions")
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise InvalidRequest("'user' must be a string.", param="user")


def _check_input(value: Any) -> None:
    """A string, an array of strings, an array of tokens, or an array of token arrays; none empty."""
    if isinstance(value, str) and value:
        return
    if isinstance(value, list) and value:
        if all(isinstance(v, str) and v for v in value) or all(_token(v) for v in value):
            return
        if all(isinstance(v, list) and v and all(_token(t) for t in v) for v in value):
            return
    raise InvalidRequest(
        "'input' must be a non-empty string, array of non-empty strings, array of tokens or array of token arrays.",
        param="input",
    )


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
