"""Fault matrix F9–F12 and F16–F18: disconnects, dead deployments, recovery, client errors, bad keys,
redirects and transport failures. Cooldowns run on the harness's fake clock."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from switchpoint.errors import (
    AllAttemptsFailed,
    ContextWindowExceeded,
    NoHealthyDeployment,
    ProviderHTTPError,
    SwitchpointError,
    status_of,
)
from switchpoint.server.error_responses import error_response
from switchpoint.testing import FakeOpenAIUpstream
from tests.engine.harness import Harness, dep, drive

SECRET = "sk-upstream-secret-0123456789"


def trio_with_dead_m2(upstream: FakeOpenAIUpstream) -> list[dict[str, Any]]:
    """Group 'g' of m1, m2, m3 with equal weights; m2 is a refused port."""
    return [{"name": "g", "deployments": [dep(upstream, "m1"), dep(None, "m2"), dep(upstream, "m3")]}]


# -- F9: client disconnect -------------------------------------------------------------------------


def test_f9_cancel_during_first_token_wait_closes_the_upstream(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", latency=5)

    async def scenario(h: Harness) -> None:
        task = asyncio.ensure_future(h.gateway.stream(h.request("g", stream=True)))
        await asyncio.sleep(0.2)
        left = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            if upstream.cancel_times:
                break
            await asyncio.sleep(0.01)
        assert upstream.cancel_times and upstream.cancel_times[0] - left < 1.0
        record = h.last
        assert record.client_disconnected and record.status == 499
        assert record.attempts[0].status == "cancelled"
        assert h.state("m1")["in_flight"] == 0 and h.state("m1")["consecutive_failures"] == 0

    drive(scenario, [{"name": "g", "deployments": [dep(upstream, "m1")]}])


def test_f9_cancel_mid_stream_releases_the_slot_and_keeps_partial_usage(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", reply=" ".join(["w"] * 30), chunk_delay=0.05)

    async def scenario(h: Harness) -> None:
        stream = await h.gateway.stream(h.request("g", stream=True))
        assert h.state("m1")["in_flight"] == 1
        seen = 0
        async for _ in stream:
            seen += 1
            if seen == 3:
                break
        stream.record.client_disconnected = True
        await stream.aclose()
        record = h.last
        assert record.incomplete and record.client_disconnected and record.completion_tokens >= 2
        assert record.attempts[0].usage_estimated and record.attempts[0].status == "incomplete"
        assert h.state("m1")["in_flight"] == 0 and h.state("m1")["consecutive_failures"] == 0

    drive(scenario, [{"name": "g", "deployments": [dep(upstream, "m1")]}])


# -- F10: one of N deployments down ---------------------------------------------------------------


def test_f10_one_dead_deployment_costs_no_client_error_and_at_most_three_requests(
        upstream: FakeOpenAIUpstream) -> None:
    async def scenario(h: Harness) -> None:
        for _ in range(60):
            served = await h.complete("g")
            assert served.deployment.id in ("m1", "m3")
            h.clock.advance(0.02)  # 50 requests per second
        sent_to_dead = sum(1 for r in h.records for a in r.attempts if a.deployment == "m2")
        assert 1 <= sent_to_dead <= 3
        assert h.state("m2")["state"] == "cooldown" and h.state("m2")["last_error"] == "connection"

    drive(scenario, trio_with_dead_m2(upstream))


# -- F11: every deployment down -------------------------------------------------------------------


def test_f11_all_down_answers_a_fast_503_without_upstream_attempts(upstream: FakeOpenAIUpstream) -> None:
    for model in ("m1", "m2", "m3"):
        upstream.script(model, status=503)
    models = [{"name": "g1", "fallbacks": {"default": ["g2"]},
               "deployments": [dep(upstream, "m1"), dep(upstream, "m2")]},
              {"name": "g2", "deployments": [dep(upstream, "m3")]}]

    async def scenario(h: Harness) -> None:
        for _ in range(3):
            with pytest.raises(SwitchpointError):
                await h.complete("g1")
            assert h.gateway.counters["panics"] == 0
        # the cap holds while the group may still be alive (its first 2 s): one of two cooling down
        assert sorted(h.state(m)["state"] for m in ("m1", "m2")) == ["cooldown", "healthy"]
        h.clock.advance(2.01)  # everything failing, nothing answered for down_window: the group is down
        with pytest.raises(SwitchpointError):
            await h.complete("g1")
        assert {h.state(m)["state"] for m in ("m1", "m2", "m3")} == {"cooldown"}
        before = len(upstream.requests)
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            with pytest.raises(SwitchpointError) as caught:
                await h.complete("g1")
            timings.append(time.perf_counter() - started)
        assert len(upstream.requests) == before  # no upstream attempt while everything cools down
        assert sorted(timings)[len(timings) // 2] < 0.05 and max(timings) < 0.5  # loose: shared CI machines
        error = caught.value
        last = error.last if isinstance(error, AllAttemptsFailed) else error
        assert isinstance(last, NoHealthyDeployment)
        assert status_of(error) == 503 and last.retry_after == pytest.approx(30.0 - 2.01)  # m3 cooled first
        assert h.last.status == 503 and h.last.attempts == []
        assert error_response(error)[0] == 503

    drive(scenario, models, reliability={"health": {"cooldown": 30}})


def test_f11_panic_routing_is_opt_in_and_needs_a_recent_success(upstream: FakeOpenAIUpstream) -> None:
    models = [{"name": "g", "deployments": [dep(upstream, "m1"), dep(upstream, "m2")]}]

    async def scenario(h: Harness) -> None:
        await h.complete("g")  # both answered once
        await h.complete("g")
        upstream.script("m1", status=500)
        upstream.script("m2", status=500)
        h.clock.advance(3)  # longer than down_window without a success
        for _ in range(3):
            with pytest.raises(SwitchpointError):
                await h.complete("g")
        assert {h.state(m)["state"] for m in ("m1", "m2")} == {"cooldown"}
        upstream.script("m1", status=500, fail_times=1)  # m1 recovers (after one more failure)
        upstream.script("m2", reply="flaky but alive")
        served = await h.complete("g")  # everything cooling, but recent successes: still tried
        assert served.response.body["choices"][0]["message"]["content"] in (
            "flaky but alive", "Hello from the fake upstream.")
        assert "panic" in h.last.attempts[0].reason and h.gateway.counters["panics"] == 1
        upstream.script("m1", status=500)
        upstream.script("m2", status=500)
        h.clock.advance(5.01)  # cooldowns over: both half-open probes fail → 10 s cooldowns
        with pytest.raises(SwitchpointError):
            await h.complete("g")
        assert [a.probe for a in h.last.attempts] == [True, True]
        assert {h.state(m)["cooldown_remaining_s"] for m in ("m1", "m2")} == {10.0}
        before = len(upstream.requests)
        with pytest.raises(NoHealthyDeployment):  # no success for over 5 s: the group is down
            await h.complete("g")
        assert len(upstream.requests) == before

    drive(scenario, models, reliability={"health": {"panic_window": 5}})


@pytest.mark.parametrize("cap", [0.5, 1.0])
def test_faults_moving_over_every_deployment_never_cool_the_whole_group(upstream: FakeOpenAIUpstream,
                                                                        cap: float) -> None:
    """No panic routing by default (F11): the ejection cap keeps a group whose faults move from
    deployment to deployment serving; without the cap (1.0) the same faults empty it."""
    names = ("m1", "m2", "m3")
    models = [{"name": "g", "deployments": [dep(upstream, m) for m in names]}]

    async def scenario(h: Harness) -> None:
        for _ in range(3):
            await h.complete("g")
        down = 0
        for block in range(6):  # each deployment in turn fails 4 requests in a row, all within 2 s
            for model in names:
                upstream.script(model, status=500, fail_times=4 if names[block % 3] == model else 0)
            for _ in range(6):
                try:
                    await h.complete("g")
                except SwitchpointError:
                    down += h.last.attempts == []  # refused at once: every deployment cooling down
                h.clock.advance(0.05)
        cooling = [m for m in names if h.state(m)["state"] == "cooldown"]
        if cap < 1.0:
            assert down == 0 and len(cooling) <= 1
            assert sum(h.state(m)["ejections_held"] for m in names) >= 1
        else:
            assert down > 0  # every deployment was cooled down at once: fast 503s while it lasted
        assert h.gateway.counters["panics"] == 0

    drive(scenario, models, reliability={"health": {"max_ejection": cap}})


# -- F12: recovery after cooldown -----------------------------------------------------------------


def test_f12_one_probe_then_the_deployment_rejoins(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m2", status=500)
    models = [{"name": "g", "deployments": [dep(upstream, "m1", weight=0.001), dep(upstream, "m2", weight=1000)]}]

    async def scenario(h: Harness) -> None:
        for _ in range(3):
            assert (await h.complete("g")).deployment.id == "m1"
        assert h.state("m2")["state"] == "cooldown" and h.state("m2")["cooldown_remaining_s"] == 5.0
        h.clock.advance(4.9)
        await h.complete("g")
        assert [a.deployment for a in h.last.attempts] == ["m1"]
        h.clock.advance(0.2)
        assert h.state("m2")["state"] == "half_open"
        upstream.script("m2", reply="back", latency=0.3)
        probe = asyncio.ensure_future(h.complete("g"))
        await asyncio.sleep(0.05)
        others = [await h.complete("g") for _ in range(3)]  # while the probe is in flight
        assert {o.deployment.id for o in others} == {"m1"}
        assert (await probe).deployment.id == "m2"
        probe_attempt = next(a for r in h.records for a in r.attempts if a.probe)
        assert probe_attempt.deployment == "m2" and probe_attempt.status == "ok"
        assert h.state("m2")["state"] == "healthy"
        assert (await h.complete("g")).deployment.id == "m2"

    drive(scenario, models)


def test_f12_a_failed_probe_doubles_the_cooldown(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m2", status=500)
    models = [{"name": "g", "deployments": [dep(upstream, "m1", weight=0.001), dep(upstream, "m2", weight=1000)]}]

    async def scenario(h: Harness) -> None:
        for _ in range(3):
            await h.complete("g")
        for expected in (10.0, 20.0, 40.0):
            h.clock.advance(h.state("m2")["cooldown_remaining_s"] + 0.01)
            assert (await h.complete("g")).deployment.id == "m1"  # the probe failed over transparently
            assert h.last.attempts[0].probe and h.last.attempts[0].deployment == "m2"
            assert h.state("m2")["cooldown_remaining_s"] == pytest.approx(expected)

    drive(scenario, models)


# -- F16: client errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_f16_client_errors_are_not_retried_and_cost_no_cooldown(upstream: FakeOpenAIUpstream, status: int) -> None:
    upstream.script("m1", status=status, error={"message": "bad field", "type": "invalid_request_error"})
    models = [{"name": "g", "fallbacks": {"default": ["g2"]},
               "deployments": [dep(upstream, "m1", weight=1000), dep(upstream, "m2", weight=0.001)]},
              {"name": "g2", "deployments": [dep(upstream, "m3")]}]

    async def scenario(h: Harness) -> None:
        for _ in range(5):
            with pytest.raises(ProviderHTTPError) as caught:
                await h.complete("g")
        assert status_of(caught.value) in (400, 404) and "bad field" in caught.value.message
        assert len(upstream.requests) == 5 and len(h.last.attempts) == 1
        assert h.state("m1")["state"] == "healthy" and h.state("m1")["consecutive_failures"] == 0
        assert h.last.attempts[0].error_kind == "client_error"

    drive(scenario, models)


def test_f16_context_length_goes_to_the_context_fallback(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=400, error={"message": "maximum context length is 8192 tokens",
                                             "code": "context_length_exceeded"})
    models = [{"name": "g", "fallbacks": {"default": ["other"], "context_window": ["big"]},
               "deployments": [dep(upstream, "m1"), dep(upstream, "m2")]},
              {"name": "other", "deployments": [dep(upstream, "o1")]},
              {"name": "big", "deployments": [dep(upstream, "b1")]}]

    async def scenario(h: Harness) -> None:
        upstream.script("m2", status=400, error={"message": "maximum context length is 8192 tokens",
                                                 "code": "context_length_exceeded"})
        served = await h.complete("g")
        assert served.group.name == "big" and served.deployment.id == "b1"
        assert [(a.group, a.error_kind) for a in h.last.attempts] == [("g", "context_window"), ("big", None)]
        assert h.last.attempts[1].reason.startswith("fallback from g after ContextWindowExceeded")

    drive(scenario, models)


def test_f16_context_length_without_fallback_is_a_400(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=400, error={"message": "maximum context length", "code": "context_length_exceeded"})

    async def scenario(h: Harness) -> None:
        with pytest.raises(ContextWindowExceeded) as caught:
            await h.complete("g")
        assert status_of(caught.value) == 400 and len(upstream.requests) == 1

    drive(scenario, [{"name": "g", "deployments": [dep(upstream, "m1"), dep(upstream, "m2")]}])


# -- F17: bad upstream key ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_f17_bad_key_fails_over_with_a_long_cooldown(upstream: FakeOpenAIUpstream, status: int) -> None:
    upstream.script("m1", status=status, error={"message": f"Incorrect API key provided: {SECRET}"})
    models = [{"name": "g", "deployments": [dep(upstream, "m1", weight=1000, api_key=SECRET),
                                            dep(upstream, "m2", weight=0.001)]}]

    async def scenario(h: Harness) -> None:
        assert (await h.complete("g")).deployment.id == "m2"
        assert h.state("m1")["state"] == "cooldown" and h.state("m1")["cooldown_remaining_s"] == 600.0
        assert h.state("m1")["last_error"] == "auth"
        h.clock.advance(300)
        assert [a.deployment for a in (await h.complete("g")).record.attempts] == ["m2"]

    drive(scenario, models)


def test_f17_every_key_broken_is_a_502_that_never_shows_the_key(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=401, error={"message": f"Incorrect API key provided: {SECRET}"})
    upstream.script("m2", status=403, error={"message": f"key {SECRET} is not allowed"})
    models = [{"name": "g", "deployments": [dep(upstream, "m1", api_key=SECRET), dep(upstream, "m2", api_key=SECRET)]}]

    async def scenario(h: Harness) -> None:
        with pytest.raises(AllAttemptsFailed) as caught:
            await h.complete("g")
        status, body = error_response(caught.value)
        assert status == 502 and b"upstream_auth_error" in body
        assert SECRET.encode() not in body and b"sk-upstream" not in body
        assert SECRET not in repr(h.last) and SECRET not in str(h.gateway.health())

    drive(scenario, models)


# -- F18: redirects, oversized answers, DNS and TLS failures ---------------------------------------


def test_f18_dns_failure_fails_over(upstream: FakeOpenAIUpstream) -> None:
    models = [{"name": "g", "deployments": [
        {"provider": "openai_compat", "id": "nxdomain", "model": "m", "api_base": "http://no-such-host.invalid/v1",
         "weight": 1000}, dep(upstream, "m2", weight=0.001)]}]

    async def scenario(h: Harness) -> None:
        assert (await h.complete("g")).deployment.id == "m2"
        assert h.last.attempts[0].error_kind == "connection"

    drive(scenario, models)


def test_f18_tls_failure_fails_over(upstream: FakeOpenAIUpstream) -> None:
    models = [{"name": "g", "deployments": [
        {"provider": "openai_compat", "id": "tls", "model": "m", "api_base": f"https://127.0.0.1:{upstream.port}/v1",
         "weight": 1000}, dep(upstream, "m2", weight=0.001)]}]

    async def scenario(h: Harness) -> None:
        assert (await h.complete("g")).deployment.id == "m2"
        assert h.last.attempts[0].error_kind in ("connection", "protocol")

    drive(scenario, models)


def test_f18_redirects_are_not_followed(upstream: FakeOpenAIUpstream) -> None:
    with FakeOpenAIUpstream() as canary:
        upstream.script("m1", redirect=canary.base_url + "/chat/completions")

        async def scenario(h: Harness) -> None:
            try:
                await h.complete("g")
            except SwitchpointError:
                pass
            assert canary.requests == []

        drive(scenario, [{"name": "g", "deployments": [dep(upstream, "m1")]}])


def test_f18_oversized_answers_are_refused(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", oversize=64 * 1024 * 1024)

    async def scenario(h: Harness) -> None:
        with pytest.raises(SwitchpointError):
            await h.complete("g")

    drive(scenario, [{"name": "g", "deployments": [dep(upstream, "m1")]}])


# -- F1 (upstream view): x-ratelimit-* headers ----------------------------------------------------


def test_an_upstream_reporting_no_requests_left_is_skipped_until_its_reset(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
                                   "x-ratelimit-limit-requests": "500"})
    models = [{"name": "g", "deployments": [dep(upstream, "m1"), dep(upstream, "m2", weight=0.001)]}]

    async def scenario(h: Harness) -> None:
        first = await h.complete("g")
        assert first.deployment.id == "m1"  # weighted first; its answer says nothing is left
        assert h.state("m1")["state"] == "rate_limited"
        assert h.state("m1")["upstream_limits"]["limit_requests"] == 500
        for _ in range(5):
            served = await h.complete("g")
            assert served.deployment.id == "m2" and [a.deployment for a in h.last.attempts] == ["m2"]
        h.clock.advance(1.01)
        upstream.script("m1", reply="back")
        assert (await h.complete("g")).deployment.id == "m1"

    drive(scenario, models)


def test_a_stream_answer_carries_the_upstream_limits_too(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", headers={"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "250ms"})
    models = [{"name": "g", "deployments": [dep(upstream, "m1")]}]

    async def scenario(h: Harness) -> None:
        stream = await h.gateway.stream(h.request("g", stream=True))
        async for _ in stream:
            pass
        await stream.aclose()
        assert h.state("m1")["state"] == "rate_limited"
        assert 0 < h.state("m1")["cooldown_remaining_s"] <= 0.25

    drive(scenario, models)
