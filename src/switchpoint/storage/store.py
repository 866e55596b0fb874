"""What the writer needs from a log store, what readers get from one, and how a URL picks one.

:class:`RecordStore` is the small contract the :class:`~switchpoint.storage.writer.BatchingSink`
depends on. :class:`LogStore` adds feedback and the read helpers that tests, the CLI and the
dashboard use. Both SQL stores implement :class:`LogStore` over the same schema
(:mod:`switchpoint.storage.migrations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from switchpoint.storage.records import RequestRecord
from switchpoint.storage.retention import PruneResult, RetentionPolicy

__all__ = [
    "DailyStats",
    "LogStore",
    "RecordStore",
    "RecordsRejected",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]


class StoreError(Exception):
    """A log store could not do what was asked."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or written right now; the same write may succeed later."""


class RecordsRejected(StoreError):
    """The store refused the rows themselves (bad data); writing the same rows again fails again.

    Any other exception from a store is treated like :class:`StoreUnavailable`: records are kept,
    never dropped on a guess.
    """


class RecordStore(Protocol):
    """The durable end of the log pipeline. Writes are idempotent by ``request_id``."""

    async def migrate(self) -> list[str]:
        """Apply the migrations not yet applied, in order; return the names applied now."""
        ...

    async def write(self, records: Sequence[RequestRecord]) -> None:
        """Insert the records and their attempts in one transaction; ids already stored are skipped."""
        ...

    async def prune(self, policy: RetentionPolicy, now: float) -> PruneResult:
        """Fold raw rows past retention into the daily rollups, delete them, expire old rollups."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DailyStats:
    """One day × model group × deployment, from the rollups and the raw rows still kept."""

    day: str
    model_group: str
    deployment: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: float
    latency_ms_sum: float
    latency_ms_max: float

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> DailyStats:
        """From ``daily_stats_sql`` columns; drivers return sums as int, float or Decimal."""
        day, group, deployment, requests, errors, prompt, completion, cached, cost, latency_sum, latency_max = row
        return cls(
            str(day), str(group), str(deployment), int(requests or 0), int(errors or 0), int(prompt or 0),
            int(completion or 0), int(cached or 0), float(cost or 0), float(latency_sum or 0), float(latency_max or 0),
        )  # fmt: skip


class LogStore(RecordStore, Protocol):
    """A :class:`RecordStore` with feedback and reads."""

    async def add_feedback(
        self, request_id: str, score: float | None = None, label: str | None = None, comment: str | None = None
    ) -> str:
        """Attach feedback to a request (it may not be stored yet); returns the feedback id."""
        ...

    async def get_request(self, request_id: str) -> dict[str, Any] | None:
        """One request row as a dict, with ``attempts`` and ``feedback`` lists, or None."""
        ...

    async def count(self, table: str) -> int:
        """Rows in one of ``requests``, ``attempts`` (every attempt, however stored), ``feedback``,
        ``daily_rollups``."""
        ...

    async def request_ids(self) -> list[str]: ...

    async def daily_stats(self, since_day: str = "") -> list[DailyStats]:
        """Per day × group × deployment, rollups and raw rows combined, each row counted once."""
        ...

    async def applied_migrations(self) -> list[str]: ...


def open_store(
    url: str, *, schema: str | None = None, sqlite_writer: Literal["thread", "process"] = "thread"
) -> LogStore:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``postgresql://user@host/db``.

    Nothing connects here; the store opens its connection on first use. ``sqlite_writer`` says
    where SQLite writes records: on the store's thread, or in a child process (the gateway's
    default; :mod:`switchpoint.storage.sqlite_process`).
    """
    if url.startswith("sqlite:///"):
        from switchpoint.storage.sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///") :], writer=sqlite_writer)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from switchpoint.storage.postgres import PostgresStore
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise StoreError("a postgresql:// log store needs the driver: pip install 'switchpoint[postgres]'") from exc
        return PostgresStore(url, schema=schema)
    raise StoreError(f"unsupported log store URL {url.split(':', 1)[0]!r}: use sqlite:///path or postgresql://...")
