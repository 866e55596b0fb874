"""The ``learned`` policy: a quality predictor and a decision rule choose among candidate groups.

The predictor (``QualityPredictor`` of :mod:`switchpoint.routing.learned`) estimates each
candidate's answer quality q̂ for the prompt; each candidate's cost is estimated for this request
from its group's price (the cheapest deployment's USD per million tokens) × the prompt tokens
(from the analysis features) and the expected output tokens (the request's ``max_tokens``, else
``output_tokens`` from config). A decision rule of :mod:`switchpoint.routing.learned.choose` then
picks one, per the configured objective:

- ``threshold`` (two candidates, the first listed is the strong one): strong vs weak;
- ``quality_floor``: the cheapest candidate whose q̂ clears the floor;
- ``lambda``: argmax q̂ − λ·cost;
- ``max_cost`` / ``max_latency``: the best q̂ within the constraint.

``strong_share`` becomes a threshold by calibration on prompts given in config
(``learned.calibrate.calibrate_threshold``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from switchpoint.routing.decision import Candidate, RouteDecision
from switchpoint.routing.levels import shifted
from switchpoint.routing.protocol import RouteContext
from switchpoint.types import Price

__all__ = [
    "ChoiceLike",
    "Estimate",
    "LearnedCandidate",
    "LearnedPolicy",
    "Predictor",
    "decision_rule",
    "estimate_cost",
    "learned_api",
]


class Predictor(Protocol):
    """What the policy needs of ``switchpoint.routing.learned.QualityPredictor``."""

    kind: str

    def predict(self, text: str, models: Sequence[str]) -> dict[str, float]: ...


class ChoiceLike(Protocol):
    """What the policy reads of ``switchpoint.routing.learned.choose.Choice``."""

    @property
    def winner(self) -> str: ...
    @property
    def utilities(self) -> Mapping[str, float]: ...
    @property
    def reasons(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class Estimate:
    """One candidate's predictions for this request (``choose.Option``'s fields)."""

    name: str
    quality: float
    cost: float
    latency: float | None = None


DecisionRule = Callable[[Sequence[Estimate]], ChoiceLike]


@dataclass(frozen=True, slots=True)
class LearnedCandidate:
    group: str
    profile: str
    price: Price
    latency: float | None = None
    level: float = 0.0  # logit shift of q̂ for this workload (routing/learned/levels.py)


def estimate_cost(price: Price, prompt_tokens: int, output_tokens: int) -> float:
    """Estimated USD of one request at ``price`` (per million tokens)."""
    return (prompt_tokens * price.input + output_tokens * price.output) / 1_000_000


def expected_output_tokens(body: Mapping[str, Any], default: int) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return default


def learned_api() -> tuple[Any, Any, Any]:
    """``switchpoint.routing.learned``, its ``choose`` rules and its ``calibrate`` functions,
    imported only when a ``learned`` policy is configured (they load the predictor code)."""
    try:
        from switchpoint.routing import learned
        from switchpoint.routing.learned import calibrate, choose
    except ImportError as exc:
        raise ValueError(f"the learned policy needs switchpoint.routing.learned, which cannot be imported: {exc}")\
            from None
    return learned, choose, calibrate


def decision_rule(objective: Mapping[str, float], choose: Any) -> DecisionRule:
    """The decision rule for an objective (``{"quality_floor": 0.7}`` ...), over ``choose``'s
    functions (the module ``switchpoint.routing.learned.choose`` or a stand-in with its API)."""

    def options(estimates: Sequence[Estimate]) -> list[Any]:
        return [choose.Option(e.name, e.quality, e.cost, e.latency) for e in estimates]

    if "threshold" in objective:
        threshold = objective["threshold"]

        def strong_weak(estimates: Sequence[Estimate]) -> ChoiceLike:
            strong, weak = options(estimates)
            choice: ChoiceLike = choose.choose_threshold(strong, weak, threshold)
            return choice

        return strong_weak
    if "quality_floor" in objective:
        floor = objective["quality_floor"]
        return lambda estimates: choose.choose_floor(options(estimates), floor)
    if "lambda" in objective:
        lam = objective["lambda"]
        return lambda estimates: choose.choose_lambda(options(estimates), lam)
    if "max_cost" in objective or "max_latency" in objective:
        max_cost, max_latency = objective.get("max_cost"), objective.get("max_latency")
        return lambda estimates: choose.choose_budget(options(estimates), max_cost, max_latency)
    raise ValueError(f"unknown objective {dict(objective)}")


class LearnedPolicy:
    kind = "learned"
    needs_features = True

    def __init__(
        self,
        name: str,
        candidates: Sequence[LearnedCandidate],
        rule: DecisionRule,
        *,
        objective: Mapping[str, Any],
        predictor: Predictor | None = None,
        output_tokens: int = 256,
    ) -> None:
        if len(candidates) < 2:
            raise ValueError("a learned policy needs at least two candidates")
        self.name = name
        self.candidates = tuple(candidates)
        self.rule = rule
        self.objective = dict(objective)
        self.predictor = predictor
        self.output_tokens = output_tokens
        #: Each candidate's level (logit shift), by group: its configured ``level``, replaced when a
        #: :class:`~switchpoint.routing.adapt.LevelAdapter` fits new ones from feedback.
        self.levels: dict[str, float] = {c.group: c.level for c in self.candidates}
        #: How the levels were set: ``config``, or what the last fit from feedback used.
        self.levels_source: dict[str, Any] = {"from": "config"}
        self._profiles = [c.profile for c in self.candidates]
        self._share: tuple[float, list[dict[str, float]], Callable[[float], DecisionRule],
                           Callable[[Sequence[float], float], float]] | None = None  # fmt: skip

    def set_levels(self, levels: Mapping[str, float], source: Mapping[str, Any]) -> None:
        """Replace the levels of the named candidates (one assignment: a decision sees old or new); a
        held strong-call share is recalibrated for them."""
        self.levels = {**self.levels, **{g: float(v) for g, v in levels.items() if g in self.levels}}
        self.levels_source = dict(source)
        if self._share is not None:
            self._recalibrate()

    def hold_share(self, share: float, raw: Sequence[Mapping[str, float]], make_rule: Callable[[float], DecisionRule],
                   calibrate: Callable[[Sequence[float], float], float]) -> None:  # fmt: skip
        """Two candidates (strong first): keep sending ``share`` of requests like the calibration prompts
        (their raw q̂ by group, ``raw``) to the strong one, now and whenever the levels change."""
        self._share = (share, [dict(q) for q in raw], make_rule, calibrate)
        self._recalibrate()

    def _recalibrate(self) -> None:
        assert self._share is not None
        share, raw, make_rule, calibrate = self._share
        strong, weak = self.candidates[0].group, self.candidates[1].group
        ls, lw = self.levels[strong], self.levels[weak]
        threshold = calibrate([shifted(q[strong], ls) - shifted(q[weak], lw) for q in raw], share)
        self.rule = make_rule(threshold)
        self.objective = {**self.objective, "threshold": round(threshold, 6)}

    def route(self, ctx: RouteContext) -> RouteDecision | None:
        if self.predictor is None:
            return None
        levels = self.levels
        explained = getattr(self.predictor, "predict_with_task", None)
        task: tuple[str, float] | None = None
        if explained is not None:  # mf/linear: also the training task the prompt is most like
            predicted, task = explained(ctx.text, self._profiles)
        else:
            predicted = self.predictor.predict(ctx.text, self._profiles)
        qualities = {c.group: shifted(float(predicted[c.profile]), levels[c.group]) for c in self.candidates}
        prompt_tokens = ctx.features.prompt_tokens if ctx.features is not None else 0
        output = expected_output_tokens(ctx.request.body, self.output_tokens)
        estimates = [
            Estimate(c.group, qualities[c.group], estimate_cost(c.price, prompt_tokens, output), c.latency)
            for c in self.candidates
        ]
        choice = self.rule(estimates)
        by_group = {e.name: e for e in estimates}
        candidates = [
            Candidate(e.name, e.name == choice.winner, choice.reasons.get(e.name, ""), choice.utilities.get(e.name),
                      e.cost, e.quality)
            for e in estimates
        ]
        won = by_group[choice.winner]
        objective = ", ".join(f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}"
                              for k, v in self.objective.items())
        reason = f"learned ({objective}): {won.name} q={won.quality:.2f} cost=${won.cost:.6f}"
        detail: dict[str, Any] = {"predictor": getattr(self.predictor, "kind", "?"), "objective": self.objective,
                                  "prompt_tokens": prompt_tokens, "output_tokens": output}
        prior = getattr(self.predictor, "meta", {}).get("length_prior")
        if prior is not None:  # mf/linear: the length prior the predictions were made with (length_prior:)
            detail["length_prior"] = prior
        if task is not None:  # task levels: whose per-benchmark levels weigh most in this prediction
            detail["task"] = {"like": task[0], "p": round(task[1], 3)}
        if any(levels.values()):  # the shifts in the recorded qualities: what a refit takes back out
            detail["levels"] = {g: round(v, 6) for g, v in levels.items()}
        return RouteDecision(choice.winner, self.name, self.kind, reason, candidates, detail=detail)
