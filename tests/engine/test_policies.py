"""Fallback groups by error class, the context-window pre-check, content policy, hedging,
usage-aware balancing, the cascade and active health checks, through the engine."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from switchpoint.errors import ContextWindowExceeded, NoHealthyDeployment, ProviderRateLimited, status_of
from switchpoint.testing import FakeOpenAIUpstream
from switchpoint.types import ChatRequest, ChatResponse
from tests.engine.harness import Harness, dep, drive

LONG = [{"role": "user", "content": "word " * 2000}]  # about 2500 tokens by the estimate


def chain(upstream: FakeOpenAIUpstream, fallbacks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "g", "fallbacks": fallbacks, "deployments": [dep(upstream, "m1")]},
            {"name": "rl", "deployments": [dep(upstream, "r1")]},
            {"name": "down", "deployments": [dep(upstream, "d1")]},
            {"name": "slow", "deployments": [dep(upstream, "s1")]},
            {"name": "any", "deployments": [dep(upstream, "a1")]}]


@pytest.mark.parametrize(("fault", "target"), [
    ({"status": 429}, "rl"), ({"status": 500}, "down"), ({"raw": b"nope"}, "down"), ({"latency": 5}, "slow"),
])
def test_fallback_group_is_chosen_by_error_class(upstream: FakeOpenAIUpstream, fault: dict[str, Any],
                                                 target: str) -> None:
    upstream.script("m1", **fault)

    async def scenario(h: Harness) -> None:
        served = await h.complete("g")
        assert served.group.name == target
        assert served.record.group == "g" and h.gateway.counters["fallbacks"] == 1
        headers = dict(served.route_headers())
        assert headers[b"x-switchpoint-groups"] == f"g>{target}".encode()
        assert headers[b"x-switchpoint-attempts"] == b"2"

    fallbacks = {"rate_limit": ["rl"], "server_error": ["down"], "timeout": ["slow"], "default": ["any"]}
    # 1 s: a fast error must not look like a timeout on a loaded machine (0.2 s did, now and then)
    drive(scenario, [{**chain(upstream, fallbacks)[0], "attempt_timeout": 1.0}, *chain(upstream, fallbacks)[1:]])


def test_default_fallbacks_serve_every_transient_class(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=429)

    async def scenario(h: Harness) -> None:
        assert (await h.complete("g")).group.name == "any"

    drive(scenario, chain(upstream, {"default": ["any"]}))


def test_fallbacks_are_tried_in_order_and_skip_incapable_groups(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=500)
    upstream.script("f1", status=500)
    models = [{"name": "g", "fallbacks": {"default": ["notools", "f", "ok"]}, "deployments": [dep(upstream, "m1")]},
              {"name": "notools", "deployments": [dep(upstream, "n1", capabilities={"tools": False})]},
              {"name": "f", "deployments": [dep(upstream, "f1")]},
              {"name": "ok", "deployments": [dep(upstream, "o1")]}]
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

    async def scenario(h: Harness) -> None:
        served = await h.complete("g", tools=tools)
        assert served.group.name == "ok"
        assert [a.group for a in h.last.attempts] == ["g", "f", "ok"]

    drive(scenario, models)


def test_fallbacks_follow_the_stream_before_the_first_byte(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=503)

    async def scenario(h: Harness) -> None:
        stream, data = await h.stream("g")
        assert stream.group.name == "down" and data.count(b"data: ") >= 3
        assert not h.last.incomplete and h.last.deployment == "d1"

    drive(scenario, chain(upstream, {"server_error": ["down"]}))


# -- context window checked before the call --------------------------------------------------------


def test_context_window_is_checked_before_the_call(upstream: FakeOpenAIUpstream) -> None:
    models = [{"name": "small", "fallbacks": {"context_window": ["large"]},
               "deployments": [dep(upstream, "s1", context_window=1000), dep(upstream, "s2", context_window=2000)]},
              {"name": "large", "deployments": [dep(upstream, "l1", context_window=128000)]}]

    async def scenario(h: Harness) -> None:
        served = await h.complete("small", messages=LONG)
        assert served.group.name == "large"
        assert upstream.requests_for("s1") == [] and upstream.requests_for("s2") == []
        assert h.last.attempts[0].reason.startswith("fallback from small after ContextWindowExceeded")
        assert "prompt tokens" in h.last.attempts[0].reason
        assert (await h.complete("small")).group.name == "small"  # a short prompt stays

    drive(scenario, models)


def test_context_window_prefers_the_deployments_that_fit(upstream: FakeOpenAIUpstream) -> None:
    models = [{"name": "g", "deployments": [dep(upstream, "s1", context_window=1000, weight=1000),
                                            dep(upstream, "l1", context_window=100000, weight=0.001)]}]

    async def scenario(h: Harness) -> None:
        assert (await h.complete("g", messages=LONG)).deployment.id == "l1"
        assert (await h.complete("g")).deployment.id == "s1"

    drive(scenario, models)


def test_context_window_without_fallback_is_a_400_without_upstream_call(upstream: FakeOpenAIUpstream) -> None:
    async def scenario(h: Harness) -> None:
        with pytest.raises(ContextWindowExceeded) as caught:
            await h.complete("g", messages=LONG)
        assert status_of(caught.value) == 400 and caught.value.code == "context_length_exceeded"
        assert upstream.requests == [] and h.last.status == 400

    drive(scenario, [{"name": "g", "deployments": [dep(upstream, "s1", context_window=1000)]}])


# -- content policy --------------------------------------------------------------------------------


def test_content_policy_refusal_goes_to_its_fallback(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=400, error={"message": "Your request was rejected as a result of our safety system",
                                             "code": "content_policy_violation"})
    models = [{"name": "g", "fallbacks": {"content_policy": ["lenient"], "default": ["other"]},
               "deployments": [dep(upstream, "m1"), dep(upstream, "m2")]},
              {"name": "lenient", "deployments": [dep(upstream, "p1")]},
              {"name": "other", "deployments": [dep(upstream, "o1")]}]

    async def scenario(h: Harness) -> None:
        served = await h.complete("g")
        assert served.group.name == "lenient"
        assert [(a.deployment, a.error_kind) for a in h.last.attempts] == [("m1", "content_policy"), ("p1", None)]
        assert h.state("m1")["consecutive_failures"] == 0

    drive(scenario, models)


def test_content_filtered_answer_falls_back_or_is_returned(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", reply="", finish_reason="content_filter", prompt_tokens=10)
    models = [{"name": "g", "fallbacks": {"content_policy": ["lenient"]}, "deployments": [dep(upstream, "m1")]},
              {"name": "lenient", "deployments": [dep(upstream, "p1", input_cost_per_mtok=1.0)]},
              {"name": "plain", "deployments": [{**dep(upstream, "m1"), "id": "plain-m1"}]}]

    async def scenario(h: Harness) -> None:
        served = await h.complete("g")
        assert served.group.name == "lenient"
        assert h.last.attempts[0].status == "content_filtered" and h.last.attempts[0].prompt_tokens == 10
        assert h.last.prompt_tokens > 10  # both attempts billed
        plain = await h.complete("plain")  # no content-policy fallback: the filtered answer is the answer
        assert plain.response.finish_reason == "content_filter"
        upstream.script("p1", status=500)
        kept = await h.complete("g")  # the fallback failed too: the filtered answer is returned
        assert kept.deployment.id == "m1" and kept.response.finish_reason == "content_filter"

    drive(scenario, models)


# -- hedging ---------------------------------------------------------------------------------------


def test_hedge_starts_a_second_attempt_and_cancels_the_loser(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", latency=1.0)
    upstream.script("m2", reply="fast")
    # 0.3 s: well under m1's 1 s, and well over a quick answer even on a loaded CI machine
    models = [{"name": "g", "hedge": {"delay": 0.3},
               "deployments": [dep(upstream, "m1", weight=1000), dep(upstream, "m2", weight=0.001)]}]

    async def scenario(h: Harness) -> None:
        served = await h.complete("g")
        assert served.deployment.id == "m2"
        statuses = {a.deployment: (a.status, a.reason) for a in h.last.attempts}
        assert statuses["m1"] == ("cancelled", "first")
        assert statuses["m2"][0] == "ok" and statuses["m2"][1].startswith("hedge")
        assert h.gateway.counters["hedges"] == h.gateway.counters["hedges_won"] == 1
        for _ in range(100):
            if upstream.cancel_times:
                break
            await asyncio.sleep(0.01)
        assert upstream.cancel_times  # the loser's connection was closed
        assert h.state("m1")["in_flight"] == 0 and h.state("m1")["consecutive_failures"] == 0
        stream, _ = await h.stream("g")
        assert stream.deployment.id == "m2" and h.state("m1")["in_flight"] == 0
        upstream.script("m1", reply="quick")
        assert (await h.complete("g")).deployment.id == "m1"  # fast first attempt: no hedge
        assert h.gateway.counters["hedges"] == 2

    drive(scenario, models)


def test_hedge_on_percentile_waits_for_samples(upstream: FakeOpenAIUpstream) -> None:
    models = [{"name": "g", "hedge": {"percentile": 95, "min_samples": 5},
               "deployments": [dep(upstream, "m1", weight=1000), dep(upstream, "m2", weight=0.001)]}]

    async def scenario(h: Harness) -> None:
        for _ in range(5):
            await h.complete("g")
        upstream.script("m1", latency=1.0)
        served = await h.complete("g")  # p95 of ~instant answers is tiny: the hedge wins
        assert served.deployment.id == "m2" and h.gateway.counters["hedges_won"] == 1

    drive(scenario, models)


# -- usage-aware balancing -------------------------------------------------------------------------


def test_usage_balancing_keeps_each_deployment_inside_its_rpm(upstream: FakeOpenAIUpstream) -> None:
    models = [{"name": "g", "balancing": "usage",
               "deployments": [dep(upstream, "m1", rpm=3), dep(upstream, "m2", rpm=2)]}]

    async def scenario(h: Harness) -> None:
        served = [(await h.complete("g")).deployment.id for _ in range(5)]
        assert served.count("m1") == 3 and served.count("m2") == 2
        with pytest.raises(NoHealthyDeployment) as caught:
            await h.complete("g")
        assert status_of(caught.value) == 503 and caught.value.retry_after == pytest.approx(20.0, abs=0.5)
        assert len(upstream.requests) == 5
        h.clock.advance(20.1)
        assert (await h.complete("g")).deployment.id == "m1"
        assert h.state("m1")["usage"]["rpm_limit"] == 3

    drive(scenario, models)


def test_usage_balancing_counts_tokens(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", prompt_tokens=400)
    models = [{"name": "g", "balancing": "usage", "deployments": [dep(upstream, "m1", tpm=1000)]}]

    async def scenario(h: Harness) -> None:
        for _ in range(3):  # admitted while the bucket is positive: 1000 → 595 → 190 → -215
            await h.complete("g")
        with pytest.raises(NoHealthyDeployment) as caught:
            await h.complete("g")
        assert caught.value.retry_after == pytest.approx(216 / (1000 / 60), abs=0.5)
        assert h.state("m1")["usage"]["tokens_left"] == pytest.approx(-215, abs=1)

    drive(scenario, models)


# -- cascade ---------------------------------------------------------------------------------------


def cascade_models(upstream: FakeOpenAIUpstream, **cascade: Any) -> list[dict[str, Any]]:
    return [{"name": "cheap", "cascade": {"next": "strong", "threshold": 0.6, **cascade},
             "deployments": [dep(upstream, "c1", input_cost_per_mtok=0.1, output_cost_per_mtok=0.1)]},
            {"name": "strong", "deployments": [dep(upstream, "s1", input_cost_per_mtok=10, output_cost_per_mtok=30)]}]


def test_cascade_escalates_on_low_logprobs_and_shows_every_step(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("c1", reply="maybe 42", logprobs=(-2.0, -1.5))
    upstream.script("s1", reply="42")

    async def scenario(h: Harness) -> None:
        served = await h.complete("cheap")
        assert served.group.name == "strong" and served.response.body["choices"][0]["message"]["content"] == "42"
        cheap, strong = h.last.attempts
        assert cheap.score is not None and cheap.score < 0.6 and cheap.cost > 0
        assert strong.reason.startswith("escalation from cheap: logprobs")
        assert h.last.cost == pytest.approx(cheap.cost + strong.cost)
        assert upstream.requests_for("c1")[0].body["logprobs"] is True  # asked for, to score
        assert "logprobs" not in upstream.requests_for("s1")[0].body
        headers = dict(served.route_headers())
        assert headers[b"x-switchpoint-cascade"].startswith(b"cheap=0.")
        assert headers[b"x-switchpoint-groups"] == b"cheap>strong"
        assert h.gateway.counters["escalations"] == 1

    drive(scenario, cascade_models(upstream, request_logprobs=True))


def test_cascade_keeps_a_confident_answer_and_hides_the_logprobs(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("c1", reply="42", logprobs=(-0.01, -0.02))

    async def scenario(h: Harness) -> None:
        served = await h.complete("cheap")
        assert served.group.name == "cheap" and upstream.requests_for("s1") == []
        assert served.response.body["choices"][0]["logprobs"] is None and served.response.raw is None
        assert h.last.attempts[0].score == pytest.approx(0.985, abs=0.01)
        asked = await h.complete("cheap", logprobs=True)  # the client asked: they stay
        assert asked.response.body["choices"][0]["logprobs"] is not None

    drive(scenario, cascade_models(upstream, request_logprobs=True))


@pytest.mark.parametrize(("reply", "extra"), [
    ("I'm sorry, but I can't help with that.", {}),
    ("", {}),
    ("not json at all", {"response_format": {"type": "json_object"}}),
    ('{"answer": "x"}', {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {
        "type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}}}}),
])
def test_cascade_escalates_refusals_empty_and_invalid_json(upstream: FakeOpenAIUpstream, reply: str,
                                                           extra: dict[str, Any]) -> None:
    upstream.script("c1", reply=reply)
    upstream.script("s1", reply=json.dumps({"answer": 1}))

    async def scenario(h: Harness) -> None:
        assert (await h.complete("cheap", **extra)).group.name == "strong"
        assert h.last.attempts[0].score == 0.0

    drive(scenario, cascade_models(upstream))


def test_cascade_verifier_hook_from_config(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("c1", reply="fine answer")

    async def scenario(h: Harness) -> None:
        assert (await h.complete("cheap")).group.name == "strong"
        assert h.last.attempts[0].score == 0.25

    drive(scenario, cascade_models(upstream, verifier="tests.engine.test_policies:quarter"))


def quarter(request: ChatRequest, response: ChatResponse) -> float:
    return 0.25


def test_cascade_keeps_the_cheap_answer_when_escalation_fails(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("c1", reply="unsure", logprobs=(-3.0,))
    upstream.script("s1", status=500)

    async def scenario(h: Harness) -> None:
        served = await h.complete("cheap")
        assert served.group.name == "cheap" and served.deployment.id == "c1"
        assert [a.status for a in h.last.attempts] == ["ok", "error"] and h.last.status == 200
        assert served.response.body["choices"][0]["logprobs"] is None  # still hidden from the client

    drive(scenario, cascade_models(upstream, request_logprobs=True))


def test_streams_are_not_cascaded(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("c1", reply="I'm sorry, but I can't help with that.")

    async def scenario(h: Harness) -> None:
        stream, _ = await h.stream("cheap")
        assert stream.group.name == "cheap" and upstream.requests_for("s1") == []

    drive(scenario, cascade_models(upstream))


def test_rate_limit_without_fallback_still_reports_retry_after(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("m1", status=429, headers={"Retry-After": "7"})

    async def scenario(h: Harness) -> None:
        with pytest.raises(ProviderRateLimited) as caught:
            await h.complete("g")
        assert caught.value.retry_after == 7.0

    drive(scenario, [{"name": "g", "deployments": [dep(upstream, "m1")]}])


# -- active health checks --------------------------------------------------------------------------


def test_active_checks_cool_down_and_restore(upstream: FakeOpenAIUpstream) -> None:
    async def scenario(h: Harness) -> None:
        checker = h.gateway._checks
        assert checker is not None
        upstream.models_status = 503
        for _ in range(3):
            await checker.check_all()
        assert h.state("m1")["state"] == "cooldown"
        assert h.gateway.health()["active_checks"]["results"]["m1"]["ok"] is False
        upstream.models_status = 200
        await checker.check_all()
        assert h.state("m1")["state"] == "cooldown"  # a passing check does not cut a cooldown short
        h.clock.advance(5.1)
        await checker.check_all()
        assert h.state("m1")["state"] == "healthy"  # ...but it stands in for the half-open probe
        assert all(r.path == "/v1/models" for r in upstream.requests) or upstream.requests == []

    drive(scenario, [{"name": "g", "deployments": [dep(upstream, "m1")]}],
          reliability={"active_checks": {"enabled": True, "interval": 1}})


def test_active_checks_run_in_the_background_between_start_and_aclose(upstream: FakeOpenAIUpstream) -> None:
    async def scenario(h: Harness) -> None:
        checker = h.gateway._checks
        assert checker is not None
        await h.gateway.start()
        for _ in range(100):
            if checker.rounds:
                break
            await asyncio.sleep(0.01)
        assert checker.rounds >= 1
        await h.gateway.aclose()
        assert checker._task is None

    drive(scenario, [{"name": "g", "deployments": [dep(upstream, "m1")]}],
          reliability={"active_checks": {"enabled": True, "interval": 1}})
