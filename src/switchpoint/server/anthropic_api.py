"""The Anthropic-compatible endpoint: ``POST /v1/messages`` (plain and SSE), served by any provider.

The Messages request is translated into an OpenAI chat-completions body
(:mod:`switchpoint.providers.translate.anthropic_inbound`), validated like any chat request and
handed to the same :class:`Gateway`; the answer is translated back. Every error on this path has
Anthropic's shape, ``{"type": "error", "error": {"type", "message"}}``: the status and message come
from :func:`switchpoint.server.error_responses.error_response`, the one place that decides them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import orjson

from switchpoint.engine import Gateway
from switchpoint.errors import InvalidRequest
from switchpoint.providers.translate.anthropic import ERROR_STATUS
from switchpoint.providers.translate.anthropic_inbound import (
    InboundRequest,
    error_object,
    message_from_completion,
    to_openai_body,
)
from switchpoint.providers.translate.anthropic_inbound_stream import MessageStream, encode_event
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
from switchpoint.server.error_responses import error_response
from switchpoint.server.openai_api import _route_headers as route_headers
from switchpoint.server.openai_api import routing_headers
from switchpoint.types import ChatRequest
from switchpoint.validation import validate_chat_body

__all__ = ["MESSAGES_PATH", "MessagesEndpoint", "anthropic_error"]

MESSAGES_PATH = "/v1/messages"
JSON = b"application/json"
_SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
# The HTTP status each documented Anthropic error type is sent with, read the other way round.
_ERROR_TYPES = {status: error_type for error_type, status in ERROR_STATUS.items()}
_OVERLOADED = 529


def anthropic_error(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, Anthropic error type, message) for an error on this endpoint.

    Status and message are the OpenAI endpoint's; an upstream that reported itself overloaded or
    unavailable (Anthropic's 529, a 503 elsewhere) answers 529 ``overloaded_error``, as Anthropic does.
    """
    status, body = error_response(exc)
    error = orjson.loads(body)["error"]
    if error.get("code") == "upstream_unavailable":
        status = _OVERLOADED
    fallback = "api_error" if status >= 500 else "invalid_request_error"
    return status, _ERROR_TYPES.get(status, fallback), str(error.get("message") or "")


class MessagesEndpoint:
    """``POST /v1/messages``. ``authorize`` is the app's key check (it accepts ``x-api-key``)."""

    def __init__(self, gateway: Gateway, max_body_bytes: int, authorize: Callable[[Scope], None]) -> None:
        self._gateway = gateway
        self._limit = max_body_bytes
        self._authorize = authorize

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        request_id = headers[0][1]
        headers = [*headers, (b"request-id", request_id)]  # where Anthropic clients look for it
        try:
            if scope["method"] != "POST":
                error = InvalidRequest(f"{scope['method']} is not allowed on {MESSAGES_PATH}; use POST.")
                error.status = 405
                raise error
            self._authorize(scope)
            inbound = self._translate(await read_body(scope, receive, self._limit))
            request = validate_chat_body(inbound.body, request_id=request_id.decode(), tags=_tags(scope))
            seen = routing_headers(scope) if self._gateway.is_router(request.model) else None
            async with DisconnectWatch(receive) as watch:
                if request.stream:
                    await self._stream(request, inbound, send, headers, watch, seen)
                else:
                    completion = await self._gateway.complete(request, headers=seen)
                    watch.finished = True
                    answer = message_from_completion(
                        completion.response.body, completion.response.usage, inbound, request.request_id
                    )
                    body = orjson.dumps(answer)
                    await send_bytes(send, 200, body, [*headers, *route_headers(completion)], JSON)
        except Exception as exc:  # every error answers in Anthropic's shape
            status, error_type, message = anthropic_error(exc)
            extra: Headers = [(b"connection", b"close")] if status == 413 else []
            body = orjson.dumps(error_object(error_type, message))
            try:
                await send_bytes(send, status, body, [*headers, *extra], JSON)
            except Exception:  # the response had already started, or the client is gone
                return

    def _translate(self, raw: bytes) -> InboundRequest:
        body = json_body(raw)
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            return to_openai_body(body)  # which says what is wrong
        deployments = self._gateway.deployments_for(model)
        return to_openai_body(
            body,
            # Anthropic-only fields mean something to Anthropic upstreams only; others refuse them.
            native=all(d.provider == "anthropic" for d in deployments),
            # Servers set to refuse stream_options (stream_usage: false) get none; usage is then unknown.
            stream_usage=all(d.options.get("stream_usage", True) is not False for d in deployments),
        )

    async def _stream(
        self, request: ChatRequest, inbound: InboundRequest, send: Send, headers: Headers, watch: DisconnectWatch,
        seen: Mapping[str, str] | None,
    ) -> None:
        stream = await self._gateway.stream(request, headers=seen)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_SSE_HEADERS, *headers, *route_headers(stream)],
            }
        )
        translator = MessageStream(inbound, request.request_id)
        try:
            async for block in stream:
                events = translator.feed(block)
                if events:
                    await send({"type": "http.response.body", "body": events, "more_body": True})
            tail = translator.finish()
        except asyncio.CancelledError:
            stream.record.client_disconnected = watch.disconnected
            await stream.aclose()
            raise
        except Exception as exc:  # after the first byte, an error ends the stream as an error event
            watch.finished = True
            await stream.aclose()
            _, error_type, message = anthropic_error(exc)
            event = encode_event("error", error_object(error_type, message))
            await send({"type": "http.response.body", "body": event, "more_body": False})
            return
        watch.finished = True
        await send({"type": "http.response.body", "body": tail, "more_body": False})


def _tags(scope: Scope) -> tuple[str, ...]:
    value = header(scope, b"x-switchpoint-tags")
    return tuple(t.strip() for t in value.decode("latin-1").split(",") if t.strip()) if value else ()
