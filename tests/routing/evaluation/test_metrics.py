"""Hand-computed checks of APGR, CPT, the PGR curve, the non-decreasing hull, AIQ and the bootstrap."""

from __future__ import annotations

import math

import pytest

from switchpoint.routing.evaluation.metrics import (
    Interval,
    LambdaSweep,
    PGRCurve,
    aiq,
    apgr,
    argmax_lambda,
    bootstrap,
    cpt,
    default_lambdas,
    hull_value,
    nondecreasing_hull,
    pgr_curve,
    resample_weights,
)

# Four prompts. Strong right on 0, 1, 2; weak right on 2, 3. r_strong = 0.75, r_weak = 0.5, gap 0.25.
STRONG = [1.0, 1.0, 1.0, 0.0]
WEAK = [0.0, 0.0, 1.0, 1.0]


def test_pgr_curve_of_a_perfect_ordering() -> None:
    points = pgr_curve([4, 3, 2, 1], STRONG, WEAK)
    assert [p.strong_share for p in points] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [p.quality for p in points] == [0.5, 0.75, 1.0, 1.0, 0.75]
    assert [p.pgr for p in points] == [0.0, 1.0, 2.0, 2.0, 1.0]


def test_apgr_is_the_trapezoid_area() -> None:
    # PGR 0, 1, 2, 2, 1 at c = 0, .25, .5, .75, 1: area = .25 * (0.5 + 1.5 + 2 + 1.5) = 1.375
    assert apgr([4, 3, 2, 1], STRONG, WEAK) == pytest.approx(1.375)
    # the reverse order (prompts 3, 2, 1, 0): PGR 0, -1, -1, 0, 1 -> .25 * (-0.5 - 1 - 0.5 + 0.5) = -0.375
    assert apgr([1, 2, 3, 4], STRONG, WEAK) == pytest.approx(-0.375)


def test_ties_are_one_step_so_a_constant_score_is_random() -> None:
    points = pgr_curve([7, 7, 7, 7], STRONG, WEAK)
    assert [(p.strong_share, p.pgr) for p in points] == [(0.0, 0.0), (1.0, 1.0)]
    assert apgr([7, 7, 7, 7], STRONG, WEAK) == pytest.approx(0.5)
    assert cpt([7, 7, 7, 7], STRONG, WEAK, 0.5) == pytest.approx(0.5)
    assert cpt([7, 7, 7, 7], STRONG, WEAK, 0.8) == pytest.approx(0.8)
    # a tie between prompts 0 and 3 (one helps, one hurts) averages them: PGR 0 at c=0, 0 at c=.5
    tied = pgr_curve([5, 1, 1, 5], STRONG, WEAK)
    assert [(p.strong_share, p.pgr) for p in tied] == [(0.0, 0.0), (0.5, 0.0), (1.0, 1.0)]


def test_cpt_interpolates_between_sweep_points() -> None:
    # curve 0, 1, 2 at c = 0, .25, .5: PGR 0.5 is reached half way to the first point
    assert cpt([4, 3, 2, 1], STRONG, WEAK, 0.5) == pytest.approx(0.125)
    assert cpt([4, 3, 2, 1], STRONG, WEAK, 1.5) == pytest.approx(0.375)
    assert cpt([4, 3, 2, 1], STRONG, WEAK, 2.5) is None
    # reverse order: PGR 0 at c = .75, then 1 at c = 1; 0.5 is half way
    assert cpt([1, 2, 3, 4], STRONG, WEAK, 0.5) == pytest.approx(0.875)


def test_mean_cost_along_the_sweep() -> None:
    curve = PGRCurve([4, 3, 3, 1], STRONG, WEAK)
    # weak costs 1, strong 10 per prompt: each strong call adds 9 / 4 to the mean; prompts 1 and 2 tie
    assert curve.costs([10.0] * 4, [1.0] * 4) == [1.0, 3.25, 7.75, 10.0]
    with pytest.raises(ValueError, match="one strong and one weak cost"):
        curve.costs([1.0], [1.0])


def test_weights_equal_duplicated_prompts() -> None:
    scores = [4.0, 3.0, 2.0, 1.0]
    curve = PGRCurve(scores, STRONG, WEAK)
    weights = [2, 0, 1, 1]
    dup_scores = [4.0, 4.0, 2.0, 1.0]
    dup_strong = [1.0, 1.0, 1.0, 0.0]
    dup_weak = [0.0, 0.0, 1.0, 1.0]
    assert curve.apgr(weights) == pytest.approx(apgr(dup_scores, dup_strong, dup_weak))
    assert curve.cpt(0.5, weights) == pytest.approx(cpt(dup_scores, dup_strong, dup_weak, 0.5))


def test_undefined_pgr_and_bad_input_raise() -> None:
    with pytest.raises(ValueError, match="same mean quality"):
        apgr([1, 2], [1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="length mismatch"):
        apgr([1, 2, 3], [1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="no prompts"):
        apgr([], [], [])
    with pytest.raises(ValueError, match="NaN"):
        apgr([math.nan, 1.0], [1.0, 0.0], [0.0, 0.0])


def test_hull_drops_points_below_chords_and_after_the_best() -> None:
    points = [(1.0, 0.5), (2.0, 0.55), (3.0, 0.8), (4.0, 0.7), (5.0, 0.8), (2.5, 0.2)]
    # (2, .55) lies below the chord (1, .5)-(3, .8) (.65 at c=2); (4, .7), (5, .8) and (2.5, .2) add nothing
    assert nondecreasing_hull(points) == [(1.0, 0.5), (3.0, 0.8)]
    hull = nondecreasing_hull(points)
    assert hull_value(hull, 0.5) == 0.0
    assert hull_value(hull, 2.0) == pytest.approx(0.65)
    assert hull_value(hull, 10.0) == 0.8
    # same cost twice: the better one counts
    assert nondecreasing_hull([(1.0, 0.2), (1.0, 0.4), (2.0, 0.5)]) == [(1.0, 0.4), (2.0, 0.5)]


def test_aiq_by_hand() -> None:
    singles = [(1.0, 0.5), (3.0, 0.9)]
    # zero router: the chord from .5 to .9 over [1, 3]: mean .7
    assert aiq(singles, singles) == pytest.approx(0.7)
    # a router with one point (2, .9): 0 on [1, 2), then .9 on [2, 3]: (0 + .9) / 2
    assert aiq([(2.0, 0.9)], singles) == pytest.approx(0.45)
    # the router's points plus a cheap one: hull (1, .5)-(2, .9) then flat: (.7 + .9) / 2
    assert aiq([(1.0, 0.5), (2.0, 0.9)], singles) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="different cost"):
        aiq(singles, [(1.0, 0.5), (1.0, 0.9)])


def test_argmax_lambda_and_sweep() -> None:
    q = {"big": 0.9, "small": 0.6}
    c = {"big": 0.01, "small": 0.001}
    assert argmax_lambda(q, c, 0.0) == "big"
    assert argmax_lambda(q, c, 100.0) == "small"  # .9 - 1 < .6 - .1
    assert argmax_lambda(q, c, 10.0) == "big"  # .8 > .59
    assert argmax_lambda(q, c, math.inf) == "small"
    # a tie in utility goes to the cheaper model
    assert argmax_lambda({"a": 0.5, "b": 0.5}, {"a": 2.0, "b": 1.0}, 0.0) == "b"
    assert argmax_lambda({"b": 0.5, "a": 0.5}, {"a": 1.0, "b": 1.0}, 0.0) == "b"  # then the earlier one
    true = [{"big": 1.0, "small": 0.0}, {"big": 1.0, "small": 1.0}]
    costs = [c, c]
    sweep = LambdaSweep(true, true, costs, [0.0, math.inf])
    assert sweep.points() == [(0.0055, 1.0), (0.001, 0.5)]  # on prompt 2 the tie goes to small
    lams = default_lambdas([0.01, 0.001], count=5)
    assert lams[0] == 0.0 and lams[-1] == math.inf and lams[1] == pytest.approx(0.1) and lams[-2] == pytest.approx(1e6)


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    scores = [float(i % 7) for i in range(200)]
    strong = [1.0 if i % 3 else 0.0 for i in range(200)]
    weak = [1.0 if i % 2 else 0.0 for i in range(200)]
    curve = PGRCurve(scores, strong, weak)
    resamples = resample_weights(200, 100, seed=3)
    assert resamples == resample_weights(200, 100, seed=3)
    assert all(sum(w) == 200 for w in resamples)
    interval = bootstrap(curve.apgr, resamples)
    assert isinstance(interval, Interval)
    assert interval.low < curve.apgr() < interval.high
    assert bootstrap(lambda w: None, resamples) is None


def test_argmax_lambda_agrees_with_the_runtime_rule() -> None:
    """The fast form used for the oracle sweep picks the same winner as ``choose_lambda``."""
    import random

    from switchpoint.routing.learned.choose import Option, choose_lambda

    rng = random.Random(7)
    for _ in range(500):
        names = [f"m{k}" for k in range(rng.randint(2, 6))]
        quality = {m: rng.choice([0.0, 0.5, 1.0, rng.random()]) for m in names}
        cost = {m: rng.choice([0.001, 0.002, rng.random() / 100]) for m in names}
        lam = rng.choice([0.0, 10.0, 100.0, 1000.0, rng.random() * 500])
        expected = choose_lambda([Option(m, quality[m], cost[m]) for m in names], lam).winner
        assert argmax_lambda(quality, cost, lam) == expected
