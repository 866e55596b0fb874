"""A read-only view of one chat request, with its text pulled out once for every analyser.

OpenAI message ``content`` is a string or a list of parts (``text``, ``image_url``,
``input_audio``, ``file``...). The view walks the messages once and keeps what analysers read:
the text of the last user message (what the request is about), all user text, the system text,
every text (for PII and token counts), and the counts of images and audio parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from switchpoint.types import ChatRequest

__all__ = ["RequestView"]

_SYSTEM_ROLES = frozenset({"system", "developer"})


class RequestView:
    """Text and counts of one request. Built once per request by the pipeline."""

    __slots__ = (
        "all_texts",
        "audio",
        "body",
        "cache",
        "images",
        "last_user_text",
        "message_count",
        "request",
        "system_text",
        "total_chars",
        "user_text",
        "user_turns",
    )

    def __init__(self, request: ChatRequest) -> None:
        self.request = request
        self.cache: dict[str, object] = {}  # per-request values shared between analysers
        self.body: Mapping[str, Any] = request.body if isinstance(request.body, Mapping) else {}
        messages = self.body.get("messages")
        if not isinstance(messages, Sequence) or isinstance(messages, str):
            messages = ()
        user_parts: list[str] = []
        system_parts: list[str] = []
        self.all_texts: list[str] = []
        self.images = 0
        self.audio = 0
        self.user_turns = 0
        self.message_count = 0
        last_user = ""
        for message in messages:
            if not isinstance(message, Mapping):
                continue
            self.message_count += 1
            role = message.get("role")
            text = self._content_text(message.get("content"))
            self._tool_call_text(message)
            if text:
                self.all_texts.append(text)
            if role == "user":
                self.user_turns += 1
                user_parts.append(text)
                last_user = text
            elif role in _SYSTEM_ROLES:
                system_parts.append(text)
        self.user_text = "\n".join(p for p in user_parts if p)
        self.system_text = "\n".join(p for p in system_parts if p)
        # A conversation may end on an assistant or tool message; the last user text is still the task.
        self.last_user_text = last_user or self.user_text or (self.all_texts[-1] if self.all_texts else "")
        self.total_chars = sum(map(len, self.all_texts))

    def _content_text(self, content: Any) -> str:
        if isinstance(content, str):
            return content
        if not isinstance(content, Sequence):
            return ""
        texts: list[str] = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind == "text" or kind == "input_text":
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
            elif kind in ("image_url", "input_image", "image"):
                self.images += 1
            elif kind in ("input_audio", "audio"):
                self.audio += 1
        return "\n".join(texts)

    def _tool_call_text(self, message: Mapping[str, Any]) -> None:
        calls = message.get("tool_calls")
        if not isinstance(calls, Sequence):
            return
        for call in calls:
            function = call.get("function") if isinstance(call, Mapping) else None
            arguments = function.get("arguments") if isinstance(function, Mapping) else None
            if isinstance(arguments, str) and arguments:
                self.all_texts.append(arguments)
