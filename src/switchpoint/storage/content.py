"""What a request record keeps of the conversation when ``logs.store_content`` is on.

``record.content`` is ``{"messages": [...], "response": str | None}`` plus ``"tool_calls"`` when
the answer called tools: the request's messages as the client sent them (in the OpenAI shape; the
Anthropic API's are translated first), and the text of the answer. A non-streamed answer's is read
from its body; a streamed one's is put together from its ``chat.completion.chunk`` events once the
stream has ended, off the relay path. A failed request keeps its messages and ``response: null``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from switchpoint.providers.sse import SSEBuffer, event_data

__all__ = ["answer_content", "stream_content"]


def answer_content(body: Mapping[str, Any]) -> dict[str, Any]:
    """``response`` (and ``tool_calls``) of a ``chat.completion`` body's first choice."""
    choices = body.get("choices")
    message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(
        choices[0], dict) else None
    if not isinstance(message, dict):
        return {"response": None}
    content = message.get("content")
    out: dict[str, Any] = {"response": content if isinstance(content, str) else None}
    if message.get("tool_calls"):
        out["tool_calls"] = message["tool_calls"]
    return out


def stream_content(blocks: Iterable[bytes]) -> dict[str, Any]:
    """``response`` (and ``tool_calls``) of the first choice, from relayed SSE byte blocks."""
    buffer = SSEBuffer()
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for block in blocks:
        for event in buffer.feed(block):
            payload = event_data(event)
            if payload is None or payload.startswith(b"[DONE]"):
                continue
            try:
                data = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            choices = data.get("choices") if isinstance(data, dict) else None
            if not isinstance(choices, list):
                continue
            for choice in choices:
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta")
                if not isinstance(delta, dict):
                    continue
                piece = delta.get("content")
                if isinstance(piece, str):
                    text.append(piece)
                for call in delta.get("tool_calls") or ():
                    if isinstance(call, dict):
                        _merge_call(calls, call)
    out: dict[str, Any] = {"response": "".join(text) or None}  # None: no text (e.g. only tool calls)
    if calls:
        out["tool_calls"] = [calls[i] for i in sorted(calls)]
    return out


def _merge_call(calls: dict[int, dict[str, Any]], delta: Mapping[str, Any]) -> None:
    """Fold one streamed tool-call fragment into the call it continues (by ``index``)."""
    index = delta.get("index", 0)
    index = index if isinstance(index, int) else 0
    call = calls.setdefault(index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
    if isinstance(delta.get("id"), str):
        call["id"] = delta["id"]
    function = delta.get("function")
    if isinstance(function, dict):
        for key in ("name", "arguments"):
            if isinstance(function.get(key), str):
                call["function"][key] += function[key]
