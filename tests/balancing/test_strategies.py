"""WeightedRandomBalancer: a permutation of the candidates, first pick in proportion to weight."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from switchpoint.balancing.strategies import WeightedRandomBalancer
from switchpoint.types import Deployment, ModelGroup


def _deployment(name: str, weight: float = 1.0) -> Deployment:
    return Deployment(id=name, provider="openai_compat", model=name, api_base="http://127.0.0.1:9", weight=weight)


def _group(*deployments: Deployment) -> ModelGroup:
    return ModelGroup("g", tuple(deployments))


def test_returns_every_candidate_exactly_once() -> None:
    candidates = [_deployment(f"d{i}", weight=w) for i, w in enumerate([1, 2, 0.5, 10, 3, 0.01])]
    group = _group(*candidates)
    balancer = WeightedRandomBalancer(random.Random(1234))
    for _ in range(500):
        ordered = balancer.order(group, candidates)
        assert len(ordered) == len(candidates)
        assert sorted(d.id for d in ordered) == sorted(d.id for d in candidates)
        assert all(any(o is c for c in candidates) for o in ordered)


def test_does_not_mutate_candidates() -> None:
    candidates = [_deployment("a"), _deployment("b", 2)]
    before = list(candidates)
    WeightedRandomBalancer(random.Random(0)).order(_group(*candidates), candidates)
    assert candidates == before


def test_accepts_a_tuple() -> None:
    candidates = (_deployment("a"), _deployment("b"))
    ordered = WeightedRandomBalancer(random.Random(0)).order(_group(*candidates), candidates)
    assert isinstance(ordered, list)
    assert {d.id for d in ordered} == {"a", "b"}


def test_first_pick_frequency_proportional_to_weight() -> None:
    weights = {"a": 1.0, "b": 3.0, "c": 6.0}
    candidates = [_deployment(n, w) for n, w in weights.items()]
    group = _group(*candidates)
    balancer = WeightedRandomBalancer(random.Random(42))
    draws = 20_000
    firsts = Counter(balancer.order(group, candidates)[0].id for _ in range(draws))
    total = sum(weights.values())
    for name, weight in weights.items():
        expected = weight / total
        # standard error is at most ~0.0035 here; allow a generous 0.02
        assert abs(firsts[name] / draws - expected) < 0.02, (name, firsts)


def test_second_pick_follows_weights_of_the_rest() -> None:
    candidates = [_deployment("heavy", 8.0), _deployment("mid", 1.0), _deployment("light", 1.0)]
    group = _group(*candidates)
    balancer = WeightedRandomBalancer(random.Random(7))
    seconds: Counter[str] = Counter()
    draws = 0
    for _ in range(20_000):
        ordered = balancer.order(group, candidates)
        if ordered[0].id == "heavy":
            draws += 1
            seconds[ordered[1].id] += 1
    # After 'heavy' is taken, 'mid' and 'light' have equal weight.
    assert abs(seconds["mid"] / draws - 0.5) < 0.03


def test_equal_weights_are_roughly_uniform() -> None:
    candidates = [_deployment(n) for n in "abcd"]
    group = _group(*candidates)
    balancer = WeightedRandomBalancer(random.Random(99))
    firsts = Counter(balancer.order(group, candidates)[0].id for _ in range(8000))
    assert set(firsts) == set("abcd")
    for count in firsts.values():
        assert abs(count / 8000 - 0.25) < 0.03


def test_tiny_weight_is_rarely_first_but_always_present() -> None:
    candidates = [_deployment("big", 1000.0), _deployment("tiny", 0.001)]
    group = _group(*candidates)
    balancer = WeightedRandomBalancer(random.Random(5))
    orders = [balancer.order(group, candidates) for _ in range(2000)]
    assert sum(o[0].id == "tiny" for o in orders) < 10
    assert all([d.id for d in o] in (["big", "tiny"], ["tiny", "big"]) for o in orders)


def test_seeded_rng_is_reproducible() -> None:
    candidates = [_deployment(n, w) for n, w in (("a", 1), ("b", 2), ("c", 3))]
    group = _group(*candidates)
    one = WeightedRandomBalancer(random.Random(2024))
    two = WeightedRandomBalancer(random.Random(2024))
    assert [[d.id for d in one.order(group, candidates)] for _ in range(50)] == [
        [d.id for d in two.order(group, candidates)] for _ in range(50)
    ]


class _ForbiddenRandom(random.Random):
    def random(self) -> float:
        raise AssertionError("the single-candidate path must not draw")


@pytest.mark.parametrize("count", [0, 1])
def test_single_or_no_candidate_fast_path(count: int) -> None:
    candidates = [_deployment("only")][:count]
    ordered = WeightedRandomBalancer(_ForbiddenRandom()).order(_group(_deployment("only")), candidates)
    assert ordered == candidates
    assert ordered is not candidates


def test_default_rng() -> None:
    candidates = [_deployment("a"), _deployment("b")]
    assert len(WeightedRandomBalancer().order(_group(*candidates), candidates)) == 2
