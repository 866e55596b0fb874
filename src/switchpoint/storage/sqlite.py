"""SQLiteStore: the default log store. stdlib ``sqlite3`` on one dedicated thread, WAL mode.

Every database call runs on a private single-thread executor that owns the connection, so the
event loop never blocks on disk and the connection is only ever used by the thread that opened
it. Calls are serialised in submission order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from switchpoint.storage import migrations as schema
from switchpoint.storage.records import RequestRecord
from switchpoint.storage.retention import Apply, PruneResult, PruneSteps, RetentionPolicy, daily_stats_sql, prune_plan
from switchpoint.storage.rows import (
    SQLITE,
    attempt_rows,
    insert_attempts_sql,
    insert_requests_sql,
    row_to_request,
    sqlite_request_row,
)
from switchpoint.storage.store import DailyStats, RecordsRejected, StoreUnavailable

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_TABLES = frozenset({"requests", "attempts", "feedback", "daily_rollups"})
# Errors about the rows themselves; anything else (locked, I/O, missing file...) is "unavailable".
_DATA_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
                OverflowError, TypeError, ValueError)  # fmt: skip


class SQLiteStore:
    """A :class:`~switchpoint.storage.store.LogStore` in one SQLite file (``:memory:`` for tests)."""

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = 5_000,
        migrations: Sequence[schema.Migration] = schema.MIGRATIONS,
    ) -> None:
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._migrations = tuple(migrations)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchpoint-sqlite")
        self._conn: sqlite3.Connection | None = None

    # -- plumbing ----------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _connection(self) -> sqlite3.Connection:
        """On the writer thread only."""
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_timeout_ms / 1000)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                self._use_wal(conn)
                # In WAL mode NORMAL is durable against a process crash; only a power loss can
                # lose the last commits. The writer is off the hot path either way.
                conn.execute("PRAGMA synchronous = NORMAL")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL. The switch ignores busy_timeout: when two processes open a new database at
        once, one gets "database is locked" at once, so retry until the other one has done it."""
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                    return
                time.sleep(0.01)  # noqa: TID251 - on the store's own thread, never the event loop

    def _transaction(self, work: Callable[[sqlite3.Connection], T], *, immediate: bool = True) -> T:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return result

    # -- RecordStore -------------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        try:
            return await self._call(self._migrate_sync)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"SQLite migration failed: {exc}") from exc

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
        try:
            requests, attempts = await _rows(records)
            await self._call(self._write_sync, requests, attempts)
        except _DATA_ERRORS as exc:
            raise RecordsRejected(f"SQLite refused the rows: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"SQLite write failed: {exc}") from exc

    def _write_sync(self, requests: _Chunks, attempts: _Chunks) -> None:
        def work(conn: sqlite3.Connection) -> None:
            for sql, params in requests:
                conn.execute(sql, params)
            for sql, params in attempts:
                conn.execute(sql, params)

        self._transaction(work)

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
        out["attempts"] = _dicts(conn.execute("SELECT * FROM attempts WHERE request_id = ? ORDER BY idx",
                                              (request_id,)))  # fmt: skip
        out["feedback"] = _dicts(conn.execute("SELECT * FROM feedback WHERE request_id = ? ORDER BY created",
                                              (request_id,)))  # fmt: skip
        return out

    async def count(self, table: str) -> int:
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}")

        def work() -> int:
            return int(self._connection().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

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
_CHUNK = 64  # rows per INSERT statement


def _insert_many_sql(single: str, rows: int) -> str:
    """``INSERT ... VALUES (?, ...), (?, ...) ...`` for ``rows`` rows, from the one-row statement."""
    head, rest = single.split(" VALUES ", 1)
    group, tail = rest.split(") ", 1)
    return f"{head} VALUES {', '.join([group + ')'] * rows)} {tail}"


@functools.lru_cache(maxsize=2 * _CHUNK)
def _chunk_sql(table: str, rows: int) -> str:
    single = insert_requests_sql(SQLITE) if table == "requests" else insert_attempts_sql(SQLITE)
    return _insert_many_sql(single, rows)


_Chunks = list[tuple[str, list[object]]]


async def _rows(records: Sequence[RequestRecord]) -> tuple[_Chunks, _Chunks]:
    """The batch as multi-row INSERT statements of up to ``_CHUNK`` rows, with flat parameters.

    Built on the event loop, a slice per turn, not on the writer thread: Python work there would
    hold the GIL against the loop for up to the switch interval (5 ms) at a time. And many rows
    per statement, not ``executemany``: sqlite3 releases the GIL around every statement step, and
    each release lets the writer thread take the GIL back from the loop once more. With one row
    per step that was one GIL hand-off per row, which cost the loop more than the rows themselves
    (``docs/benchmarks.md``, request log on vs off)."""
    requests: _Chunks = []
    attempts: _Chunks = []
    flat_r: list[object] = []
    flat_a: list[object] = []
    n_r = n_a = 0
    for start in range(0, len(records), _SLICE):
        if start:
            await asyncio.sleep(0)
        for record in records[start : start + _SLICE]:
            flat_r.extend(sqlite_request_row(record))
            n_r += 1
            if n_r == _CHUNK:
                requests.append((_chunk_sql("requests", n_r), flat_r))
                flat_r, n_r = [], 0
            if record.attempts:
                for row in attempt_rows(record, SQLITE):
                    flat_a.extend(row)
                    n_a += 1
                    if n_a == _CHUNK:
                        attempts.append((_chunk_sql("attempts", n_a), flat_a))
                        flat_a, n_a = [], 0
    if n_r:
        requests.append((_chunk_sql("requests", n_r), flat_r))
    if n_a:
        attempts.append((_chunk_sql("attempts", n_a), flat_a))
    return requests, attempts


def _apply(step: Apply, conn: sqlite3.Connection) -> list[int]:
    return [conn.execute(sql, params).rowcount for sql, params in step.statements]


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]
