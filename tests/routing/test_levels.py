"""Level calibration: a per-model logit shift fitted on rated answers (routing/levels.py)."""

from __future__ import annotations

import math
import random

import pytest

from switchpoint.routing.levels import DEFAULT_PRIOR, fit_level, fit_levels, shifted


def _logit(q: float) -> float:
    return math.log(q / (1 - q))


def test_shifted_moves_on_the_logit_scale() -> None:
    assert shifted(0.5, 0.0) == 0.5
    assert shifted(0.5, math.log(3)) == pytest.approx(0.75)
    assert shifted(0.9, -_logit(0.9)) == pytest.approx(0.5)
    assert 0.0 < shifted(0.0, 1.0) < 1e-5 and shifted(1.0, -30.0) < 0.5  # saturated inputs stay finite


def test_the_fit_recovers_a_known_shift_and_keeps_the_ranking() -> None:
    rng = random.Random(3)
    predicted = [rng.uniform(0.2, 0.8) for _ in range(4000)]
    observed = [1.0 if rng.random() < shifted(q, -1.2) else 0.0 for q in predicted]  # the model is worse here
    fit = fit_level(predicted, observed)
    assert fit.shift == pytest.approx(-1.2, abs=0.12)
    assert fit.n == 4000 and fit.calibrated == pytest.approx(fit.observed, abs=0.01)
    assert fit.predicted > fit.observed


def test_the_prior_holds_a_level_with_few_ratings_near_zero() -> None:
    few = fit_level([0.5] * 3, [0.0] * 3)
    many = fit_level([0.5] * 300, [0.0] * 300)
    assert -1.0 < few.shift < 0 and many.shift < -3.0
    assert fit_level([0.5] * 3, [0.0] * 3, prior=0.0).shift < -5  # no prior: as far as the data pushes
    assert fit_level([0.7] * 10, [0.7] * 10).shift == pytest.approx(0.0, abs=1e-9)  # soft labels, already right


def test_fit_levels_per_model_and_bad_input() -> None:
    fits = fit_levels({"a": [0.5, 0.5], "b": [0.2]}, {"a": [1.0, 1.0], "b": [0.0]})
    assert set(fits) == {"a", "b"} and fits["a"].shift > 0 > fits["b"].shift
    with pytest.raises(ValueError, match="no rated answers"):
        fit_level([], [])
    with pytest.raises(ValueError, match="2 predictions for 1 observations"):
        fit_level([0.5, 0.5], [1.0])
    with pytest.raises(ValueError, match="must lie in 0..1"):
        fit_level([0.5], [2.0])
    with pytest.raises(ValueError, match="prior"):
        fit_level([0.5], [1.0], prior=-1.0)
    assert DEFAULT_PRIOR > 0
