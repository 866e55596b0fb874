"""Router quality metrics: APGR and CPT(x%) for two models, AIQ for many models with cost, bootstrap intervals.

Definitions (RouteLLM, arXiv 2406.18665; RouterBench, arXiv 2403.12031), as the shared data README states them:

* Two models. A router gives each prompt a score; prompts with score >= alpha go to the strong model. Sweeping
  alpha from +inf down to -inf traces the curve (c, r): c = share of strong calls, r = mean quality of the routed
  answers. PGR = (r - r_weak) / (r_strong - r_weak). **APGR** = area under PGR over c in [0, 1] (trapezoid).
  **CPT(x%)** = the smallest c with PGR >= x (linear interpolation between sweep points).
  Prompts with equal scores cannot be split by any alpha: they enter the curve as one step, joined by a straight
  line, which is exactly the expectation of breaking the tie at random. So a constant score is the random router
  (APGR 0.5, CPT(x) = x), and no tie-breaking order can flatter a router.
* Many models with cost. Each router setting gives one point (mean cost, mean quality). AIQ is the area under
  their non-decreasing convex hull over [cheapest single model, dearest single model], divided by that width;
  the hull counts 0 below the router's cheapest point and stays flat above its best point.

Everything here is pure Python: 14k prompts are small, and the base install carries no numpy.
Weights (``weights[i]`` = how many times prompt i counts) make the bootstrap cheap: a resample is a weight vector,
and the sort order is computed once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from operator import mul

__all__ = [
    "CurvePoint",
    "Interval",
    "LambdaSweep",
    "Point",
    "PGRCurve",
    "aiq",
    "argmax_lambda",
    "apgr",
    "bootstrap",
    "cpt",
    "curve_area",
    "curve_cpt",
    "default_lambdas",
    "hull_value",
    "nondecreasing_hull",
    "percentile_interval",
    "pgr_curve",
    "resample_weights",
]

Point = tuple[float, float]  # (cost, quality)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    strong_share: float  # c: share of prompts sent to the strong model
    quality: float  # r: mean quality of the routed answers
    pgr: float  # (r - r_weak) / (r_strong - r_weak)


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float
    level: float = 0.95


# ---------------------------------------------------------------------------------------------------- two models


class PGRCurve:
    """The deferral curve of one router on one data set, sorted once, evaluated under any prompt weights."""

    def __init__(self, scores: Sequence[float], strong_q: Sequence[float], weak_q: Sequence[float]) -> None:
        n = len(scores)
        if n == 0:
            raise ValueError("no prompts")
        if len(strong_q) != n or len(weak_q) != n:
            raise ValueError(f"length mismatch: {n} scores, {len(strong_q)} strong and {len(weak_q)} weak qualities")
        for s in scores:
            if math.isnan(s):
                raise ValueError("a router score is NaN")
        self.n = n
        self._strong = [float(q) for q in strong_q]
        self._weak = [float(q) for q in weak_q]
        order = sorted(range(n), key=lambda i: scores[i], reverse=True)
        self._order = order
        self._gain = [self._strong[i] - self._weak[i] for i in order]  # in sweep order
        ends: list[int] = []  # index (in sweep order) one past the last prompt of each tie group
        for k in range(1, n):
            if scores[order[k]] != scores[order[k - 1]]:
                ends.append(k)
        ends.append(n)
        self._ends = ends

    def points(self, weights: Sequence[float] | None = None) -> list[CurvePoint]:
        """The sweep points, from c = 0 (all weak) to c = 1 (all strong), one per distinct score."""
        if weights is None:
            total = float(self.n)
            r_weak = math.fsum(self._weak) / total
            r_strong = math.fsum(self._strong) / total
            shares: list[float] = [float(k) for k in range(1, self.n + 1)]
            gains = list(accumulate(self._gain))
        else:
            if len(weights) != self.n:
                raise ValueError(f"{len(weights)} weights for {self.n} prompts")
            total = math.fsum(weights)
            if total <= 0:
                raise ValueError("weights sum to zero")
            r_weak = math.fsum(map(mul, weights, self._weak)) / total
            r_strong = math.fsum(map(mul, weights, self._strong)) / total
            ordered: list[float] = [weights[i] for i in self._order]
            shares = list(accumulate(ordered))
            gains = list(accumulate(map(mul, ordered, self._gain)))
        gap = r_strong - r_weak
        if abs(gap) < 1e-12:
            raise ValueError("PGR is undefined: the strong and the weak model have the same mean quality")
        out = [CurvePoint(0.0, r_weak, 0.0)]
        for end in self._ends[:-1]:
            r = r_weak + gains[end - 1] / total
            out.append(CurvePoint(shares[end - 1] / total, r, (r - r_weak) / gap))
        out.append(CurvePoint(1.0, r_strong, 1.0))  # exact end point, free of rounding
        return out

    def costs(self, strong_cost: Sequence[float], weak_cost: Sequence[float]) -> list[float]:
        """Mean cost per prompt at each sweep point of :meth:`points` (same order), from per-prompt costs."""
        if len(strong_cost) != self.n or len(weak_cost) != self.n:
            raise ValueError("one strong and one weak cost per prompt")
        base = math.fsum(weak_cost) / self.n
        extra = list(accumulate(strong_cost[i] - weak_cost[i] for i in self._order))
        out = [base] + [base + extra[end - 1] / self.n for end in self._ends[:-1]]
        out.append(math.fsum(strong_cost) / self.n)
        return out

    def apgr(self, weights: Sequence[float] | None = None) -> float:
        return curve_area(self.points(weights))

    def cpt(self, target: float, weights: Sequence[float] | None = None) -> float | None:
        return curve_cpt(self.points(weights), target)


def curve_area(points: Sequence[CurvePoint]) -> float:
    return math.fsum(
        (b.strong_share - a.strong_share) * (a.pgr + b.pgr) / 2 for a, b in zip(points, points[1:], strict=False)
    )


def curve_cpt(points: Sequence[CurvePoint], target: float) -> float | None:
    """Smallest strong-call share with PGR >= target, interpolated; None if never reached."""
    if points[0].pgr >= target:
        return points[0].strong_share
    for a, b in zip(points, points[1:], strict=False):
        if b.pgr >= target:
            if b.pgr == a.pgr:
                return b.strong_share
            return a.strong_share + (target - a.pgr) * (b.strong_share - a.strong_share) / (b.pgr - a.pgr)
    return None


def pgr_curve(scores: Sequence[float], strong_q: Sequence[float], weak_q: Sequence[float]) -> list[CurvePoint]:
    """The PGR curve of a router's scores (higher = more deserving of the strong model)."""
    return PGRCurve(scores, strong_q, weak_q).points()


def apgr(scores: Sequence[float], strong_q: Sequence[float], weak_q: Sequence[float]) -> float:
    """Average performance gap recovered: area under PGR over the strong-call share in [0, 1]."""
    return PGRCurve(scores, strong_q, weak_q).apgr()


def cpt(
    scores: Sequence[float], strong_q: Sequence[float], weak_q: Sequence[float], target: float = 0.5
) -> float | None:
    """Call-performance threshold: the smallest strong-call share reaching PGR >= ``target`` (0.5 = CPT(50%)).

    None when the curve never reaches it (only possible for targets above 1).
    """
    return PGRCurve(scores, strong_q, weak_q).cpt(target)


# ---------------------------------------------------------------------------------------------------- many models


def nondecreasing_hull(points: Sequence[Point]) -> list[Point]:
    """Vertices of the non-decreasing (upper) convex hull of (cost, quality) points, by increasing cost.

    It starts at the cheapest point (the best one, if several share that cost) and ends at the cheapest point of
    maximal quality: beyond it the hull is flat, and dearer points never lower it.
    """
    if not points:
        raise ValueError("no points")
    for c, q in points:
        if not (math.isfinite(c) and math.isfinite(q)):
            raise ValueError(f"point ({c}, {q}) is not finite")
    best = max(q for _, q in points)
    stop = min(c for c, q in points if q == best)
    ordered = sorted((p for p in points if p[0] <= stop), key=lambda p: (p[0], -p[1]))
    unique: list[Point] = []
    for p in ordered:
        if not unique or p[0] != unique[-1][0]:
            unique.append(p)
    hull: list[Point] = []
    for p in unique:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point when it lies on or below the chord from hull[-2] to p
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def hull_value(hull: Sequence[Point], cost: float) -> float:
    """The hull's quality at ``cost``: 0 below its cheapest vertex, linear between vertices, flat after the last."""
    if cost < hull[0][0]:
        return 0.0
    for (x1, y1), (x2, y2) in zip(hull, hull[1:], strict=False):
        if cost <= x2:
            return y1 + (y2 - y1) * (cost - x1) / (x2 - x1)
    return hull[-1][1]


def _hull_integral(hull: Sequence[Point], lo: float, hi: float) -> float:
    """Integral of hull_value over [lo, hi]."""
    total = 0.0
    segments = list(zip(hull, hull[1:], strict=False))
    for (x1, _), (x2, _) in segments:
        a, b = max(x1, lo), min(x2, hi)
        if b > a:
            total += (b - a) * (hull_value(hull, a) + hull_value(hull, b)) / 2
    x_last, y_last = hull[-1]
    a = max(x_last, lo)
    if hi > a:
        total += (hi - a) * y_last
    return total


def aiq(points: Sequence[Point], single_models: Sequence[Point]) -> float:
    """Average improvement in quality: mean height of the router's non-decreasing hull between the cheapest and the
    dearest single model's mean cost. ``points`` are the router's (mean cost, mean quality) settings;
    ``single_models`` the (mean cost, mean quality) of each candidate model alone, which fix the range.
    The zero router is ``aiq(single_models, single_models)``.
    """
    if not single_models:
        raise ValueError("no single models")
    lo = min(c for c, _ in single_models)
    hi = max(c for c, _ in single_models)
    if not hi > lo:
        raise ValueError("AIQ needs single models of different cost")
    return _hull_integral(nondecreasing_hull(points), lo, hi) / (hi - lo)


# ---------------------------------------------------------------------------------------------------- λ sweeps

Chooser = Callable[[Mapping[str, float], Mapping[str, float], float], str]


def argmax_lambda(quality: Mapping[str, float], cost: Mapping[str, float], lam: float) -> str:
    """argmax q - λ·cost; ties go to the cheaper model, then to the earlier one (the tie rules of the runtime's
    ``choose_lambda``, without its per-candidate reasons). λ = inf picks the cheapest (ties: best q, then earlier).
    """
    order = {m: k for k, m in enumerate(quality)}
    if math.isinf(lam):
        return min(quality, key=lambda m: (cost[m], -quality[m], order[m]))
    return min(quality, key=lambda m: (-(quality[m] - lam * cost[m]), cost[m], order[m]))


def default_lambdas(mean_costs: Sequence[float], count: int = 121) -> list[float]:
    """λ values (quality per USD) from 0 to inf that sweep from 'best predicted quality' to 'cheapest'.

    Geometric between 1e-3 / dearest and 1e3 / cheapest mean cost, plus 0 and inf.
    """
    positive = [c for c in mean_costs if c > 0]
    if not positive:
        return [0.0, math.inf]
    lo = 1e-3 / max(positive)
    hi = 1e3 / min(positive)
    step = (math.log(hi) - math.log(lo)) / (count - 1)
    return [0.0, *(math.exp(math.log(lo) + k * step) for k in range(count)), math.inf]


class LambdaSweep:
    """For each λ, the per-prompt choice of ``chooser`` on predicted qualities; the points are the mean true cost and
    quality of the choices. Computed once, re-weighted for the bootstrap."""

    def __init__(
        self,
        predicted: Sequence[Mapping[str, float]],
        true_quality: Sequence[Mapping[str, float]],
        cost: Sequence[Mapping[str, float]],
        lambdas: Sequence[float],
        chooser: Chooser = argmax_lambda,
    ) -> None:
        if not (len(predicted) == len(true_quality) == len(cost)) or not predicted:
            raise ValueError("predicted, true_quality and cost must be non-empty and of equal length")
        self.n = len(predicted)
        self.lambdas = list(lambdas)
        self.choices: list[list[str]] = []
        self._cost: list[list[float]] = []
        self._quality: list[list[float]] = []
        for lam in self.lambdas:
            picked = [chooser(p, c, lam) for p, c in zip(predicted, cost, strict=True)]
            self.choices.append(picked)
            self._cost.append([c[m] for c, m in zip(cost, picked, strict=True)])
            self._quality.append([q[m] for q, m in zip(true_quality, picked, strict=True)])

    def distinct(self) -> LambdaSweep:
        """Drop settings whose per-prompt choices repeat the previous setting's (the same point at any weights)."""
        keep = [k for k in range(len(self.lambdas)) if k == 0 or self.choices[k] != self.choices[k - 1]]
        self.lambdas = [self.lambdas[k] for k in keep]
        self.choices = [self.choices[k] for k in keep]
        self._cost = [self._cost[k] for k in keep]
        self._quality = [self._quality[k] for k in keep]
        return self

    def points(self, weights: Sequence[float] | None = None) -> list[Point]:
        """(mean cost, mean true quality) of the choices at each λ, under optional prompt weights."""
        if weights is None:
            return [
                (math.fsum(c) / self.n, math.fsum(q) / self.n) for c, q in zip(self._cost, self._quality, strict=True)
            ]
        total = math.fsum(weights)
        if total <= 0:
            raise ValueError("weights sum to zero")
        return [
            (sum(map(mul, weights, c)) / total, sum(map(mul, weights, q)) / total)
            for c, q in zip(self._cost, self._quality, strict=True)
        ]


# ---------------------------------------------------------------------------------------------------- bootstrap


def resample_weights(n: int, reps: int, seed: int = 0) -> list[list[int]]:
    """``reps`` bootstrap resamples of n prompts, each as a count per prompt. Seeded: the same for every router, so
    intervals of routers evaluated on the same data use the same resamples."""
    rng = random.Random(seed)
    out = []
    population = range(n)
    for _ in range(reps):
        counts = [0] * n
        for i in rng.choices(population, k=n):
            counts[i] += 1
        out.append(counts)
    return out


def _percentile(ordered: Sequence[float], p: float) -> float:
    k = (len(ordered) - 1) * p
    lo = math.floor(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def percentile_interval(values: Sequence[float], level: float = 0.95) -> Interval | None:
    """The central ``level`` interval of ``values`` (linear interpolation between order statistics)."""
    if not values:
        return None
    ordered = sorted(values)
    tail = (1 - level) / 2
    return Interval(_percentile(ordered, tail), _percentile(ordered, 1 - tail), level)


def bootstrap(
    statistic: Callable[[Sequence[float] | None], float | None],
    resamples: Sequence[Sequence[float]],
    level: float = 0.95,
) -> Interval | None:
    """Percentile interval of ``statistic(weights)`` over the resamples. Resamples where the statistic is undefined
    (it returns None or raises ValueError, e.g. PGR with equal means) are skipped; None when none is left."""
    values = []
    for weights in resamples:
        try:
            value = statistic(weights)
        except ValueError:
            continue
        if value is not None:
            values.append(value)
    return percentile_interval(values, level)
