"""Calibration of the threshold and of lambda, checked by hand."""

from __future__ import annotations

import math

import pytest

from switchpoint.routing.learned.calibrate import calibrate_lambda, calibrate_threshold, mean_cost_per_1k
from switchpoint.routing.learned.choose import Option


def test_threshold_is_the_kth_highest_score() -> None:
    scores = [0.1, 0.5, 0.3, 0.9, 0.7]
    assert calibrate_threshold(scores, 0.4) == 0.7  # k = 2: 0.9 and 0.7 reach it
    assert sum(s >= calibrate_threshold(scores, 0.4) for s in scores) == 2
    assert calibrate_threshold(scores, 1.0) == 0.1
    assert calibrate_threshold(scores, 0.0) == math.inf
    with pytest.raises(ValueError, match="within"):
        calibrate_threshold(scores, 1.5)
    with pytest.raises(ValueError, match="no reference"):
        calibrate_threshold([], 0.5)


def _requests() -> list[list[Option]]:
    # strong costs 0.01, weak 0.001; gains 0.3, 0.1, 0.02
    return [[Option("s", 0.5 + g, 0.01), Option("w", 0.5, 0.001)] for g in (0.3, 0.1, 0.02)]


def test_lambda_for_a_cost_target() -> None:
    requests = _requests()
    assert mean_cost_per_1k(requests, 0.0) == pytest.approx(10.0)  # all strong: 0.01 * 1000
    # one strong call in three: (0.01 + 2 * 0.001) / 3 * 1000 = 4.0; reached once lambda > 0.1/0.009 = 11.1
    lam = calibrate_lambda(requests, 4.0)
    assert lam == pytest.approx(0.1 / 0.009, rel=1e-6)
    assert mean_cost_per_1k(requests, lam) <= 4.0
    assert calibrate_lambda(requests, 20.0) == 0.0  # already within
    with pytest.raises(ValueError, match="cheapest"):
        calibrate_lambda(requests, 0.5)
