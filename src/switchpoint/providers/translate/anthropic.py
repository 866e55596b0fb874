"""OpenAI Chat Completions ⇄ Anthropic Messages (``anthropic-version: 2023-06-01``).

Requests: system and developer messages become the top-level ``system``; tool messages become
``tool_result`` blocks in a user turn (consecutive ones merged, results first); assistant tool
calls become ``tool_use`` blocks; images become ``image`` blocks (base64 or url source).
Responses and stream events come back as ``chat.completion`` and ``chat.completion.chunk`` dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from switchpoint.errors import InvalidRequest
from switchpoint.providers.translate.common import (
    MalformedUpstream,
    UpstreamErrorEvent,
    encode_events,
    parse_data_url,
    stop_list,
    text_parts,
    tool_arguments,
    usage_chunk,
)
from switchpoint.types import Usage

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "ERROR_STATUS",
    "AnthropicStreamTranslator",
    "finish_reason",
    "response_from_anthropic",
    "to_anthropic_request",
    "usage_from_anthropic",
]

DEFAULT_MAX_TOKENS = 4096

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# The HTTP status each documented error type is sent with (used for errors inside a stream).
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# Native request fields a client may send through (e.g. the openai client's ``extra_body``).
_PASS_THROUGH = ("top_k", "thinking")


def to_anthropic_request(
    body: Mapping[str, Any], model: str, *, stream: bool, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """An OpenAI chat-completions body as an Anthropic Messages request body."""
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise InvalidRequest("Anthropic deployments return one choice; 'n' must be 1.", param="n")
    system, messages = _messages(body.get("messages") or [])
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    out: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
    if system:
        out["system"] = system
    out["messages"] = messages
    for name in ("temperature", "top_p", *_PASS_THROUGH):
        if body.get(name) is not None:
            out[name] = body[name]
    stops = stop_list(body.get("stop"))
    if stops:
        out["stop_sequences"] = stops
    tools = body.get("tools")
    if tools:
        out["tools"] = [_tool(tool, f"tools[{j}]") for j, tool in enumerate(tools)]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    schema = _json_schema(body.get("response_format"))
    if schema is not None:
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if stream:
        out["stream"] = True
    return out


# -- messages ---------------------------------------------------------------------------------


def _messages(messages: list[Any]) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), where))
            continue
        if role == "user":
            blocks, turn_role = _user_blocks(message.get("content"), where), "user"
        elif role == "assistant":
            blocks, turn_role = _assistant_blocks(message, where), "assistant"
        elif role == "tool":
            blocks, turn_role = [_tool_result(message, where)], "user"
        else:
            raise InvalidRequest(
                f"{where}.role '{role}' is not supported by Anthropic deployments; use 'tool' messages.",
                param=f"{where}.role",
            )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    for turn in turns:
        # Tool results must open the user turn that answers the tool calls.
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return _system_value(system), [_compact(turn) for turn in turns]


def _system_value(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if any("cache_control" in block for block in blocks):
        return blocks
    return "\n\n".join(block["text"] for block in blocks)


def _compact(turn: dict[str, Any]) -> dict[str, Any]:
    """A turn holding one plain text block is sent as a string, as most clients write it."""
    content = turn["content"]
    if len(content) == 1 and content[0]["type"] == "text" and len(content[0]) == 2:
        return {"role": turn["role"], "content": content[0]["text"]}
    return turn


def _text_block(part: Mapping[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": part["text"]}
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _text_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, list):
        text_parts(content, where)  # only text parts are allowed
        return [_text_block(part) for part in content if part["text"]]
    return [{"type": "text", "text": text} for text in text_parts(content, where) if text]


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [_user_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]


def _user_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return _text_block(part)
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str):
            raise InvalidRequest(f"{where}.image_url.url must be a string.", param=f"{where}.image_url")
        data = parse_data_url(url)
        if data is not None:
            return {"type": "image", "source": {"type": "base64", "media_type": data[0], "data": data[1]}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    if kind == "file":
        file = part.get("file")
        data = parse_data_url(file.get("file_data", "")) if isinstance(file, Mapping) else None
        if data is not None and data[0] == "application/pdf":
            return {"type": "document", "source": {"type": "base64", "media_type": data[0], "data": data[1]}}
        raise InvalidRequest(f"{where}: Anthropic deployments take files only as PDF data URLs.", param=where)
    raise InvalidRequest(f"{where}: content parts of type '{kind}' are not supported by Anthropic.", param=where)


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    content = message.get("content")
    blocks: list[dict[str, Any]] = []
    if isinstance(content, list):
        parts = [p for p in content if p.get("type") != "refusal"]
        text_parts(parts, where)  # only text (and refusal) parts are allowed
        blocks.extend(_text_block(p) for p in parts if p["text"])
    elif isinstance(content, str) and content:
        blocks.append({"type": "text", "text": content})
    for j, call in enumerate(message.get("tool_calls") or []):
        call_id, name, arguments = tool_arguments(call, f"{where}.tool_calls[{j}]")
        if not call_id:
            raise InvalidRequest(f"{where}.tool_calls[{j}].id is required.", param=f"{where}.tool_calls[{j}].id")
        blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{where}.tool_call_id is required.", param=f"{where}.tool_call_id")
    content = message.get("content")
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, list):
        result["content"] = _user_blocks(content, where)
    elif content:
        result["content"] = content
    return result


# -- tools and formats ------------------------------------------------------------------------


def _tool(tool: Mapping[str, Any], where: str) -> dict[str, Any]:
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, Mapping):
        raise InvalidRequest(f"{where}: Anthropic deployments take only function tools.", param=where)
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    out: dict[str, Any] = {"name": function.get("name"), "input_schema": parameters}
    if function.get("description"):
        out["description"] = function["description"]
    if tool.get("cache_control") is not None:
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif choice in ("auto", "none"):
        result = {"type": choice}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        result = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise InvalidRequest("'tool_choice' must be auto, none, required or a function.", param="tool_choice")
    if parallel is False and (result is None or result["type"] != "none"):
        result = {**(result or {"type": "auto"}), "disable_parallel_tool_use": True}
    return result


def _json_schema(response_format: Any) -> dict[str, Any] | None:
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if isinstance(schema, dict):
            return schema
    return None


# -- responses --------------------------------------------------------------------------------


def finish_reason(stop_reason: Any) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, "stop")


def usage_from_anthropic(usage: Any) -> Usage | None:
    """Input, cache reads and cache writes all count as prompt tokens; cache reads are the cached ones.

    Writes come as ``cache_creation_input_tokens``, and when the request used both TTLs, split in
    ``cache_creation: {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}``.
    """
    if not isinstance(usage, Mapping):
        return None
    fresh, read, written, output = (
        _int(usage.get(k))
        for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")
    )
    hour = 0
    split = usage.get("cache_creation")
    if isinstance(split, Mapping):
        hour = _int(split.get("ephemeral_1h_input_tokens"))
        written = written or hour + _int(split.get("ephemeral_5m_input_tokens"))
    prompt = fresh + read + written
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=output,
        total_tokens=prompt + output,
        cached_tokens=read,
        cache_creation_tokens=written,
        cache_creation_1h_tokens=min(hour, written),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _arguments(value: Any) -> str:
    return orjson.dumps(value if isinstance(value, dict) else {}).decode()


def response_from_anthropic(data: Any, *, created: int) -> tuple[dict[str, Any], Usage | None, str | None]:
    """A Messages response as an OpenAI ``chat.completion`` dict, with its usage and finish reason."""
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise MalformedUpstream("returned a message without content")
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in data["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "thinking":
            thinking.append(str(block.get("thinking", "")))
        elif kind == "tool_use":
            function = {"name": block.get("name"), "arguments": _arguments(block.get("input"))}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    finish = finish_reason(data.get("stop_reason"))
    usage = usage_from_anthropic(data.get("usage"))
    body: dict[str, Any] = {
        "id": data.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": data.get("model"),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage.to_openai()
    return body, usage, finish


# -- streams ----------------------------------------------------------------------------------


class AnthropicStreamTranslator:
    """Turns Messages stream events (parsed ``data`` objects) into ``chat.completion.chunk`` SSE events.

    Output is bytes, built from templates: the part of every chunk before the delta (id, created,
    model) is rendered once per stream, so a text delta costs one ``orjson.dumps`` of its text and
    two concatenations, no dict building and no re-serialisation of the whole chunk. The bytes are
    exactly what ``encode_events`` gives for the equivalent chunk dict (tested).
    The ``message_start`` role chunk is held back and sent with the first chunk that follows it,
    so a stream that fails before any output has relayed nothing.
    """

    def __init__(self, *, created: int, model: str = "", include_usage: bool = False) -> None:
        self.finish_reason: str | None = None
        self.done = False
        self._base: dict[str, Any] = {"id": "", "created": created, "model": model}
        self._include_usage = include_usage
        self._usage: dict[str, Any] = {}
        self._usage_value: Usage | None = None
        self._usage_sent = False
        self._blocks: dict[int, tuple[str, int]] = {}
        self._tool_calls = 0
        self._role = b""  # the role chunk, until it goes out with the next one
        self._head = self._text_head = b""  # rendered at message_start (or at the first chunk without one)

    def _render_head(self) -> bytes:
        base = self._base
        self._head = (
            b'data: {"id":' + orjson.dumps(base["id"]) + b',"object":"chat.completion.chunk","created":'
            + orjson.dumps(base["created"]) + b',"model":' + orjson.dumps(base["model"])
            + b',"choices":[{"index":0,"delta":'
        )
        self._text_head = self._head + b'{"content":'
        return self._head

    @property
    def usage(self) -> Usage | None:
        if self._usage_value is None and self._usage:
            self._usage_value = usage_from_anthropic(self._usage)
        return self._usage_value

    @property
    def complete(self) -> bool:
        return self.done or self.finish_reason is not None

    def feed(self, event: Mapping[str, Any]) -> bytes:
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":  # the hot path
                text = delta.get("text")
                if not self._text_head:
                    self._render_head()
                out = self._text_head + orjson.dumps(text if isinstance(text, str) else "") + _TEXT_TAIL
                if self._role:
                    out, self._role = self._role + out, b""
                return out
            return self._emit(self._block_delta(event))
        if kind == "message_start":
            self._role = self._start(event.get("message"))
            return b""
        if kind == "content_block_start":
            return self._emit(self._block_start(event))
        if kind == "message_delta":
            return self._emit(self._message_delta(event))
        if kind == "message_stop":
            self.done = True
            return self.end()
        if kind == "error":
            error = event.get("error")
            error = error if isinstance(error, Mapping) else {}
            error_type = str(error.get("type") or "api_error")
            raise UpstreamErrorEvent(ERROR_STATUS.get(error_type, 500), str(error.get("message", "")), error_type)
        return b""  # ping, content_block_stop, and event types added later

    def end(self) -> bytes:
        """Whatever is still owed at the end of the stream: a held role chunk, and the usage chunk if asked for."""
        out, self._role = self._role, b""
        usage = self.usage
        if not self._include_usage or self._usage_sent or usage is None or not self.complete:
            return out
        self._usage_sent = True
        return out + encode_events((usage_chunk(self._base, usage.to_openai()),))

    def _emit(self, chunk: bytes) -> bytes:
        if self._role and chunk:
            chunk, self._role = self._role + chunk, b""
        return chunk

    def _chunk(self, delta: Mapping[str, Any], finish: str | None = None) -> bytes:
        tail = _TAIL if finish is None else b',"logprobs":null,"finish_reason":' + orjson.dumps(finish) + b"}]}\n\n"
        return (self._head or self._render_head()) + orjson.dumps(delta) + tail

    def _start(self, message: Any) -> bytes:
        if not isinstance(message, Mapping):
            raise MalformedUpstream("sent message_start without a message")
        self._base["id"] = message.get("id") or self._base["id"]
        self._base["model"] = message.get("model") or self._base["model"]
        self._render_head()
        if isinstance(message.get("usage"), Mapping):
            self._usage.update(message["usage"])
            self._usage_value = None
        return self._chunk({"role": "assistant", "content": ""})

    def _block_start(self, event: Mapping[str, Any]) -> bytes:
        index, block = event.get("index"), event.get("content_block")
        if not isinstance(index, int) or not isinstance(block, Mapping):
            raise MalformedUpstream("sent content_block_start without an index or block")
        kind = block.get("type")
        if kind == "tool_use":
            position = self._tool_calls
            self._tool_calls += 1
            self._blocks[index] = ("tool", position)
            initial = block.get("input")
            arguments = _arguments(initial) if initial else ""
            call = {
                "index": position,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": arguments},
            }
            return self._chunk({"tool_calls": [call]})
        self._blocks[index] = (str(kind), 0)
        if kind == "text" and block.get("text"):
            return self._chunk({"content": block["text"]})
        return b""

    def _block_delta(self, event: Mapping[str, Any]) -> bytes:
        delta = event.get("delta")
        if not isinstance(delta, Mapping):
            raise MalformedUpstream("sent content_block_delta without a delta")
        kind = delta.get("type")
        if kind == "text_delta":  # a text delta that is not a plain dict (the hot path takes the rest)
            return self._chunk({"content": delta.get("text", "")})
        if kind == "input_json_delta":
            index = event.get("index")
            block = self._blocks.get(index) if isinstance(index, int) else None
            piece = delta.get("partial_json")
            if block is None or block[0] != "tool" or not piece:
                return b""
            return self._chunk({"tool_calls": [{"index": block[1], "function": {"arguments": piece}}]})
        if kind == "thinking_delta":
            return self._chunk({"reasoning_content": delta.get("thinking", "")})
        return b""  # signature_delta, citations_delta

    def _message_delta(self, event: Mapping[str, Any]) -> bytes:
        usage = event.get("usage")
        if isinstance(usage, Mapping):  # cumulative counts: the latest value of each wins
            self._usage.update({k: v for k, v in usage.items() if v is not None})
            self._usage_value = None
        delta = event.get("delta")
        stop_reason = delta.get("stop_reason") if isinstance(delta, Mapping) else None
        if stop_reason is None:
            return b""
        self.finish_reason = finish_reason(stop_reason)
        return self._chunk({}, self.finish_reason)


_TAIL = b',"logprobs":null,"finish_reason":null}]}\n\n'
_TEXT_TAIL = b"}" + _TAIL
