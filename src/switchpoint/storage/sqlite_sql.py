"""Synchronous SQLite plumbing shared by the store's thread and the writer process.

Opening a connection (WAL, ``synchronous=NORMAL``, a busy timeout), explicit transactions, and the
batch insert: rows as multi-row, idempotent ``INSERT ... VALUES (...), (...) ON CONFLICT DO
NOTHING`` statements. Kept apart from :mod:`switchpoint.storage.sqlite` so that the writer process
(:mod:`switchpoint.storage.sqlite_child`) imports only this, the row definitions and orjson.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

from switchpoint.storage.rows import SQLITE, insert_attempts_sql, insert_requests_sql

__all__ = ["DATA_ERRORS", "Chunks", "chunked", "connect", "execute_chunks", "transaction"]

T = TypeVar("T")

# Errors about the rows themselves; anything else (locked, I/O, missing file...) is "unavailable".
DATA_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
                OverflowError, TypeError, ValueError)  # fmt: skip


def connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, ``synchronous=NORMAL``."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        _use_wal(conn, busy_timeout_ms)
        # In WAL mode NORMAL is durable against a process crash; only a power loss can
        # lose the last commits. The writer is off the hot path either way.
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Switch to WAL. The switch ignores busy_timeout: when two processes open a new database at
    once, one gets "database is locked" at once, so retry until the other one has done it."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            time.sleep(0.01)  # noqa: TID251 - on the store's own thread or process, never the event loop


def transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], *, immediate: bool = True) -> T:
    """Run ``work`` in one transaction (``BEGIN IMMEDIATE``: take the write lock at once)."""
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


Chunks = list[tuple[str, list[object]]]


def chunked(table: Literal["requests", "attempts"], rows: Sequence[Sequence[object]]) -> Chunks:
    """Rows as multi-row INSERT statements of up to ``_CHUNK`` rows each, with flat parameters.

    Many rows per statement, not ``executemany``: sqlite3 releases the GIL around every statement
    step, and each release lets a thread that shares the GIL with the event loop take it back once
    more. With one row per step that was one GIL hand-off per row."""
    out: Chunks = []
    for start in range(0, len(rows), _CHUNK):
        part = rows[start : start + _CHUNK]
        out.append((_chunk_sql(table, len(part)), [value for row in part for value in row]))
    return out


def execute_chunks(requests: Chunks, attempts: Chunks, conn: sqlite3.Connection) -> None:
    for sql, params in requests:
        conn.execute(sql, params)
    for sql, params in attempts:
        conn.execute(sql, params)
