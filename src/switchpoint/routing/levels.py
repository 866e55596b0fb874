"""Level calibration: fitting a learned router to a workload's own quality levels.

A predictor trained on public benchmarks ranks prompts within a task fairly well, but its idea of how
good each model is *on a new workload* (its level) can be far off: on a RouterBench task left out of
training it put Yi-34B above claude-v2 for code (scripts/routing/RESEARCH.md, session 4), and that
error alone put it below the zero router. A few dozen rated answers per model fix the level: a
**logit shift** per model, ``q̂' = σ(logit(q̂) + s)``, fitted by maximum likelihood on the observed
scores (soft labels in 0..1) with a Gaussian prior on ``s`` (``prior`` = its precision, in the units
of the Fisher information, where one rated answer brings at most 0.25), so a model with few ratings
moves little. The per-prompt ranking is kept; only the level moves.

Pure Python (the serving path imports it). Used by ``switchpoint calibrate --levels`` (on rows
exported from the request log, or any labelled rows), by a learned policy's per-candidate ``level:``
at runtime, and by ``switchpoint eval --levels``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_PRIOR", "LevelFit", "fit_level", "fit_levels", "shifted"]

DEFAULT_PRIOR = 2.0  # about 10 rated answers' worth of information at q ≈ 0.3..0.7
_EPS = 1e-6


def _logit(q: float) -> float:
    q = min(max(q, _EPS), 1.0 - _EPS)
    return math.log(q / (1.0 - q))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def shifted(quality: float, shift: float) -> float:
    """``quality`` moved by ``shift`` on the logit scale (0 leaves it as it is)."""
    return quality if shift == 0.0 else _sigmoid(_logit(quality) + shift)


@dataclass(frozen=True)
class LevelFit:
    """A model's fitted shift, with what it was fitted on."""

    shift: float
    n: int
    observed: float  # mean observed score
    predicted: float  # mean predicted quality before the shift
    calibrated: float  # ... and after it

    def to_dict(self) -> dict[str, float | int]:
        return {"shift": round(self.shift, 6), "n": self.n, "observed": round(self.observed, 6),
                "predicted": round(self.predicted, 6), "calibrated": round(self.calibrated, 6)}  # fmt: skip


def fit_level(predicted: Sequence[float], observed: Sequence[float], *, prior: float = DEFAULT_PRIOR,
              center: float = 0.0) -> LevelFit:  # fmt: skip
    """The logit shift that best explains ``observed`` scores (0..1) given ``predicted`` qualities; the prior
    pulls it towards ``center`` (a level set by hand, or 0)."""
    if len(predicted) != len(observed):
        raise ValueError(f"{len(predicted)} predictions for {len(observed)} observations")
    if not predicted:
        raise ValueError("no rated answers to fit a level on")
    if prior < 0 or not math.isfinite(prior):
        raise ValueError("prior must be a finite number >= 0")
    for y in observed:
        if not 0.0 <= y <= 1.0:
            raise ValueError(f"observed scores must lie in 0..1, got {y:g}")
    logits = [_logit(q) for q in predicted]
    shift = center
    for _ in range(100):  # Newton on a concave objective: a handful of steps
        probabilities = [_sigmoid(x + shift) for x in logits]
        gradient = math.fsum(y - p for y, p in zip(observed, probabilities, strict=True)) - prior * (shift - center)
        curvature = math.fsum(p * (1.0 - p) for p in probabilities) + prior
        if curvature <= 1e-12:  # no information and no prior (every prediction saturated)
            break
        step = max(-5.0, min(5.0, gradient / curvature))
        shift += step
        if abs(step) < 1e-10:
            break
    shift = max(-20.0, min(20.0, shift))
    n = len(observed)
    return LevelFit(shift, n, math.fsum(observed) / n, math.fsum(predicted) / n,
                    math.fsum(shifted(q, shift) for q in predicted) / n)  # fmt: skip


def fit_levels(predicted: Mapping[str, Sequence[float]], observed: Mapping[str, Sequence[float]], *,
               prior: float = DEFAULT_PRIOR) -> dict[str, LevelFit]:  # fmt: skip
    """:func:`fit_level` for each model of ``observed``."""
    return {model: fit_level(predicted[model], observed[model], prior=prior) for model in observed}
