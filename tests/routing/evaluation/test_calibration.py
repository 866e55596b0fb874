"""Calibration: a threshold for a strong-call share or a cost budget, λ for a cost budget, computed by hand."""

from __future__ import annotations

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
    assert result.value == 0.7  # the 2nd highest score: the top 2 reach the strong model
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
    assert result.value == 0.7
    everything = threshold_for_cost(SCORES, 100.0, STRONG_Q, WEAK_Q, STRONG_COST, WEAK_COST)
    assert everything.strong_share == 1.0
    with pytest.raises(ValueError, match="below the weak model alone"):
        threshold_for_cost(SCORES, 0.5, STRONG_Q, WEAK_Q, STRONG_COST, WEAK_COST)


def test_lambda_for_cost_picks_the_smallest_lambda_within_budget() -> None:
    predicted = [{"big": 0.9, "small": 0.5}, {"big": 0.9, "small": 0.85}]
    true = [{"big": 1.0, "small": 0.0}, {"big": 1.0, "small": 1.0}]
    cost = [{"big": 0.01, "small": 0.001}] * 2
    # prompt 1 turns to small at λ = .05 / .009 (gain .05 for .009 USD), prompt 0 at λ = .4 / .009
    assert lambda_for_cost(predicted, true, cost, 20.0).value == 0.0  # big everywhere: $10 per 1k
    result = lambda_for_cost(predicted, true, cost, 6.0)
    assert result.value == pytest.approx(0.05 / 0.009, rel=1e-6)
    assert result.cost_per_1k == pytest.approx(5.5) and result.quality == 1.0
    cheapest = lambda_for_cost(predicted, true, cost, 1.0)
    assert cheapest.value == pytest.approx(0.4 / 0.009, rel=1e-6) and cheapest.quality == 0.5
    with pytest.raises(ValueError, match="below the cost of always choosing the cheapest"):
        lambda_for_cost(predicted, true, cost, 0.5)
