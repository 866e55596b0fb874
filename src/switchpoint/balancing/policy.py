"""Per-group resilience policy: fallbacks by error class, hedging, cascade, attempt timeout.

Built once from the config (``config/build.py``); the engine reads it per request without
allocating. Also home of the cheap prompt-size estimate used for context-window checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from switchpoint.types import ChatRequest, ChatResponse

__all__ = [
    "FALLBACK_CLASSES",
    "CascadePolicy",
    "Fallbacks",
    "GroupPolicy",
    "HedgePolicy",
    "LatencyWindow",
    "Verifier",
    "estimate_prompt_tokens",
]

FALLBACK_CLASSES = ("rate_limit", "server_error", "timeout", "context_window", "content_policy")

#: A verifier scores an answer in [0, 1] (1 = confident); it may be sync or async.
Verifier = Callable[[ChatRequest, ChatResponse], float | Awaitable[float]]


@dataclass(frozen=True, slots=True)
class Fallbacks:
    """Ordered fallback groups for each class of error (see ``retry.FALLBACK_CLASS``)."""

    rate_limit: tuple[str, ...] = ()
    server_error: tuple[str, ...] = ()
    timeout: tuple[str, ...] = ()
    context_window: tuple[str, ...] = ()
    content_policy: tuple[str, ...] = ()

    def for_class(self, name: str | None) -> tuple[str, ...]:
        if name is None:
            return ()
        targets: tuple[str, ...] = getattr(self, name, ())
        return targets

    def __bool__(self) -> bool:
        return bool(self.rate_limit or self.server_error or self.timeout or self.context_window
                    or self.content_policy)


class LatencyWindow:
    """The last ``size`` first-byte latencies of a group (for percentile hedging). Fixed memory."""

    __slots__ = ("_i", "_samples", "count")

    def __init__(self, size: int = 256) -> None:
        self._samples = [0.0] * size
        self._i = 0
        self.count = 0

    def add(self, value: float) -> None:
        self._samples[self._i] = value
        self._i = (self._i + 1) % len(self._samples)
        self.count += 1

    def percentile(self, p: float) -> float | None:
        n = min(self.count, len(self._samples))
        if n == 0:
            return None
        ordered = sorted(self._samples[:n])
        return ordered[min(n - 1, int(p / 100 * n))]


@dataclass(frozen=True, slots=True)
class HedgePolicy:
    """Start a second attempt on another deployment when the first is slower than ``delay``
    seconds, or than the group's ``percentile`` of recent first-byte latencies (once
    ``min_samples`` are known; ``delay`` is used before that, or no hedge if it is unset)."""

    delay: float | None = None
    percentile: float | None = None
    min_samples: int = 20
    window: LatencyWindow = field(default_factory=LatencyWindow, compare=False)

    def threshold(self) -> float | None:
        if self.percentile is not None and self.window.count >= self.min_samples:
            return self.window.percentile(self.percentile)
        return self.delay


@dataclass(frozen=True, slots=True)
class CascadePolicy:
    """Escalate a non-streamed answer to ``next`` when its confidence is below ``threshold``."""

    next: str
    threshold: float = 0.5
    request_logprobs: bool = False
    logprobs: bool = True
    refusal: bool = True
    json_schema: bool = True
    verifier: Verifier | None = None


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    balancing: str = "weighted_random"
    fallbacks: Fallbacks = Fallbacks()
    hedge: HedgePolicy | None = None
    cascade: CascadePolicy | None = None
    attempt_timeout: float | None = None


DEFAULT_POLICY = GroupPolicy()


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """A cheap estimate of the prompt's tokens: the JSON text of the messages and tools / 4.

    One C-level serialisation, no Python loop over the messages. Images are counted as 1000 tokens
    each instead of their base64 text. Good enough to skip a deployment whose window is clearly too
    small; the upstream's own context error still triggers the context-window fallback when the
    estimate is low (e.g. for scripts that take more than one token per character).
    """
    messages = body.get("messages")
    text = orjson.dumps(messages) if isinstance(messages, list) else b""
    tools = body.get("tools")
    tools_size = len(orjson.dumps(tools)) if isinstance(tools, list) and tools else 0
    if len(text) > 4096 and b'"image' in text:
        return _walk(messages) + tools_size // 4  # type: ignore[arg-type]
    return (len(text) + tools_size) // 4


def _walk(messages: list[Any]) -> int:
    """Text characters / 4 plus 1000 per image: for prompts that carry images."""
    chars = extra = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        extra += 4 + 1000 * _images(message.get("content"))
        chars += _content_chars(message.get("content"))
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            chars += sum(len(str(c.get("function", ""))) for c in calls if isinstance(c, dict))
    return chars // 4 + extra


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p.get("text", "")) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return 0


def _images(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") in ("image_url", "input_image", "image"))
