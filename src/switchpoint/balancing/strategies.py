"""Balancers: each orders a group's deployments into the sequence to try them in.

The engine has already removed deployments that are cooling down; balancers only order what is
left (the usage balancer also drops deployments at their rpm/tpm limit). Stateful strategies read
live statistics from the gateway's :class:`~switchpoint.balancing.health.HealthTracker`.

==================  ===========================================================================
``weighted_random``  first pick in proportion to ``weight``; the rest follow in weighted order
``least_in_flight``  fewest requests in flight per unit of weight; ties in weighted-random order
``latency``          power of two choices on EWMA time-to-first-byte × (in flight + 1)
``usage``            most rpm/tpm headroom first; deployments without headroom are left out
``cost``             cheapest blended price first; equal prices in weighted-random order
==================  ===========================================================================
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from switchpoint.balancing.health import HealthTracker
from switchpoint.protocols import Balancer
from switchpoint.types import Deployment, ModelGroup

__all__ = [
    "STRATEGIES",
    "CostBalancer",
    "GroupBalancer",
    "LatencyBalancer",
    "LeastInFlightBalancer",
    "UsageBalancer",
    "WeightedRandomBalancer",
    "make_balancer",
]

STRATEGIES = ("weighted_random", "least_in_flight", "latency", "usage", "cost")


class WeightedRandomBalancer:
    """Picks the first deployment at random in proportion to ``weight``; the rest follow in weighted order."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    def order(self, group: ModelGroup, candidates: Sequence[Deployment]) -> list[Deployment]:
        if len(candidates) <= 1:
            return list(candidates)
        remaining = list(candidates)
        ordered: list[Deployment] = []
        while remaining:
            total = sum(d.weight for d in remaining)
            point = self._rng.random() * total
            for i, deployment in enumerate(remaining):
                point -= deployment.weight
                if point < 0 or i == len(remaining) - 1:
                    ordered.append(remaining.pop(i))
                    break
        return ordered


class LeastInFlightBalancer:
    """Fewest in-flight requests per unit of weight first."""

    def __init__(self, health: HealthTracker, rng: random.Random | None = None) -> None:
        self._health = health
        self._shuffle = WeightedRandomBalancer(rng)

    def order(self, group: ModelGroup, candidates: Sequence[Deployment]) -> list[Deployment]:
        ordered = self._shuffle.order(group, candidates)
        if len(ordered) > 1:
            of = self._health.of
            ordered.sort(key=lambda d: of(d).in_flight / d.weight)
        return ordered


class LatencyBalancer:
    """Power of two choices: draw two deployments, keep the one with the lower load-weighted latency.

    The score is the EWMA of time to first byte times (in flight + 1), so a fast deployment that
    is already busy loses to a slightly slower idle one. A deployment with no sample yet scores 0
    and is tried first; an old sample decays (half-life in the health policy), so a deployment
    that was slow once is eventually measured again.
    """

    def __init__(self, health: HealthTracker, rng: random.Random | None = None) -> None:
        self._health = health
        self._shuffle = WeightedRandomBalancer(rng)

    def _score(self, deployment: Deployment, now: float) -> float:
        state = self._health.of(deployment)
        return self._health.decayed_latency(state, now) * (state.in_flight + 1)

    def order(self, group: ModelGroup, candidates: Sequence[Deployment]) -> list[Deployment]:
        ordered = self._shuffle.order(group, candidates)
        if len(ordered) < 2:
            return ordered
        now = self._health.clock.now()
        # The weighted shuffle's first two are the two random choices.
        if self._score(ordered[1], now) < self._score(ordered[0], now):
            ordered[0], ordered[1] = ordered[1], ordered[0]
        if len(ordered) > 2:
            rest = ordered[1:]
            rest.sort(key=lambda d: self._score(d, now))
            ordered[1:] = rest
        return ordered


class UsageBalancer:
    """Keeps each deployment inside its rpm/tpm: most headroom first, none without room.

    Deployments without rpm/tpm limits have full headroom. When every deployment is at its
    limit the order is empty and the engine answers a fast 503 with the wait until one has room.
    """

    def __init__(self, health: HealthTracker, rng: random.Random | None = None) -> None:
        self._health = health
        self._shuffle = WeightedRandomBalancer(rng)

    def order(self, group: ModelGroup, candidates: Sequence[Deployment]) -> list[Deployment]:
        now = self._health.clock.now()
        of = self._health.of
        room: list[tuple[float, Deployment]] = []
        for deployment in self._shuffle.order(group, candidates):
            usage = of(deployment).usage
            if usage is None:
                room.append((1.0, deployment))
            elif usage.has_room(now):
                room.append((usage.headroom(now), deployment))
        room.sort(key=lambda pair: -pair[0])
        return [d for _, d in room]


def blended_price(deployment: Deployment) -> float:
    """USD per million tokens, assuming three input tokens per output token."""
    return (3 * deployment.price.input + deployment.price.output) / 4


class CostBalancer:
    """Cheapest first (blended price); deployments with the same price in weighted-random order."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._shuffle = WeightedRandomBalancer(rng)

    def order(self, group: ModelGroup, candidates: Sequence[Deployment]) -> list[Deployment]:
        ordered = self._shuffle.order(group, candidates)
        ordered.sort(key=blended_price)
        return ordered


class GroupBalancer:
    """Dispatches to the strategy configured for each group; ``default`` for the others."""

    def __init__(self, default: Balancer, per_group: Mapping[str, Balancer] | None = None) -> None:
        self._default = default
        self._per_group = dict(per_group or {})

    def order(self, group: ModelGroup, candidates: Sequence[Deployment]) -> list[Deployment]:
        return self._per_group.get(group.name, self._default).order(group, candidates)


def make_balancer(strategy: str, health: HealthTracker, rng: random.Random | None = None) -> Balancer:
    """The balancer for a ``balancing:`` value."""
    if strategy == "weighted_random":
        return WeightedRandomBalancer(rng)
    if strategy == "least_in_flight":
        return LeastInFlightBalancer(health, rng)
    if strategy == "latency":
        return LatencyBalancer(health, rng)
    if strategy == "usage":
        return UsageBalancer(health, rng)
    if strategy == "cost":
        return CostBalancer(rng)
    raise ValueError(f"unknown balancing strategy '{strategy}' (known: {', '.join(STRATEGIES)})")
