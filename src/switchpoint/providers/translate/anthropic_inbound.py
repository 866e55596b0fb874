"""Anthropic Messages (inbound) ⇄ OpenAI Chat Completions: what ``POST /v1/messages`` speaks.

The opposite direction of :mod:`switchpoint.providers.translate.anthropic`. A client's Messages
request becomes an OpenAI chat-completions body that any deployment can serve; a ``chat.completion``
answer becomes a Messages ``message`` (streams: :mod:`.anthropic_inbound_stream`). Pure: no I/O.
Requests that cannot be expressed raise :class:`InvalidRequest` naming the offending ``param`` in
the client's own (Anthropic) terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from switchpoint.errors import InvalidRequest
from switchpoint.providers.translate.common import tool_arguments
from switchpoint.types import Usage

__all__ = [
    "STOP_REASONS", "InboundRequest", "anthropic_usage", "error_object", "message_from_completion", "message_id",
    "stop_reason", "to_openai_body", "tool_use_block",
]

# OpenAI finish_reason → Anthropic stop_reason ("stop" becomes stop_sequence when the match is known).
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Anthropic-only request fields: kept for groups served only by Anthropic deployments, where the
# outbound translation understands them; dropped otherwise (OpenAI refuses unknown fields).
_NATIVE_FIELDS = ("top_k", "thinking")
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})  # no OpenAI equivalent to send back


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A translated request: the OpenAI body, and what the answer's translation needs to know."""

    body: dict[str, Any]
    model: str
    stop_sequences: tuple[str, ...]
    thinking: bool


# -- requests -----------------------------------------------------------------------------------


def to_openai_body(body: Any, *, native: bool = False, stream_usage: bool = True) -> InboundRequest:
    """A Messages request body as an OpenAI chat-completions body.

    ``native``: every deployment that may serve the request speaks Anthropic, so ``cache_control``
    (on text blocks and tools), ``top_k`` and ``thinking`` are kept for the outbound translation.
    ``stream_usage``: a stream asks for usage (``stream_options``) so ``message_delta`` can carry it.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = _required(body, "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty array.", param="messages")
    out: dict[str, Any] = {"model": model, "messages": [*_system(body.get("system"), native)]}
    for i, message in enumerate(messages):
        out["messages"].extend(_message(message, f"messages[{i}]", native))
    for name in ("max_tokens", "temperature", "top_p", *(_NATIVE_FIELDS if native else ())):
        if body.get(name) is not None:
            out[name] = body[name]
    stops = _stop_sequences(body.get("stop_sequences"))
    if stops:
        out["stop"] = list(stops)
    tools = body.get("tools")
    if tools is not None:
        out.update(_tools(tools, body.get("tool_choice"), native))
    schema = _output_schema(body.get("output_config"))
    if schema is not None:
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    user = _user(body.get("metadata"))
    if user is not None:
        out["user"] = user
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    if stream:
        out["stream"] = True
        if stream_usage:
            out["stream_options"] = {"include_usage": True}
    thinking = body.get("thinking")
    wants_thinking = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    return InboundRequest(out, model, stops, wants_thinking)


def _system(system: Any, native: bool) -> list[dict[str, Any]]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise InvalidRequest("'system' must be a string or an array of text blocks.", param="system")
    parts = []
    for j, block in enumerate(_blocks(system, "system")):
        if block["type"] != "text":
            raise InvalidRequest(f"system[{j}] must be a text block.", param=f"system[{j}]")
        parts.append(_text_part(block, f"system[{j}]", native))
    return [{"role": "system", "content": _content(parts)}] if parts else []


def _message(message: Any, where: str, native: bool) -> list[dict[str, Any]]:
    if not isinstance(message, dict):
        raise InvalidRequest(f"{where} must be an object.", param=where)
    role = message.get("role")
    content = message.get("content")
    if role not in ("user", "assistant"):
        raise InvalidRequest(f"{where}.role must be 'user' or 'assistant'.", param=f"{where}.role")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or an array of blocks.", param=f"{where}.content")
    if role == "user":
        return _user_turn(_blocks(content, f"{where}.content"), where, native)
    return _assistant_turn(_blocks(content, f"{where}.content"), where, native)


def _blocks(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    for j, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise InvalidRequest(f"{where}[{j}] must be an object with a 'type'.", param=f"{where}[{j}]")
    return blocks


def _user_turn(blocks: list[dict[str, Any]], where: str, native: bool) -> list[dict[str, Any]]:
    """Tool results become ``tool`` messages, in order, ahead of the turn's other content."""
    if not blocks:
        raise InvalidRequest(f"{where}.content must not be empty.", param=f"{where}.content")
    turn: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        if block["type"] == "tool_result":
            turn.append(_tool_message(block, at, native))
        else:
            parts.append(_user_part(block, at, native))
    if parts:
        turn.append({"role": "user", "content": _content(parts)})
    return turn


def _user_part(block: dict[str, Any], where: str, native: bool) -> dict[str, Any]:
    kind = block["type"]
    if kind == "text":
        return _text_part(block, where, native)
    source = block.get("source")
    if kind in ("image", "document") and isinstance(source, dict):
        source_type = source.get("type")
        data, media_type = source.get("data"), source.get("media_type")
        if source_type == "base64" and isinstance(data, str) and isinstance(media_type, str):
            url = f"data:{media_type};base64,{data}"
            if kind == "image":
                return {"type": "image_url", "image_url": {"url": url}}
            return {"type": "file", "file": {"file_data": url, **_filename(block)}}
        if kind == "image" and source_type == "url" and isinstance(source.get("url"), str):
            return {"type": "image_url", "image_url": {"url": source["url"]}}
        if kind == "document" and source_type == "text" and isinstance(data, str):
            return {"type": "text", "text": data}
        raise InvalidRequest(
            f"{where}.source: {kind} sources of type '{source_type}' are not supported; send base64 data"
            + (" or a URL." if kind == "image" else " or plain text."),
            param=f"{where}.source",
        )
    if kind in ("image", "document"):
        raise InvalidRequest(f"{where}.source is required.", param=f"{where}.source")
    raise InvalidRequest(f"{where}: content blocks of type '{kind}' are not supported here.", param=where)


def _filename(block: Mapping[str, Any]) -> dict[str, str]:
    title = block.get("title")
    return {"filename": title} if isinstance(title, str) and title else {}


def _tool_message(block: dict[str, Any], where: str, native: bool) -> dict[str, Any]:
    call_id = _required(block, "tool_use_id", where)
    content = block.get("content")
    if content is None or isinstance(content, str):
        return {"role": "tool", "tool_call_id": call_id, "content": content or ""}
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or an array of blocks.", param=f"{where}.content")
    parts = [_user_part(b, f"{where}.content[{k}]", native) for k, b in enumerate(_blocks(content, f"{where}.content"))]
    return {"role": "tool", "tool_call_id": call_id, "content": _content(parts) if parts else ""}


def _assistant_turn(blocks: list[dict[str, Any]], where: str, native: bool) -> list[dict[str, Any]]:
    texts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        kind = block["type"]
        if kind == "text":
            texts.append(_text_part(block, at, native))
        elif kind == "tool_use":
            calls.append(_tool_call(block, at))
        elif kind not in _SKIPPED_BLOCKS:
            raise InvalidRequest(f"{at}: content blocks of type '{kind}' are not supported here.", param=at)
    if not texts and not calls:
        return [] if blocks else [{"role": "assistant", "content": ""}]
    message: dict[str, Any] = {"role": "assistant", "content": _content(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tool_call(block: dict[str, Any], where: str) -> dict[str, Any]:
    call_id, name, arguments = _required(block, "id", where), _required(block, "name", where), block.get("input", {})
    if not isinstance(arguments, dict):
        raise InvalidRequest(f"{where}.input must be an object.", param=f"{where}.input")
    function = {"name": name, "arguments": orjson.dumps(arguments).decode()}
    return {"id": call_id, "type": "function", "function": function}


def _required(block: Mapping[str, Any], key: str, where: str = "") -> str:
    value = block.get(key)
    if not isinstance(value, str) or not value:
        name = f"{where}.{key}" if where else key
        raise InvalidRequest(f"'{name}' is required and must be a non-empty string.", param=name)
    return value


def _text_part(block: Mapping[str, Any], where: str, native: bool) -> dict[str, Any]:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{where}.text must be a string.", param=f"{where}.text")
    part: dict[str, Any] = {"type": "text", "text": text}
    if native and block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One plain text part is sent as a string, which every OpenAI-compatible server accepts."""
    if len(parts) == 1 and parts[0]["type"] == "text" and len(parts[0]) == 2:
        text: str = parts[0]["text"]
        return text
    return parts


def _stop_sequences(stops: Any) -> tuple[str, ...]:
    if stops is None:
        return ()
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise InvalidRequest("'stop_sequences' must be an array of strings.", param="stop_sequences")
    return tuple(stops)


def _output_schema(config: Any) -> dict[str, Any] | None:
    """The JSON Schema of ``output_config.format`` (structured outputs); other settings are dropped."""
    if config is None:
        return None
    output_format = config.get("format") if isinstance(config, dict) else config
    if output_format is None:
        return None
    schema = output_format.get("schema") if isinstance(output_format, dict) else None
    if not isinstance(schema, dict) or output_format.get("type") != "json_schema":
        raise InvalidRequest("'output_config.format' must be a json_schema format with a schema.",
                             param="output_config.format")
    return schema


def _user(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidRequest("'metadata' must be an object.", param="metadata")
    user = metadata.get("user_id")
    if user is not None and not isinstance(user, str):
        raise InvalidRequest("'metadata.user_id' must be a string.", param="metadata.user_id")
    return user or None


def _tools(tools: Any, choice: Any, native: bool) -> dict[str, Any]:
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array.", param="tools")
    out: list[dict[str, Any]] = []
    for j, tool in enumerate(tools):
        where = f"tools[{j}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
            raise InvalidRequest(f"{where} must be an object with a 'name'.", param=where)
        if tool.get("type") not in (None, "custom"):
            raise InvalidRequest(
                f"{where}: Anthropic server tools ('{tool.get('type')}') are not supported; use client tools.",
                param=f"{where}.type",
            )
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise InvalidRequest(f"{where}.input_schema must be a JSON Schema object.", param=f"{where}.input_schema")
        function: dict[str, Any] = {"name": tool["name"], "parameters": schema}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        item: dict[str, Any] = {"type": "function", "function": function}
        if native and tool.get("cache_control") is not None:
            item["cache_control"] = tool["cache_control"]
        out.append(item)
    fields = _tool_choice(choice)
    return {"tools": out, **fields} if out else {}


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice is None:
        return {}
    kind = choice.get("type") if isinstance(choice, dict) else None
    fields: dict[str, Any]
    if kind in ("auto", "none"):
        fields = {"tool_choice": kind}
    elif kind == "any":
        fields = {"tool_choice": "required"}
    elif kind == "tool" and isinstance(choice.get("name"), str):
        fields = {"tool_choice": {"type": "function", "function": {"name": choice["name"]}}}
    else:
        raise InvalidRequest(
            "'tool_choice' must be an object of type auto, any, none, or tool (with a name).", param="tool_choice"
        )
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        fields["parallel_tool_calls"] = False
    return fields


# -- answers ------------------------------------------------------------------------------------


def stop_reason(finish: Any, matched: Any, stop_sequences: tuple[str, ...]) -> tuple[str, str | None]:
    """The stop reason and matched stop sequence. The match is known only from upstreams that
    report it (vLLM's ``stop_reason``); otherwise a stop is ``end_turn``."""
    if finish == "stop" and isinstance(matched, str) and matched in stop_sequences:
        return "stop_sequence", matched
    return STOP_REASONS.get(finish, "end_turn") if isinstance(finish, str) else "end_turn", None


def anthropic_usage(usage: Usage | None) -> dict[str, int]:
    """Anthropic counts cache reads and writes apart from ``input_tokens``; OpenAI's prompt tokens include them."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    return {
        "input_tokens": max(0, usage.prompt_tokens - usage.cached_tokens - usage.cache_creation_tokens),
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "cache_creation_input_tokens": usage.cache_creation_tokens,
    }


def message_id(upstream_id: Any, fallback: str) -> str:
    if isinstance(upstream_id, str) and upstream_id:
        return upstream_id if upstream_id.startswith("msg_") else "msg_" + upstream_id.removeprefix("chatcmpl-")
    return "msg_" + fallback


def message_from_completion(
    body: Mapping[str, Any], usage: Usage | None, request: InboundRequest, fallback_id: str
) -> dict[str, Any]:
    """A ``chat.completion`` dict as a Messages ``message``."""
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], Mapping) else {}
    message = choice.get("message")
    message = message if isinstance(message, Mapping) else {}
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if request.thinking and isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = _text_of(message.get("content"))
    refusal = message.get("refusal")
    refused = not text and isinstance(refusal, str) and bool(refusal)
    if text or refused:
        content.append({"type": "text", "text": refusal if refused else text})
    calls = message.get("tool_calls")
    for position, call in enumerate(calls if isinstance(calls, list) else []):
        content.append(_tool_use(call, position))
    reason, sequence = stop_reason(choice.get("finish_reason"), choice.get("stop_reason"), request.stop_sequences)
    return {
        "id": message_id(body.get("id"), fallback_id),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": "refusal" if refused else reason,
        "stop_sequence": sequence,
        "usage": anthropic_usage(usage),
    }


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _tool_use(call: Any, position: int) -> dict[str, Any]:
    call_id: Any
    name: Any
    try:
        call_id, name, arguments = tool_arguments(call, f"tool_calls[{position}]")
    except InvalidRequest:  # arguments that are not a JSON object (or no name): keep what there is
        function = call.get("function") if isinstance(call, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else ""
        call_id, arguments = call.get("id") if isinstance(call, Mapping) else "", {}
    return tool_use_block(call_id, name, position, arguments)


def tool_use_block(call_id: Any, name: Any, position: int, arguments: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` block; a call that came without an id gets one from its position."""
    return {
        "type": "tool_use",
        "id": call_id if isinstance(call_id, str) and call_id else f"toolu_{position}",
        "name": name if isinstance(name, str) else "",
        "input": arguments,
    }


def error_object(error_type: str, message: str) -> dict[str, Any]:
    """Anthropic's error shape, for error bodies and ``error`` stream events alike."""
    return {"type": "error", "error": {"type": error_type, "message": message}}
