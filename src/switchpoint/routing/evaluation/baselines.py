"""Baselines every routing report shows: random, oracle and prompt length (two models); zero router and oracle
(many models). They need no training."""

from __future__ import annotations

from collections.abc import Sequence

from switchpoint.routing.evaluation.data import RoutingRow, mean_cost, mean_score
from switchpoint.routing.evaluation.metrics import LambdaSweep, Point, default_lambdas

__all__ = [
    "length_scores",
    "oracle_scores",
    "oracle_sweep",
    "random_scores",
    "single_model_points",
]


def length_scores(rows: Sequence[RoutingRow]) -> list[float]:
    """The prompt-length router: longer prompts (in characters) go to the strong model first."""
    return [float(len(row.prompt)) for row in rows]


def random_scores(rows: Sequence[RoutingRow]) -> list[float]:
    """The random router, in expectation: one constant score, so the curve is the straight line from (0, 0) to
    (1, 1) (APGR 0.5, CPT(x) = x). Exact, with no sampling noise."""
    return [0.0] * len(rows)


def oracle_scores(rows: Sequence[RoutingRow], strong: str, weak: str) -> list[float]:
    """The two-model oracle: strong model first where it does better than the weak one, last where it does worse."""
    return [row.scores[strong] - row.scores[weak] for row in rows]


def single_model_points(rows: Sequence[RoutingRow], models: Sequence[str]) -> dict[str, Point]:
    """(mean cost, mean quality) of each model alone; every model needs a known cost on every row."""
    out: dict[str, Point] = {}
    for model in models:
        cost = mean_cost(rows, model)
        if cost is None:
            raise ValueError(f"model {model!r} has no cost on some rows; AIQ needs costs")
        out[model] = (cost, mean_score(rows, model))
    return out


def oracle_sweep(
    rows: Sequence[RoutingRow], models: Sequence[str], lambdas: Sequence[float] | None = None
) -> LambdaSweep:
    """The many-model oracle: the λ sweep of argmax (true quality - λ·cost) on every prompt."""
    true = [{m: row.scores[m] for m in models} for row in rows]
    costs = [{m: float(row.cost[m] or 0.0) for m in models} for row in rows]
    if lambdas is None:
        lambdas = default_lambdas([c for c, _ in single_model_points(rows, models).values()])
    return LambdaSweep(true, true, costs, lambdas)
