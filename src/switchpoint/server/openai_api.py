"""The OpenAI-compatible endpoints: ``/v1/chat/completions`` (plain and SSE) and ``/v1/models``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import orjson

from switchpoint.engine import Completion, Gateway, StreamingCompletion
from switchpoint.errors import SwitchpointError
from switchpoint.routing.decision import explain_headers
from switchpoint.routing.protocol import SECRET_HEADERS
from switchpoint.server.asgi import DisconnectWatch, Headers, Receive, Scope, Send, header, read_body, send_bytes
from switchpoint.server.error_responses import error_event
from switchpoint.types import ChatRequest
from switchpoint.validation import parse_chat_request

__all__ = ["ChatEndpoint", "list_models", "routing_headers"]

JSON = b"application/json"
_SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DONE = b"data: [DONE]\n\n"


class ChatEndpoint:
    """``POST /v1/chat/completions``. Cancels the upstream call when the client goes away."""

    def __init__(self, gateway: Gateway, max_body_bytes: int) -> None:
        self._gateway = gateway
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        raw = await read_body(scope, receive, self._limit)
        tags_header = header(scope, b"x-switchpoint-tags")
        tags = tuple(t.strip() for t in tags_header.decode("latin-1").split(",") if t.strip()) if tags_header else ()
        request = parse_chat_request(raw, request_id=headers[0][1].decode(), tags=tags)
        seen = routing_headers(scope) if self._gateway.is_router(request.model) else None
        async with DisconnectWatch(receive) as watch:
            if request.stream:
                await self._stream(request, send, headers, watch, seen)
            else:
                completion = await self._gateway.complete(request, headers=seen)
                watch.finished = True
                await _send_completion(send, completion, headers)

    async def _stream(
        self, request: ChatRequest, send: Send, headers: Headers, watch: DisconnectWatch,
        seen: Mapping[str, str] | None,
    ) -> None:
        stream = await self._gateway.stream(request, headers=seen)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_SSE_HEADERS, *headers, *_route_headers(stream)],
            }
        )
        try:
            async for block in stream:
                await send({"type": "http.response.body", "body": block, "more_body": True})
        except SwitchpointError as exc:
            watch.finished = True
            await send({"type": "http.response.body", "body": error_event(exc), "more_body": False})
            return
        except asyncio.CancelledError:
            stream.record.client_disconnected = watch.disconnected
            await stream.aclose()
            raise
        watch.finished = True
        await send({"type": "http.response.body", "body": _DONE, "more_body": False})


def routing_headers(scope: Scope) -> dict[str, str]:
    """The request's headers for routers' rules: lower-cased names, credentials left out."""
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        if key not in SECRET_HEADERS:
            out[key] = value.decode("latin-1")
    return out


def _route_headers(result: Completion | StreamingCompletion) -> Headers:
    """Which group and deployment served, how (attempts, cost), and, for a routed request, the
    router and its reason (``x-switchpoint-router``, ``-reason``, ``-predicted-*``)."""
    return [
        (b"x-switchpoint-model", result.group.name.encode()),
        (b"x-switchpoint-deployment", result.deployment.id.encode()),
        *result.route_headers(),
        *explain_headers(result.record.routing),
    ]


async def _send_completion(send: Send, completion: Completion, headers: Headers) -> None:
    response = completion.response
    body = response.raw if response.raw is not None else orjson.dumps(response.body)
    await send_bytes(send, 200, body, [*headers, *_route_headers(completion)], JSON)


def list_models(gateway: Gateway) -> bytes:
    created = int(time.time())
    data = [{"id": g.name, "object": "model", "created": created, "owned_by": "switchpoint"} for g in gateway.groups]
    data += [{"id": name, "object": "model", "created": created, "owned_by": "switchpoint"}
             for name in gateway.routing.routers]
    return orjson.dumps({"object": "list", "data": data})
