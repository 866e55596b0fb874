"""The stateful balancers (least in flight, latency P2C, usage, cost), dispatch, and token buckets."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from switchpoint.balancing.health import HealthPolicy, HealthTracker
from switchpoint.balancing.strategies import (
    STRATEGIES,
    CostBalancer,
    GroupBalancer,
    LatencyBalancer,
    LeastInFlightBalancer,
    UsageBalancer,
    WeightedRandomBalancer,
    make_balancer,
)
from switchpoint.balancing.usage import TokenBucket, UsageLimiter
from switchpoint.clock import FakeClock
from switchpoint.types import Deployment, ModelGroup, Price


def _d(name: str, weight: float = 1.0, **extra: object) -> Deployment:
    return Deployment(id=name, provider="openai_compat", model=name, api_base="http://x", weight=weight,
                      **extra)  # type: ignore[arg-type]


def _tracker() -> HealthTracker:
    return HealthTracker(HealthPolicy(latency_alpha=1.0, latency_half_life=10), FakeClock())


def test_least_in_flight_prefers_the_idle_deployment_per_weight() -> None:
    health = _tracker()
    a, b, c = _d("a"), _d("b", weight=2), _d("c")
    health.of(a).in_flight = 3
    health.of(b).in_flight = 4  # 2 per unit of weight
    health.of(c).in_flight = 1
    balancer = LeastInFlightBalancer(health, random.Random(0))
    assert [d.id for d in balancer.order(ModelGroup("g", (a, b, c)), [a, b, c])] == ["c", "b", "a"]


def test_least_in_flight_spreads_ties() -> None:
    health = _tracker()
    ds = [_d(n) for n in "abc"]
    balancer = LeastInFlightBalancer(health, random.Random(0))
    firsts = Counter(balancer.order(ModelGroup("g", tuple(ds)), ds)[0].id for _ in range(3000))
    assert all(800 < n < 1200 for n in firsts.values())


def test_latency_balancer_picks_the_faster_of_two_and_explores() -> None:
    health = _tracker()
    fast, slow = _d("fast"), _d("slow")
    now = health.clock.now()
    health.observe_latency(health.of(fast), 0.1, now)
    health.observe_latency(health.of(slow), 1.0, now)
    balancer = LatencyBalancer(health, random.Random(0))
    group = ModelGroup("g", (fast, slow))
    assert all(balancer.order(group, [fast, slow])[0] is fast for _ in range(100))
    health.of(fast).in_flight = 20  # busy: 0.1 × 21 > 1.0 × 1
    assert balancer.order(group, [fast, slow])[0] is slow
    health.of(fast).in_flight = 0
    fresh = _d("new")  # no sample yet: tried first
    assert balancer.order(ModelGroup("g", (fast, slow, fresh)), [fast, fresh])[0] is fresh


def test_latency_balancer_resamples_a_slow_deployment_after_decay() -> None:
    health = _tracker()
    fast, slow = _d("fast"), _d("slow")
    health.observe_latency(health.of(fast), 0.1, health.clock.now())
    health.observe_latency(health.of(slow), 1.0, health.clock.now())
    balancer = LatencyBalancer(health, random.Random(0))
    group = ModelGroup("g", (fast, slow))
    health.clock.advance(60)  # type: ignore[attr-defined]
    health.observe_latency(health.of(fast), 0.1, health.clock.now())
    assert balancer.order(group, [fast, slow])[0] is slow  # 1.0 × 2**-6 < 0.1


def test_latency_balancer_orders_every_candidate() -> None:
    health = _tracker()
    ds = [_d(n) for n in "abcde"]
    for i, d in enumerate(ds):
        health.observe_latency(health.of(d), 0.1 * (i + 1), health.clock.now())
    ordered = LatencyBalancer(health, random.Random(2)).order(ModelGroup("g", tuple(ds)), ds)
    assert sorted(d.id for d in ordered) == list("abcde")
    rest = [health.of(d).latency for d in ordered[1:]]
    assert rest == sorted(rest)


def test_usage_balancer_orders_by_headroom_and_drops_full_deployments() -> None:
    health = _tracker()
    a, b, c = _d("a", rpm=10), _d("b", rpm=10), _d("c", rpm=1)
    now = health.clock.now()
    for _ in range(7):
        health.of(a).usage.take(0, now)  # type: ignore[union-attr]
    for _ in range(2):
        health.of(b).usage.take(0, now)  # type: ignore[union-attr]
    health.of(c).usage.take(0, now)  # type: ignore[union-attr]
    balancer = UsageBalancer(health, random.Random(0))
    assert [d.id for d in balancer.order(ModelGroup("g", (a, b, c)), [a, b, c])] == ["b", "a"]
    health.clock.advance(60)  # type: ignore[attr-defined]
    assert len(balancer.order(ModelGroup("g", (a, b, c)), [a, b, c])) == 3


def test_cost_balancer_prefers_the_cheapest_and_shuffles_ties() -> None:
    cheap1 = _d("cheap1", price=Price(0.1, 0.4))
    cheap2 = _d("cheap2", price=Price(0.1, 0.4))
    dear = _d("dear", price=Price(5, 15))
    free = _d("free")
    balancer = CostBalancer(random.Random(0))
    group = ModelGroup("g", (dear, cheap1, cheap2, free))
    orders = [[d.id for d in balancer.order(group, [dear, cheap1, cheap2, free])] for _ in range(200)]
    assert all(o[0] == "free" and o[-1] == "dear" for o in orders)
    assert {o[1] for o in orders} == {"cheap1", "cheap2"}


def test_group_balancer_dispatches_by_group_name() -> None:
    health = _tracker()
    a, b = _d("a", price=Price(9, 9)), _d("b")
    balancer = GroupBalancer(WeightedRandomBalancer(random.Random(0)), {"cheap": CostBalancer(random.Random(0))})
    assert all(balancer.order(ModelGroup("cheap", (a, b)), [a, b])[0] is b for _ in range(50))
    firsts = {balancer.order(ModelGroup("other", (a, b)), [a, b])[0].id for _ in range(50)}
    assert firsts == {"a", "b"}
    assert health.paused == 0


@pytest.mark.parametrize("name", STRATEGIES)
def test_make_balancer_knows_every_strategy(name: str) -> None:
    balancer = make_balancer(name, _tracker(), random.Random(0))
    ds = [_d("a"), _d("b")]
    assert {d.id for d in balancer.order(ModelGroup("g", tuple(ds)), ds)} == {"a", "b"}


def test_make_balancer_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown balancing strategy"):
        make_balancer("round_robin", _tracker())


def test_token_bucket_admits_no_more_than_the_limit_plus_burst() -> None:
    bucket = TokenBucket(60, now=0.0)  # one per second, burst 60
    admitted = 0
    now = 0.0
    for _ in range(6000):
        now += 0.05  # 20 attempts per second for 300 s
        if bucket.level(now) >= 1:
            bucket.take(1, now)
            admitted += 1
    assert admitted <= 60 + 300 + 1
    assert admitted >= 300


def test_usage_limiter_settles_real_usage_and_reports_waits() -> None:
    limiter = UsageLimiter(rpm=None, tpm=600, now=0.0)
    limiter.take(100, 0.0)
    limiter.settle(450, 0.0)  # the answer was bigger than estimated
    assert limiter.tokens is not None and limiter.tokens.level(0.0) == 50
    limiter.settle(100, 0.0)
    assert not limiter.has_room(0.0) and limiter.wait_for(0.0) == pytest.approx(51 / 10)
    assert limiter.headroom(0.0) == 0 and limiter.needs_tokens()
