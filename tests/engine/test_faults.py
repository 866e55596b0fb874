"""Fault matrix F1–F7 (../shared/docs/reliability.md §2.1): the engine against a scripted fake upstream.

Time that matters (cooldowns, Retry-After, backoff) runs on a fake clock: the engine's sleeps are
recorded, not waited. Only per-try timeouts, which aiohttp and asyncio enforce, use real time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from switchpoint.errors import AllAttemptsFailed, ProviderError, ProviderRateLimited, SwitchpointError, status_of
from switchpoint.testing import FakeOpenAIUpstream
from tests.engine.harness import Harness, dep, drive


def pair(upstream: FakeOpenAIUpstream, **group: Any) -> list[dict[str, Any]]:
    """Group 'g': m1 is (almost) always first, m2 second."""
    return [{"name": "g", **group, "deployments": [
        dep(upstream, "m1", weight=1000, input_cost_per_mtok=1.0, output_cost_per_mtok=1.0),
        dep(upstream, "m2", weight=0.001, input_cost_per_mtok=2.0, output_cost_per_mtok=2.0),
    ]}]


def single(upstream: FakeOpenAIUpstream, **group: Any) -> list[dict[str, Any]]:
    return [{"name": "g", **group, "deployments": [dep(upstream, "m1")]}]


# -- F1 / F1b: 429 with Retry-After ---------------------------------------------------------------


def test_f1_rate_limited_deployment_is_skipped_at_once_and_paused(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=429, headers={"Retry-After": "2"})
    upstream.script("m2", reply="from m2")

    async def scenario(h: Harness) -> None:
        served = await h.complete("g")
        assert served.deployment.id == "m2"
        assert h.sleeps == []  # switched deployment without waiting
        attempts = h.last.attempts
        assert [(a.deployment, a.status, a.error_kind, a.status_code, a.retry_after) for a in attempts] == [
            ("m1", "error", "rate_limit", 429, 2.0), ("m2", "ok", None, None, None)]
        assert h.last.cost == attempts[1].cost > 0 and attempts[0].cost == 0  # only the answer is billed
        assert h.state("m1")["state"] == "rate_limited"
        for _ in range(6):  # 1.8 s of the 2 s pause: m1 gets nothing
            h.clock.advance(0.3)
            assert (await h.complete("g")).deployment.id == "m2"
        assert len(upstream.requests_for("m1")) == 1
        h.clock.advance(0.3)
        upstream.script("m1", reply="from m1")
        assert (await h.complete("g")).deployment.id == "m1"
        assert h.state("m1")["state"] == "healthy" and h.state("m1")["ejections"] == 0

    drive(scenario, pair(upstream))


def test_f1_every_candidate_limited_waits_out_a_short_retry_after(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=429, headers={"Retry-After": "2"}, fail_times=1)

    async def scenario(h: Harness) -> None:
        served = await h.complete("g")
        assert served.deployment.id == "m1"
        assert h.sleeps == [2.0]
        assert [a.reason for a in h.last.attempts] == ["first", "retry after rate_limit (Retry-After 2s)"]
        assert h.last.attempts[1].backoff_ms == 2000

    drive(scenario, single(upstream, max_attempts=2))


def test_f1_without_a_retry_left_answers_429_with_retry_after(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=429, headers={"Retry-After": "2"})

    async def scenario(h: Harness) -> None:
        with pytest.raises(ProviderRateLimited) as caught:
            await h.complete("g")
        assert caught.value.retry_after == 2.0 and status_of(caught.value) == 429
        assert h.sleeps == [] and h.last.status == 429

    drive(scenario, single(upstream))


def test_f1b_retry_after_over_the_cap_is_not_waited(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=429, headers={"Retry-After": "120"})

    async def scenario(h: Harness) -> None:
        started = time.monotonic()
        with pytest.raises(ProviderRateLimited):
            await h.complete("g")
        assert time.monotonic() - started < 0.5
        assert h.sleeps == [] and len(upstream.requests_for("m1")) == 1

    drive(scenario, single(upstream, max_attempts=3))


def test_f1b_long_retry_after_fails_over_at_once(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=429, headers={"Retry-After": "120"})

    async def scenario(h: Harness) -> None:
        assert (await h.complete("g")).deployment.id == "m2"
        assert h.sleeps == []
        assert h.state("m1")["cooldown_remaining_s"] == pytest.approx(60.0)  # capped pause

    drive(scenario, pair(upstream))


# -- F2: 5xx ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_f2_server_errors_fail_over_without_waiting(upstream: FakeOpenAIUpstream, status: int) -> None:
    upstream.script("m1", status=status)

    async def scenario(h: Harness) -> None:
        served = await h.complete("g")
        assert served.deployment.id == "m2" and h.sleeps == []
        first = h.last.attempts[0]
        assert (first.status_code, first.error_kind, first.error_class) == (status, "server_error", "ProviderHTTPError")
        assert h.state("m1")["consecutive_failures"] == 1

    drive(scenario, pair(upstream))


@pytest.mark.parametrize(("status", "http"), [(500, 502), (502, 502), (503, 503), (529, 502)])
def test_f2_all_failing_answers_the_mapped_status(upstream: FakeOpenAIUpstream, status: int, http: int) -> None:
    upstream.script("m1", status=status)
    upstream.script("m2", status=status)

    async def scenario(h: Harness) -> None:
        with pytest.raises(AllAttemptsFailed) as caught:
            await h.complete("g")
        assert status_of(caught.value) == http
        assert h.last.status == http and len(h.last.attempts) == 2

    drive(scenario, pair(upstream))


def test_f2_retrying_the_same_deployment_uses_full_jitter_backoff(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=500, fail_times=2)

    async def scenario(h: Harness) -> None:
        assert (await h.complete("g")).deployment.id == "m1"
        assert len(h.sleeps) == 2
        assert 0 <= h.sleeps[0] <= 0.1 and 0 <= h.sleeps[1] <= 0.2  # base 0.1 s, doubling ceiling
        assert [a.reason.split(" (")[0] for a in h.last.attempts] == [
            "first", "retry after ProviderHTTPError", "retry after ProviderHTTPError"]

    drive(scenario, single(upstream, max_attempts=3))


def test_f2_the_retry_budget_caps_retries(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=500)
    upstream.script("m2", status=500)

    async def scenario(h: Harness) -> None:
        for _ in range(20):
            with pytest.raises(SwitchpointError):
                await h.complete("g")
            h.clock.advance(0.01)
        upstream_attempts = len(upstream.requests)
        # 20 requests: 20 first attempts + at most 20% + 2 retries (the budget's floor), then m1/m2 cool down.
        assert upstream_attempts <= 20 + 4 + 2
        assert h.gateway.counters["retries_denied"] >= 1 or upstream_attempts < 26
        assert h.gateway.health()["retry_budgets"]["g"]["retries"] <= 0.2 * 20 + 2

    drive(scenario, pair(upstream), reliability={"retry": {"budget_min_retries": 2},
                                                 "health": {"consecutive_failures": 100, "min_requests": 100}})


def test_f2_no_retry_budget_means_no_retries(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=500)

    async def scenario(h: Harness) -> None:
        with pytest.raises(ProviderError):
            await h.complete("g")
        assert len(h.last.attempts) == 1 and h.gateway.counters["retries_denied"] == 1

    drive(scenario, pair(upstream), reliability={"retry": {"budget_ratio": 0, "budget_min_retries": 0}})


# -- F3: connection refused ------------------------------------------------------------------------


def test_f3_refused_connection_fails_over_at_once_and_is_ejected(upstream: FakeOpenAIUpstream) -> None:
    models = [{"name": "g", "deployments": [dep(None, "dead", weight=1000), dep(upstream, "live", weight=0.001)]}]

    async def scenario(h: Harness) -> None:
        for _ in range(3):
            assert (await h.complete("g")).deployment.id == "live"
            assert h.last.attempts[0].error_kind == "connection"
        assert h.sleeps == []
        assert h.state("dead")["state"] == "cooldown"
        served = await h.complete("g")
        assert [a.deployment for a in h.last.attempts] == ["live"] and served.deployment.id == "live"

    drive(scenario, models)


# -- F4: connection reset --------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [{"reset": True}, {"reset_after_bytes": 25}])
def test_f4_reset_before_the_answer_is_committed_fails_over(upstream: FakeOpenAIUpstream,
                                                            fault: dict[str, Any]) -> None:
    upstream.script("m1", **fault)

    async def scenario(h: Harness) -> None:
        assert (await h.complete("g")).deployment.id == "m2"
        assert h.last.attempts[0].error_kind in ("connection", "protocol")
        if "reset" not in fault:
            return  # reset_after_bytes scripts non-streamed bodies only
        _, data = await h.stream("g")
        assert h.last.deployment == "m2" and not h.last.incomplete and b'"error"' not in data

    drive(scenario, pair(upstream))


def test_f4_reset_after_the_first_byte_ends_with_an_error_and_partial_usage(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", reply="one two three four five six", drop_after=4)

    async def scenario(h: Harness) -> None:
        stream = await h.gateway.stream(h.request("g", stream=True))
        blocks = []
        with pytest.raises(ProviderError):
            async for block in stream:
                blocks.append(block)
        record = h.last
        assert blocks and record.incomplete and record.status == 200
        assert record.error_class == "ProviderConnectionError"
        attempt = record.attempts[-1]
        assert attempt.status == "error" and attempt.usage_estimated
        assert record.completion_tokens >= 2 and record.prompt_tokens > 0 and record.cost > 0
        assert h.state("m1")["consecutive_failures"] == 1

    drive(scenario, pair(upstream))


# -- F5: timeout before the first byte --------------------------------------------------------------


def test_f5_stream_first_token_timeout_closes_the_upstream_and_fails_over(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", latency=3)

    async def scenario(h: Harness) -> None:
        started = time.monotonic()
        _, data = await h.stream("g")
        assert h.last.deployment == "m2" and data
        assert h.last.attempts[0].error_kind == "timeout"
        assert time.monotonic() - started < 1.5
        for _ in range(50):
            if upstream.cancel_times:
                break
            await asyncio.sleep(0.01)
        assert upstream.cancel_times and upstream.cancel_times[0] - started < 0.2 + 0.3

    drive(scenario, pair(upstream), timeouts={"first_token": 0.2})


def test_f5_non_streamed_attempt_timeout_fails_over(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", latency=3)

    async def scenario(h: Harness) -> None:
        started = time.monotonic()
        assert (await h.complete("g")).deployment.id == "m2"
        assert time.monotonic() - started < 1.0
        assert (h.last.attempts[0].error_kind, h.last.attempts[0].error_class) == ("timeout", "ProviderTimeout")

    drive(scenario, pair(upstream, attempt_timeout=0.2))


def test_f5_total_deadline_covers_every_attempt(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", latency=3)
    upstream.script("m2", latency=3)

    async def scenario(h: Harness) -> None:
        started = time.monotonic()
        with pytest.raises(AllAttemptsFailed) as caught:
            await h.complete("g")
        assert 0.3 <= time.monotonic() - started < 1.2
        assert status_of(caught.value) == 504 and "total deadline" in caught.value.message
        assert [a.error_kind for a in h.last.attempts] == ["timeout", None]
        assert h.last.attempts[1].status == "cancelled"

    drive(scenario, pair(upstream, attempt_timeout=0.2), timeouts={"total": 0.35})


# -- F6: stall mid-stream --------------------------------------------------------------------------


def test_f6_stream_stall_ends_in_band_and_closes_the_upstream(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", reply="a b c d e f", stall_after=3)

    async def scenario(h: Harness) -> None:
        stream = await h.gateway.stream(h.request("g", stream=True))
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            async for _ in stream:
                pass
        assert time.monotonic() - started < 0.2 + 0.3
        assert getattr(caught.value, "phase", None) == "idle"
        record = h.last
        assert record.incomplete and record.attempts[-1].usage_estimated and record.completion_tokens >= 1
        for _ in range(50):
            if upstream.aborted_streams:
                break
            await asyncio.sleep(0.01)
        assert upstream.aborted_streams == 1

    drive(scenario, pair(upstream), timeouts={"idle": 0.2})


# -- F7: malformed upstream answers ---------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b'{"choices": [', b'{"foo": 1}',
                                 b'{"error": {"message": "boom", "type": "server_error"}}'])
def test_f7_malformed_answers_fail_over(upstream: FakeOpenAIUpstream, raw: bytes) -> None:
    upstream.script("m1", raw=raw)

    async def scenario(h: Harness) -> None:
        assert (await h.complete("g")).deployment.id == "m2"
        assert h.last.attempts[0].error_kind == "protocol"

    drive(scenario, pair(upstream))


def test_f7_malformed_answers_everywhere_are_a_502(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", raw=b"garbage")

    async def scenario(h: Harness) -> None:
        with pytest.raises(ProviderError) as caught:
            await h.complete("g")
        assert status_of(caught.value) == 502 and caught.value.code == "upstream_protocol_error"

    drive(scenario, single(upstream))


@pytest.mark.parametrize("raw", [b"data: {not json\n\n", b'data: {"error": {"message": "overloaded"}}\n\n', b""])
def test_f7_garbage_stream_before_the_first_byte_fails_over(upstream: FakeOpenAIUpstream, raw: bytes) -> None:
    upstream.script("m1", stream_raw=raw)

    async def scenario(h: Harness) -> None:
        _, data = await h.stream("g")
        assert h.last.deployment == "m2" and data.startswith(b"data: ")
        assert h.last.attempts[0].error_kind == "protocol"

    drive(scenario, pair(upstream))
