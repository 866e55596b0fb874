"""Error classification, full-jitter backoff and the retry budget."""

from __future__ import annotations

import random

import pytest

from switchpoint.balancing.retry import (
    FALLBACK_CLASS,
    RETRYABLE,
    ContentFiltered,
    ErrorKind,
    NoHealthyDeployment,
    RetryBudget,
    RetryPolicy,
    classify,
)
from switchpoint.errors import (
    ContextWindowExceeded,
    NoDeploymentAvailable,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderTimeout,
    SwitchpointError,
    UnknownModel,
)

K = ErrorKind


@pytest.mark.parametrize(("error", "kind"), [
    (ProviderRateLimited("x"), K.RATE_LIMIT),
    (ProviderTimeout("x", phase="first_token"), K.TIMEOUT),
    (ProviderConnectionError("x"), K.CONNECTION),
    (ProviderProtocolError("x"), K.PROTOCOL),
    (ContextWindowExceeded("x"), K.CONTEXT_WINDOW),
    (ContentFiltered("x", response=None), K.CONTENT_POLICY),
    (ProviderHTTPError("x", status_code=500), K.SERVER_ERROR),
    (ProviderHTTPError("x", status_code=529), K.SERVER_ERROR),
    (ProviderHTTPError("x", status_code=408), K.SERVER_ERROR),
    (ProviderHTTPError("x", status_code=401), K.AUTH),
    (ProviderHTTPError("x", status_code=403), K.AUTH),
    (ProviderHTTPError("x", status_code=400), K.CLIENT_ERROR),
    (ProviderHTTPError("x", status_code=404), K.CLIENT_ERROR),
    (ProviderHTTPError("x", status_code=400, body="rejected by our safety system"), K.CONTENT_POLICY),
    (ProviderHTTPError("x", status_code=400, body="code: content_filter"), K.CONTENT_POLICY),
    (NoHealthyDeployment("x"), K.UNAVAILABLE),
    (NoDeploymentAvailable("x"), K.UNAVAILABLE),
    (UnknownModel("m", []), K.CLIENT_ERROR),
])
def test_classify(error: SwitchpointError, kind: str) -> None:
    assert classify(error) == kind


def test_retryable_and_fallback_classes() -> None:
    assert K.CLIENT_ERROR not in RETRYABLE and K.CONTEXT_WINDOW not in RETRYABLE
    assert K.CONTENT_POLICY not in RETRYABLE
    assert {K.RATE_LIMIT, K.SERVER_ERROR, K.TIMEOUT, K.CONNECTION, K.AUTH} <= RETRYABLE
    assert K.CLIENT_ERROR not in FALLBACK_CLASS
    assert FALLBACK_CLASS[K.CONNECTION] == FALLBACK_CLASS[K.AUTH] == "server_error"


def test_full_jitter_backoff_stays_in_its_envelope() -> None:
    policy = RetryPolicy(backoff_base=0.05, backoff_cap=1.0)
    rng = random.Random(3)
    for retry in range(1, 12):
        ceiling = min(1.0, 0.05 * 2 ** (retry - 1))
        delays = [policy.backoff(retry, rng) for _ in range(500)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling  # spread over the whole range


def test_budget_allows_the_ratio_plus_the_floor() -> None:
    budget = RetryBudget(ratio=0.2, min_retries=3, window=10, now=0)
    for _ in range(100):
        budget.on_request(1.0)
    allowed = sum(budget.try_retry(1.0) for _ in range(100))
    assert allowed == 23  # 20% of 100 + 3
    assert budget.denied == 77


def test_budget_window_slides() -> None:
    budget = RetryBudget(ratio=0.2, min_retries=0, window=10, now=0)
    for _ in range(100):
        budget.on_request(0.0)
    assert sum(budget.try_retry(0.0) for _ in range(50)) == 20
    # half of the previous window is still counted 15 s later (window 10..20, at 15)
    assert sum(budget.try_retry(15.0) for _ in range(50)) == 0  # its 20 retries weigh 10, requests 50
    assert budget.try_retry(25.0) is False  # nothing left in view: no requests, no floor
    for _ in range(10):
        budget.on_request(40.0)
    assert sum(budget.try_retry(40.0) for _ in range(10)) == 2


def test_budget_over_time_stays_near_the_ratio() -> None:
    budget = RetryBudget(ratio=0.2, min_retries=3, window=10, now=0)
    rng = random.Random(1)
    requests = retries = 0
    now = 0.0
    for _ in range(20_000):
        now += 0.01  # 100 requests per second
        budget.on_request(now)
        requests += 1
        if rng.random() < 0.5 and budget.try_retry(now):  # half the requests want a retry
            retries += 1
    assert retries / requests <= 0.2 + 3 * 20 / 20_000 + 0.005


def test_budget_snapshot_is_plain_data() -> None:
    budget = RetryBudget()
    budget.on_request(0)
    assert budget.snapshot(0)["requests"] == 1 and set(budget.snapshot(0)) >= {"ratio", "retries", "denied_total"}
