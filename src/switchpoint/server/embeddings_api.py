"""``POST /v1/embeddings`` (OpenAI's shape), routed to the embedding deployments of a model group.

The body is validated here; :meth:`switchpoint.engine.Gateway.embed` serves it from the group's
deployments whose adapter can embed (the OpenAI-compatible and Gemini adapters), with the same
balancing, health tracking, retries and failover as chat, and records it with its usage and cost.
"""

from __future__ import annotations

from typing import Any

import orjson

from switchpoint.engine import Gateway
from switchpoint.errors import InvalidRequest
from switchpoint.server.asgi import (
    DisconnectWatch,
    Headers,
    Receive,
    Scope,
    Send,
    header,
    json_body,
    read_body,
    send_bytes,
)

__all__ = ["EMBEDDINGS_PATHS", "EmbeddingsEndpoint", "validate_embeddings_body"]

EMBEDDINGS_PATHS = frozenset({"/v1/embeddings", "/embeddings"})
JSON = b"application/json"


class EmbeddingsEndpoint:
    def __init__(self, gateway: Gateway, max_body_bytes: int) -> None:
        self._gateway = gateway
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        body = json_body(await read_body(scope, receive, self._limit))
        validate_embeddings_body(body)
        tags_header = header(scope, b"x-switchpoint-tags")
        tags = tuple(t.strip() for t in tags_header.decode("latin-1").split(",") if t.strip()) if tags_header else ()
        async with DisconnectWatch(receive) as watch:
            embedded = await self._gateway.embed(body, request_id=headers[0][1].decode(), tags=tags)
            watch.finished = True
            route: Headers = [
                (b"x-switchpoint-model", embedded.group.name.encode()),
                (b"x-switchpoint-deployment", embedded.deployment.id.encode()),
                *embedded.route_headers(),
            ]
            await send_bytes(send, 200, orjson.dumps(embedded.response), [*headers, *route], JSON)


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
