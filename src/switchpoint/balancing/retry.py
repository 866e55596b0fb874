"""Retries: what kind of failure an error is, full-jitter backoff, and the retry budget.

Every upstream error is sorted into one :class:`ErrorKind` here, and only here. The kind decides
whether another attempt may help (:data:`RETRYABLE`), what it does to the deployment's health
(``health.py``) and which fallback list applies (:data:`FALLBACK_CLASS`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from switchpoint.errors import (
    ContentFiltered,
    ContextWindowExceeded,
    NoDeploymentAvailable,
    NoHealthyDeployment,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderTimeout,
    SwitchpointError,
)

__all__ = [
    "FALLBACK_CLASS",
    "RETRYABLE",
    "ContentFiltered",
    "ErrorKind",
    "NoHealthyDeployment",
    "RetryBudget",
    "RetryPolicy",
    "classify",
]


class ErrorKind:
    """The kinds of failure, as plain strings (they go into records and config)."""

    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    PROTOCOL = "protocol"
    AUTH = "auth"
    UNAVAILABLE = "unavailable"
    CONTEXT_WINDOW = "context_window"
    CONTENT_POLICY = "content_policy"
    CLIENT_ERROR = "client_error"


K = ErrorKind

#: Kinds for which another attempt, on another deployment of the same group, may succeed.
RETRYABLE = frozenset({K.RATE_LIMIT, K.SERVER_ERROR, K.TIMEOUT, K.CONNECTION, K.PROTOCOL, K.AUTH, K.UNAVAILABLE})

#: The fallback list each kind uses (``fallbacks:`` keys in the config).
FALLBACK_CLASS = {
    K.RATE_LIMIT: "rate_limit",
    K.SERVER_ERROR: "server_error",
    K.CONNECTION: "server_error",
    K.PROTOCOL: "server_error",
    K.AUTH: "server_error",
    K.UNAVAILABLE: "server_error",
    K.TIMEOUT: "timeout",
    K.CONTEXT_WINDOW: "context_window",
    K.CONTENT_POLICY: "content_policy",
}

_POLICY_MARKERS = (
    "content_policy",
    "content policy",
    "content_filter",
    "content management policy",
    "safety system",
    "responsibleaipolicyviolation",
)


def classify(error: SwitchpointError) -> str:
    """The :class:`ErrorKind` of an error raised by an attempt or a group."""
    if isinstance(error, ProviderRateLimited):
        return K.RATE_LIMIT
    if isinstance(error, ProviderTimeout):
        return K.TIMEOUT
    if isinstance(error, ProviderConnectionError):
        return K.CONNECTION
    if isinstance(error, ProviderProtocolError):
        return K.PROTOCOL
    if isinstance(error, ContextWindowExceeded):
        return K.CONTEXT_WINDOW
    if isinstance(error, ContentFiltered):
        return K.CONTENT_POLICY
    if isinstance(error, ProviderHTTPError):
        return _http_kind(error)
    if isinstance(error, NoDeploymentAvailable):
        return K.UNAVAILABLE
    if isinstance(error, ProviderError):
        return K.SERVER_ERROR
    return K.CLIENT_ERROR


def _http_kind(error: ProviderHTTPError) -> str:
    code = error.status_code
    if code in (401, 403):
        return K.AUTH
    if code >= 500 or code in (408, 409):
        return K.SERVER_ERROR
    text = f"{error.body} {error.message}".lower()
    if any(marker in text for marker in _POLICY_MARKERS):
        return K.CONTENT_POLICY
    return K.CLIENT_ERROR


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How to wait before retrying the *same* deployment (switching to another one never waits),
    and how large each group's :class:`RetryBudget` is.

    Backoff is full jitter: retry ``n`` (1-based) waits a uniform random time in
    ``[0, min(cap, base * 2**(n-1))]``. A ``Retry-After`` is followed when it is at most
    ``retry_after_cap`` and fits in what is left of the deadline; otherwise the request fails over
    or answers at once.
    """

    backoff_base: float = 0.1
    backoff_cap: float = 8.0
    retry_after_cap: float = 60.0
    budget_ratio: float = 0.2
    budget_min_retries: int = 10
    budget_window: float = 10.0

    def budget(self, now: float) -> RetryBudget:
        return RetryBudget(self.budget_ratio, self.budget_min_retries, self.budget_window, now)

    def backoff(self, retry: int, rng: random.Random) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, retry - 1))
        return rng.random() * ceiling


class RetryBudget:
    """Retries are allowed while retries ≤ ``ratio`` × requests (+ ``min_retries``) over a window.

    Two tumbling windows give a sliding estimate: the previous window's counts are weighted by
    the share of it still inside the last ``window`` seconds. Finagle and Envoy use the same
    idea (20% of requests, with a small floor) so that retries cannot multiply load when an
    upstream struggles. The default floor, 10 retries per 10 s, lets a quiet gateway retry
    (Finagle's is 10 per second); under load the ratio dominates.
    """

    __slots__ = ("_cur_req", "_cur_retry", "_prev_req", "_prev_retry", "_start", "denied", "min_retries",
                 "ratio", "window")

    def __init__(self, ratio: float = 0.2, min_retries: int = 10, window: float = 10.0, now: float = 0.0) -> None:
        self.ratio = ratio
        self.min_retries = min_retries
        self.window = window
        self.denied = 0
        self._start = now
        self._cur_req = self._cur_retry = 0
        self._prev_req = self._prev_retry = 0

    def _roll(self, now: float) -> float:
        elapsed = now - self._start
        if elapsed >= self.window:
            if elapsed >= 2 * self.window:
                self._prev_req = self._prev_retry = 0
            else:
                self._prev_req, self._prev_retry = self._cur_req, self._cur_retry
            self._cur_req = self._cur_retry = 0
            self._start = now - (elapsed % self.window)
            elapsed = now - self._start
        return 1.0 - elapsed / self.window

    def on_request(self, now: float) -> None:
        if now - self._start >= self.window:
            self._roll(now)
        self._cur_req += 1

    def try_retry(self, now: float) -> bool:
        """Spend one retry if the budget allows it."""
        weight = self._roll(now)
        requests = self._cur_req + self._prev_req * weight
        retries = self._cur_retry + self._prev_retry * weight
        if retries + 1 > self.ratio * requests + self.min_retries:
            self.denied += 1
            return False
        self._cur_retry += 1
        return True

    def snapshot(self, now: float) -> dict[str, Any]:
        weight = self._roll(now)
        return {
            "ratio": self.ratio,
            "min_retries": self.min_retries,
            "window_s": self.window,
            "requests": round(self._cur_req + self._prev_req * weight, 2),
            "retries": round(self._cur_retry + self._prev_retry * weight, 2),
            "denied_total": self.denied,
        }
