"""What logging costs: emit() per call, sustained write throughput, and event-loop lag, per store.

    python3 bench/storage_overhead.py                     # SQLite (temp file) and Postgres
    python3 bench/storage_overhead.py --stores sqlite --records 200000
    SWITCHPOINT_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test python3 bench/storage_overhead.py

* emit: the hot path. Records are built beforehand; only ``sink.emit(record)`` is timed, while the
  background writer runs on the same loop, in bursts of ``--burst`` calls between loop turns.
* throughput: records per second from the first emit until ``aclose()`` returned (every record
  committed), emitting as fast as the loop allows, with ``queue_max`` large enough to drop none.
* loop lag: a task sleeping 1 ms measures how late it wakes; the writer's share of the loop shows
  up here (F14: added p99 latency should stay under 2 ms). Measured twice: during the full-speed
  run above, and during a paced run at ``--rate`` records/s for ``--seconds`` (a busy gateway),
  next to the same paced run with a sink that discards (the machine's own baseline).
* ``--outage``: the paced run while the store is down (F14), every record going to the spool.
* CPU per record in the paced run, minus the baseline's: on the event-loop thread (what the
  request path shares) and in the whole process (the writer's thread included).

Request ids are made like the gateway makes them (time-ordered, ``storage/ids.py``);
``--ids random`` uses 24 random hex characters instead, as the gateway did before.

Postgres runs in a throw-away schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from switchpoint.storage.ids import new_request_id
from switchpoint.storage.records import AttemptRecord, RequestRecord
from switchpoint.storage.spool import Spool
from switchpoint.storage.store import LogStore, StoreUnavailable
from switchpoint.storage.writer import BatchingSink

PG_URL = os.environ.get("SWITCHPOINT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def make_records(n: int, tag: str, ids: str = "ordered") -> list[RequestRecord]:
    now = time.time()
    return [
        RequestRecord(
            request_id=new_request_id() if ids == "ordered" else secrets.token_hex(12), created=now,
            model="gpt-4o-mini", stream=i % 2 == 0, group="chat",
            deployment="openai-1", upstream_model="gpt-4o-mini-2024-07-18", latency_ms=812.5, ttft_ms=143.0,
            prompt_tokens=1200, completion_tokens=240, cached_tokens=512, cost=0.000_324, finish_reason="stop",
            tags=("team:search", "env:prod"), user="user-1234", key_id="key-abc", team="search",
            routing={"policy": "rules", "candidates": ["chat", "chat-big"], "reason": "short prompt"},
            attempts=[AttemptRecord("openai-1", "openai", 1.0, latency_ms=810.0, ttft_ms=143.0)],
        )  # fmt: skip
        for i in range(n)
    ]


async def lag_probe(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append((time.perf_counter() - start - 0.001) * 1000)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_one(store: LogStore, records: list[RequestRecord], burst: int, batch_size: int) -> dict[str, Any]:
    await store.migrate()
    sink = BatchingSink(store, batch_size=batch_size, flush_interval=0.05, queue_max=len(records) + 1)
    sink.start()
    stop, lags = asyncio.Event(), []
    probe = asyncio.create_task(lag_probe(stop, lags))
    emit_ns: list[int] = []
    clock = time.perf_counter_ns
    started = time.perf_counter()
    for offset in range(0, len(records), burst):
        chunk = records[offset : offset + burst]
        t0 = clock()
        for record in chunk:
            sink.emit(record)
        emit_ns.append((clock() - t0) // len(chunk))
        await asyncio.sleep(0)
    await sink.aclose()
    elapsed = time.perf_counter() - started
    stop.set()
    await probe
    assert sink.written == len(records) and sink.dropped == 0, sink.stats()
    return {
        "emit_us_mean": statistics.fmean(emit_ns) / 1000,
        "emit_us_p99_burst": pct([float(v) for v in emit_ns], 0.99) / 1000,
        "records_per_s": len(records) / elapsed,
        "loop_lag_ms_p50": pct(lags, 0.50),
        "loop_lag_ms_p99": pct(lags, 0.99),
        "loop_lag_ms_max": max(lags),
    }


class _Discard:
    """A sink that drops everything: the baseline for the paced run."""

    def emit(self, record: RequestRecord) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def paced(sink: BatchingSink | _Discard, records: list[RequestRecord], rate: int) -> dict[str, float]:
    """Emit at ``rate`` records/s in 5 ms steps; the loop lag seen meanwhile."""
    stop, lags = asyncio.Event(), []
    probe = asyncio.create_task(lag_probe(stop, lags))
    loop = asyncio.get_running_loop()
    cpu, loop_cpu = time.process_time(), time.thread_time()
    start, sent, step = loop.time(), 0, 0.005
    while sent < len(records):
        due = min(len(records), int((loop.time() - start) * rate))
        for record in records[sent:due]:
            sink.emit(record)
        sent = due
        await asyncio.sleep(step)
    await sink.aclose()
    stop.set()
    await probe
    n = len(records)
    return {"p50": pct(lags, 0.50), "p99": pct(lags, 0.99), "max": max(lags),
            "cpu_us": (time.process_time() - cpu) / n * 1e6, "loop_cpu_us": (time.thread_time() - loop_cpu) / n * 1e6}


async def run_paced(make_store: Any, records: list[RequestRecord], rate: int, batch_size: int) -> dict[str, Any]:
    store = make_store()
    await store.migrate()
    sink = BatchingSink(store, batch_size=batch_size, flush_interval=0.1, queue_max=len(records) + 1)
    sink.start()
    with_sink = await paced(sink, records, rate)
    assert sink.written == len(records), sink.stats()
    baseline = await paced(_Discard(), records, rate)
    return {
        f"paced_{rate}/s_lag_ms_p50": with_sink["p50"],
        f"paced_{rate}/s_lag_ms_p99": with_sink["p99"],
        f"paced_{rate}/s_lag_ms_max": with_sink["max"],
        "baseline_lag_ms_p99": baseline["p99"],
        "paced_cpu_us_per_record": with_sink["cpu_us"] - baseline["cpu_us"],
        "paced_loop_cpu_us_per_record": with_sink["loop_cpu_us"] - baseline["loop_cpu_us"],
    }


class _DownStore:
    """A store that is unreachable (F14): every write fails, so the writer spools."""

    async def migrate(self) -> list[str]:
        raise StoreUnavailable("down for the benchmark")

    async def write(self, records: Any) -> None:
        raise StoreUnavailable("down for the benchmark")

    async def prune(self, policy: Any, now: float) -> Any:
        raise StoreUnavailable("down for the benchmark")

    async def close(self) -> None:
        return None


async def run_outage(records: list[RequestRecord], rate: int, batch_size: int) -> dict[str, Any]:
    """F14: the paced run while the store is down and every record goes to the disk spool."""
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool", max_bytes=1 << 30)
        sink = BatchingSink(_DownStore(), batch_size=batch_size, flush_interval=0.1, queue_max=len(records) + 1,
                            spool=spool, retry_max=3600)  # fmt: skip
        sink.start()
        with_sink = await paced(sink, records, rate)
        assert sink.spooled == len(records), sink.stats()
        baseline = await paced(_Discard(), records, rate)
    return {
        f"outage_{rate}/s_lag_ms_p50": with_sink["p50"],
        f"outage_{rate}/s_lag_ms_p99": with_sink["p99"],
        f"outage_{rate}/s_lag_ms_max": with_sink["max"],
        "outage_baseline_lag_ms_p99": baseline["p99"],
        "outage_cpu_us_per_record": with_sink["cpu_us"] - baseline["cpu_us"],
        "outage_loop_cpu_us_per_record": with_sink["loop_cpu_us"] - baseline["loop_cpu_us"],
    }


async def bench_sqlite(records: list[RequestRecord], paced_records: list[RequestRecord], args: Any) -> dict[str, Any]:
    from switchpoint.storage.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        result = await run_one(SQLiteStore(Path(tmp) / "bench.db"), records, args.burst, args.batch_size)
        result |= await run_paced(lambda: SQLiteStore(Path(tmp) / "bench.db"), paced_records, args.rate,
                                  args.batch_size)  # fmt: skip
        return result


async def bench_postgres(records: list[RequestRecord], paced_records: list[RequestRecord], args: Any) -> dict[str, Any]:
    import psycopg

    from switchpoint.storage.postgres import PostgresStore

    schema = f"sp_bench_{secrets.token_hex(4)}"
    try:
        result = await run_one(PostgresStore(PG_URL, schema=schema), records, args.burst, args.batch_size)
        result |= await run_paced(lambda: PostgresStore(PG_URL, schema=schema), paced_records, args.rate,
                                  args.batch_size)  # fmt: skip
        return result
    finally:
        async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=100, help="emits between two event-loop turns")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--rate", type=int, default=2000, help="records/s for the paced run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the paced run")
    parser.add_argument("--ids", choices=("ordered", "random"), default="ordered", help="request id shape")
    parser.add_argument("--outage", action="store_true", help="only the F14 run: store down, records spooled")
    args = parser.parse_args()
    if args.outage:
        result = await run_outage(make_records(int(args.rate * args.seconds), "outage", args.ids), args.rate,
                                  args.batch_size)  # fmt: skip
        print("outage (spool only):")
        for key, value in result.items():
            print(f"  {key:32s} {value:12,.2f}")
        return
    for name in args.stores.split(","):
        records = make_records(args.records, name, args.ids)
        paced_records = make_records(int(args.rate * args.seconds), name, args.ids)
        bench = bench_sqlite if name == "sqlite" else bench_postgres
        result = await bench(records, paced_records, args)
        print(f"{name}:")
        for key, value in result.items():
            print(f"  {key:28s} {value:12,.2f}")


if __name__ == "__main__":
    asyncio.run(main())
