"""PostgresStore: the same schema and contract as SQLite, on Postgres via psycopg 3 (async).

Install with ``pip install 'switchpoint[postgres]'``. One connection, opened on first use and
reopened after any connection-level failure; operations are serialised by a lock (there is one
writer, and reads are rare). ``schema`` puts every table in that Postgres schema (created on
``migrate()`` if missing) via the connection's ``search_path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import make_conninfo

from switchpoint.storage import migrations as schema_
from switchpoint.storage.records import RequestRecord
from switchpoint.storage.retention import Apply, PruneResult, PruneSteps, RetentionPolicy, daily_stats_sql, prune_plan
from switchpoint.storage.rows import (
    ATTEMPT_COLUMNS,
    POSTGRES,
    REQUEST_COLUMNS,
    attempts_of,
    row_to_request,
    without_nul,
)
from switchpoint.storage.store import DailyStats, RecordsRejected, StoreUnavailable

__all__ = ["PostgresStore"]

Connection = psycopg.AsyncConnection[tuple[Any, ...]]

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_TABLES = frozenset({"requests", "attempts", "feedback", "daily_rollups"})
_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError, OverflowError, TypeError, ValueError)
T = TypeVar("T")

_MIGRATION_LOCK = 0x5357_4954_4348  # "SWITCH"; xor-ed with the schema's crc so schemas do not contend


class PostgresStore:
    """A :class:`~switchpoint.storage.store.LogStore` in Postgres."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        connect_timeout: float = 5.0,
        migrations: Sequence[schema_.Migration] = schema_.MIGRATIONS,
    ) -> None:
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError("schema must be a plain identifier: letters, digits and _, at most 63")
        self._url = url
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._migrations = tuple(migrations)
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()
        self._lock_key = _MIGRATION_LOCK ^ zlib.crc32((schema or "").encode())

    @property
    def url(self) -> str:
        """The connection URL (readers open their own connection with it)."""
        return self._url

    async def _connection(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            extra = {"options": f"-c search_path={self.schema}"} if self.schema else {}
            conninfo = make_conninfo(self._url, connect_timeout=max(2, round(self._connect_timeout)), **extra)
            conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
            self._conn = conn
        return conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            with contextlib.suppress(Exception):  # best effort: the connection is being discarded
                await conn.close()

    async def _guarded(self, what: str, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(conn, *args)`` under the lock; translate driver errors; drop a suspect connection."""
        async with self._lock:
            try:
                conn = await self._connection()
                return await fn(conn, *args)
            except _DATA_ERRORS as exc:
                if what != "write":
                    raise
                raise RecordsRejected(f"Postgres refused the rows: {exc}") from exc
            except psycopg.Error as exc:
                await self._drop_connection()
                raise StoreUnavailable(f"Postgres {what} failed: {exc}") from exc
            except BaseException:
                # Cancelled or timed out mid-operation: the connection's state is unknown.
                await self._drop_connection()
                raise

    # -- RecordStore -------------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        return await self._guarded("migration", self._migrate)

    async def _migrate(self, conn: Connection) -> list[str]:
        if self.schema:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                cursor = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,))
                if await cursor.fetchone() is None:
                    await conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(self.schema)))
        applied_now: list[str] = []
        for migration in self._migrations:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                await conn.execute(schema_.create_migrations_table_sql())
                done = await (
                    await conn.execute(
                        f"SELECT 1 FROM {schema_.MIGRATIONS_TABLE} WHERE name = %s", (migration.__name__,)
                    )
                ).fetchone()
                if done:
                    continue
                for statement in migration(POSTGRES):
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {schema_.MIGRATIONS_TABLE} (name, applied_at) VALUES (%s, %s)",
                    (migration.__name__, time.time()),
                )
                applied_now.append(migration.__name__)
        return applied_now

    async def write(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        try:
            payload = await _batch_json(records)
        except (TypeError, ValueError) as exc:  # e.g. an integer beyond 64 bits
            raise RecordsRejected(f"a record cannot be encoded: {exc}") from exc
        await self._guarded("write", self._write, payload)

    async def _write(self, conn: Connection, payload: str) -> None:
        await conn.execute(_INSERT_BATCH, (payload,))

    async def prune(self, policy: RetentionPolicy, now: float) -> PruneResult:
        return await self._guarded("prune", self._drive, prune_plan(policy, now, POSTGRES))

    async def _drive(self, conn: Connection, steps: PruneSteps) -> PruneResult:
        result: object = None
        while True:
            try:
                step = steps.send(result)
            except StopIteration as stop:
                value: PruneResult = stop.value
                return value
            if isinstance(step, Apply):
                counts: list[int] = []
                async with conn.transaction():
                    for statement, params in step.statements:
                        counts.append((await conn.execute(statement, params)).rowcount)
                result = counts
            else:
                row = await (await conn.execute(step.sql, step.params)).fetchone()
                result = None if row is None else row[0]

    async def close(self) -> None:
        async with self._lock:
            await self._drop_connection()

    # -- feedback and reads ----------------------------------------------------------------

    async def add_feedback(
        self, request_id: str, score: float | None = None, label: str | None = None, comment: str | None = None
    ) -> str:
        feedback_id = uuid.uuid4().hex
        row = (feedback_id, request_id, time.time(), score, label, comment)

        async def work(conn: Connection) -> None:
            await conn.execute(
                "INSERT INTO feedback (feedback_id, request_id, created, score, label, comment) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                row,
            )

        await self._guarded("feedback", work)
        return feedback_id

    async def get_request(self, request_id: str) -> dict[str, Any] | None:
        async def work(conn: Connection) -> dict[str, Any] | None:
            cursor = await conn.execute("SELECT * FROM requests WHERE request_id = %s", (request_id,))
            row = await cursor.fetchone()
            if row is None:
                return None
            assert cursor.description is not None
            out = row_to_request([c.name for c in cursor.description], row)
            rows = await _dicts(conn, "SELECT * FROM attempts WHERE request_id = %s ORDER BY idx", request_id)
            out["attempts"] = attempts_of(out, rows)
            out["feedback"] = await _dicts(conn, "SELECT * FROM feedback WHERE request_id = %s ORDER BY created",
                                           request_id)  # fmt: skip
            return out

        return await self._guarded("read", work)

    async def count(self, table: str) -> int:
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}")

        async def work(conn: Connection) -> int:
            row = await (await conn.execute(f"SELECT COUNT(*) FROM {table}")).fetchone()
            return int(row[0]) if row else 0

        return await self._guarded("read", work)

    async def request_ids(self) -> list[str]:
        async def work(conn: Connection) -> list[str]:
            return [r[0] for r in await (await conn.execute("SELECT request_id FROM requests")).fetchall()]

        return await self._guarded("read", work)

    async def daily_stats(self, since_day: str = "") -> list[DailyStats]:
        sql = daily_stats_sql(POSTGRES)

        async def work(conn: Connection) -> list[DailyStats]:
            rows = await (await conn.execute(sql, (since_day, since_day))).fetchall()
            return [DailyStats.from_row(r) for r in rows]

        return await self._guarded("read", work)

    async def applied_migrations(self) -> list[str]:
        async def work(conn: Connection) -> list[str]:
            exists = await (await conn.execute("SELECT to_regclass(%s)", (schema_.MIGRATIONS_TABLE,))).fetchone()
            if not exists or exists[0] is None:
                return []
            rows = await (await conn.execute(f"SELECT name FROM {schema_.MIGRATIONS_TABLE} ORDER BY name")).fetchall()
            return [r[0] for r in rows]

        return await self._guarded("read", work)


# One statement per batch: the records travel as one JSON document that Postgres unpacks, so the
# event loop spends ~1 µs per record encoding (in slices, see _batch_json) instead of ~25 µs
# adapting parameters. Attempts are inserted only for requests this statement inserted.
_RECORD_TYPES = (
    "request_id text, created float8, model text, stream bool, \"group\" text, deployment text, "
    "upstream_model text, status int, error_class text, latency_ms float8, ttft_ms float8, prompt_tokens bigint, "
    "completion_tokens bigint, cached_tokens bigint, cost float8, finish_reason text, client_disconnected bool, "
    "incomplete bool, tags jsonb, \"user\" text, attempts jsonb, key_id text, team text, routing jsonb, content jsonb"
)
_ATTEMPT_TYPES = (
    "deployment text, provider text, started float8, latency_ms float8, ttft_ms float8, status text, "
    "error_class text, reason text, \"group\" text, error_kind text, status_code int, retry_after float8, "
    "backoff_ms float8, probe bool, prompt_tokens bigint, completion_tokens bigint, cached_tokens bigint, "
    "cost float8, usage_estimated bool, score float8"
)
_REQUEST_VALUES = (
    "request_id, created, created + latency_ms / 1000.0, to_char(to_timestamp(created) AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD'), key_id, team, \"user\", COALESCE(tags, '[]'::jsonb), model, \"group\", deployment, "
    "upstream_model, routing, stream, status, error_class, finish_reason, client_disconnected, incomplete, "
    "latency_ms, ttft_ms, prompt_tokens, completion_tokens, cached_tokens, cost, "
    "COALESCE(jsonb_array_length(attempts), 0), content, NULL"  # attempt: Postgres keeps every attempt a row
)
_ATTEMPT_VALUES = (
    "b.request_id, e.n - 1, a.deployment, a.provider, "
    "(a.started - first_value(a.started) OVER (PARTITION BY b.request_id ORDER BY e.n)) * 1000.0, "
    "a.latency_ms, a.ttft_ms, a.status, a.error_class, a.reason, a.\"group\", a.error_kind, a.status_code, "
    "a.retry_after, COALESCE(a.backoff_ms, 0), COALESCE(a.probe, false), COALESCE(a.prompt_tokens, 0), "
    "COALESCE(a.completion_tokens, 0), COALESCE(a.cached_tokens, 0), COALESCE(a.cost, 0), "
    "COALESCE(a.usage_estimated, false), a.score"
)
_INSERT_BATCH = (
    f"WITH batch AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r({_RECORD_TYPES})), "
    f"inserted AS (INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) SELECT {_REQUEST_VALUES} FROM batch "
    "ON CONFLICT (request_id) DO NOTHING RETURNING request_id) "
    f"INSERT INTO attempts ({', '.join(ATTEMPT_COLUMNS)}) SELECT {_ATTEMPT_VALUES} "
    "FROM batch b JOIN inserted i ON i.request_id = b.request_id "
    "CROSS JOIN LATERAL jsonb_array_elements(COALESCE(b.attempts, '[]'::jsonb)) WITH ORDINALITY AS e(value, n) "
    f"CROSS JOIN LATERAL jsonb_to_record(e.value) AS a({_ATTEMPT_TYPES}) "
    "ON CONFLICT (request_id, idx) DO NOTHING"
)
_SLICE = 64  # records encoded per event-loop turn


async def _batch_json(records: Sequence[RequestRecord]) -> str:
    """The batch as one JSON array, encoded a slice at a time so the event loop is never held long."""
    parts: list[bytes] = []
    for start in range(0, len(records), _SLICE):
        if start:
            await asyncio.sleep(0)
        parts.append(orjson.dumps(records[start : start + _SLICE], default=str, option=orjson.OPT_NON_STR_KEYS)[1:-1])
    payload = b"[" + b",".join(parts) + b"]"
    if b"\\u0000" in payload:  # Postgres text and jsonb cannot hold U+0000
        payload = orjson.dumps(without_nul(orjson.loads(payload)))
    return payload.decode()


async def _dicts(conn: Connection, query: str, *params: object) -> list[dict[str, Any]]:
    cursor = await conn.execute(query, params)
    assert cursor.description is not None
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in await cursor.fetchall()]
