"""Calibration on a reference file: turn a target (share of strong calls, or cost per 1k requests) into the
router setting that meets it (a score threshold for two models, a willingness to pay λ for many).

A threshold t means: score >= t goes to the strong model. λ means: pick argmax q̂ − λ·cost (cost in USD per
request), so λ is in quality units per USD.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from switchpoint.routing.evaluation.metrics import LambdaSweep, default_lambdas

__all__ = ["Calibration", "lambda_for_cost", "threshold_for_cost", "threshold_for_share"]


@dataclass(frozen=True)
class Calibration:
    setting: str  # "threshold" or "lambda"
    value: float
    strong_share: float | None  # achieved on the reference rows (two models)
    cost_per_1k: float | None  # achieved mean cost per 1000 requests, USD, where costs are known
    quality: float  # achieved mean quality


def _cut(ordered: Sequence[float], k: int) -> float:
    """A threshold sending exactly the top k of the descending ``ordered`` scores to the strong model (more,
    if the k-th score is tied with the next)."""
    n = len(ordered)
    if k <= 0:
        return math.nextafter(ordered[0], math.inf)
    if k >= n:
        return ordered[-1]
    hi, lo = ordered[k - 1], ordered[k]
    return hi if hi == lo else (hi + lo) / 2


def _outcome(
    scores: Sequence[float],
    threshold: float,
    strong_q: Sequence[float],
    weak_q: Sequence[float],
    strong_cost: Sequence[float] | None,
    weak_cost: Sequence[float] | None,
) -> tuple[float, float | None, float]:
    n = len(scores)
    strong = [s >= threshold for s in scores]
    share = sum(strong) / n
    quality = math.fsum(sq if s else wq for s, sq, wq in zip(strong, strong_q, weak_q, strict=True)) / n
    cost = None
    if strong_cost is not None and weak_cost is not None:
        cost = 1000 * math.fsum(sc if s else wc for s, sc, wc in zip(strong, strong_cost, weak_cost, strict=True)) / n
    return share, cost, quality


def threshold_for_share(
    scores: Sequence[float],
    share: float,
    strong_q: Sequence[float],
    weak_q: Sequence[float],
    strong_cost: Sequence[float] | None = None,
    weak_cost: Sequence[float] | None = None,
) -> Calibration:
    """The threshold that sends ``share`` of the reference prompts to the strong model."""
    if not scores:
        raise ValueError("no reference prompts")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"strong-call share must be within [0, 1], got {share}")
    ordered = sorted(scores, reverse=True)
    threshold = _cut(ordered, round(share * len(ordered)))
    achieved, cost, quality = _outcome(scores, threshold, strong_q, weak_q, strong_cost, weak_cost)
    return Calibration("threshold", threshold, achieved, cost, quality)


def threshold_for_cost(
    scores: Sequence[float],
    cost_per_1k: float,
    strong_q: Sequence[float],
    weak_q: Sequence[float],
    strong_cost: Sequence[float],
    weak_cost: Sequence[float],
) -> Calibration:
    """The lowest threshold (most strong calls) whose mean cost per 1000 reference requests stays within budget."""
    n = len(scores)
    if n == 0:
        raise ValueError("no reference prompts")
    order = sorted(range(n), key=lambda i: scores[i], reverse=True)
    ordered = [scores[i] for i in order]
    budget = cost_per_1k * n / 1000
    total = math.fsum(weak_cost)
    if total > budget * (1 + 1e-12):
        raise ValueError(
            f"the budget ${cost_per_1k:g} per 1k requests is below the weak model alone "
            f"(${1000 * total / n:.4g} per 1k on the reference file)"
        )
    best = 0
    k = 0
    while k < n:  # add whole tie groups: a threshold cannot split them
        j = k
        extra = 0.0
        while j < n and ordered[j] == ordered[k]:
            extra += strong_cost[order[j]] - weak_cost[order[j]]
            j += 1
        if total + extra > budget * (1 + 1e-12):
            break
        total += extra
        best = j
        k = j
    threshold = _cut(ordered, best)
    achieved, cost, quality = _outcome(scores, threshold, strong_q, weak_q, strong_cost, weak_cost)
    return Calibration("threshold", threshold, achieved, cost, quality)


def lambda_for_cost(
    predicted: Sequence[Mapping[str, float]],
    true_quality: Sequence[Mapping[str, float]],
    cost: Sequence[Mapping[str, float]],
    cost_per_1k: float,
    lambdas: Sequence[float] | None = None,
) -> Calibration:
    """The smallest λ (the best predicted quality) whose mean cost per 1000 reference requests stays within
    budget. λ is taken from a geometric grid (``default_lambdas``, finite values only)."""
    if not predicted:
        raise ValueError("no reference prompts")
    models = list(cost[0])
    if lambdas is None:
        means = [math.fsum(c[m] for c in cost) / len(cost) for m in models]
        lambdas = [lam for lam in default_lambdas(means) if math.isfinite(lam)]
    sweep = LambdaSweep(predicted, true_quality, cost, sorted(lambdas))
    for lam, (mean_cost, quality) in zip(sweep.lambdas, sweep.points(), strict=True):
        if mean_cost * 1000 <= cost_per_1k * (1 + 1e-12):
            return Calibration("lambda", lam, None, mean_cost * 1000, quality)
    cheapest = min(p[0] for p in sweep.points()) * 1000
    raise ValueError(
        f"no λ meets ${cost_per_1k:g} per 1k requests: the cheapest setting costs ${cheapest:.4g} per 1k "
        "on the reference file"
    )
