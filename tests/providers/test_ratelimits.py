"""Upstream rate-limit headers: OpenAI's x-ratelimit-* and Anthropic's anthropic-ratelimit-*."""

from __future__ import annotations

import pytest

from switchpoint.providers.ratelimits import parse_anthropic_limits, parse_duration, parse_openai_limits
from switchpoint.types import UpstreamLimits


@pytest.mark.parametrize(("text", "seconds"), [
    ("12ms", 0.012), ("1s", 1.0), ("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("0s", 0.0), ("2", 2.0), ("0.5", 0.5),
    (None, None), ("", None), ("soon", None), ("5x", None), ("1s junk", None), ("-3", 0.0),
])
def test_durations(text: str | None, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_openai_headers() -> None:
    headers = {
        "x-ratelimit-limit-requests": "10000", "x-ratelimit-limit-tokens": "2000000",
        "x-ratelimit-remaining-requests": "9999", "x-ratelimit-remaining-tokens": "1999500",
        "x-ratelimit-reset-requests": "6ms", "x-ratelimit-reset-tokens": "15ms",
    }
    assert parse_openai_limits(headers) == UpstreamLimits(10000, 2000000, 9999, 1999500, 0.006, 0.015)
    assert parse_openai_limits({"content-type": "application/json"}) is None
    assert parse_openai_limits({"x-ratelimit-remaining-requests": "many"}) is None
    only = parse_openai_limits({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "bad"})
    assert only == UpstreamLimits(remaining_tokens=0)


def test_anthropic_headers_with_rfc3339_resets() -> None:
    now = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    headers = {
        "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:07Z",
        "anthropic-ratelimit-tokens-limit": "40000", "anthropic-ratelimit-tokens-remaining": "39000",
        "anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:01.5+00:00",
    }
    limits = parse_anthropic_limits(headers, now)
    assert limits is not None
    assert (limits.limit_requests, limits.remaining_requests, limits.limit_tokens, limits.remaining_tokens) == (
        50, 0, 40000, 39000)
    assert limits.reset_requests == pytest.approx(7.0) and limits.reset_tokens == pytest.approx(1.5)
    assert parse_anthropic_limits({}, now) is None
