"""Calibration on a reference file: turn a target (share of strong calls, or cost per 1k requests) into the
router setting that meets it (a score threshold for two models, a willingness to pay λ for many).

A threshold t means: score >= t goes to the strong model (``choose_threshold``). λ means: pick argmax
q̂ − λ·cost (``choose_lambda``; cost in USD per request), so λ is in quality units per USD. The share and λ
targets use the runtime's own calibration (``switchpoint.routing.learned.calibrate``); this module adds the
threshold for a cost budget and what each setting achieves on the reference rows (share, cost, true quality).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from switchpoint.routing.evaluation.metrics import LambdaSweep

__all__ = ["Calibration", "lambda_for_cost", "threshold_for_cost", "threshold_for_share"]


@dataclass(frozen=True)
class Calibration:
    setting: str  # "threshold" or "lambda"
    value: float
    strong_share: float | None  # achieved on the reference rows (two models)
    cost_per_1k: float | None  # achieved mean cost per 1000 requests, USD, where costs are known
    quality: float  # achieved mean quality


def _cut(ordered: Sequence[float], k: int) -> float:
    """The k-th highest of the descending ``ordered`` scores (as ``calibrate_threshold`` does): the top k, and
    any ties with the k-th, go to the strong model. k = 0: just above the highest score (never strong)."""
    if k <= 0:
        return math.nextafter(ordered[0], math.inf)
    return ordered[min(k, len(ordered)) - 1]


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
    from switchpoint.routing.learned.calibrate import calibrate_threshold

    if not scores:
        raise ValueError("no reference prompts")
    threshold = calibrate_threshold(scores, share)
    if math.isinf(threshold):  # share 0: a finite threshold above every reference score
        threshold = math.nextafter(max(scores), math.inf)
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
) -> Calibration:
    """The smallest λ (the best predicted quality) whose mean cost per 1000 reference requests stays within budget
    (``calibrate_lambda``, by bisection), and what it achieves on the reference rows."""
    from switchpoint.routing.learned.calibrate import calibrate_lambda
    from switchpoint.routing.learned.choose import Option

    if not predicted:
        raise ValueError("no reference prompts")
    requests = [[Option(m, q[m], c[m]) for m in q] for q, c in zip(predicted, cost, strict=True)]
    lam = calibrate_lambda(requests, cost_per_1k)
    from switchpoint.routing.evaluation.report import lambda_chooser

    ((mean_cost, quality),) = LambdaSweep(predicted, true_quality, cost, [lam], lambda_chooser()).points()
    return Calibration("lambda", lam, None, mean_cost * 1000, quality)
