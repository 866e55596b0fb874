"""The store contract, run against real SQLite and real Postgres (``target`` is parametrized)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from switchpoint.storage import migrations
from switchpoint.storage.postgres import PostgresStore
from switchpoint.storage.records import AttemptRecord
from switchpoint.storage.retention import RetentionPolicy
from switchpoint.storage.rows import attempts_of
from switchpoint.storage.sqlite import SQLiteStore
from switchpoint.storage.store import DailyStats, LogStore, RecordsRejected, StoreError, StoreUnavailable, open_store

from .support import DAY, NOW, PG_URL, StoreTarget, record

TABLES = ("requests", "attempts", "feedback", "daily_rollups")


async def _with(store: LogStore, body: Any) -> Any:
    try:
        return await body(store)
    finally:
        await store.close()


def test_migrations_are_idempotent_and_concurrent(target: StoreTarget) -> None:
    async def main() -> None:
        first, second = target.make(), target.make()
        try:
            applied = await asyncio.gather(first.migrate(), second.migrate())
            assert sorted(applied[0] + applied[1]) == sorted(migrations.names())  # each applied exactly once
            assert await first.migrate() == []
            assert await first.applied_migrations() == migrations.names()
            for table in TABLES:
                assert await first.count(table) == 0
        finally:
            await first.close()
            await second.close()

    asyncio.run(main())


def test_upgrade_from_an_older_schema_keeps_rows(target: StoreTarget) -> None:
    old_columns = (
        "request_id, created, finished, day, model, stream, status, client_disconnected, incomplete, latency_ms, "
        "prompt_tokens, completion_tokens, cached_tokens, cost, attempt_count"
    )

    async def main() -> None:
        old = target.make(migrations.MIGRATIONS[:1])
        assert await _with(old, lambda s: s.migrate()) == ["m001_requests_and_attempts"]
        target.execute(
            f"INSERT INTO requests ({old_columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("old-1", NOW, NOW + 1, "2023-11-14", "m", False, 200, False, False, 1000.0, 1, 2, 0, 0.5, 0),
        )
        new = target.make()

        async def upgrade(store: LogStore) -> None:
            assert await store.migrate() == migrations.names()[1:]
            assert await store.applied_migrations() == migrations.names()
            row = await store.get_request("old-1")
            assert row is not None and row["cost"] == 0.5 and row["content"] is None and row["attempts"] == []
            await store.write([record(1, content={"messages": [{"role": "user", "content": "hi"}]})])
            again = await store.get_request("req-1")
            assert again is not None and again["content"] == {"messages": [{"role": "user", "content": "hi"}]}
            await store.add_feedback("old-1", score=1.0)
            assert await store.count("requests") == 2

        await _with(new, upgrade)

    asyncio.run(main())


def test_write_round_trips_every_field(target: StoreTarget) -> None:
    rec = record(
        7,
        stream=True,
        status=200,
        error_class="ProviderTimeout",
        ttft_ms=35.5,
        client_disconnected=True,
        incomplete=True,
        finish_reason=None,
        routing={"policy": "rules", "candidates": ["chat", "big"], "scores": {"chat": 0.7}, "reason": "short"},
        attempts=[
            AttemptRecord("openai-1", "openai", 10.0, latency_ms=50.0, status="error", error_class="RateLimited"),
            AttemptRecord("openai-2", "openai", 10.05, latency_ms=70.0, ttft_ms=35.5, reason="failover after X",
                          group="chat", error_kind="rate_limit", status_code=429, retry_after=1.5, backoff_ms=20.0,
                          probe=True, prompt_tokens=11, completion_tokens=7, cached_tokens=3, cost=0.25,
                          usage_estimated=True, score=0.9),
        ],
    )

    async def body(store: LogStore) -> None:
        await store.migrate()
        await store.write([rec])
        row = await store.get_request("req-7")
        assert row is not None
        expected = {
            "request_id": "req-7", "created": NOW, "finished": pytest.approx(NOW + 0.12), "day": "2023-11-14",
            "key_id": "key-1", "team": "team-a", "user_id": "u1", "tags": ["team:a", "env:test"],
            "model": "gpt-4o-mini", "model_group": "chat", "deployment": "openai-1",
            "upstream_model": "gpt-4o-mini-2024", "routing": rec.routing, "stream": True, "status": 200,
            "error_class": "ProviderTimeout", "finish_reason": None, "client_disconnected": True,
            "incomplete": True, "latency_ms": 120.0, "ttft_ms": 35.5, "prompt_tokens": 100,
            "completion_tokens": 20, "cached_tokens": 5, "cost": 0.001, "attempt_count": 2, "content": None,
        }  # fmt: skip
        assert {k: row[k] for k in expected} == expected
        first, second = row["attempts"]
        assert (first["idx"], first["deployment"], first["status"], first["error_class"]) == (
            0, "openai-1", "error", "RateLimited")  # fmt: skip
        assert first["start_offset_ms"] == 0.0 and second["start_offset_ms"] == pytest.approx(50.0)
        assert (second["ttft_ms"], second["reason"], second["latency_ms"]) == (35.5, "failover after X", 70.0)
        details = ("model_group", "error_kind", "status_code", "retry_after", "backoff_ms", "probe", "prompt_tokens",
                   "completion_tokens", "cached_tokens", "cost", "usage_estimated", "score")  # fmt: skip
        assert [bool(second[k]) if k in ("probe", "usage_estimated") else second[k] for k in details] == [
            "chat", "rate_limit", 429, 1.5, 20.0, True, 11, 7, 3, 0.25, True, 0.9]  # fmt: skip
        assert [bool(first[k]) if k in ("probe", "usage_estimated") else first[k] for k in details] == [
            None, None, None, None, 0.0, False, 0, 0, 0, 0.0, False, None]  # fmt: skip

    asyncio.run(_with(target.make(), body))


def test_writes_are_idempotent_by_request_id(target: StoreTarget) -> None:
    async def body(store: LogStore) -> None:
        await store.migrate()
        batch = [record(i) for i in range(20)]
        await store.write(batch)
        await store.write(batch)
        await store.write([record(3), record(3, cost=9.0), record(100), record(100)])  # duplicates in one batch
        assert await store.count("requests") == 21
        assert await store.count("attempts") == 21
        row = await store.get_request("req-3")
        assert row is not None and row["cost"] == 0.001  # the first write wins

    asyncio.run(_with(target.make(), body))


def test_feedback_is_kept_per_request_even_before_the_request_arrives(target: StoreTarget) -> None:
    async def body(store: LogStore) -> None:
        await store.migrate()
        early = await store.add_feedback("req-1", score=0.0, label="bad", comment="too long")
        await store.write([record(1)])
        late = await store.add_feedback("req-1", score=1.0, label="good")
        assert early != late
        row = await store.get_request("req-1")
        assert row is not None
        assert [(f["score"], f["label"], f["comment"]) for f in row["feedback"]] == [
            (0.0, "bad", "too long"), (1.0, "good", None)]  # fmt: skip

    asyncio.run(_with(target.make(), body))


def test_text_with_nul_characters_is_stored(target: StoreTarget) -> None:
    # Postgres text cannot hold U+0000; the store must not let one client string poison a batch.
    async def body(store: LogStore) -> None:
        await store.migrate()
        await store.write([record(1, user="a\x00b", tags=("x\x00",), routing={"k\x00": "v\x00"})])
        row = await store.get_request("req-1")
        assert row is not None and row["user_id"].startswith("a") and len(row["tags"]) == 1

    asyncio.run(_with(target.make(), body))


def test_rows_the_database_refuses_raise_records_rejected(target: StoreTarget) -> None:
    async def body(store: LogStore) -> None:
        await store.migrate()
        with pytest.raises(RecordsRejected):
            await store.write([record(1), record(2, prompt_tokens=2**70)])
        await store.write([record(1)])  # the store is still usable, and the failed batch left nothing
        assert await store.request_ids() == ["req-1"]

    asyncio.run(_with(target.make(), body))


def _days(store_records: int = 40) -> list[Any]:
    """Records over ten days, two groups, some errors; newest at NOW."""
    out = []
    for i in range(store_records):
        age_days = i / 4
        out.append(record(i, created=NOW - age_days * DAY, group="chat" if i % 2 else "code",
                          deployment=f"d{i % 3}", status=500 if i % 7 == 0 else 200, latency_ms=float(i),
                          error_class="ProviderError" if i % 7 == 0 else None))  # fmt: skip
    return out


def _approx(stats: list[DailyStats]) -> list[Any]:
    return [(s.day, s.model_group, s.deployment, s.requests, s.errors, s.prompt_tokens, s.completion_tokens,
             s.cached_tokens, pytest.approx(s.cost), pytest.approx(s.latency_ms_sum), s.latency_ms_max)
            for s in stats]  # fmt: skip


@pytest.mark.parametrize("chunk_rows", [1, 7, 5_000])
def test_prune_by_age_folds_rows_into_rollups(target: StoreTarget, chunk_rows: int) -> None:
    async def body(store: LogStore) -> None:
        await store.migrate()
        await store.write(_days())
        await store.add_feedback("req-1", score=1.0)
        before = await store.daily_stats()
        assert sum(s.requests for s in before) == 40 and sum(s.errors for s in before) == 6
        result = await store.prune(RetentionPolicy(raw_days=3, chunk_rows=chunk_rows), NOW)
        kept = [r for r in _days() if r.created >= NOW - 3 * DAY]
        assert result.requests_deleted == 40 - len(kept)
        assert sorted(await store.request_ids()) == sorted(r.request_id for r in kept)
        assert await store.count("attempts") == len(kept)
        assert _approx(await store.daily_stats()) == _approx(before)  # every row counted exactly once
        assert await store.prune(RetentionPolicy(raw_days=3), NOW) == type(result)()  # nothing left to do
        assert _approx(await store.daily_stats(since_day="2023-11-10")) == [
            a for a in _approx(before) if a[0] >= "2023-11-10"]  # fmt: skip

    asyncio.run(_with(target.make(), body))


def test_prune_by_max_rows_keeps_the_newest(target: StoreTarget) -> None:
    async def body(store: LogStore) -> None:
        await store.migrate()
        await store.write(_days())
        before = await store.daily_stats()
        result = await store.prune(RetentionPolicy(raw_days=None, max_rows=10, chunk_rows=3), NOW)
        assert result.requests_deleted == 30
        assert sorted(await store.request_ids()) == sorted(f"req-{i}" for i in range(10))
        assert _approx(await store.daily_stats()) == _approx(before)
        await store.write([record(i, created=NOW + i) for i in range(100, 105)])
        await store.prune(RetentionPolicy(raw_days=None, max_rows=10), NOW)
        assert await store.count("requests") == 10

    asyncio.run(_with(target.make(), body))


def test_rollups_and_feedback_expire(target: StoreTarget) -> None:
    async def body(store: LogStore) -> None:
        await store.migrate()
        await store.write(_days())
        await store.add_feedback("req-1")
        policy = RetentionPolicy(raw_days=1, rollup_days=5)
        first = await store.prune(policy, NOW)
        assert first.feedback_deleted == 0 and first.rollups_deleted > 0
        assert all(s.day >= "2023-11-09" for s in await store.daily_stats())
        later = await store.prune(policy, NOW + 2 * DAY)  # feedback is stamped with the real time
        assert later.requests_deleted > 0
        assert await store.count("feedback") == 1
        assert (await store.prune(RetentionPolicy(raw_days=None, max_rows=0), NOW)).feedback_deleted == 1

    asyncio.run(_with(target.make(), body))


def test_unreachable_store_raises_store_unavailable(target: StoreTarget, tmp_path: Any) -> None:
    if target.kind == "sqlite":
        (tmp_path / "a-file").write_text("")
        store: LogStore = SQLiteStore(tmp_path / "a-file" / "logs.db")
    else:
        store = PostgresStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2)

    async def body(store: LogStore) -> None:
        with pytest.raises(StoreUnavailable):
            await store.migrate()
        with pytest.raises(StoreUnavailable):
            await store.write([record(1)])

    asyncio.run(_with(store, body))


def test_open_store_by_url(tmp_path: Any) -> None:
    sqlite_store = open_store(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(sqlite_store, SQLiteStore) and sqlite_store.path == f"{tmp_path}/x.db"
    pg = open_store("postgresql://user:secret@db/logs", schema="gw")
    assert isinstance(pg, PostgresStore) and pg.schema == "gw"
    with pytest.raises(StoreError) as info:
        open_store("mysql://user:secret@db/logs")
    assert "secret" not in str(info.value)
    with pytest.raises(ValueError):
        PostgresStore("postgresql://db/logs", schema="bad; drop table x")


def test_queries_by_key_or_team_use_the_partial_indexes(target: StoreTarget) -> None:
    async def body(store: LogStore) -> None:
        await store.migrate()
        await store.write([record(1), record(2, key_id=None, team=None)])

    asyncio.run(_with(target.make(), body))
    for column, index in (("key_id", "requests_key_created_set"), ("team", "requests_team_created_set")):
        query = f"SELECT request_id FROM requests WHERE {column} = 'x' AND created >= 0"
        if target.kind == "sqlite":
            plan = " ".join(str(row) for row in target.execute(f"EXPLAIN QUERY PLAN {query}"))
        else:  # a tiny table is scanned unless told otherwise
            options = f"-c search_path={target.schema} -c enable_seqscan=off"
            with psycopg.connect(PG_URL, autocommit=True, options=options) as conn:
                plan = " ".join(str(row) for row in conn.execute(f"EXPLAIN {query}").fetchall())  # type: ignore[arg-type]
        assert index in plan, plan
    names = {row[0] for row in target.execute("SELECT request_id FROM requests WHERE key_id IS NULL")}
    assert names == {"req-2"}


def test_a_single_attempt_reads_back_the_same_wherever_it_is_stored(target: StoreTarget) -> None:
    only = AttemptRecord("openai-2", "openai", 10.0, latency_ms=70.0, ttft_ms=35.5, reason="first", group="chat",
                         status_code=200, prompt_tokens=11, completion_tokens=7, cached_tokens=3, cost=0.25,
                         usage_estimated=True)  # fmt: skip
    scored = AttemptRecord("openai-1", "openai", 10.0, latency_ms=50.0, group="cheap", score=0.4)

    async def body(store: LogStore) -> None:
        await store.migrate()
        await store.write([record(1, attempts=[only]), record(2, attempts=[scored]), record(3, attempts=[])])
        row = await store.get_request("req-1")
        assert row is not None and "attempt" not in row and row["attempt_count"] == 1
        (attempt,) = row["attempts"]
        assert {k: bool(v) if k in ("probe", "usage_estimated") else v for k, v in attempt.items()} == {
            "request_id": "req-1", "idx": 0, "deployment": "openai-2", "provider": "openai", "start_offset_ms": 0.0,
            "latency_ms": 70.0, "ttft_ms": 35.5, "status": "ok", "error_class": None, "reason": "first",
            "model_group": "chat", "error_kind": None, "status_code": 200, "retry_after": None, "backoff_ms": 0.0,
            "probe": False, "prompt_tokens": 11, "completion_tokens": 7, "cached_tokens": 3, "cost": 0.25,
            "usage_estimated": True, "score": None,
        }  # fmt: skip
        row = await store.get_request("req-3")
        assert row is not None and row["attempts"] == []
        assert await store.count("attempts") == 2

    asyncio.run(_with(target.make(), body))
    stored = sorted(row[0] for row in target.execute("SELECT request_id FROM attempts"))
    # SQLite keeps a lone unscored attempt in its request's row; a cascade's scored one stays a row
    # (the cascade calibration reads those); Postgres keeps every attempt a row.
    assert stored == (["req-2"] if target.kind == "sqlite" else ["req-1", "req-2"])


def test_an_inline_attempt_written_before_a_column_was_added_reads_with_nones() -> None:
    request: dict[str, Any] = {"request_id": "r", "attempt": [0, "d", "p", 0.0, 5.0]}
    (attempt,) = attempts_of(request, [])
    assert "attempt" not in request
    picked = (attempt["request_id"], attempt["deployment"], attempt["latency_ms"], attempt["score"])
    assert picked == ("r", "d", 5.0, None)
    assert attempts_of({"request_id": "r", "attempt": None}, []) == []


def test_the_attempts_all_view_shows_every_attempt_as_a_row(target: StoreTarget) -> None:
    two = [AttemptRecord("d1", "openai", 10.0, latency_ms=5.0, status="error", error_kind="timeout"),
           AttemptRecord("d2", "openai", 10.01, latency_ms=7.0, probe=True)]  # fmt: skip

    async def body(store: LogStore) -> None:
        await store.migrate()
        await store.write([record(1), record(2, attempts=two)])

    asyncio.run(_with(target.make(), body))
    rows = target.execute("SELECT request_id, idx, deployment, status, error_kind, probe, latency_ms, backoff_ms "
                          "FROM attempts_all ORDER BY request_id, idx")  # fmt: skip
    assert [(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7]) for r in rows] == [
        ("req-1", 0, "openai-1", "ok", None, False, 118.0, 0.0),
        ("req-2", 0, "d1", "error", "timeout", False, 5.0, 0.0),
        ("req-2", 1, "d2", "ok", None, True, 7.0, 0.0),
    ]
