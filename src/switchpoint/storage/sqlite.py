"""SQLiteStore: the default log store. stdlib ``sqlite3``, WAL mode.

Every database call runs on a private single-thread executor that owns the connection, so the
event loop never blocks on disk and the connection is only ever used by the thread that opened
it. Calls are serialised in submission order.

Record writes can instead go to a child process (``writer="process"``, the gateway's default for
a database file; :mod:`switchpoint.storage.sqlite_process`): a thread of the gateway's own
process shares its GIL with the event loop, and binding thousands of parameters per batch there
cost the loop far more than the rows themselves (``docs/benchmarks.md``, request log on vs off).
Reads, feedback, migrations and pruning stay on the thread; both connections use WAL, in which
one writer at a time and any number of readers work across processes.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from switchpoint.storage import migrations as schema
from switchpoint.storage.records import RequestRecord
from switchpoint.storage.retention import Apply, PruneResult, PruneSteps, RetentionPolicy, daily_stats_sql, prune_plan
from switchpoint.storage.rows import (
    SQLITE,
    attempt_rows,
    attempts_of,
    inline_attempt,
    row_to_request,
    sqlite_request_row,
)
from switchpoint.storage.sqlite_process import SQLiteWriterProcess, WriterStartFailed
from switchpoint.storage.sqlite_sql import DATA_ERRORS, Chunks, chunked, connect, execute_chunks, transaction
from switchpoint.storage.store import DailyStats, RecordsRejected, StoreUnavailable

_LOG = logging.getLogger("switchpoint.storage")

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_TABLES = frozenset({"requests", "attempts", "feedback", "daily_rollups"})

class SQLiteStore:
    """A :class:`~switchpoint.storage.store.LogStore` in one SQLite file (``:memory:`` for tests)."""

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = 5_000,
        migrations: Sequence[schema.Migration] = schema.MIGRATIONS,
        writer: Literal["thread", "process"] = "thread",
    ) -> None:
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._migrations = tuple(migrations)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchpoint-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._process: SQLiteWriterProcess | None = None
        self._retired: SQLiteWriterProcess | None = None
        if writer == "process" and self.path != ":memory:":  # another process cannot open :memory:
            self._process = SQLiteWriterProcess(self.path, busy_timeout_ms)

    # -- plumbing ----------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def writer(self) -> Literal["thread", "process"]:
        """Where records are written now (``process`` falls back to ``thread`` if it cannot run)."""
        return "thread" if self._process is None else "process"

    def _fall_back(self, exc: Exception) -> None:
        """Write on the thread from now on: the writer process cannot run here."""
        _LOG.warning("switchpoint: %s; writing the request log from a thread instead", exc)
        self._retired, self._process = self._process, None  # closed with the store (it reaps its children)

    def _connection(self) -> sqlite3.Connection:
        """On the writer thread only."""
        if self._conn is None:
            self._conn = connect(self.path, self._busy_timeout_ms)
        return self._conn

    def _transaction(self, work: Callable[[sqlite3.Connection], T], *, immediate: bool = True) -> T:
        return transaction(self._connection(), work, immediate=immediate)

    # -- RecordStore -------------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        try:
            applied = await self._call(self._migrate_sync)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"SQLite migration failed: {exc}") from exc
        if self._process is not None:
            try:
                await self._process.start()
            except WriterStartFailed as exc:
                self._fall_back(exc)
        return applied

    def _migrate_sync(self) -> list[str]:
        applied_now: list[str] = []
        for migration in self._migrations:

            def apply(conn: sqlite3.Connection, migration: schema.Migration = migration) -> bool:
                # Everything under the write lock (BEGIN IMMEDIATE): in WAL mode a statement that
                # reads then writes outside it can fail at once with SQLITE_BUSY_SNAPSHOT when
                # another process migrates concurrently.
                conn.execute(schema.create_migrations_table_sql())
                done = conn.execute(
                    f"SELECT 1 FROM {schema.MIGRATIONS_TABLE} WHERE name = ?", (migration.__name__,)
                ).fetchone()
                if done:
                    return False
                for statement in migration(SQLITE):
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {schema.MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                    (migration.__name__, time.time()),
                )
                return True

            if self._transaction(apply):
                applied_now.append(migration.__name__)
        return applied_now

    async def write(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        if self._process is not None:
            try:
                payload = await encoded_rows(records)
            except (TypeError, ValueError) as exc:  # orjson: an int beyond 64 bits, say
                raise RecordsRejected(f"SQLite refused the rows: {exc}") from exc
            try:
                await self._process.write(payload)
                return
            except WriterStartFailed as exc:
                self._fall_back(exc)
        try:
            requests, attempts = await _row_lists(records)
            await self._call(self._write_sync, chunked("requests", requests), chunked("attempts", attempts))
        except DATA_ERRORS as exc:
            raise RecordsRejected(f"SQLite refused the rows: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"SQLite write failed: {exc}") from exc

    def _write_sync(self, requests: Chunks, attempts: Chunks) -> None:
        self._transaction(partial(execute_chunks, requests, attempts))

    async def prune(self, policy: RetentionPolicy, now: float) -> PruneResult:
        try:
            return await self._call(self._drive, prune_plan(policy, now, SQLITE))
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"SQLite prune failed: {exc}") from exc

    def _drive(self, steps: PruneSteps) -> PruneResult:
        """Run a retention plan on the writer thread; each :class:`Apply` is one transaction."""
        conn = self._connection()
        result: object = None
        while True:
            try:
                step = steps.send(result)
            except StopIteration as stop:
                value: PruneResult = stop.value
                return value
            if isinstance(step, Apply):
                result = self._transaction(partial(_apply, step))
            else:
                row = conn.execute(step.sql, step.params).fetchone()
                result = None if row is None else row[0]

    async def close(self) -> None:
        try:
            for process in (self._process, self._retired):
                if process is not None:
                    await process.close()
            await self._call(self._close_sync)
        finally:
            self._executor.shutdown(wait=False)

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- feedback and reads ----------------------------------------------------------------

    async def add_feedback(
        self, request_id: str, score: float | None = None, label: str | None = None, comment: str | None = None
    ) -> str:
        feedback_id = uuid.uuid4().hex
        row = (feedback_id, request_id, time.time(), score, label, comment)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO feedback (feedback_id, request_id, created, score, label, comment) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )

        await self._call(self._transaction, work)
        return feedback_id

    async def get_request(self, request_id: str) -> dict[str, Any] | None:
        return await self._call(self._get_request_sync, request_id)

    def _get_request_sync(self, request_id: str) -> dict[str, Any] | None:
        conn = self._connection()
        cursor = conn.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        out = row_to_request([c[0] for c in cursor.description], row)
        rows = _dicts(conn.execute("SELECT * FROM attempts WHERE request_id = ? ORDER BY idx", (request_id,)))
        out["attempts"] = attempts_of(out, rows)
        out["feedback"] = _dicts(conn.execute("SELECT * FROM feedback WHERE request_id = ? ORDER BY created",
                                              (request_id,)))  # fmt: skip
        return out

    async def count(self, table: str) -> int:
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}")

        sql = f"SELECT COUNT(*) FROM {table}"
        if table == "attempts":  # every attempt, in its own row or inline in its request's row
            sql = f"SELECT ({sql}) + (SELECT COUNT(*) FROM requests WHERE attempt IS NOT NULL)"

        def work() -> int:
            return int(self._connection().execute(sql).fetchone()[0])

        return await self._call(work)

    async def request_ids(self) -> list[str]:
        def work() -> list[str]:
            return [r[0] for r in self._connection().execute("SELECT request_id FROM requests")]

        return await self._call(work)

    async def daily_stats(self, since_day: str = "") -> list[DailyStats]:
        sql = daily_stats_sql(SQLITE)

        def work() -> list[DailyStats]:
            return [DailyStats.from_row(row) for row in self._connection().execute(sql, (since_day, since_day))]

        return await self._call(work)

    async def applied_migrations(self) -> list[str]:
        def work() -> list[str]:
            conn = self._connection()
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (schema.MIGRATIONS_TABLE,)
            ).fetchone()
            if not exists:
                return []
            return [r[0] for r in conn.execute(f"SELECT name FROM {schema.MIGRATIONS_TABLE} ORDER BY name")]

        return await self._call(work)


_SLICE = 64  # records turned into rows per event-loop turn


Rows = list[tuple[object, ...]]


async def _row_slices(records: Sequence[RequestRecord]) -> AsyncIterator[tuple[Rows, Rows]]:
    """The batch's ``requests`` and ``attempts`` rows, ``_SLICE`` records at a time, one slice per
    event-loop turn. Built on the loop, not on the writer thread: Python work there holds the GIL
    against the loop."""
    for start in range(0, len(records), _SLICE):
        if start:
            await asyncio.sleep(0)
        requests: Rows = []
        attempts: Rows = []
        for record in records[start : start + _SLICE]:
            requests.append(sqlite_request_row(record))
            if record.attempts and not inline_attempt(record):
                attempts.extend(attempt_rows(record, SQLITE))
        yield requests, attempts


async def _row_lists(records: Sequence[RequestRecord]) -> tuple[Rows, Rows]:
    """Every row of the batch, for the thread writer."""
    requests: Rows = []
    attempts: Rows = []
    async for slice_requests, slice_attempts in _row_slices(records):
        requests += slice_requests
        attempts += slice_attempts
    return requests, attempts


async def encoded_rows(records: Sequence[RequestRecord]) -> bytes:
    """The batch as one JSON document ``[[request rows...], [attempt rows...]]`` for the writer
    process, encoded a slice per event-loop turn. JSON keeps every value a row holds (text, numbers,
    booleans, null) as it is; a float that is not finite becomes null, as SQLite stores NaN."""
    requests: list[bytes] = []
    attempts: list[bytes] = []
    async for slice_requests, slice_attempts in _row_slices(records):
        requests.append(orjson.dumps(slice_requests)[1:-1])
        if slice_attempts:
            attempts.append(orjson.dumps(slice_attempts)[1:-1])
    return b"[[" + b",".join(requests) + b"],[" + b",".join(attempts) + b"]]"


def _apply(step: Apply, conn: sqlite3.Connection) -> list[int]:
    return [conn.execute(sql, params).rowcount for sql, params in step.statements]


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]
