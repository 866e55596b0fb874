"""Validation of chat-completions requests: clear 400s instead of upstream surprises.

The checks are hand-written rather than a pydantic model: they cover what a gateway must
know to route and to fail clearly (types and ranges of the fields it reads or relays), run in
a few microseconds, and leave every other field to the upstream, which knows its own extensions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from switchpoint.errors import InvalidRequest
from switchpoint.types import ChatRequest

__all__ = ["parse_chat_request", "validate_chat_body"]

_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})
_NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
_POSITIVE_INTS = ("max_tokens", "max_completion_tokens", "n")
_BOOLS = ("stream", "logprobs", "parallel_tool_calls", "store")


def parse_chat_request(raw: bytes, *, request_id: str = "", tags: tuple[str, ...] = ()) -> ChatRequest:
    """Decode and validate a request body."""
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} (position {exc.pos}).") from None
    return validate_chat_body(body, request_id=request_id, tags=tags)


def validate_chat_body(body: Any, *, request_id: str = "", tags: tuple[str, ...] = ()) -> ChatRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a non-empty string.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty array.", param="messages")
    has_images = _check_messages(messages)
    _check_scalars(body)
    tools = body.get("tools")
    if tools is not None:
        _check_tools(tools)
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or not isinstance(response_format.get("type"), str)
    ):
        raise InvalidRequest("'response_format' must be an object with a 'type'.", param="response_format")
    stream = body.get("stream") is True
    include_usage = False
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
        include_usage = stream_options.get("include_usage") is True
    return ChatRequest(
        body=body,
        model=model,
        stream=stream,
        include_usage=include_usage,
        tags=tags,
        request_id=request_id,
        has_tools=bool(tools),
        has_images=has_images,
        wants_json=isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"),
    )


def _check_messages(messages: list[Any]) -> bool:
    has_images = False
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{i}] must be an object.", param=f"messages[{i}]")
        role = message.get("role")
        if role not in _ROLES:
            raise InvalidRequest(
                f"messages[{i}].role must be one of {', '.join(sorted(_ROLES))}; got {_show(role)}.",
                param=f"messages[{i}].role",
            )
        content = message.get("content")
        if content is None:
            if role in ("user", "system", "developer"):
                raise InvalidRequest(f"messages[{i}].content is required.", param=f"messages[{i}].content")
            continue
        if isinstance(content, list):
            has_images = _check_parts(content, i) or has_images
        elif not isinstance(content, str):
            raise InvalidRequest(
                f"messages[{i}].content must be a string or an array of content parts.",
                param=f"messages[{i}].content",
            )
    return has_images


def _check_parts(parts: list[Any], index: int) -> bool:
    has_images = False
    for j, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest(
                f"messages[{index}].content[{j}] must be an object with a 'type'.",
                param=f"messages[{index}].content[{j}]",
            )
        if part["type"] == "image_url":
            has_images = True
    return has_images


def _check_scalars(body: Mapping[str, Any]) -> None:
    for name, (low, high) in _NUMBER_RANGES.items():
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high
        ):
            raise InvalidRequest(
                f"'{name}' must be a number between {low:g} and {high:g}; got {_show(value)}.", param=name
            )
    for name in _POSITIVE_INTS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidRequest(f"'{name}' must be a positive integer; got {_show(value)}.", param=name)
    for name in _BOOLS:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise InvalidRequest(f"'{name}' must be a boolean; got {_show(value)}.", param=name)
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise InvalidRequest("'stop' must be a string or an array of strings.", param="stop")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidRequest("'seed' must be an integer.", param="seed")
    for name in ("user",):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"'{name}' must be a string.", param=name)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidRequest("'metadata' must be an object.", param="metadata")


def _check_tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array.", param="tools")
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(
                f"tools[{i}] must be an object with a 'function' that has a 'name'.", param=f"tools[{i}]"
            )


def _show(value: Any) -> str:
    try:
        text = orjson.dumps(value).decode() if value is not None else "nothing"
    except TypeError:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
