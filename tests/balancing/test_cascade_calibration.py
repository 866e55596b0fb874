"""Choosing a cascade threshold from logged steps: hand-computed small cases, the selection bias of
escalated answers, the refusals, and the bootstrap intervals."""

from __future__ import annotations

import asyncio

import pytest

from switchpoint.analytics.filters import Filters
from switchpoint.analytics.readers import open_reader
from switchpoint.balancing.calibration import (
    CalibrationError,
    LoggedSteps,
    Step,
    choose_threshold,
    load_steps,
    verdict,
)
from switchpoint.storage.records import AttemptRecord
from tests.storage.conftest import target  # noqa: F401  (the per-test store fixture, both databases)
from tests.storage.support import DAY, NOW, PG_URL, StoreTarget, record

FEW = {"min_labels": 2, "min_samples": 1, "bootstrap": 200}


def test_escalation_target_takes_the_highest_threshold_within_the_budget() -> None:
    steps = [Step(s) for s in (0.1, 0.2, 0.2, 0.4, 0.8)]
    # At most 1.5 of 5 escalated: only 0.1 can go (the tie at 0.2 moves together).
    thirty = choose_threshold(steps, target_escalation=0.3, **FEW)
    assert thirty.threshold == pytest.approx(0.15) and thirty.escalation_rate == pytest.approx(0.2)
    sixty = choose_threshold(steps, target_escalation=0.6, **FEW)
    assert sixty.threshold == pytest.approx(0.3) and sixty.escalation_rate == pytest.approx(0.6)
    assert choose_threshold(steps, target_escalation=0.0, **FEW).threshold == 0.0
    everything = choose_threshold(steps, target_escalation=1.0, **FEW)
    assert everything.threshold == 1.0 and everything.escalation_rate == 1.0
    # A perfect score cannot be escalated by any threshold the config accepts (at most 1).
    perfect = choose_threshold([Step(0.5), Step(1.0)], target_escalation=1.0, **FEW)
    assert perfect.threshold == pytest.approx(0.75) and perfect.escalation_rate == 0.5
    # No rating: the quality is unknown, not zero.
    assert thirty.quality is None and thirty.quality_interval is None and thirty.rated_kept == 0


# Two escalated answers (their cheap quality is unknown), five kept and rated.
LOGGED = [
    Step(0.1, kept=False), Step(0.2, kept=False, positive=True),  # rates the strong answer: ignored
    Step(0.3, positive=False), Step(0.5, positive=True), Step(0.6, positive=False), Step(0.7, positive=True),
    Step(0.9, positive=True),
]  # fmt: skip


@pytest.mark.parametrize(("goal", "threshold", "escalated", "quality", "rated_kept"), [
    (0.6, 0.25, 2, 3 / 5, 5),  # met at the lowest threshold the log can judge
    (0.75, 0.4, 3, 3 / 4, 4),  # keep 0.5, 0.6, 0.7, 0.9
    (0.8, 0.65, 5, 1.0, 2),  # 0.55 keeps 0.6, 0.7, 0.9: 2/3 only
])  # fmt: skip
def test_quality_target_takes_the_lowest_threshold_that_reaches_it(
    goal: float, threshold: float, escalated: int, quality: float, rated_kept: int
) -> None:
    choice = choose_threshold(LOGGED, target_quality=goal, **FEW)
    assert choice.threshold == pytest.approx(threshold)
    assert choice.escalation_rate == pytest.approx(escalated / 7)
    assert choice.quality == pytest.approx(quality) and choice.rated_kept == rated_kept
    assert choice.samples == 7 and choice.rated == 5 and choice.min_evaluable == pytest.approx(0.25)


def test_quality_is_unknown_under_the_highest_escalated_score() -> None:
    # 30% escalation allows threshold 0.25 only (2 of 7 below); 15% allows 0.15, where 0.2 would be kept
    # but was escalated in the log: its cheap answer was never rated.
    assert choose_threshold(LOGGED, target_escalation=0.3, **FEW).quality == pytest.approx(3 / 5)
    low = choose_threshold(LOGGED, target_escalation=0.15, **FEW)
    assert low.threshold == pytest.approx(0.15) and low.quality is None and low.rated_kept == 0


def test_a_threshold_must_keep_enough_rated_answers() -> None:
    # 100% positive is reached only by keeping 0.7 and 0.9: two rated answers.
    assert choose_threshold(LOGGED, target_quality=1.0, **FEW).threshold == pytest.approx(0.65)
    with pytest.raises(CalibrationError, match=r"no threshold keeps at least 3 rated .* the best is 75.0% positive, "
                                               r"at threshold 0.4"):  # fmt: skip
        choose_threshold(LOGGED, target_quality=1.0, **{**FEW, "min_labels": 3})


def test_refusals() -> None:
    with pytest.raises(CalibrationError, match="only 7 scored cheap answers in the log; at least 30 are needed"):
        choose_threshold(LOGGED, target_escalation=0.3)
    with pytest.raises(CalibrationError, match="only 5 rated cheap answers .* at least 6 are needed"):
        choose_threshold(LOGGED, target_quality=0.5, min_labels=6, min_samples=1)
    # An escalation target needs no rating at all.
    assert choose_threshold(LOGGED, target_escalation=0.3, min_labels=6, min_samples=1).threshold == 0.25
    with pytest.raises(CalibrationError, match="exactly one target"):
        choose_threshold(LOGGED, **FEW)
    with pytest.raises(CalibrationError, match="exactly one target"):
        choose_threshold(LOGGED, target_escalation=0.3, target_quality=0.9, **FEW)
    with pytest.raises(CalibrationError, match="between 0 and 1"):
        choose_threshold(LOGGED, target_quality=1.5, **FEW)


def test_thresholds_fall_between_scores_and_are_rounded_only_when_that_keeps_them_between() -> None:
    steps = [Step(0.12344), Step(0.12346), Step(0.5), Step(0.61)]
    tight = choose_threshold(steps, target_escalation=0.25, **FEW)
    assert 0.12344 < tight.threshold <= 0.12346 and tight.threshold == pytest.approx(0.12345)
    assert choose_threshold(steps, target_escalation=0.75, **FEW).threshold == 0.555


def test_bootstrap_interval_of_the_escalation_rate_matches_the_binomial() -> None:
    steps = [Step(0.1)] * 100 + [Step(0.9)] * 300
    choice = choose_threshold(steps, target_escalation=0.25, bootstrap=1000, seed=7)
    assert choice.threshold == 0.5 and choice.escalation_rate == 0.25
    low, high = choice.escalation_interval  # 0.25 ± 1.96 * sqrt(0.25 * 0.75 / 400) = ± 0.042
    assert 0.195 < low < 0.225 and 0.275 < high < 0.305
    assert choose_threshold(steps, target_escalation=0.25, bootstrap=1000, seed=7) == choice  # seeded
    single = choose_threshold(steps, target_escalation=0.25, bootstrap=0)
    assert single.escalation_interval == (0.25, 0.25) and single.bootstrap_unreached == 0.0


def test_bootstrap_counts_resamples_where_the_quality_target_is_out_of_reach() -> None:
    # 18 of 20 rated positive, the two negatives scoring highest: 90% at threshold 0, less above it.
    # A resample with three or more of them reaches 90% at no threshold.
    steps = [Step(0.2 + i / 100, positive=i < 18) for i in range(20)]
    choice = choose_threshold(steps, target_quality=0.9, min_labels=10, min_samples=1, bootstrap=500)
    assert choice.threshold == 0.0 and choice.quality == pytest.approx(0.9)
    assert 0.1 < choice.bootstrap_unreached < 0.9
    assert choice.quality_interval is not None and choice.quality_interval[0] < 0.9 < choice.quality_interval[1]


def test_verdict_from_score_then_label() -> None:
    assert verdict(0.5, "wrong") is True and verdict(0.49, "good") is False
    assert verdict(4.0, None, positive_min=4) is True and verdict(3.0, None, positive_min=4) is False
    assert verdict(None, "Thumbs-Up") is True and verdict(None, " WRONG ") is False
    assert verdict(None, "meh") is None and verdict(None, None) is None


# -- reading the log (real SQLite and Postgres) ---------------------------------------------------


def _attempt(group: str, score: float | None = None, status: str = "ok", reason: str = "first") -> AttemptRecord:
    return AttemptRecord(f"{group}-1", "openai", started=NOW, group=group, score=score, status=status, reason=reason)


ESCALATION = "escalation from cheap: logprobs 0.200 < 0.5"


def test_load_steps_reads_scores_kept_answers_and_the_latest_verdict(target: StoreTarget) -> None:  # noqa: F811
    records = [
        record("kept-good", attempts=[_attempt("cheap", 0.9)]),
        record("escalated", attempts=[_attempt("cheap", 0.2), _attempt("strong", reason=ESCALATION)]),
        # The escalation failed, so the client got the cheap answer: it is kept, and rated.
        record("escalation-failed", attempts=[_attempt("cheap", 0.3),
                                              _attempt("strong", status="error", reason=ESCALATION)]),  # fmt: skip
        record("streamed", stream=True, attempts=[_attempt("cheap")]),  # not cascaded: no score
        record("other-group", attempts=[_attempt("other", 0.1)]),
        record("too-old", created=NOW - 40 * DAY, attempts=[_attempt("cheap", 0.05)]),
        record("retried", attempts=[_attempt("cheap", status="error"), _attempt("cheap", 0.7, reason="retry")]),
    ]
    feedback = [("kept-good", 0.0, None), ("kept-good", None, "good"), ("escalated", 1.0, None),
                ("escalation-failed", None, "wrong"), ("retried", None, "meh")]  # fmt: skip

    async def scenario() -> LoggedSteps:
        store = target.make()
        try:
            await store.migrate()
            await store.write(records)
            for request_id, score, label in feedback:
                await store.add_feedback(f"req-{request_id}", score, label)
                await asyncio.sleep(0.002)  # distinct creation times: the latest verdict counts
        finally:
            await store.close()
        url = f"sqlite:///{target.path}" if target.kind == "sqlite" else PG_URL
        reader = open_reader(url, schema=target.schema)
        try:
            return await load_steps(reader, "cheap", Filters(NOW - 30 * DAY, NOW + 1))
        finally:
            await reader.close()

    logged = asyncio.run(scenario())
    assert sorted(logged.steps, key=lambda s: s.score) == [
        Step(0.2, kept=False, positive=None), Step(0.3, kept=True, positive=False),
        Step(0.7, kept=True, positive=None), Step(0.9, kept=True, positive=True),
    ]  # fmt: skip
    assert logged.escalated == 2 and logged.next_groups == {"strong": 2} and logged.thresholds == {0.5: 2}
