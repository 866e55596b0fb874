"""Rate-limit headers of upstream answers, read into one :class:`UpstreamLimits`.

OpenAI (and most OpenAI-compatible servers: Azure, Groq, Together, ...) send
``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, the reset as a duration such as
``12ms``, ``1s``, ``6m0s`` or ``1h2m3.5s``. Anthropic sends
``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}``, the reset as an RFC 3339
time. The health tracker uses them to keep each deployment's request and token buckets in step
with the provider's own count (``HealthTracker.observe_limits``), so the usage-aware balancer
sees the real headroom and a deployment with nothing left pauses until its reset instead of
collecting 429s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime

from switchpoint.types import UpstreamLimits

__all__ = ["parse_anthropic_limits", "parse_duration", "parse_openai_limits"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """``"6m0s"`` → 360.0; ``"12ms"`` → 0.012; a bare number is seconds; nonsense → None."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    total, end = 0.0, 0
    for match in _DURATION.finditer(text):
        if match.start() != end:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        end = match.end()
    return total if end == len(text) and end else None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(float(text.strip()))
    except ValueError:
        return None
    return value if value >= 0 else None


def parse_openai_limits(headers: Mapping[str, str]) -> UpstreamLimits | None:
    """The ``x-ratelimit-*`` headers, or None when the upstream sent none."""
    remaining_requests = _int(headers.get("x-ratelimit-remaining-requests"))
    remaining_tokens = _int(headers.get("x-ratelimit-remaining-tokens"))
    if remaining_requests is None and remaining_tokens is None:
        return None
    return UpstreamLimits(
        limit_requests=_int(headers.get("x-ratelimit-limit-requests")),
        limit_tokens=_int(headers.get("x-ratelimit-limit-tokens")),
        remaining_requests=remaining_requests,
        remaining_tokens=remaining_tokens,
        reset_requests=parse_duration(headers.get("x-ratelimit-reset-requests")),
        reset_tokens=parse_duration(headers.get("x-ratelimit-reset-tokens")),
    )


def _until(text: str | None, now: float) -> float | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return parse_duration(text)
    return max(0.0, moment.timestamp() - now)


def parse_anthropic_limits(headers: Mapping[str, str], now: float | None = None) -> UpstreamLimits | None:
    """The ``anthropic-ratelimit-*`` headers (``now``: wall-clock seconds, for the resets)."""
    remaining_requests = _int(headers.get("anthropic-ratelimit-requests-remaining"))
    remaining_tokens = _int(headers.get("anthropic-ratelimit-tokens-remaining"))
    if remaining_requests is None and remaining_tokens is None:
        return None
    wall = time.time() if now is None else now
    return UpstreamLimits(
        limit_requests=_int(headers.get("anthropic-ratelimit-requests-limit")),
        limit_tokens=_int(headers.get("anthropic-ratelimit-tokens-limit")),
        remaining_requests=remaining_requests,
        remaining_tokens=remaining_tokens,
        reset_requests=_until(headers.get("anthropic-ratelimit-requests-reset"), wall),
        reset_tokens=_until(headers.get("anthropic-ratelimit-tokens-reset"), wall),
    )
