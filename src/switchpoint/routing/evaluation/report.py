"""Evaluation reports: a router's metrics next to the baselines, each with a bootstrap 95% interval over prompts.

* Two models (strong vs weak): APGR, CPT(50%), CPT(80%) of the router, random, oracle and the prompt-length
  baseline, plus each model alone.
* Many models with cost: AIQ of the router's λ sweep next to the zero router (the single models and their random
  mixtures) and the oracle, plus the router's (cost, quality) points.
* Many models, quality alone (no costs, as in RouterDC's data): the mean quality of the router's pick (the model of
  highest predicted quality) next to the best single model, a random pick and the oracle.

Every interval of one report uses the same resamples (one seed), so routers are compared on the same draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchpoint.routing.evaluation.baselines import length_scores, oracle_scores, random_scores
from switchpoint.routing.evaluation.data import RoutingRow, mean_cost, mean_score
from switchpoint.routing.evaluation.metrics import (
    Chooser,
    CurvePoint,
    Interval,
    LambdaSweep,
    PGRCurve,
    Point,
    aiq,
    argmax_lambda,
    curve_area,
    curve_cpt,
    default_lambdas,
    nondecreasing_hull,
    percentile_interval,
    resample_weights,
)
from switchpoint.routing.evaluation.routers import EvaluationError

__all__ = [
    "ManyModelReport",
    "QualityReport",
    "SingleModel",
    "SweepResult",
    "TwoModelCurve",
    "TwoModelReport",
    "lambda_chooser",
    "many_model_report",
    "plot",
    "quality_report",
    "two_model_report",
]

DEFAULT_RESAMPLES = 200  # pure Python: about 10 ms per resample and curve on 14k prompts


def lambda_chooser() -> Chooser:
    """The rule behind a router's AIQ sweep: the runtime's own ``choose_lambda`` (argmax q̂ − λ·cost, ties to the
    cheaper, then the earlier candidate), so the evaluation measures the decisions the gateway would make.
    λ = inf (the cheapest end of the sweep) is taken as "cheapest, then best q̂"."""
    from switchpoint.routing.learned.choose import Option, choose_lambda

    def choose(quality: Mapping[str, float], cost: Mapping[str, float], lam: float) -> str:
        if math.isinf(lam):
            return argmax_lambda(quality, cost, lam)
        return choose_lambda([Option(m, quality[m], cost[m]) for m in quality], lam).winner

    return choose


@dataclass(frozen=True)
class SingleModel:
    name: str
    quality: float
    cost: float | None  # mean USD per request, None where unknown

    def to_dict(self) -> dict[str, Any]:
        return {"quality": self.quality, "cost": self.cost}


def _interval_dict(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [interval.low, interval.high]


@dataclass(frozen=True)
class TwoModelCurve:
    """One router (or baseline) on a two-model data set."""

    name: str
    apgr: float
    cpt50: float | None
    cpt80: float | None
    apgr_ci: Interval | None
    cpt50_ci: Interval | None
    cpt80_ci: Interval | None
    points: list[CurvePoint] = field(repr=False)
    apgr_samples: list[float | None] = field(default_factory=list, repr=False)  # one per resample, in draw order
    costs: list[float] | None = field(default=None, repr=False)  # mean cost per request at each point, if known

    def to_dict(self) -> dict[str, Any]:
        return {
            "apgr": self.apgr,
            "cpt50": self.cpt50,
            "cpt80": self.cpt80,
            "apgr_ci": _interval_dict(self.apgr_ci),
            "cpt50_ci": _interval_dict(self.cpt50_ci),
            "cpt80_ci": _interval_dict(self.cpt80_ci),
        }


def _curve(
    name: str,
    curve: PGRCurve,
    resamples: Sequence[Sequence[float]],
    costs: tuple[list[float], list[float]] | None = None,
) -> TwoModelCurve:
    points = curve.points()
    apgrs: list[float | None] = []
    cpt50s: list[float] = []
    cpt80s: list[float] = []
    for weights in resamples:
        try:
            sample = curve.points(weights)
        except ValueError:  # equal means in this resample: PGR undefined
            apgrs.append(None)
            continue
        apgrs.append(curve_area(sample))
        for target, values in ((0.5, cpt50s), (0.8, cpt80s)):
            value = curve_cpt(sample, target)
            if value is not None:
                values.append(value)
    return TwoModelCurve(
        name=name,
        apgr=curve_area(points),
        cpt50=curve_cpt(points, 0.5),
        cpt80=curve_cpt(points, 0.8),
        apgr_ci=percentile_interval([a for a in apgrs if a is not None]),
        cpt50_ci=percentile_interval(cpt50s),
        cpt80_ci=percentile_interval(cpt80s),
        points=points,
        apgr_samples=apgrs,
        costs=None if costs is None else curve.costs(*costs),
    )


def _paired(value: float, a: Sequence[float | None], b: Sequence[float | None]) -> dict[str, Any]:
    """A difference of two metrics on the same resamples, with its percentile interval (paired bootstrap): an
    interval above 0 means the first is better on (nearly) every resample of the prompts."""
    diffs = [x - y for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return {"diff": value, "ci": _interval_dict(percentile_interval(diffs))}


def _diff_text(label: str, paired: dict[str, Any]) -> str:
    ci = paired["ci"]
    interval = "" if ci is None else f" [{ci[0]:+.3f}, {ci[1]:+.3f}] (paired bootstrap 95%)"
    return f"{label}: {paired['diff']:+.3f}{interval}"


def _report_dict(mode: str, report: Any, router: str | None, models: Sequence[SingleModel],
                 **figures: Any) -> dict[str, Any]:
    """The JSON object of a report: what every mode has (``apgr``, ``cpt50``, ``cpt80``, ``aiq`` null unless the
    mode's ``figures`` set them), its figures, the models and the bootstrap settings."""
    return {"mode": mode, "data": report.data, "prompts": report.prompts, "router": router,
            "apgr": None, "cpt50": None, "cpt80": None, "aiq": None, **figures,
            "models": {m.name: m.to_dict() for m in models},
            "bootstrap": {"resamples": report.resamples, "seed": report.seed, "level": 0.95}}


@dataclass(frozen=True)
class TwoModelReport:
    data: str
    prompts: int
    strong: SingleModel
    weak: SingleModel
    router: TwoModelCurve | None
    baselines: dict[str, TwoModelCurve]  # random, oracle, length
    resamples: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        router = self.router
        figures: dict[str, Any] = {} if router is None else {
            "apgr": router.apgr, "cpt50": router.cpt50, "cpt80": router.cpt80}
        return _report_dict(
            "two-model", self, None if router is None else router.name, (self.strong, self.weak),
            strong=self.strong.name, weak=self.weak.name, **figures,
            ci=None if router is None else router.to_dict(),
            baselines={name: curve.to_dict() for name, curve in self.baselines.items()},
            vs_length=None if router is None else self.vs_length(),
        )

    def text(self) -> str:
        lines = [
            f"{self.data}: {self.prompts} prompts; strong {self.strong.name} (quality {self.strong.quality:.4f}"
            f"{_cost_text(self.strong.cost)}), weak {self.weak.name} (quality {self.weak.quality:.4f}"
            f"{_cost_text(self.weak.cost)})",
            f"bootstrap 95% intervals over prompts: {self.resamples} resamples, seed {self.seed}",
            "",
            f"{'router':<22} {'APGR':>22} {'CPT(50%)':>24} {'CPT(80%)':>24}",
        ]
        rows = ([self.router] if self.router else []) + list(self.baselines.values())
        for curve in rows:
            lines.append(
                f"{curve.name:<22} {_num(curve.apgr, curve.apgr_ci):>22} "
                f"{_pct(curve.cpt50, curve.cpt50_ci):>24} {_pct(curve.cpt80, curve.cpt80_ci):>24}"
            )
        if self.router is not None:
            lines += ["", _diff_text("APGR, router minus length baseline", self.vs_length())]
        return "\n".join(lines)

    def vs_length(self) -> dict[str, Any]:
        """APGR of the router minus the length baseline's, with a paired bootstrap interval."""
        if self.router is None:
            raise ValueError("no router")
        length = self.baselines["length"]
        return _paired(self.router.apgr - length.apgr, self.router.apgr_samples, length.apgr_samples)


def _cost_text(cost: float | None) -> str:
    return "" if cost is None else f", ${cost * 1000:.4g} per 1k requests"


def _num(value: float, ci: Interval | None) -> str:
    if ci is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{ci.low:.3f}, {ci.high:.3f}]"


def _pct(value: float | None, ci: Interval | None) -> str:
    if value is None:
        return "n/a"
    if ci is None:
        return f"{value:.1%}"
    return f"{value:.1%} [{ci.low:.1%}, {ci.high:.1%}]"


def _single(rows: Sequence[RoutingRow], model: str) -> SingleModel:
    return SingleModel(model, mean_score(rows, model), mean_cost(rows, model))


def two_model_report(
    rows: Sequence[RoutingRow],
    strong: str,
    weak: str,
    router_scores: Sequence[float] | None = None,
    *,
    router_name: str = "router",
    data: str = "data",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TwoModelReport:
    """APGR, CPT(50%) and CPT(80%) of ``router_scores`` (higher = strong model) and of the baselines."""
    if not rows:
        raise ValueError("no prompts")
    strong_q = [row.scores[strong] for row in rows]
    weak_q = [row.scores[weak] for row in rows]
    if math.isclose(math.fsum(strong_q), math.fsum(weak_q), rel_tol=0.0, abs_tol=1e-9 * len(rows)):
        raise EvaluationError(
            f"{strong} and {weak} have the same mean quality ({math.fsum(strong_q) / len(rows):.4f}) on these "
            f"{len(rows)} rows, so the share of the gap a router recovers (PGR, APGR, CPT) is undefined; "
            "compare two models whose quality differs")
    draws = resample_weights(len(rows), resamples, seed) if resamples > 0 else []
    costs = None
    if all(row.cost.get(strong) is not None and row.cost.get(weak) is not None for row in rows):
        costs = ([float(row.cost[strong] or 0.0) for row in rows], [float(row.cost[weak] or 0.0) for row in rows])
    router = None
    if router_scores is not None:
        router = _curve(router_name, PGRCurve(router_scores, strong_q, weak_q), draws, costs)
    baselines = {
        "random": _curve("random", PGRCurve(random_scores(rows), strong_q, weak_q), draws, costs),
        "oracle": _curve("oracle", PGRCurve(oracle_scores(rows, strong, weak), strong_q, weak_q), draws, costs),
        "length": _curve("length", PGRCurve(length_scores(rows), strong_q, weak_q), draws, costs),
    }
    return TwoModelReport(
        data=data,
        prompts=len(rows),
        strong=_single(rows, strong),
        weak=_single(rows, weak),
        router=router,
        baselines=baselines,
        resamples=resamples,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------------- many models


@dataclass(frozen=True)
class SweepResult:
    name: str
    aiq: float
    aiq_ci: Interval | None
    points: list[Point] = field(repr=False)  # (mean cost, mean quality), one per setting
    hull: list[Point] = field(repr=False)
    samples: list[float | None] = field(default_factory=list, repr=False)  # AIQ per resample, in draw order

    def to_dict(self) -> dict[str, Any]:
        return {"aiq": self.aiq, "aiq_ci": _interval_dict(self.aiq_ci), "hull": [list(p) for p in self.hull]}


def _sweep_result(
    name: str,
    sweep: LambdaSweep,
    single_columns: Mapping[str, tuple[list[float], list[float]]],
    draws: Sequence[Sequence[float]],
) -> SweepResult:
    sweep = sweep.distinct()
    points = sweep.points()
    singles = _single_points(single_columns, None)
    values: list[float | None] = []
    for weights in draws:
        values.append(aiq(sweep.points(weights), _single_points(single_columns, weights)))
    return SweepResult(
        name,
        aiq(points, singles),
        percentile_interval([v for v in values if v is not None]),
        points,
        nondecreasing_hull(points),
        values,
    )


def _single_points(
    columns: Mapping[str, tuple[list[float], list[float]]], weights: Sequence[float] | None
) -> list[Point]:
    out = []
    for cost, quality in columns.values():
        if weights is None:
            out.append((math.fsum(cost) / len(cost), math.fsum(quality) / len(quality)))
        else:
            total = math.fsum(weights)
            out.append(
                (
                    sum(w * c for w, c in zip(weights, cost, strict=True)) / total,
                    sum(w * q for w, q in zip(weights, quality, strict=True)) / total,
                )
            )
    return out


@dataclass(frozen=True)
class ManyModelReport:
    data: str
    prompts: int
    models: list[SingleModel]
    router: SweepResult | None
    baselines: dict[str, SweepResult]  # zero_router, oracle
    resamples: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        router = self.router
        return _report_dict(
            "many-model", self, None if router is None else router.name, self.models,
            aiq=None if router is None else router.aiq,
            ci=None if router is None else {"aiq_ci": _interval_dict(router.aiq_ci)},
            points=None if router is None else [list(p) for p in router.points],
            baselines={name: result.to_dict() for name, result in self.baselines.items()},
            vs_zero_router=None if router is None else self.vs_zero_router(),
        )

    def text(self) -> str:
        lines = [
            f"{self.data}: {self.prompts} prompts, {len(self.models)} models with cost",
            f"bootstrap 95% intervals over prompts: {self.resamples} resamples, seed {self.seed}",
            "",
            f"{'model':<40} {'quality':>8} {'$ per 1k requests':>18}",
        ]
        for m in sorted(self.models, key=lambda m: m.cost or 0.0):
            lines.append(f"{m.name:<40} {m.quality:>8.4f} {(m.cost or 0.0) * 1000:>18.4f}")
        lines += ["", f"{'router':<22} {'AIQ':>22}"]
        results = ([self.router] if self.router else []) + list(self.baselines.values())
        for result in results:
            lines.append(f"{result.name:<22} {_num(result.aiq, result.aiq_ci):>22}")
        if self.router is not None:
            lines += ["", _diff_text("AIQ, router minus zero router", self.vs_zero_router())]
            lines += ["", f"{self.router.name} hull (cost per 1k requests -> quality):"]
            lines += [f"  ${c * 1000:.4f} -> {q:.4f}" for c, q in self.router.hull]
        return "\n".join(lines)

    def vs_zero_router(self) -> dict[str, Any]:
        """AIQ of the router minus the zero router's, with a paired bootstrap interval."""
        if self.router is None:
            raise ValueError("no router")
        zero = self.baselines["zero_router"]
        return _paired(self.router.aiq - zero.aiq, self.router.samples, zero.samples)


def many_model_report(
    rows: Sequence[RoutingRow],
    models: Sequence[str],
    predicted: Sequence[Mapping[str, float]] | None = None,
    *,
    router_name: str = "router",
    data: str = "data",
    lambdas: Sequence[float] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> ManyModelReport:
    """AIQ of the λ sweep over ``predicted`` qualities (one mapping model -> q̂ per row) and of the baselines.
    Every model needs a known cost on every row."""
    if not rows:
        raise ValueError("no prompts")
    if len(models) < 2:
        raise ValueError("AIQ needs at least two models")
    for model in models:
        if any(row.cost.get(model) is None for row in rows):
            raise ValueError(f"model {model!r} has no cost on some rows; AIQ needs costs")
    true = [{m: row.scores[m] for m in models} for row in rows]
    costs = [{m: float(row.cost[m] or 0.0) for m in models} for row in rows]
    columns = {m: ([c[m] for c in costs], [t[m] for t in true]) for m in models}
    singles = [_single(rows, m) for m in models]
    if lambdas is None:
        lambdas = default_lambdas([s.cost or 0.0 for s in singles])
    draws = resample_weights(len(rows), resamples, seed) if resamples > 0 else []
    router = None
    if predicted is not None:
        if len(predicted) != len(rows):
            raise ValueError(f"{len(predicted)} predictions for {len(rows)} rows")
        sweep = LambdaSweep(predicted, true, costs, lambdas, lambda_chooser())
        router = _sweep_result(router_name, sweep, columns, draws)
    zero_points = _single_points(columns, None)
    zero_values: list[float | None] = []
    for weights in draws:
        singles_w = _single_points(columns, weights)
        zero_values.append(aiq(singles_w, singles_w))
    zero = SweepResult(
        "zero_router",
        aiq(zero_points, zero_points),
        percentile_interval([v for v in zero_values if v is not None]),
        zero_points,
        nondecreasing_hull(zero_points),
        zero_values,
    )
    # the oracle: the same rule on the true qualities, in its fast form (argmax_lambda: same winners, tested)
    oracle = _sweep_result("oracle", LambdaSweep(true, true, costs, lambdas, argmax_lambda), columns, draws)
    return ManyModelReport(
        data=data,
        prompts=len(rows),
        models=singles,
        router=router,
        baselines={"zero_router": zero, "oracle": oracle},
        resamples=resamples,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------------- quality alone


@dataclass(frozen=True)
class MeanResult:
    """A mean quality per prompt with its bootstrap interval (and its value on every resample, in draw order)."""

    name: str
    quality: float
    ci: Interval | None
    samples: list[float] = field(default_factory=list, repr=False)
    model: str | None = None  # the best single model's name

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"quality": self.quality, "quality_ci": _interval_dict(self.ci)}
        if self.model is not None:
            out["model"] = self.model
        return out


def _mean_result(name: str, values: Sequence[float], draws: Sequence[Sequence[float]],
                 model: str | None = None) -> MeanResult:
    samples = [math.fsum(w * v for w, v in zip(weights, values, strict=True)) / math.fsum(weights)
               for weights in draws]
    return MeanResult(name, math.fsum(values) / len(values), percentile_interval(samples), samples, model)


@dataclass(frozen=True)
class QualityReport:
    """Many models without costs: how good the answers are when the router picks the model it predicts best."""

    data: str
    prompts: int
    models: list[SingleModel]
    router: MeanResult | None
    picks: dict[str, float]  # share of prompts on which the router picked each model
    baselines: dict[str, MeanResult]  # best_single, random, oracle
    resamples: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        router = self.router
        return _report_dict(
            "quality", self, None if router is None else router.name, self.models,
            quality=None if router is None else router.quality,
            ci=None if router is None else {"quality_ci": _interval_dict(router.ci)},
            picks=self.picks,
            baselines={name: result.to_dict() for name, result in self.baselines.items()},
            vs_best_single=None if router is None else self.vs_best_single(),
        )

    def text(self) -> str:
        lines = [
            f"{self.data}: {self.prompts} prompts, {len(self.models)} models, quality alone (no costs compared)",
            f"bootstrap 95% intervals over prompts: {self.resamples} resamples, seed {self.seed}",
            "",
            f"{'model':<48} {'quality':>8} {'router picks':>13}",
        ]
        for m in sorted(self.models, key=lambda m: m.quality, reverse=True):
            pick = f"{self.picks[m.name]:.1%}" if self.router is not None else ""
            lines.append(f"{m.name:<48} {m.quality:>8.4f} {pick:>13}")
        lines += ["", f"{'router':<48} {'mean quality':>24}"]
        for result in ([self.router] if self.router else []) + list(self.baselines.values()):
            label = f"{result.name} ({result.model.rsplit('/', 1)[-1]})" if result.model else result.name
            lines.append(f"{label[:48]:<48} {_num(result.quality, result.ci):>24}")
        if self.router is not None:
            lines += ["", _diff_text("quality, router minus best single model", self.vs_best_single())]
        return "\n".join(lines)

    def vs_best_single(self) -> dict[str, Any]:
        """The router's mean quality minus the best single model's, with a paired bootstrap interval (the best
        model is the one best on all the rows, kept on every resample)."""
        if self.router is None:
            raise ValueError("no router")
        best = self.baselines["best_single"]
        return _paired(self.router.quality - best.quality, list(self.router.samples), list(best.samples))


def quality_report(
    rows: Sequence[RoutingRow],
    models: Sequence[str],
    predicted: Sequence[Mapping[str, float]] | None = None,
    *,
    router_name: str = "router",
    data: str = "data",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> QualityReport:
    """The mean quality of the router's pick (argmax of ``predicted`` per row; ties go to the earlier model of
    ``models``) next to the best single model on these rows (chosen in hindsight, as the zero router is), a
    uniformly random pick and the per-prompt oracle. Needs only scores."""
    if not rows:
        raise ValueError("no prompts")
    if len(models) < 2:
        raise ValueError("comparing models needs at least two")
    draws = resample_weights(len(rows), resamples, seed) if resamples > 0 else []
    singles = [_single(rows, m) for m in models]
    best = max(singles, key=lambda s: s.quality)
    baselines = {
        "best_single": _mean_result("best single model", [row.scores[best.name] for row in rows], draws, best.name),
        "random": _mean_result("random", [math.fsum(row.scores[m] for m in models) / len(models) for row in rows],
                               draws),
        "oracle": _mean_result("oracle", [max(row.scores[m] for m in models) for row in rows], draws),
    }
    router = None
    picks = dict.fromkeys(models, 0.0)
    if predicted is not None:
        if len(predicted) != len(rows):
            raise ValueError(f"{len(predicted)} predictions for {len(rows)} rows")
        chosen = [max(models, key=q.__getitem__) for q in predicted]  # max keeps the first of equals
        picks = {m: chosen.count(m) / len(rows) for m in models}
        router = _mean_result(router_name, [row.scores[m] for row, m in zip(rows, chosen, strict=True)], draws)
    return QualityReport(data, len(rows), singles, router, picks, baselines, resamples, seed)


# ---------------------------------------------------------------------------------------------------- plots


def plot(report: TwoModelReport | ManyModelReport | QualityReport, path: str | Path) -> None:
    """Draw the cost-quality curves to a PNG: PGR vs strong-call share (two models), quality vs cost with the
    hulls (many models), or the mean quality of each model, the router and the baselines (quality alone).
    Needs matplotlib: ``pip install 'switchpoint[eval]'``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("plotting needs matplotlib: pip install 'switchpoint[eval]'") from None
    two_panels = isinstance(report, TwoModelReport) and all(
        c.costs is not None for c in ([report.router] if report.router else []) + list(report.baselines.values())
    )
    figure, panels = plt.subplots(1, 2 if two_panels else 1, figsize=(12 if two_panels else 7, 5), dpi=100)
    every = list(panels) if two_panels else [panels]
    axes = every[0]
    try:
        if isinstance(report, TwoModelReport):
            curves = ([report.router] if report.router else []) + list(report.baselines.values())
            for curve in curves:
                axes.plot(
                    [p.strong_share for p in curve.points],
                    [p.pgr for p in curve.points],
                    label=f"{curve.name} (APGR {curve.apgr:.3f})",
                )
            axes.set_xlabel(f"share of calls to {report.strong.name}")
            axes.set_ylabel("performance gap recovered")
            axes.set_title(f"{report.data}: {report.strong.name} vs {report.weak.name}", fontsize=9)
            if two_panels:
                _quality_vs_cost(every[1], curves)
        elif isinstance(report, QualityReport):
            _quality_axes(axes, report)
        else:
            _many_model_axes(axes, report)
        for panel in every:
            panel.grid(True, alpha=0.3)
            panel.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(str(path), format="png")
    finally:
        plt.close(figure)


def _quality_vs_cost(axes: Any, curves: Sequence[TwoModelCurve]) -> None:
    """Mean quality vs mean cost along each two-model sweep, with the router's non-decreasing hull."""
    for curve in curves:
        costs = [c * 1000 for c in curve.costs or []]
        line = axes.plot(costs, [p.quality for p in curve.points], label=curve.name, linewidth=1)
        if curve.name not in ("random", "oracle", "length"):
            hull = nondecreasing_hull(list(zip(costs, [p.quality for p in curve.points], strict=True)))
            axes.plot(
                [c for c, _ in hull], [q for _, q in hull], linestyle="--", color=line[0].get_color(), label="its hull"
            )
    axes.set_xlabel("mean cost, USD per 1k requests")
    axes.set_ylabel("mean quality")
    axes.set_title("quality vs cost", fontsize=9)


def _many_model_axes(axes: Any, report: ManyModelReport) -> None:
    for result in ([report.router] if report.router else []) + list(report.baselines.values()):
        xs = [c * 1000 for c, _ in result.hull]
        ys = [q for _, q in result.hull]
        top = max(c for c, _ in report.baselines["zero_router"].points) * 1000
        if xs and xs[-1] < top:  # the hull stays flat up to the dearest model
            xs.append(top)
            ys.append(ys[-1])
        axes.plot(xs, ys, label=f"{result.name} hull (AIQ {result.aiq:.3f})")
        if result.name not in ("zero_router", "oracle"):
            axes.scatter([c * 1000 for c, _ in result.points], [q for _, q in result.points], s=8)
    for model in report.models:
        cost = (model.cost or 0.0) * 1000
        axes.scatter([cost], [model.quality], marker="x", color="black")
        axes.annotate(model.name.rsplit("/", 1)[-1], (cost, model.quality), fontsize=6)
    axes.set_xscale("log")
    axes.set_xlabel("mean cost, USD per 1k requests")
    axes.set_ylabel("mean quality")
    axes.set_title(f"{report.data}: quality vs cost")


def _quality_axes(axes: Any, report: QualityReport) -> None:
    bars = [(m.name.rsplit("/", 1)[-1], m.quality, "lightgray") for m in sorted(report.models, key=lambda m: m.quality)]
    bars += [("random", report.baselines["random"].quality, "silver")]
    if report.router is not None:
        bars += [(report.router.name, report.router.quality, "tab:blue")]
    bars += [("oracle", report.baselines["oracle"].quality, "tab:green")]
    axes.barh([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars], label="mean quality")
    axes.tick_params(axis="y", labelsize=7)
    axes.set_xlabel("mean quality")
    axes.set_title(f"{report.data}: quality of the picked model", fontsize=9)
