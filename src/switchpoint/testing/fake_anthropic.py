"""A fake Anthropic Messages upstream: real HTTP on loopback, scripted per model.

::

    with FakeAnthropicUpstream(api_key="sk-ant-test") as upstream:
        upstream.script("claude-x", reply="Hi there", cache_read_tokens=100)
        upstream.script("busy", status=529, fail_times=1)          # overloaded once, then answers
        ... point an ``anthropic`` deployment's api_base at upstream.base_url ...
        assert upstream.requests[-1].headers["x-api-key"] == "sk-ant-test"

Same scripting as :class:`FakeOpenAIUpstream` (``reply``, ``chunks``, ``tool_calls`` in OpenAI
form, ``latency``, ``status``/``error``/``fail_times``, ``drop_after``, ``error_event_after``,
``hang``, ``raw``), plus :class:`AnthropicBehavior`'s native fields. Answers follow the Messages
wire format: a ``message`` object, or the SSE events ``message_start``, ``content_block_*``,
``message_delta`` and ``message_stop`` (with a ``ping``), each as ``event: <type>`` + ``data:``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from switchpoint.testing.fake_openai import Behavior, FakeOpenAIUpstream

__all__ = ["AnthropicBehavior", "FakeAnthropicUpstream"]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class AnthropicBehavior(Behavior):
    """:class:`Behavior` plus Anthropic's own fields.

    ``stop_reason``: the native stop reason (default ``end_turn``, or ``tool_use`` with tool calls).
    ``completion_tokens``: output tokens (default: one per piece). ``cache_read_tokens`` /
    ``cache_creation_tokens``: prompt-cache usage, of which ``cache_creation_1h_tokens`` are writes
    with the 1-hour TTL (reported in the ``cache_creation`` breakdown). ``error_type``: the error type of a scripted
    status or error event (default: the one Anthropic documents for the status; events: overloaded).
    """

    stop_reason: str | None = None
    completion_tokens: int | None = None
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    error_type: str | None = None


class FakeAnthropicUpstream(FakeOpenAIUpstream):
    """An Anthropic Messages server on 127.0.0.1 whose answers are scripted per model.

    With ``api_key`` set, requests without that key (``x-api-key``, or ``Authorization: Bearer``
    as newer SDKs send it) get Anthropic's 401.
    """

    def __init__(self, default: AnthropicBehavior | None = None, *, port: int = 0, api_key: str | None = None) -> None:
        super().__init__(default or AnthropicBehavior(), port=port)
        self.api_key = api_key
        self._message_ids = itertools.count(1)

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/messages", self._messages)
        router.add_post("/messages", self._messages)

    # -- handler ---------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._received(request)
        key = request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and key != self.api_key:
            return _error(401, {"type": "authentication_error", "message": "invalid x-api-key"})
        if "anthropic-version" not in request.headers:
            return _error(400, {"type": "invalid_request_error", "message": "anthropic-version: header is required"})
        problem = _invalid(body)
        if problem:
            return _error(400, {"type": "invalid_request_error", "message": problem})
        model = str(body["model"])
        behavior = self.behaviors.get(model, self.default)
        assert isinstance(behavior, AnthropicBehavior)
        faulted = await self._delay_or_fault(request, behavior)
        if faulted is not None:
            return faulted
        if behavior.status != 200 and behavior.fail_rate == 0 and self._should_fail(model, behavior):
            error = behavior.error or {
                "type": behavior.error_type or ERROR_TYPES.get(behavior.status, "api_error"),
                "message": f"scripted failure {behavior.status}",
            }
            return _error(behavior.status, error, behavior.headers)
        if behavior.raw is not None:
            return web.Response(body=behavior.raw, content_type="application/json", headers=behavior.headers)
        message_id = f"msg_fake{next(self._message_ids)}"
        if body.get("stream"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **behavior.headers})
            await response.prepare(request)
            error_type = behavior.error_type or "overloaded_error"
            error = {"type": "error", "error": {"type": error_type, "message": "scripted mid-stream failure"}}
            return await self._play(request, response, self._message_events(body, behavior, message_id), behavior,
                                    _event(error))
        message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": _content(behavior),
            "stop_reason": _stop_reason(behavior),
            "stop_sequence": _stop_sequence(body, behavior),
            "usage": self._message_usage(body, behavior),
        }
        return web.Response(body=orjson.dumps(message), content_type="application/json", headers=behavior.headers)

    def _message_usage(self, body: dict[str, Any], behavior: AnthropicBehavior) -> dict[str, Any]:
        prompt = behavior.prompt_tokens
        if prompt is None:
            system = body.get("system")
            prompt = len(str(system).split()) if system else 0
            prompt += sum(len(str(m.get("content", "")).split()) + 4 for m in body["messages"] if isinstance(m, dict))
        completion = behavior.completion_tokens
        if completion is None:
            completion = len(_pieces(behavior)) if not behavior.tool_calls else 10 * len(behavior.tool_calls)
        return {
            "input_tokens": prompt,
            "cache_creation_input_tokens": behavior.cache_creation_tokens,
            "cache_read_input_tokens": behavior.cache_read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": behavior.cache_creation_tokens - behavior.cache_creation_1h_tokens,
                "ephemeral_1h_input_tokens": behavior.cache_creation_1h_tokens,
            },
            "output_tokens": completion,
        }

    def _message_events(self, body: dict[str, Any], behavior: AnthropicBehavior, message_id: str) -> list[bytes]:
        usage = self._message_usage(body, behavior)
        start = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        events = [_event({"type": "message_start", "message": start}), _event({"type": "ping"})]
        for index, block in enumerate(_content(behavior)):
            if block["type"] == "text":
                events.append(_event({"type": "content_block_start", "index": index,
                                      "content_block": {"type": "text", "text": ""}}))
                for piece in _pieces(behavior):
                    delta = {"type": "text_delta", "text": piece}
                    events.append(_event({"type": "content_block_delta", "index": index, "delta": delta}))
            else:
                events.append(_event({"type": "content_block_start", "index": index,
                                      "content_block": {**block, "input": {}}}))
                arguments = orjson.dumps(block["input"]).decode()
                third = max(1, len(arguments) // 3)
                for piece in ("", arguments[:third], arguments[third : 2 * third], arguments[2 * third :]):
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    events.append(_event({"type": "content_block_delta", "index": index, "delta": delta}))
            events.append(_event({"type": "content_block_stop", "index": index}))
        stop = {"stop_reason": _stop_reason(behavior), "stop_sequence": _stop_sequence(body, behavior)}
        events.append(_event({"type": "message_delta", "delta": stop,
                              "usage": {"output_tokens": usage["output_tokens"]}}))
        events.append(_event({"type": "message_stop"}))
        return events


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body is not valid JSON."
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    if not isinstance(body["messages"], list):
        return "messages: Input should be a valid list"
    return None


def _pieces(behavior: Behavior) -> list[str]:
    if behavior.chunks is not None:
        return list(behavior.chunks)
    words = behavior.reply.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _content(behavior: Behavior) -> list[dict[str, Any]]:
    if not behavior.tool_calls:
        return [{"type": "text", "text": "".join(_pieces(behavior))}]
    blocks = []
    for i, call in enumerate(behavior.tool_calls):
        arguments = call["function"].get("arguments") or "{}"
        blocks.append({"type": "tool_use", "id": call.get("id") or f"toolu_fake{i}",
                       "name": call["function"]["name"], "input": orjson.loads(arguments)})
    return blocks


def _stop_reason(behavior: AnthropicBehavior) -> str:
    return behavior.stop_reason or ("tool_use" if behavior.tool_calls else "end_turn")


def _stop_sequence(body: dict[str, Any], behavior: AnthropicBehavior) -> str | None:
    stops = body.get("stop_sequences")
    return stops[0] if _stop_reason(behavior) == "stop_sequence" and stops else None


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + str(data["type"]).encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _error(status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    body = {"type": "error", "error": error, "request_id": "req_fake"}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)
