"""Calibration: a threshold for a strong-call share or a cost budget, λ for a cost budget, computed by hand."""

from __future__ import annotations

import math

import pytest

from switchpoint.routing.evaluation.calibration import lambda_for_cost, threshold_for_cost, threshold_for_share

SCORES = [0.9, 0.1, 0.5, 0.7, 0.3]
STRONG_Q = [1.0, 1.0, 1.0, 1.0, 0.0]
WEAK_Q = [0.0, 1.0, 0.0, 1.0, 1.0]
STRONG_COST = [0.01] * 5
WEAK_COST = [0.001] * 5


def test_threshold_for_share_cuts_between_scores() -> None:
    result = threshold_for_share(SCORES, 0.4, STRONG_Q, WEAK_Q, STRONG_COST, WEAK_COST)
    assert result.setting == "threshold"
    assert result.value == pytest.approx(0.6)  # half way between the 2nd (0.7) and 3rd (0.5) highest scores
    assert result.strong_share == pytest.approx(0.4)
    assert result.quality == pytest.approx((1 + 1 + 0 + 1 + 1) / 5)  # prompts 0 and 3 strong, the rest weak
    assert result.cost_per_1k == pytest.approx(1000 * (2 * 0.01 + 3 * 0.001) / 5)
    nothing = threshold_for_share(SCORES, 0.0, STRONG_Q, WEAK_Q)
    assert nothing.strong_share == 0.0 and nothing.value > 0.9 and nothing.cost_per_1k is None
    assert threshold_for_share(SCORES, 1.0, STRONG_Q, WEAK_Q).strong_share == 1.0


def test_threshold_for_share_keeps_ties_together() -> None:
    result = threshold_for_share([1.0, 0.5, 0.5, 0.0], 0.5, [1.0] * 4, [0.0] * 4)
    assert result.value == 0.5 and result.strong_share == pytest.approx(0.75)
    with pytest.raises(ValueError, match="within"):
        threshold_for_share(SCORES, 1.2, STRONG_Q, WEAK_Q)


def test_threshold_for_cost() -> None:
    # weak alone: $1 per 1k; each strong call adds 0.009 / 5 * 1000 = $1.8 per 1k
    result = threshold_for_cost(SCORES, 4.7, STRONG_Q, WEAK_Q, STRONG_COST, WEAK_COST)
    assert result.strong_share == pytest.approx(0.4) and result.cost_per_1k == pytest.approx(4.6)
    assert result.value == pytest.approx(0.6)
    everything = threshold_for_cost(SCORES, 100.0, STRONG_Q, WEAK_Q, STRONG_COST, WEAK_COST)
    assert everything.strong_share == 1.0
    with pytest.raises(ValueError, match="below the weak model alone"):
        threshold_for_cost(SCORES, 0.5, STRONG_Q, WEAK_Q, STRONG_COST, WEAK_COST)


def test_lambda_for_cost_picks_the_best_setting_within_budget() -> None:
    predicted = [{"big": 0.9, "small": 0.5}, {"big": 0.9, "small": 0.85}]
    true = [{"big": 1.0, "small": 0.0}, {"big": 1.0, "small": 1.0}]
    cost = [{"big": 0.01, "small": 0.001}] * 2
    lambdas = [0.0, 10.0, 100.0]
    # λ=0: both big ($10 per 1k); λ=10: gains .4 vs .09 cost -> big on prompt 0, small on 1 ($5.5 per 1k);
    # λ=100: small everywhere ($1 per 1k)
    assert lambda_for_cost(predicted, true, cost, 20.0, lambdas).value == 0.0
    result = lambda_for_cost(predicted, true, cost, 6.0, lambdas)
    assert result.value == 10.0 and result.cost_per_1k == pytest.approx(5.5) and result.quality == 1.0
    assert lambda_for_cost(predicted, true, cost, 1.0, lambdas).value == 100.0
    with pytest.raises(ValueError, match="no λ meets"):
        lambda_for_cost(predicted, true, cost, 0.5, lambdas)
    # the default grid is finite and reaches the cheap end
    assert math.isfinite(lambda_for_cost(predicted, true, cost, 1.0).value)
