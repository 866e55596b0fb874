"""Turning business targets into decision-rule parameters, on a reference set of requests.

- :func:`calibrate_threshold`: the threshold of :func:`~.choose.choose_threshold` that sends a
  target share of requests to the strong model: a quantile of the routing scores
  (``q̂_strong − q̂_weak``) of a reference set. With ``k = round(share · n)``, it is the k-th highest
  score, so the top ``k`` scores (and any ties with the k-th) reach the strong model.
- :func:`calibrate_lambda`: the λ of :func:`~.choose.choose_lambda` that keeps the mean cost of a
  reference set within a target cost per 1,000 requests: the smallest λ that meets the target,
  by bisection (the mean cost of ``argmax q̂ − λ·cost`` does not increase with λ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from switchpoint.routing.learned.choose import Option, choose_lambda

__all__ = ["calibrate_lambda", "calibrate_threshold", "mean_cost_per_1k"]


def calibrate_threshold(scores: Sequence[float], strong_share: float) -> float:
    """The threshold sending ``strong_share`` of the reference ``scores`` to the strong model.

    ``strong_share`` 0 gives a threshold above every score (``math.inf``); 1 gives the lowest score."""
    if not 0.0 <= strong_share <= 1.0:
        raise ValueError(f"strong_share must be within [0, 1], not {strong_share}")
    if not scores:
        raise ValueError("no reference scores to calibrate on")
    ranked = sorted(scores, reverse=True)
    k = round(strong_share * len(ranked))
    if k == 0:
        return math.inf
    return float(ranked[k - 1])


def mean_cost_per_1k(requests: Sequence[Sequence[Option]], lam: float) -> float:
    """Cost of 1,000 requests like the reference ones when routed by ``choose_lambda(·, lam)``."""
    total = 0.0
    for options in requests:
        winner = choose_lambda(options, lam).winner
        total += next(o.cost for o in options if o.name == winner)
    return 1000.0 * total / len(requests)


def calibrate_lambda(requests: Sequence[Sequence[Option]], max_cost_per_1k: float, *,
                     iterations: int = 60) -> float:
    """The smallest λ ≥ 0 whose routing of ``requests`` costs at most ``max_cost_per_1k`` USD per 1,000.

    Raises ValueError when even the cheapest option of every request exceeds the target."""
    if not requests:
        raise ValueError("no reference requests to calibrate on")
    if max_cost_per_1k < 0:
        raise ValueError("max_cost_per_1k must be >= 0")
    if mean_cost_per_1k(requests, 0.0) <= max_cost_per_1k:
        return 0.0
    floor = 1000.0 * sum(min(o.cost for o in options) for options in requests) / len(requests)
    if floor > max_cost_per_1k * (1 + 1e-12):
        raise ValueError(f"the target of {max_cost_per_1k:.6g} USD per 1k requests is below the cost of always "
                         f"choosing the cheapest option ({floor:.6g})")
    lo, hi = 0.0, 1.0
    while mean_cost_per_1k(requests, hi) > max_cost_per_1k:
        lo, hi = hi, hi * 2.0
        if hi > 1e15:
            raise ValueError("no lambda reaches the target (cost differences too small)")
    for _ in range(iterations):
        mid = (lo + hi) / 2.0
        if mean_cost_per_1k(requests, mid) <= max_cost_per_1k:
            hi = mid
        else:
            lo = mid
    return hi
