"""BatchingSink: nothing lost, nothing duplicated, nothing unbounded; against real stores."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from switchpoint.clock import FakeClock
from switchpoint.storage.retention import RetentionPolicy
from switchpoint.storage.spool import Spool, encode_record
from switchpoint.storage.writer import BatchingSink

from .support import DAY, NOW, FlakyStore, StoreTarget, record, until


def _sink(store: Any, **options: Any) -> BatchingSink:
    options.setdefault("flush_interval", 0.01)
    return BatchingSink(store, **options)


def test_concurrent_emitters_lose_nothing(target: StoreTarget) -> None:
    async def main() -> None:
        sink = _sink(target.make(), batch_size=256)

        async def client(n: int) -> None:
            for i in range(100):
                sink.emit(record(f"{n}-{i}"))
                if i % 10 == 0:
                    await asyncio.sleep(0)

        await asyncio.gather(*(client(n) for n in range(50)))
        await sink.aclose()
        assert sink.stats() | {"queued": 0} == {
            "emitted": 5000, "queued": 0, "written": 5000, "spooled": 0, "replayed": 0, "dropped": 0,
            "rejected": 0, "write_failures": 0, "pruned": 0, "lost": 0}  # fmt: skip
        store = target.make()
        try:
            assert await store.count("requests") == 5000
            assert await store.count("attempts") == 5000
        finally:
            await store.close()

    asyncio.run(main())


def test_flushes_a_full_batch_at_once_and_the_rest_on_the_timer(sqlite_target: StoreTarget) -> None:
    async def main() -> None:
        store = FlakyStore(sqlite_target.make())
        sink = _sink(store, batch_size=100, flush_interval=0.5)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(100):
            sink.emit(record(i))
        await until(lambda: store.batches == [100], timeout=0.4)  # a full batch does not wait for the timer
        for i in range(100, 130):
            sink.emit(record(i))
        await asyncio.sleep(0.1)
        assert store.batches == [100]  # a partial one does
        await until(lambda: store.batches == [100, 30], timeout=1.0)
        assert loop.time() - start >= 0.45
        await sink.aclose()

    asyncio.run(main())


def test_aclose_drains_everything(target: StoreTarget) -> None:
    async def main() -> None:
        sink = _sink(target.make(), batch_size=10_000, flush_interval=60.0, queue_max=100_000)
        for i in range(1500):
            sink.emit(record(i))
        await asyncio.sleep(0)
        await sink.aclose()
        assert sink.written == 1500 and sink.queued == 0
        store = target.make()
        try:
            assert await store.count("requests") == 1500
        finally:
            await store.close()

    asyncio.run(main())


def test_emit_never_raises_and_counts_what_it_drops(sqlite_target: StoreTarget) -> None:
    sink = _sink(sqlite_target.make(), queue_max=100)
    for i in range(150):  # outside any event loop: queued, not started
        sink.emit(record(i))
    assert (sink.queued, sink.dropped) == (100, 50)
    asyncio.run(sink.aclose())
    sink.emit(record("late"))
    assert (sink.emitted, sink.written, sink.dropped) == (151, 100, 51)


def test_store_outage_spools_then_replays_without_duplicates(target: StoreTarget, tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock()
        store = FlakyStore(target.make())
        spool = Spool(tmp_path / "spool", max_bytes=10_000_000)
        sink = _sink(store, batch_size=50, spool=spool, clock=clock, retry_min=1.0)
        ids = [f"a{i}" for i in range(300)]
        stored_ids = [f"req-{i}" for i in ids]
        for i in ids[:100]:
            sink.emit(record(i))
        await until(lambda: sink.written == 100)

        store.down = True
        for i in ids[100:200]:
            sink.emit(record(i))
        await until(lambda: sink.spooled == 100)
        assert sink.degraded and not sink.store_available

        store.down = False  # back, but the sink waits for its backoff (fake time) before retrying
        for i in ids[200:250]:
            sink.emit(record(i))
        await until(lambda: sink.spooled == 150)
        assert sink.write_failures == 1

        store.lose_next_ack = True  # the first replayed batch commits, but its acknowledgement is lost
        clock.advance(1.5)
        await until(lambda: sink.write_failures == 2)
        assert sink.replayed == 0 and store.batches[-1] == 50
        clock.advance(5.0)
        await until(lambda: sink.replayed == 150 and not sink.degraded)
        for i in ids[250:]:
            sink.emit(record(i))
        await sink.aclose()

        assert (sink.written, sink.spooled, sink.replayed, sink.dropped) == (150, 150, 150, 0)
        assert sink.written + sink.replayed == sink.emitted == 300
        assert spool.segments() == [] and spool.size() == 0
        reader = target.make()
        try:
            assert sorted(await reader.request_ids()) == sorted(stored_ids)
            assert await reader.count("attempts") == 300
        finally:
            await reader.close()

    asyncio.run(main())


def test_a_full_spool_drops_and_counts_then_replays_on_restart(target: StoreTarget, tmp_path: Path) -> None:
    line = len(encode_record(record(0)))
    max_bytes = line * 120 + line // 2

    async def outage() -> BatchingSink:
        store = FlakyStore(target.make(), down=True)
        sink = _sink(store, batch_size=64, spool=Spool(tmp_path / "spool", max_bytes=max_bytes), clock=FakeClock())
        for i in range(500):
            sink.emit(record(i))
        await sink.aclose()  # the store is still down: everything queued goes to the spool
        return sink

    down = asyncio.run(outage())
    assert (down.spooled, down.dropped, down.written) == (120, 380, 0)
    assert Spool(tmp_path / "spool", max_bytes=max_bytes).size() <= max_bytes

    async def restart() -> BatchingSink:
        spool = Spool(tmp_path / "spool", max_bytes=max_bytes)
        sink = _sink(target.make(), spool=spool)
        sink.start()
        await until(lambda: sink.replayed == 120)
        await sink.aclose()
        assert spool.segments() == []
        reader = target.make()
        try:
            assert sorted(await reader.request_ids()) == sorted(f"req-{i}" for i in range(120))
        finally:
            await reader.close()
        return sink

    asyncio.run(restart())


def test_without_a_spool_records_wait_in_memory_for_the_store(sqlite_target: StoreTarget) -> None:
    async def main() -> None:
        clock = FakeClock()
        store = FlakyStore(sqlite_target.make(), down=True)
        sink = _sink(store, clock=clock, retry_min=2.0, queue_max=150)
        for i in range(100):
            sink.emit(record(i))
        await until(lambda: sink.write_failures == 1)
        await asyncio.sleep(0.05)
        assert (sink.queued, sink.write_failures) == (100, 1)  # no retry before the backoff ends
        for i in range(100, 200):
            sink.emit(record(i))
        assert (sink.queued, sink.dropped) == (150, 50)  # the bound holds
        store.down = False
        clock.advance(2.0)
        await until(lambda: sink.written == 150)
        await sink.aclose()
        assert sink.emitted == sink.written + sink.dropped

    asyncio.run(main())


def test_a_hanging_store_times_out_into_the_spool(sqlite_target: StoreTarget, tmp_path: Path) -> None:
    async def main() -> None:
        store = FlakyStore(sqlite_target.make(), hang=True)
        spool = Spool(tmp_path / "spool", max_bytes=10_000_000)
        sink = _sink(store, spool=spool, write_timeout=0.05, clock=FakeClock())
        for i in range(200):
            sink.emit(record(i))  # returns at once; the store is never awaited on this path
        await asyncio.wait_for(sink.aclose(), timeout=2.0)
        assert (sink.spooled, sink.written, sink.dropped) == (200, 0, 0)

    asyncio.run(main())


def test_without_a_spool_a_dead_store_at_close_costs_one_timeout_then_drops(sqlite_target: StoreTarget) -> None:
    async def main() -> None:
        store = FlakyStore(sqlite_target.make(), hang=True)
        sink = _sink(store, batch_size=10, write_timeout=0.05, clock=FakeClock())
        for i in range(100):
            sink.emit(record(i))
        await asyncio.wait_for(sink.aclose(), timeout=1.0)  # not 10 batches × write_timeout
        assert (sink.written, sink.dropped, sink.queued) == (0, 100, 0)

    asyncio.run(main())


def test_a_refused_record_is_isolated_and_the_rest_written(target: StoreTarget) -> None:
    async def main() -> None:
        sink = _sink(target.make(), batch_size=64)
        for i in range(100):
            sink.emit(record(i, prompt_tokens=2**70 if i == 37 else 1))
        await sink.aclose()
        assert (sink.written, sink.rejected, sink.dropped, sink.write_failures) == (99, 1, 1, 0)
        reader = target.make()
        try:
            assert await reader.count("requests") == 99
            assert await reader.get_request("req-37") is None
        finally:
            await reader.close()

    asyncio.run(main())


def test_leftover_and_torn_segments_are_replayed_on_start(sqlite_target: StoreTarget, tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    good = b"".join(encode_record(record(i)) for i in range(3))
    (directory / "00000000000000000001-999-dead-000001.open").write_bytes(good + b'{"request_id": "torn')
    (directory / "00000000000000000002-999-dead-000002.jsonl").write_bytes(encode_record(record(9)))

    async def main() -> None:
        spool = Spool(directory, max_bytes=1_000_000)
        sink = _sink(sqlite_target.make(), spool=spool)
        sink.start()
        await until(lambda: sink.replayed == 4)
        await sink.aclose()
        assert (sink.replayed, sink.dropped) == (4, 1)
        assert os.listdir(directory) == []

    asyncio.run(main())


def test_content_is_stored_only_when_enabled(sqlite_target: StoreTarget) -> None:
    content = {"messages": [{"role": "user", "content": "secret plans"}], "response": "ok"}

    async def main(store_content: bool) -> Any:
        sink = _sink(sqlite_target.make(), store_content=store_content)
        sink.emit(record(f"c-{store_content}", content=content))
        await sink.aclose()
        reader = sqlite_target.make()
        try:
            row = await reader.get_request(f"req-c-{store_content}")
        finally:
            await reader.close()
        assert row is not None
        return row["content"]

    assert asyncio.run(main(False)) is None
    assert asyncio.run(main(True)) == content


def test_retention_runs_at_start_and_then_every_interval(target: StoreTarget) -> None:
    async def main() -> None:
        clock = FakeClock(wall_start=NOW)
        sink = _sink(target.make(), clock=clock, retention=RetentionPolicy(raw_days=1), prune_interval=3600)
        for i in range(10):
            sink.emit(record(i, created=NOW - 3 * DAY))
        await sink.flush()
        sink.emit(record("fresh", created=NOW))
        await until(lambda: sink.pruned == 10)  # the first tick after start prunes
        for i in range(10, 15):
            sink.emit(record(i, created=NOW - 3 * DAY))
        await until(lambda: sink.written == 16)
        await asyncio.sleep(0.05)
        assert sink.pruned == 10  # not again before the interval
        clock.advance(3600)
        await until(lambda: sink.pruned == 15)
        await sink.aclose()
        reader = target.make()
        try:
            assert await reader.request_ids() == ["req-fresh"]
            stats = await reader.daily_stats()
            assert sum(s.requests for s in stats) == 16
        finally:
            await reader.close()

    asyncio.run(main())


def test_record_invariants_survive_a_store_that_flaps(target: StoreTarget, tmp_path: Path) -> None:
    """Many emitters while the store goes down and up; afterwards every id is stored exactly once."""

    async def main() -> None:
        clock = FakeClock()
        store = FlakyStore(target.make())
        spool = Spool(tmp_path / "spool", max_bytes=50_000_000, segment_bytes=64 * 1024)
        sink = _sink(store, batch_size=100, spool=spool, clock=clock, retry_min=0.1, retry_max=0.1)

        async def client(n: int) -> None:
            for i in range(100):
                sink.emit(record(f"{n}-{i}"))
                await asyncio.sleep(0)

        async def flapper() -> None:
            for step in range(12):
                store.down = step % 2 == 0
                store.lose_next_ack = step % 3 == 0
                await asyncio.sleep(0.01)
                clock.advance(0.2)
            store.down = False

        await asyncio.gather(flapper(), *(client(n) for n in range(20)))
        clock.advance(1.0)
        await until(lambda: not sink.degraded and sink.queued == 0)
        await sink.aclose()
        assert sink.dropped == 0 and sink.spooled > 0 and sink.write_failures >= 1
        assert sink.written + sink.replayed == sink.emitted == 2000
        reader = target.make()
        try:
            ids = await reader.request_ids()
            assert len(ids) == len(set(ids)) == 2000
        finally:
            await reader.close()

    asyncio.run(main())


def test_astart_waits_for_the_start_up_tick_so_first_records_keep_their_batches(sqlite_target: StoreTarget) -> None:
    async def main() -> None:
        store = FlakyStore(sqlite_target.make())
        sink = _sink(store, batch_size=10, flush_interval=60.0)
        await sink.astart()
        assert await store.inner.count("requests") == 0  # migrated before astart returned
        for i in range(10):
            sink.emit(record(i))
        await until(lambda: store.batches == [10])
        for i in range(10, 17):
            sink.emit(record(i))  # less than a batch: waits for the (60 s) timer
        await asyncio.sleep(0.05)
        assert store.batches == [10]
        await sink.aclose()
        assert store.batches == [10, 7]

    asyncio.run(main())


def test_astart_is_bounded_by_the_write_timeout_when_the_store_hangs(sqlite_target: StoreTarget) -> None:
    async def main() -> None:
        store = FlakyStore(sqlite_target.make(), hang=True)
        sink = _sink(store, write_timeout=0.1, flush_interval=60.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(sink.astart(), timeout=2.0)
        assert loop.time() - started < 1.0
        store.hang = False
        await asyncio.wait_for(sink.aclose(), timeout=5.0)

    asyncio.run(main())
