"""What the translators share: content parts, tool-call arguments, chunk building, signals.

Translators raise :class:`InvalidRequest` for requests the target format cannot express,
:class:`UpstreamErrorEvent` for an error the upstream reported inside a 200 stream, and
:class:`MalformedUpstream` for answers that break the upstream's own format. The adapters turn
the last two into :mod:`switchpoint.errors` at their boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from switchpoint.errors import InvalidRequest

__all__ = [
    "MalformedUpstream",
    "UpstreamErrorEvent",
    "chunk",
    "encode_events",
    "parse_data_url",
    "stop_list",
    "text_parts",
    "tool_arguments",
    "usage_chunk",
]

_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[^;,]*)*;base64,(?P<data>.*)", re.DOTALL)


class UpstreamErrorEvent(Exception):
    """The upstream reported an error inside a stream. ``status`` is the HTTP status it stands for."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


class MalformedUpstream(Exception):
    """The upstream's answer does not follow its own wire format."""


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` → (mime, data); None for anything else (e.g. http URLs)."""
    if not url.startswith("data:"):
        return None
    match = _DATA_URL.fullmatch(url)
    if match is None:
        return None
    return match.group("mime") or "application/octet-stream", match.group("data")


def text_parts(content: Any, where: str) -> list[str]:
    """The texts of a message whose content may only hold text (a string or text parts)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for j, part in enumerate(content):
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidRequest(f"{where}.content[{j}] must be a text part here.", param=f"{where}.content[{j}]")
        texts.append(part["text"])
    return texts


def tool_arguments(call: Any, where: str) -> tuple[str, str, dict[str, Any]]:
    """(id, name, parsed arguments) of one OpenAI assistant tool call."""
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise InvalidRequest(f"{where} must have a function with a name.", param=where)
    raw = function.get("arguments")
    arguments: Any = {}
    if isinstance(raw, str) and raw.strip():
        try:
            arguments = orjson.loads(raw)
        except orjson.JSONDecodeError:
            arguments = None
    elif isinstance(raw, Mapping):
        arguments = dict(raw)
    if not isinstance(arguments, dict):
        raise InvalidRequest(
            f"{where}.function.arguments must be a JSON object.", param=f"{where}.function.arguments"
        )
    call_id = call.get("id")
    return call_id if isinstance(call_id, str) else "", function["name"], arguments


def stop_list(stop: Any) -> list[str] | None:
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and stop:
        return [s for s in stop if isinstance(s, str)]
    return None


def chunk(
    base: Mapping[str, Any], delta: dict[str, Any], finish_reason: str | None = None, index: int = 0
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` with a single choice. ``base`` holds id, created and model."""
    choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {**_head(base), "choices": [choice]}


def usage_chunk(base: Mapping[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    """The final usage-only chunk (``choices: []``) sent when the client asked for usage."""
    return {**_head(base), "choices": [], "usage": usage}


def _head(base: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": base["id"], "object": "chat.completion.chunk", "created": base["created"], "model": base["model"]}


def encode_events(chunks: Iterable[Mapping[str, Any]]) -> bytes:
    """Chunks as whole SSE events: ``data: {...}\\n\\n`` each."""
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
