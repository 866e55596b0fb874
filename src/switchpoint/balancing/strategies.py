"""Balancers: each orders a group's deployments into the sequence to try them in."""

from __future__ import annotations

import random
from collections.abc import Sequence

from switchpoint.types import Deployment, ModelGroup

__all__ = ["WeightedRandomBalancer"]


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
