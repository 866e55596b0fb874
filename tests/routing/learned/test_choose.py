"""Decision rules, checked against hand-computed answers."""

from __future__ import annotations

import pytest

from switchpoint.routing.learned.choose import Option, choose_budget, choose_floor, choose_lambda, choose_threshold

STRONG = Option("gpt-4", quality=0.9, cost=0.010, latency=4.0)
WEAK = Option("mixtral", quality=0.7, cost=0.001, latency=1.0)
MID = Option("gpt-3.5", quality=0.8, cost=0.002, latency=2.0)


def test_threshold_on_predicted_gain() -> None:
    # gain = 0.9 - 0.7 = 0.2
    assert choose_threshold(STRONG, WEAK, 0.2).winner == "gpt-4"  # >= goes strong
    choice = choose_threshold(STRONG, WEAK, 0.25)
    assert choice.winner == "mixtral"
    assert choice.utilities == pytest.approx({"gpt-4": -0.05, "mixtral": 0.0})
    assert "0.200 < threshold 0.250" in choice.reasons["gpt-4"]


def test_floor_picks_cheapest_passing_else_best() -> None:
    assert choose_floor([STRONG, WEAK, MID], 0.75).winner == "gpt-3.5"  # 0.8 and 0.9 pass; 0.002 < 0.010
    assert choose_floor([STRONG, WEAK, MID], 0.6).winner == "mixtral"
    none = choose_floor([STRONG, WEAK, MID], 0.95)
    assert none.winner == "gpt-4"
    assert "none reaches floor" in none.reasons["gpt-4"]


def test_lambda_trade_off() -> None:
    # utilities at lambda 20: 0.9-0.2=0.70, 0.7-0.02=0.68, 0.8-0.04=0.76
    choice = choose_lambda([STRONG, WEAK, MID], 20.0)
    assert choice.winner == "gpt-3.5"
    assert choice.utilities == pytest.approx({"gpt-4": 0.70, "mixtral": 0.68, "gpt-3.5": 0.76})
    assert choose_lambda([STRONG, WEAK, MID], 0.0).winner == "gpt-4"
    # at lambda 1: 0.75 - 0.25 = 0.5 = 0.5 - 0.0 -> a tie, the cheaper wins (exact binary fractions)
    assert choose_lambda([Option("a", 0.75, 0.25), Option("b", 0.5, 0.0)], 1.0).winner == "b"


def test_budget_constraints() -> None:
    assert choose_budget([STRONG, WEAK, MID], None, None).winner == "gpt-4"
    assert choose_budget([STRONG, WEAK, MID], 0.005, None).winner == "gpt-3.5"
    assert choose_budget([STRONG, WEAK, MID], None, 1.5).winner == "mixtral"
    unknown = Option("local", quality=0.5, cost=0.0)  # unknown latency counts as within a latency limit
    assert choose_budget([STRONG, unknown], None, 1.0).winner == "local"
    over = choose_budget([STRONG, MID], 0.0001, None)
    assert over.winner == "gpt-3.5"  # nothing within: cheapest
    assert "no option within budget" in over.reasons["gpt-3.5"]


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="no options"):
        choose_lambda([], 1.0)
    with pytest.raises(ValueError, match="duplicate"):
        choose_floor([WEAK, WEAK], 0.5)
