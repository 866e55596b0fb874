"""Stand-ins with the contract API of ``switchpoint.routing.learned`` (branch ``learn``): a tiny
predictor and the decision rules, so the ``learned`` policy is tested on its own."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class FakePredictor:
    """q̂ = the profile's base quality, plus ``bonus`` for prompts containing ``keyword``."""

    kind = "fake"

    def __init__(self, base: Mapping[str, float], *, keyword: str = "proof", bonus: Mapping[str, float] | None = None):
        self.base = dict(base)
        self.keyword = keyword
        self.bonus = dict(bonus or {})
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def models(self) -> Sequence[str]:
        return list(self.base)

    def predict(self, text: str, models: Sequence[str]) -> dict[str, float]:
        self.calls.append((text, tuple(models)))
        hard = self.keyword in text
        return {m: min(1.0, self.base[m] + (self.bonus.get(m, 0.0) if hard else 0.0)) for m in models}


@dataclass(frozen=True)
class Option:
    name: str
    quality: float
    cost: float
    latency: float | None = None


@dataclass(frozen=True)
class Choice:
    winner: str
    utilities: dict[str, float]
    reasons: dict[str, str]


def choose_threshold(strong: Option, weak: Option, threshold: float) -> Choice:
    gap = strong.quality - weak.quality
    winner = strong.name if gap >= threshold else weak.name
    loser = weak.name if winner == strong.name else strong.name
    return Choice(winner, {strong.name: gap, weak.name: -gap},
                  {winner: f"gap {gap:.2f} vs threshold {threshold}", loser: "lost on the threshold"})


def choose_floor(options: Sequence[Option], floor: float) -> Choice:
    good = [o for o in options if o.quality >= floor]
    best = min(good, key=lambda o: o.cost) if good else max(options, key=lambda o: o.quality)
    return Choice(best.name, {o.name: o.quality for o in options},
                  {o.name: "cheapest above the floor" if o is best else "not chosen" for o in options})


def choose_lambda(options: Sequence[Option], lam: float) -> Choice:
    utilities = {o.name: o.quality - lam * o.cost for o in options}
    best = max(utilities, key=lambda name: utilities[name])
    return Choice(best, utilities, {name: "best utility" if name == best else "lower utility" for name in utilities})


def choose_budget(options: Sequence[Option], max_cost: float | None, max_latency: float | None) -> Choice:
    fits = [o for o in options if (max_cost is None or o.cost <= max_cost)
            and (max_latency is None or o.latency is None or o.latency <= max_latency)]
    best = max(fits, key=lambda o: o.quality) if fits else min(options, key=lambda o: o.cost)
    return Choice(best.name, {o.name: o.quality for o in options},
                  {o.name: "best within budget" if o is best else "over budget or worse" for o in options})


def calibrate_threshold(scores: Sequence[float], strong_share: float) -> float:
    ordered = sorted(scores, reverse=True)
    k = max(1, round(strong_share * len(ordered)))
    return ordered[k - 1]


def fake_learned_api(predictor: FakePredictor) -> tuple[types.SimpleNamespace, types.SimpleNamespace,
                                                        types.SimpleNamespace]:
    learned = types.SimpleNamespace(load_predictor=lambda ref="default": predictor)
    choose = types.SimpleNamespace(Option=Option, Choice=Choice, choose_threshold=choose_threshold,
                                   choose_floor=choose_floor, choose_lambda=choose_lambda, choose_budget=choose_budget)
    calibrate = types.SimpleNamespace(calibrate_threshold=calibrate_threshold)
    return learned, choose, calibrate
