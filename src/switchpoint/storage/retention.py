"""Retention: raw rows by age and/or count, daily rollups kept longer. Written once for both stores.

Pruning *folds* each raw row into ``daily_rollups`` in the same transaction that deletes it, so a
row is counted either raw or rolled up, never both and never neither. Readers combine the two
(:func:`daily_stats_sql`); the rollup of a day is therefore exact even when its raw rows were
deleted over several prunes, or arrived late from the spool.

The algorithm is a generator of steps (:class:`Fetch`, :class:`Apply`) so that one definition
serves the SQLite store (which runs the steps on its writer thread) and the Postgres store
(which awaits them); see :func:`prune_plan`.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

from switchpoint.storage.rows import Dialect, day_of

__all__ = ["Apply", "Fetch", "PruneResult", "RetentionPolicy", "daily_stats_sql", "prune_plan"]

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """``None`` disables a limit. The defaults keep 30 days of raw rows and about two years of rollups."""

    raw_days: float | None = 30.0
    max_rows: int | None = None
    rollup_days: float | None = 730.0
    chunk_rows: int = 5_000  # rows folded and deleted per transaction

    def __post_init__(self) -> None:
        for name in ("raw_days", "rollup_days"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None")
        if self.max_rows is not None and self.max_rows < 0:
            raise ValueError("max_rows must be >= 0 or None")
        if self.chunk_rows < 1:
            raise ValueError("chunk_rows must be >= 1")


@dataclass(frozen=True, slots=True)
class PruneResult:
    requests_deleted: int = 0
    feedback_deleted: int = 0
    rollups_deleted: int = 0


@dataclass(frozen=True, slots=True)
class Fetch:
    """Run one query; the step's result is the first column of the first row, or None."""

    sql: str
    params: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Apply:
    """Run the statements in one transaction; the step's result is their row counts (list[int])."""

    statements: tuple[tuple[str, tuple[object, ...]], ...]


PruneSteps = Generator[Fetch | Apply, object, PruneResult]

_ERROR = "CASE WHEN status >= 400 OR error_class IS NOT NULL THEN 1 ELSE 0 END"
_RAW_AGGREGATES = (
    f"COUNT(*), SUM({_ERROR}), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), "
    "SUM(cost), SUM(latency_ms), MAX(latency_ms)"
)
_GROUP_KEY = "day, COALESCE(model_group, ''), COALESCE(deployment, '')"
_ROLLUP_COLUMNS = (
    "day, model_group, deployment, requests, errors, prompt_tokens, completion_tokens, cached_tokens, cost, "
    "latency_ms_sum, latency_ms_max"
)


def _fold_sql(d: Dialect) -> str:
    added = ", ".join(
        f"{c} = daily_rollups.{c} + excluded.{c}"
        for c in ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cost",
                  "latency_ms_sum")
    )  # fmt: skip
    return d.sql(
        f"INSERT INTO daily_rollups ({_ROLLUP_COLUMNS}) "
        f"SELECT {_GROUP_KEY}, {_RAW_AGGREGATES} FROM requests WHERE created < ? GROUP BY {_GROUP_KEY} "
        f"ON CONFLICT (day, model_group, deployment) DO UPDATE SET {added}, "
        f"latency_ms_max = {d.greatest}(daily_rollups.latency_ms_max, excluded.latency_ms_max)"
    )


def daily_stats_sql(d: Dialect) -> str:
    """Rows of :class:`~switchpoint.storage.store.DailyStats` from ``day >= ?`` (two parameters, both the day)."""
    sums = ", ".join(
        f"SUM({c})"
        for c in ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cost",
                  "latency_ms_sum")
    )  # fmt: skip
    return d.sql(
        f"SELECT day, model_group, deployment, {sums}, MAX(latency_ms_max) FROM ("
        f"SELECT {_ROLLUP_COLUMNS} FROM daily_rollups WHERE day >= ? "
        f"UNION ALL SELECT {_GROUP_KEY}, {_RAW_AGGREGATES} FROM requests WHERE day >= ? GROUP BY {_GROUP_KEY}"
        ") AS combined GROUP BY day, model_group, deployment ORDER BY day, model_group, deployment"
    )


def _after(value: object) -> float:
    """The smallest float above ``value``: ``created < _after(v)`` is ``created <= v``."""
    assert isinstance(value, int | float)
    return math.nextafter(float(value), math.inf)


def prune_plan(policy: RetentionPolicy, now: float, d: Dialect) -> PruneSteps:
    """The steps of one prune at wall time ``now``; the generator's return value is the result."""
    cutoff = now - policy.raw_days * DAY if policy.raw_days is not None else None
    if policy.max_rows is not None:
        nth = yield Fetch(d.sql("SELECT created FROM requests ORDER BY created DESC LIMIT 1 OFFSET ?"),
                          (policy.max_rows,))  # fmt: skip
        if nth is not None:
            cutoff = _after(nth) if cutoff is None else max(cutoff, _after(nth))
    requests_deleted = 0
    while cutoff is not None:
        boundary = yield Fetch(
            d.sql("SELECT created FROM requests WHERE created < ? ORDER BY created LIMIT 1 OFFSET ?"),
            (cutoff, policy.chunk_rows - 1),
        )
        chunk = cutoff if boundary is None else _after(boundary)
        counts = yield Apply((
            (_fold_sql(d), (chunk,)),
            (d.sql("DELETE FROM attempts WHERE request_id IN (SELECT request_id FROM requests WHERE created < ?)"),
             (chunk,)),
            (d.sql("DELETE FROM requests WHERE created < ?"), (chunk,)),
        ))  # fmt: skip
        assert isinstance(counts, list)
        requests_deleted += int(counts[-1])
        if boundary is None or not counts[-1]:
            break
    feedback_deleted = yield from _prune_feedback(policy, now, d)
    rollups_deleted = 0
    if policy.rollup_days is not None:
        counts = yield Apply(((d.sql("DELETE FROM daily_rollups WHERE day < ?"),
                               (day_of(now - policy.rollup_days * DAY),)),))  # fmt: skip
        assert isinstance(counts, list)
        rollups_deleted = int(counts[0])
    return PruneResult(requests_deleted, feedback_deleted, rollups_deleted)


def _prune_feedback(policy: RetentionPolicy, now: float, d: Dialect) -> Generator[Fetch | Apply, object, int]:
    """Feedback follows the raw retention: by age, and at most ``max_rows`` rows."""
    cutoff = now - policy.raw_days * DAY if policy.raw_days is not None else None
    if policy.max_rows is not None:
        nth = yield Fetch(d.sql("SELECT created FROM feedback ORDER BY created DESC LIMIT 1 OFFSET ?"),
                          (policy.max_rows,))  # fmt: skip
        if nth is not None:
            cutoff = _after(nth) if cutoff is None else max(cutoff, _after(nth))
    if cutoff is None:
        return 0
    counts = yield Apply(((d.sql("DELETE FROM feedback WHERE created < ?"), (cutoff,)),))
    assert isinstance(counts, list)
    return int(counts[0])
