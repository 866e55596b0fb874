"""Local rpm/tpm token buckets, so a deployment stays inside its provider limits.

Each bucket holds up to one minute's allowance and refills continuously. The engine takes one
request and the estimated tokens when an attempt starts, and settles the difference with the
real usage when it ends. Shared (multi-instance) limits come with the scale-out work.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TokenBucket", "UsageLimiter"]


class TokenBucket:
    """``capacity`` per minute, refilled continuously; the level may go negative after a settle."""

    __slots__ = ("_at", "_level", "capacity", "rate")

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0
        self._level = self.capacity
        self._at = now

    def level(self, now: float) -> float:
        if now > self._at:
            self._level = min(self.capacity, self._level + (now - self._at) * self.rate)
            self._at = now
        return self._level

    def take(self, amount: float, now: float) -> None:
        self._level = self.level(now) - amount

    def sync(self, remaining: float, now: float) -> None:
        """Take the upstream's own count of what is left (its ``x-ratelimit-remaining-*``)."""
        self._level = min(self.capacity, remaining)
        self._at = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` is available."""
        missing = amount - self.level(now)
        return max(0.0, missing / self.rate) if self.rate else float("inf")


class UsageLimiter:
    """The request and token buckets of one deployment (either may be absent)."""

    __slots__ = ("requests", "tokens")

    def __init__(self, rpm: int | None, tpm: int | None, now: float) -> None:
        self.requests = TokenBucket(rpm, now) if rpm else None
        self.tokens = TokenBucket(tpm, now) if tpm else None

    def has_room(self, now: float, tokens: float = 1.0) -> bool:
        if self.requests is not None and self.requests.level(now) < 1.0:
            return False
        return self.tokens is None or self.tokens.level(now) >= tokens

    def headroom(self, now: float) -> float:
        """The smaller remaining share of the two buckets, in [0, 1]."""
        share = 1.0
        if self.requests is not None:
            share = min(share, self.requests.level(now) / self.requests.capacity)
        if self.tokens is not None:
            share = min(share, self.tokens.level(now) / self.tokens.capacity)
        return max(0.0, share)

    def take(self, tokens: float, now: float) -> None:
        if self.requests is not None:
            self.requests.take(1.0, now)
        if self.tokens is not None and tokens:
            self.tokens.take(tokens, now)

    def settle(self, extra_tokens: float, now: float) -> None:
        """Correct the token estimate once the real usage is known (``extra`` may be negative)."""
        if self.tokens is not None and extra_tokens:
            self.tokens.take(extra_tokens, now)

    def wait_for(self, now: float) -> float:
        waits = [0.0]
        if self.requests is not None:
            waits.append(self.requests.wait_for(1.0, now))
        if self.tokens is not None:
            waits.append(self.tokens.wait_for(1.0, now))
        return max(waits)

    def needs_tokens(self) -> bool:
        return self.tokens is not None

    def snapshot(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.requests is not None:
            out["rpm_limit"] = self.requests.capacity
            out["requests_left"] = round(self.requests.level(now), 2)
        if self.tokens is not None:
            out["tpm_limit"] = self.tokens.capacity
            out["tokens_left"] = round(self.tokens.level(now), 1)
        return out
