"""Helpers for the storage tests: where a store lives, records to write, store wrappers."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from switchpoint.storage import migrations
from switchpoint.storage.postgres import PostgresStore
from switchpoint.storage.records import AttemptRecord, RequestRecord
from switchpoint.storage.retention import PruneResult, RetentionPolicy
from switchpoint.storage.sqlite import SQLiteStore
from switchpoint.storage.store import LogStore, StoreUnavailable

PG_URL = os.environ.get("SWITCHPOINT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DAY = 86_400.0
NOW = 1_700_000_000.0  # FakeClock's default wall start


@dataclass
class StoreTarget:
    """One database for one test: a SQLite file, or a Postgres schema dropped afterwards."""

    kind: str
    path: Path | None = None
    schema: str | None = None
    writer: Literal["thread", "process"] = "thread"  # SQLite: where records are written

    def make(self, migration_list: Sequence[migrations.Migration] = migrations.MIGRATIONS) -> LogStore:
        if self.kind == "sqlite":
            assert self.path is not None
            return SQLiteStore(self.path, migrations=migration_list, writer=self.writer)
        return PostgresStore(PG_URL, schema=self.schema, migrations=migration_list)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Raw SQL with ``?`` placeholders, outside any store (to build old schemas, inspect)."""
        if self.kind == "sqlite":
            with sqlite3.connect(str(self.path)) as conn:
                cursor = conn.execute(sql, tuple(params))
                return cursor.fetchall() if cursor.description else []
        with psycopg.connect(PG_URL, autocommit=True, options=f"-c search_path={self.schema}") as conn:
            cur = conn.execute(sql.replace("?", "%s"), tuple(params))  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]


def record(i: int | str, created: float = NOW, **overrides: Any) -> RequestRecord:
    """A realistic record; ``i`` makes the id."""
    values: dict[str, Any] = dict(
        request_id=f"req-{i}",
        created=created,
        model="gpt-4o-mini",
        stream=False,
        group="chat",
        deployment="openai-1",
        upstream_model="gpt-4o-mini-2024",
        latency_ms=120.0,
        prompt_tokens=100,
        completion_tokens=20,
        cached_tokens=5,
        cost=0.001,
        finish_reason="stop",
        tags=("team:a", "env:test"),
        user="u1",
        key_id="key-1",
        team="team-a",
        attempts=[AttemptRecord("openai-1", "openai", started=10.0, latency_ms=118.0, ttft_ms=40.0)],
    )
    values.update(overrides)
    return RequestRecord(**values)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


@dataclass
class FlakyStore:
    """Wraps a real store. ``down`` makes every call fail; ``lose_next_ack`` commits a write, then fails it."""

    inner: LogStore
    down: bool = False
    lose_next_ack: bool = False
    batches: list[int] = field(default_factory=list)
    hang: bool = False

    async def _gate(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            raise StoreUnavailable("connection refused (test)")

    async def migrate(self) -> list[str]:
        await self._gate()
        return await self.inner.migrate()

    async def write(self, records: Sequence[RequestRecord]) -> None:
        await self._gate()
        await self.inner.write(records)
        self.batches.append(len(records))
        if self.lose_next_ack:
            self.lose_next_ack = False
            raise StoreUnavailable("connection reset after commit (test)")

    async def prune(self, policy: RetentionPolicy, now: float) -> PruneResult:
        await self._gate()
        return await self.inner.prune(policy, now)

    async def close(self) -> None:
        await self.inner.close()
