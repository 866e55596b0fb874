"""Every store test runs against real SQLite (a file in tmp_path) and real Postgres.

SQLite runs twice: records written on the store's thread, and from its writer process.
Postgres is ``SWITCHPOINT_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test gets its own schema, dropped afterwards. These tests are not skipped when Postgres is
missing: they fail, because the Postgres store is part of the product.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import StoreTarget, drop_schema


@pytest.fixture(params=["sqlite", "sqlite-process", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    if request.param.startswith("sqlite"):
        writer = "process" if request.param == "sqlite-process" else "thread"
        yield StoreTarget("sqlite", path=tmp_path / "logs" / "switchpoint.db", writer=writer)
        return
    schema = f"sp_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        yield StoreTarget("postgres", schema=schema)
    finally:
        drop_schema(schema)


@pytest.fixture
def sqlite_target(tmp_path: Path) -> StoreTarget:
    return StoreTarget("sqlite", path=tmp_path / "logs" / "switchpoint.db")
