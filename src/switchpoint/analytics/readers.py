"""Read-only connections to the log database, separate from the store's writer.

Analytics queries scan many rows. Running them on the store's own connection would queue them
behind (and ahead of) the batched writes: the SQLite store has one thread and the Postgres store
one lock-serialised connection. So a reader opens its own connection: in SQLite's WAL mode
readers never block the writer, and a Postgres session runs in its own backend. Both are
read-only by construction (``PRAGMA query_only``; ``default_transaction_read_only``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote

from switchpoint.analytics.sql import POSTGRES, SQLITE, SqlDialect
from switchpoint.storage.store import LogStore, StoreError, StoreUnavailable

if TYPE_CHECKING:
    import psycopg

__all__ = ["LogReader", "PostgresReader", "Rows", "SQLiteReader", "open_reader", "reader_for"]

T = TypeVar("T")
#: Column names, then the rows.
Rows = tuple[list[str], list[tuple[Any, ...]]]


class LogReader(Protocol):
    """Runs read-only queries (``?`` placeholders) against the log tables."""

    dialect: SqlDialect

    async def query(self, sql: str, params: Sequence[object] = ()) -> Rows: ...

    async def close(self) -> None: ...


class SQLiteReader:
    """A read-only connection to a SQLite log file, on a private thread."""

    dialect = SQLITE

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5_000) -> None:
        if str(path) == ":memory:":
            raise StoreError("an in-memory SQLite store cannot be read from another connection; use a file")
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchpoint-analytics")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # mode=rw: never create a database that is not there; query_only: never write to it.
            uri = f"file:{quote(str(Path(self.path).resolve()))}?mode=rw"
            try:
                conn = sqlite3.connect(uri, uri=True, timeout=self._busy_timeout_ms / 1000,
                                       check_same_thread=False)  # fmt: skip
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"cannot open the log database {self.path}: {exc}") from exc
            conn.execute("PRAGMA query_only = ON")
            self._conn = conn
        return self._conn

    def _query_sync(self, sql: str, params: Sequence[object]) -> Rows:
        cursor = self._connection().execute(sql, tuple(params))
        columns = [c[0] for c in cursor.description or ()]
        return columns, cursor.fetchall()

    async def query(self, sql: str, params: Sequence[object] = ()) -> Rows:
        try:
            return await self._call(self._query_sync, sql, params)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite read failed: {exc}") from exc

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def close(self) -> None:
        def close_sync() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await self._call(close_sync)
        finally:
            self._executor.shutdown(wait=False)


class PostgresReader:
    """A read-only psycopg session to the log database; reconnects after a connection error."""

    dialect = POSTGRES

    def __init__(self, url: str, *, schema: str | None = None, connect_timeout: float = 5.0) -> None:
        self._url = url
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        import psycopg
        from psycopg.conninfo import make_conninfo

        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            options = "-c default_transaction_read_only=on"
            if self.schema:
                options += f" -c search_path={self.schema}"
            conninfo = make_conninfo(self._url, connect_timeout=max(2, round(self._connect_timeout)), options=options)
            conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
            self._conn = conn
        return conn

    async def query(self, sql: str, params: Sequence[object] = ()) -> Rows:
        import psycopg

        async with self._lock:
            try:
                conn = await self._connection()
                cursor = await conn.execute(POSTGRES.sql(sql), tuple(params))
                columns = [c.name for c in cursor.description or ()]
                return columns, await cursor.fetchall()
            except psycopg.OperationalError as exc:
                await self._drop()
                raise StoreUnavailable(f"Postgres read failed: {exc}") from exc
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
                # a database (or schema) the gateway has not logged to, or not migrated yet
                message = str(exc).splitlines()[0]
                raise StoreUnavailable(f"Postgres read failed: {message} (no request log here: is this the "
                                       "database and schema the gateway logs to, and has it started once?)") from exc
            except BaseException:
                if self._conn is not None and self._conn.broken:
                    await self._drop()
                raise

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            with contextlib.suppress(Exception):  # best effort: the connection is being discarded
                await conn.close()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()


def open_reader(url: str, *, schema: str | None = None) -> LogReader:
    """A reader for a log store URL, as :func:`~switchpoint.storage.store.open_store` takes it."""
    if url.startswith("sqlite:///"):
        return SQLiteReader(url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresReader(url, schema=schema)
    raise StoreError(f"unsupported log store URL {url.split(':', 1)[0]!r}: use sqlite:///path or postgresql://...")


def reader_for(store: LogStore) -> LogReader:
    """A reader on the same database as ``store`` (a :class:`SQLiteStore` or :class:`PostgresStore`)."""
    from switchpoint.storage.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return SQLiteReader(store.path)
    try:
        from switchpoint.storage.postgres import PostgresStore
    except ImportError:  # pragma: no cover - depends on the installed extras
        PostgresStore = None  # type: ignore[assignment,misc]
    if PostgresStore is not None and isinstance(store, PostgresStore):
        return PostgresReader(store.url, schema=store.schema)
    raise StoreError(f"analytics cannot read a {type(store).__name__}; use a SQLite or Postgres log store")
