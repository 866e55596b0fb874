"""A tiny stand-in predictor with the API of ``switchpoint.routing.learned``, so the ``learned``
policy is tested on its own; the decision rules and the calibration are the real ones."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence

from switchpoint.routing.learned import calibrate, choose


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


def fake_learned_api(predictor: FakePredictor) -> tuple[types.SimpleNamespace, types.ModuleType, types.ModuleType]:
    learned = types.SimpleNamespace(load_predictor=lambda ref="default": predictor)
    return learned, choose, calibrate
