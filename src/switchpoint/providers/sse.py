"""Server-sent events: incremental splitting of a byte stream into whole events.

Pure functions and a tiny buffer class, no I/O. Upstream reads arrive at arbitrary
boundaries; :class:`SSEBuffer` returns only whole events, so the relay never forwards half
an event and can inspect each one.
"""

from __future__ import annotations

__all__ = ["SSEBuffer", "event_data"]


class SSEBuffer:
    """Collects bytes and hands back whole events (without their blank-line terminators)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            buf = _normalise_newlines(buf)
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return []
        self._buf = buf[end + 2 :]
        events = []
        for event in buf[:end].split(b"\n\n"):
            event = event.strip(b"\n")
            if event:
                events.append(event)
        return events

    @property
    def pending(self) -> int:
        """Bytes held for an event not yet terminated."""
        return len(self._buf)

    def flush(self) -> bytes:
        """What is left: an unterminated last event, if any."""
        rest, self._buf = self._buf.replace(b"\r", b"\n").strip(b"\n"), b""
        return rest


def _normalise_newlines(buf: bytes) -> bytes:
    """CRLF and CR to LF; a trailing CR is kept, since its LF may come in the next read."""
    held = buf.endswith(b"\r")
    body = buf[:-1] if held else buf
    body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return body + b"\r" if held else body


def event_data(event: bytes) -> bytes | None:
    """The ``data:`` payload of one event (multi-line data joined), or None for comments and others."""
    if event.startswith(b"data:"):
        if b"\n" not in event:  # one line, as OpenAI and Gemini send events
            return event[6:] if event.startswith(b" ", 5) else event[5:]
    else:
        start = event.find(b"\n") + 1
        if start and event.startswith(b"data:", start) and event.find(b"\n", start) < 0:
            # ``event: <type>`` then ``data: {...}``, as Anthropic sends events
            return event[start + 6 :] if event.startswith(b" ", start + 5) else event[start + 5 :]
    parts = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            payload = line[5:]
            parts.append(payload[1:] if payload.startswith(b" ") else payload)
    return b"\n".join(parts) if parts else None
