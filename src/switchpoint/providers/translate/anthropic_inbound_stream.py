"""OpenAI ``chat.completion.chunk`` SSE bytes → Anthropic Messages stream events, for ``/v1/messages``.

Pure: bytes in, bytes out. The request side and the non-streamed answer are in
:mod:`switchpoint.providers.translate.anthropic_inbound`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from switchpoint.providers.sse import SSEBuffer, event_data
from switchpoint.providers.translate.anthropic_inbound import (
    InboundRequest,
    anthropic_usage,
    message_id,
    stop_reason,
    tool_use_block,
)
from switchpoint.types import Usage

__all__ = ["MessageStream", "encode_event"]


def encode_event(kind: str, data: Mapping[str, Any]) -> bytes:
    """One Messages stream event: ``event: <type>`` and its ``data:`` line."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


_PING = encode_event("ping", {"type": "ping"})
_BLOCK_STARTS: dict[str, dict[str, Any]] = {
    "text": {"type": "text", "text": ""},
    "thinking": {"type": "thinking", "thinking": "", "signature": ""},
}


class MessageStream:
    """OpenAI ``chat.completion.chunk`` SSE bytes in, Messages stream events (bytes) out.

    ``feed`` each block of the answer, then ``finish`` once it has ended. Text, reasoning (when the
    client enabled thinking) and tool calls become content blocks, opened and closed in order;
    tool-call arguments pass through as ``input_json_delta`` pieces as they arrive.
    """

    def __init__(self, request: InboundRequest, fallback_id: str) -> None:
        self._request = request
        self._fallback_id = fallback_id
        self._buffer = SSEBuffer()
        self._started = False
        self._index = -1  # the latest content block
        self._open: str | None = None  # the kind of the open block: text, thinking, tool_use
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool-call index → content block index
        self._finish: str | None = None
        self._matched: str | None = None
        self.usage: Usage | None = None

    def feed(self, block: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._buffer.feed(block):
            payload = event_data(event)
            if payload is None or payload == b"[DONE]":
                continue
            try:
                data = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict):
                self._chunk(data, out)
        return b"".join(out)

    def finish(self) -> bytes:
        """The events that end the message: the open block's stop, ``message_delta``, ``message_stop``."""
        out: list[bytes] = []
        self._start(None, out)
        self._close(out)
        reason, sequence = stop_reason(self._finish, self._matched, self._request.stop_sequences)
        usage = anthropic_usage(self.usage) if self.usage is not None else {"output_tokens": 0}
        delta = {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": sequence}, "usage": usage}
        out.append(encode_event("message_delta", delta))
        out.append(encode_event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def _start(self, upstream_id: Any, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(upstream_id, self._fallback_id),
            "type": "message",
            "role": "assistant",
            "model": self._request.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},  # known only at the end of an OpenAI stream
        }
        out.append(encode_event("message_start", {"type": "message_start", "message": message}))
        out.append(_PING)

    def _chunk(self, data: Mapping[str, Any], out: list[bytes]) -> None:
        self._start(data.get("id"), out)
        usage = Usage.from_openai(data.get("usage"))
        if usage is not None:
            self.usage = usage
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, Mapping):
            return
        if isinstance(choice.get("finish_reason"), str):
            self._finish = choice["finish_reason"]
            matched = choice.get("stop_reason")
            self._matched = matched if isinstance(matched, str) else None
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            return
        reasoning = delta.get("reasoning_content")
        if self._request.thinking and isinstance(reasoning, str) and reasoning:
            self._delta("thinking", {"type": "thinking_delta", "thinking": reasoning}, out)
        for name in ("content", "refusal"):
            text = delta.get(name)
            if isinstance(text, str) and text:
                self._delta("text", {"type": "text_delta", "text": text}, out)
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, Mapping):
                self._tool_delta(call, out)

    def _delta(self, kind: str, delta: dict[str, Any], out: list[bytes]) -> None:
        if self._open != kind:
            self._open_block(kind, _BLOCK_STARTS[kind], out)
        out.append(_block_delta(self._index, delta))

    def _tool_delta(self, call: Mapping[str, Any], out: list[bytes]) -> None:
        position = call.get("index")
        position = position if isinstance(position, int) else 0
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        block = self._tool_blocks.get(position)
        if block is None:  # a new call: its id and name come with its first piece
            self._open_block("tool_use", tool_use_block(call.get("id"), function.get("name"), position, {}), out)
            block = self._tool_blocks[position] = self._index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(_block_delta(block, {"type": "input_json_delta", "partial_json": arguments}))

    def _open_block(self, kind: str, content_block: dict[str, Any], out: list[bytes]) -> None:
        self._close(out)
        self._index += 1
        self._open = kind
        start = {"type": "content_block_start", "index": self._index, "content_block": content_block}
        out.append(encode_event("content_block_start", start))

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(encode_event("content_block_stop", {"type": "content_block_stop", "index": self._index}))
            self._open = None


def _block_delta(index: int, delta: dict[str, Any]) -> bytes:
    return encode_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
