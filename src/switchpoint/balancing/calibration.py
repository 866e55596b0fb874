"""Calibrate a cascade threshold on the gateway's own logged traffic.

Every cascade step is logged as an attempt with the cheap answer's confidence ``score``, and
feedback (``POST /v1/feedback``) can be attached to the request later. :func:`load_steps` reads,
for one group, each scored step: its score, whether the cheap answer was the one the client got
(``kept``: no later attempt answered), and the verdict of the request's feedback on it.
:func:`choose_threshold` then picks the threshold (escalate when ``score < threshold``) for

- an **escalation target** ``r``: the highest threshold that escalates at most ``r`` of the scored
  answers (the most quality the escalation budget buys); or
- a **quality target** ``q``: the lowest threshold whose kept cheap answers are at least ``q``
  positive, i.e. the fewest escalations that reach it,

with 95% bootstrap intervals (the whole selection re-run on resampled steps) and the number of
rated answers the quality rests on. Too few rated answers: :class:`CalibrationError`.

**What the log can say about quality.** Feedback on an escalated request rates the strong
model's answer; the cheap answer was never shown, so it has no rating. The quality of the cheap
answers kept at a threshold ``t`` is therefore known only when every step scoring ``t`` or more
was kept, i.e. for ``t`` above the highest score that was escalated (``min_evaluable``). Below
it, quality is reported as unknown, and a quality target met at ``min_evaluable`` might be met
lower too: run with a lower threshold for a while (``threshold: 0`` keeps every cheap answer) to
rate the answers below it. Escalation rates need no rating and cover every scored step.

The candidates are thresholds halfway between consecutive distinct scores (rounded to 4
decimals), 0 (escalate nothing) and 1 (escalate all but perfect scores).
"""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchpoint.analytics.filters import Filters
    from switchpoint.analytics.readers import LogReader

__all__ = [
    "NEGATIVE_LABELS",
    "POSITIVE_LABELS",
    "CalibrationError",
    "LoggedSteps",
    "Step",
    "ThresholdChoice",
    "choose_threshold",
    "load_steps",
    "verdict",
]

POSITIVE_LABELS = frozenset({"good", "positive", "correct", "right", "ok", "yes", "thumbs_up", "up", "accept",
                             "accepted", "helpful", "1", "true"})  # fmt: skip
NEGATIVE_LABELS = frozenset({"bad", "negative", "incorrect", "wrong", "no", "thumbs_down", "down", "reject",
                             "rejected", "unhelpful", "0", "false"})  # fmt: skip
DEFAULT_MIN_LABELS = 30
DEFAULT_MIN_SAMPLES = 30
DEFAULT_BOOTSTRAP = 1000
_EPS = 1e-12


class CalibrationError(ValueError):
    """The log cannot support the asked calibration (too few scored or rated answers, bad target)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One scored cheap answer: its score, whether the client got it, and the feedback verdict on it
    (``None``: not rated, or not kept, since then the feedback is about another model's answer)."""

    score: float
    kept: bool = True
    positive: bool | None = None


@dataclass(frozen=True, slots=True)
class LoggedSteps:
    """What :func:`load_steps` read: the steps, and what the log says about the cascade in force."""

    steps: list[Step]
    next_groups: dict[str, int]  # the group escalations went to → how many
    thresholds: dict[float, int]  # the threshold an escalation reason shows → how many
    escalated: int  # steps the cascade escalated (whether or not the escalation answered)


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    target: str  # "escalation" or "quality"
    target_value: float
    threshold: float
    escalation_rate: float
    quality: float | None  # positive share of the rated kept cheap answers (None: unknown there)
    rated_kept: int  # the rated answers ``quality`` rests on
    samples: int  # scored steps
    rated: int  # rated kept cheap answers in all
    min_evaluable: float | None  # the lowest threshold whose quality the log can tell (None: none)
    threshold_interval: tuple[float, float]
    escalation_interval: tuple[float, float]
    quality_interval: tuple[float, float] | None
    bootstrap: int  # resamples
    bootstrap_unreached: float  # share of resamples in which no threshold reached the target

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(
    score: float | None,
    label: str | None,
    *,
    positive_min: float = 0.5,
    positive_labels: Collection[str] = POSITIVE_LABELS,
    negative_labels: Collection[str] = NEGATIVE_LABELS,
) -> bool | None:
    """Positive, negative or no verdict from one feedback: the score when there is one (positive
    from ``positive_min``), else the label (case-insensitive, spaces and dashes as ``_``)."""
    if score is not None:
        return score >= positive_min
    if label is not None:
        name = label.strip().lower().replace(" ", "_").replace("-", "_")
        if name in positive_labels:
            return True
        if name in negative_labels:
            return False
    return None


# -- selection ---------------------------------------------------------------------------------
#
# The steps are grouped in bins of equal score, in ascending order; a threshold is a bin index j
# (escalate the bins before j, keep j and after). Counts are multiplicities, for the bootstrap.


@dataclass(frozen=True, slots=True)
class _Bins:
    values: list[float]
    n: list[int]
    replaced: list[int]  # not kept
    rated: list[int]  # kept and rated
    positive: list[int]  # kept and rated positive

    @classmethod
    def of(cls, values: list[float], counts: Sequence[Sequence[int]]) -> _Bins:
        """From per-bin counts (n, replaced, rated, positive), dropping empty bins."""
        present = [(v, c) for v, c in zip(values, counts, strict=True) if c[0]]
        return cls([v for v, _ in present], *([c[k] for _, c in present] for k in range(4)))

    def below(self) -> list[int]:
        """``below[j]``: the steps in the bins before ``j``."""
        return list(accumulate(self.n, initial=0))

    def kept_from(self) -> tuple[int, list[int], list[int]]:
        """The first bin from which every step was kept, and the rated and positive steps from each bin on."""
        last_replaced = max((j for j, r in enumerate(self.replaced) if r), default=-1)
        rated = list(accumulate(reversed(self.rated), initial=0))[::-1]
        positive = list(accumulate(reversed(self.positive), initial=0))[::-1]
        return last_replaced + 1, rated, positive

    def threshold(self, j: int) -> float:
        """The threshold that keeps bins ``j`` and after: 0, a cut between two scores, or 1."""
        if j == 0:
            return 0.0
        if j == len(self.values):
            return 1.0
        return _cut(self.values[j - 1], self.values[j])

    def last(self) -> int:
        """The highest bin index a threshold can keep from (1 cannot escalate a perfect score)."""
        return len(self.values) - 1 if self.values[-1] >= 1.0 else len(self.values)


def _bins(steps: Sequence[Step]) -> tuple[_Bins, list[int]]:
    """The bins of ``steps``, and each step's category ``4 * bin + kind`` (for resampling)."""
    values = sorted({s.score for s in steps})
    index = {v: j for j, v in enumerate(values)}
    counts = [[0, 0, 0, 0] for _ in values]
    categories = []
    for s in steps:
        j, kind = index[s.score], _kind(s)
        categories.append(4 * j + kind)
        _add(counts[j], kind, 1)
    return _Bins.of(values, counts), categories


def _kind(step: Step) -> int:
    """0: not kept; 1: kept, not rated; 2: kept, negative; 3: kept, positive."""
    if not step.kept:
        return 0
    return 1 if step.positive is None else 2 + step.positive


def _add(acc: list[int], kind: int, count: int) -> None:
    acc[0] += count
    if kind == 0:
        acc[1] += count
    elif kind >= 2:
        acc[2] += count
        if kind == 3:
            acc[3] += count


def _cut(low: float, high: float) -> float:
    """A threshold between two consecutive scores: the midpoint, rounded when that keeps it between."""
    middle = (low + high) / 2
    rounded = round(middle, 4)
    return rounded if low < rounded <= high else middle


def _select(bins: _Bins, target: str, value: float, min_labels: int) -> int | None:
    """The bin index the target's threshold keeps from; ``None`` when no threshold reaches it."""
    if target == "escalation":
        below = bins.below()
        j = bisect.bisect_right(below, value * below[-1] + _EPS) - 1
        return min(j, bins.last())
    start, rated, positive = bins.kept_from()
    for j in range(start, bins.last() + 1):
        if rated[j] < min_labels:
            return None  # rated answers only get fewer from here on
        if positive[j] >= value * rated[j] - _EPS:
            return j
    return None


def _rates_at(bins: _Bins, threshold: float) -> tuple[float, float | None, int]:
    """Escalation rate, kept quality (``None`` when unknown) and the rated answers it rests on, at a
    fixed threshold."""
    j = bisect.bisect_left(bins.values, threshold)
    below = bins.below()
    start, rated, positive = bins.kept_from()
    known = rated[j] if j >= start else 0
    return below[j] / below[-1], (positive[j] / known if known else None), known


def _interval(values: list[float]) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles (nearest rank)."""
    ordered = sorted(values)
    n = len(ordered)
    return ordered[max(0, math.ceil(0.025 * n) - 1)], ordered[max(0, math.ceil(0.975 * n) - 1)]


def _resample(values: list[float], categories: Sequence[int], rng: random.Random) -> _Bins:
    """The bins of one bootstrap resample: as many draws with replacement as there are steps. Only
    the count per category matters, and ``Counter`` counts them in C."""
    counts = [[0, 0, 0, 0] for _ in values]
    for category, count in Counter(rng.choices(categories, k=len(categories))).items():
        j, kind = divmod(category, 4)
        _add(counts[j], kind, count)
    return _Bins.of(values, counts)


def choose_threshold(
    steps: Sequence[Step],
    *,
    target_escalation: float | None = None,
    target_quality: float | None = None,
    min_labels: int = DEFAULT_MIN_LABELS,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> ThresholdChoice:
    """The threshold for exactly one target, with 95% bootstrap intervals (see the module doc).

    Raises :class:`CalibrationError` when there are fewer than ``min_samples`` scored steps, when a
    quality target has fewer than ``min_labels`` rated kept answers, or when no threshold keeping
    ``min_labels`` rated answers reaches the quality target.
    """
    if (target_escalation is None) == (target_quality is None):
        raise CalibrationError("give exactly one target: an escalation rate or a quality")
    target, value = ("escalation", target_escalation) if target_escalation is not None else ("quality", target_quality)
    assert value is not None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise CalibrationError(f"the {target} target must be between 0 and 1, not {value}")
    if min_labels < 1 or min_samples < 1 or bootstrap < 0:
        raise CalibrationError("min_labels and min_samples must be at least 1, bootstrap at least 0")
    if len(steps) < min_samples:
        raise CalibrationError(f"only {len(steps)} scored cheap answers in the log; at least {min_samples} are needed")
    bins, categories = _bins(steps)
    rated = sum(bins.rated)
    if target == "quality" and rated < min_labels:
        raise CalibrationError(
            f"only {rated} rated cheap answers (kept, with positive or negative feedback) in the log; "
            f"at least {min_labels} are needed for a quality target"
        )
    j = _select(bins, target, value, min_labels)
    if j is None:
        judged = [(bins.threshold(k), *_rates_at(bins, bins.threshold(k))[1:]) for k in range(bins.last() + 1)]
        reaching = [(t, q) for t, q, rated_kept in judged if q is not None and rated_kept >= min_labels]
        best = max(reaching, key=lambda x: x[1], default=None)
        hint = f"; the best is {best[1]:.1%} positive, at threshold {best[0]:g}" if best else ""
        raise CalibrationError(
            f"no threshold keeps at least {min_labels} rated cheap answers with {value:.1%} positive{hint}"
        )
    threshold = bins.threshold(j)
    escalation, quality, rated_kept = _rates_at(bins, threshold)
    start = bins.kept_from()[0]
    # Bootstrap: re-run the selection on resampled steps; the rates at the chosen threshold too.
    rng = random.Random(seed)
    thresholds: list[float] = []
    escalations: list[float] = []
    qualities: list[float] = []
    unreached = 0
    for _ in range(bootstrap):
        sample = _resample(bins.values, categories, rng)
        picked = _select(sample, target, value, min_labels)
        if picked is None:
            unreached += 1
        else:
            thresholds.append(sample.threshold(picked))
        sample_escalation, sample_quality, _ = _rates_at(sample, threshold)
        escalations.append(sample_escalation)
        if sample_quality is not None:
            qualities.append(sample_quality)
    return ThresholdChoice(
        target=target,
        target_value=value,
        threshold=threshold,
        escalation_rate=escalation,
        quality=quality,
        rated_kept=rated_kept,
        samples=len(steps),
        rated=rated,
        min_evaluable=bins.threshold(start) if start <= bins.last() else None,
        threshold_interval=_interval(thresholds) if thresholds else (threshold, threshold),
        escalation_interval=_interval(escalations) if escalations else (escalation, escalation),
        quality_interval=(_interval(qualities) if qualities else None) if quality is not None else None,
        bootstrap=bootstrap,
        bootstrap_unreached=unreached / bootstrap if bootstrap else 0.0,
    )


# -- reading the log ---------------------------------------------------------------------------


async def load_steps(
    reader: LogReader,
    group: str,
    filters: Filters,
    *,
    positive_min: float = 0.5,
    positive_labels: Collection[str] = POSITIVE_LABELS,
    negative_labels: Collection[str] = NEGATIVE_LABELS,
) -> LoggedSteps:
    """Every scored cascade step of ``group`` in the requests ``filters`` select, with the verdict of
    the request's latest feedback that has one (only for kept answers)."""
    where, params = filters.where(reader.dialect)
    prefix = f"escalation from {group}:"
    scored = f"FROM attempts a JOIN requests r ON r.request_id = a.request_id WHERE a.model_group = ? " \
             f"AND a.score IS NOT NULL AND {where}"  # fmt: skip
    later = "FROM attempts b WHERE b.request_id = a.request_id AND b.idx > a.idx"
    escalation = f"{later} AND substr(b.reason, 1, ?) = ? ORDER BY b.idx LIMIT 1"
    _, rows = await reader.query(
        f"SELECT a.request_id, a.score, CASE WHEN EXISTS (SELECT 1 {later} AND b.status = 'ok') THEN 1 ELSE 0 END, "
        f"(SELECT b.reason {escalation}), (SELECT b.model_group {escalation}) {scored}",
        [len(prefix), prefix, len(prefix), prefix, group, *params],
    )
    _, feedback = await reader.query(
        f"SELECT fb.request_id, fb.score, fb.label FROM feedback fb WHERE fb.request_id IN "
        f"(SELECT a.request_id {scored}) ORDER BY fb.created, fb.feedback_id",
        [group, *params],
    )
    verdicts: dict[str, bool] = {}
    for request_id, score, label in feedback:
        said = verdict(None if score is None else float(score), label, positive_min=positive_min,
                       positive_labels=positive_labels, negative_labels=negative_labels)  # fmt: skip
        if said is not None:
            verdicts[str(request_id)] = said  # the latest verdict wins
    steps: list[Step] = []
    next_groups: dict[str, int] = {}
    thresholds: dict[float, int] = {}
    escalated = 0
    for request_id, score, replaced, reason, next_group in rows:
        kept = not replaced
        steps.append(Step(float(score), kept, verdicts.get(str(request_id)) if kept else None))
        if reason is not None:
            escalated += 1
            if next_group is not None:
                next_groups[str(next_group)] = next_groups.get(str(next_group), 0) + 1
            shown = _threshold_in(str(reason))
            if shown is not None:
                thresholds[shown] = thresholds.get(shown, 0) + 1
    return LoggedSteps(steps, next_groups, thresholds, escalated)


def _threshold_in(reason: str) -> float | None:
    """The threshold in an escalation reason (``escalation from g: logprobs 0.310 < 0.55``)."""
    _, sep, tail = reason.rpartition(" < ")
    if not sep:
        return None
    try:
        value = float(tail.split()[0])
    except (ValueError, IndexError):
        return None
    return value if math.isfinite(value) else None
