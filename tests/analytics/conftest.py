"""A seeded log database per module, on real SQLite and real Postgres (like the storage tests,
Postgres is not skipped when missing: it fails)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from switchpoint.analytics.readers import LogReader, PostgresReader, SQLiteReader
from switchpoint.storage.postgres import PostgresStore
from switchpoint.storage.records import RequestRecord
from switchpoint.storage.sqlite import SQLiteStore
from switchpoint.storage.store import LogStore
from tests.storage.conftest import target  # noqa: F401  (the per-test store fixture, both databases)
from tests.storage.support import PG_URL, drop_schema

from .support import seed_sync

T = TypeVar("T")


@dataclass
class Seeded:
    """A database holding the seed traffic, written at ``now``."""

    kind: str
    now: float
    records: list[RequestRecord]
    path: Path | None = None
    schema: str | None = None

    def reader(self) -> LogReader:
        if self.kind == "sqlite":
            assert self.path is not None
            return SQLiteReader(self.path)
        return PostgresReader(PG_URL, schema=self.schema)

    def store(self) -> LogStore:
        if self.kind == "sqlite":
            assert self.path is not None
            return SQLiteStore(self.path)
        return PostgresStore(PG_URL, schema=self.schema)

    def run(self, query: Callable[[LogReader], Awaitable[T]]) -> T:
        """``query(reader)`` on a fresh reader (a Postgres connection belongs to one event loop)."""

        async def main() -> T:
            reader = self.reader()
            try:
                return await query(reader)
            finally:
                await reader.close()

        return asyncio.run(main())


def _seeded(kind: str, tmp: Path) -> Iterator[Seeded]:
    now = time.time()
    if kind == "sqlite":
        seeded = Seeded(kind, now, [], path=tmp / "logs.db")
    else:
        seeded = Seeded(kind, now, [], schema=f"sp_analytics_{os.getpid()}_{secrets.token_hex(4)}")
    try:
        seeded.records = seed_sync(seeded.store(), now)
        yield seeded
    finally:
        if seeded.schema:
            drop_schema(seeded.schema)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    yield from _seeded(request.param, tmp_path_factory.mktemp("seeded"))


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    yield from _seeded("sqlite", tmp_path_factory.mktemp("seeded"))


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-12)
