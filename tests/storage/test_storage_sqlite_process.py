"""The SQLite writer process: its protocol, and what happens when it dies, hangs or is signalled.

The store contract itself runs against it in ``test_storage_store.py`` (target ``sqlite-process``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from switchpoint.storage import sqlite_child, sqlite_process
from switchpoint.storage.rows import REQUEST_COLUMNS
from switchpoint.storage.sqlite import SQLiteStore, encoded_rows
from switchpoint.storage.sqlite_child import serve
from switchpoint.storage.store import RecordsRejected, StoreUnavailable

from .support import record

ROOT = Path(__file__).resolve().parents[2]


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])


@contextlib.asynccontextmanager
async def _process_store(path: Path) -> AsyncIterator[tuple[SQLiteStore, sqlite_process.SQLiteWriterProcess]]:
    """A migrated store that writes from its child process; closed afterwards."""
    store = SQLiteStore(path, writer="process")
    try:
        await store.migrate()
        process = store._process
        assert process is not None and process.pid is not None
        yield store, process
    finally:
        await store.close()


async def _migrated(path: Path) -> None:
    store = SQLiteStore(path)
    await store.migrate()
    await store.close()


def test_serve_answers_each_frame_ok_rejected_or_unavailable(tmp_path: Path) -> None:
    database = tmp_path / "logs.db"
    asyncio.run(_migrated(database))
    good = asyncio.run(encoded_rows([record(1), record(2)]))
    requests, attempts = orjson.loads(asyncio.run(encoded_rows([record(3), record(4)])))
    requests[1][REQUEST_COLUMNS.index("model")] = None  # NOT NULL: the whole frame is refused
    refused = orjson.dumps([requests, attempts])
    stdin = io.BytesIO(_frame(good) + _frame(good) + _frame(refused) + _frame(b"{not json"))
    stdout = io.BytesIO()
    serve(str(database), 1000, stdin, stdout)
    replies = stdout.getvalue().splitlines()
    assert replies[:2] == [b"ok", b"ok"]  # the same rows twice: idempotent
    assert replies[2].startswith(b"rejected\t") and replies[3].startswith(b"rejected\t")
    assert _count(database) == 2

    broken = tmp_path / "a-file"
    broken.write_text("")
    stdout = io.BytesIO()
    serve(str(broken / "logs.db"), 100, io.BytesIO(_frame(good)), stdout)
    assert stdout.getvalue().startswith(b"unavailable\t")


def test_a_frame_cut_short_commits_nothing_and_the_child_exits(tmp_path: Path) -> None:
    database = tmp_path / "logs.db"
    asyncio.run(_migrated(database))
    payload = asyncio.run(encoded_rows([record(1)]))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    child = subprocess.Popen([sys.executable, "-m", "switchpoint.storage.sqlite_child", str(database), "1000"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline() == sqlite_process.READY == sqlite_child.READY
    child.stdin.write(_frame(payload))
    child.stdin.flush()
    assert child.stdout.readline() == b"ok\n"
    child.send_signal(signal.SIGTERM)  # ignored: only the end of its input stops it
    child.send_signal(signal.SIGINT)
    child.stdin.write(_frame(payload))
    child.stdin.flush()
    assert child.stdout.readline() == b"ok\n"
    child.stdin.write(_frame(payload)[:-5])  # the gateway dies mid-frame
    child.stdin.close()
    assert child.wait(10) == 0
    assert _count(database) == 1


def test_a_child_dying_fails_its_write_and_is_replaced(tmp_path: Path) -> None:
    async def main() -> None:
        async with _process_store(tmp_path / "logs.db") as (store, process):
            assert process.pid is not None and store.writer == "process"
            await store.write([record(1)])
            os.kill(process.pid, signal.SIGKILL)  # between writes: replaced at the next one
            await asyncio.sleep(0.2)
            await store.write([record(2)])
            assert process.started == 2 and process.pid is not None

            os.kill(process.pid, signal.SIGSTOP)  # during a write: that write fails
            write = asyncio.create_task(store.write([record(3)]))
            await asyncio.sleep(0.2)
            assert not write.done()
            os.kill(process.pid, signal.SIGKILL)
            with pytest.raises(StoreUnavailable):
                await write
            await store.write([record(3), record(4)])
            assert process.started == 3
            assert sorted(await store.request_ids()) == ["req-1", "req-2", "req-3", "req-4"]

    asyncio.run(main())


def test_a_write_cancelled_mid_way_kills_the_child_and_the_next_one_works(tmp_path: Path) -> None:
    async def main() -> None:
        async with _process_store(tmp_path / "logs.db") as (store, process):
            first = process.pid
            assert first is not None
            many = [record(i) for i in range(3000)]
            os.kill(first, signal.SIGSTOP)  # a child that hangs (a stuck disk, say)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await store.write(many)
            await store.write(many)
            assert process.pid != first and process.started == 2
            assert await store.count("requests") == 3000
            with pytest.raises(ProcessLookupError):
                os.kill(first, 0)  # killed and reaped

    asyncio.run(main())


def test_close_lets_the_child_finish_and_exit(tmp_path: Path) -> None:
    async def main() -> None:
        store = SQLiteStore(tmp_path / "logs.db", writer="process")
        await store.migrate()
        process = store._process
        assert process is not None and process.pid is not None
        pid = process.pid
        await store.write([record(0)])  # the child is running its loop (and has lowered its priority)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(os.getpriority(os.PRIO_PROCESS, 0) + 10, 19)
        await store.write([record(1)])
        await store.close()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # exited and reaped

    asyncio.run(main())
    assert _count(tmp_path / "logs.db") == 2


def test_values_that_json_cannot_carry_are_rejected_like_the_thread_writer_rejects_them(tmp_path: Path) -> None:
    async def main() -> None:
        store = SQLiteStore(tmp_path / "logs.db", writer="process")
        try:
            await store.migrate()
            with pytest.raises(RecordsRejected):
                await store.write([record(1, completion_tokens=2**64)])
            await store.write([record(1)])
            assert await store.request_ids() == ["req-1"]
        finally:
            await store.close()

    asyncio.run(main())


def test_memory_databases_keep_the_thread_writer() -> None:
    assert SQLiteStore(":memory:", writer="process").writer == "thread"


def test_both_ends_agree_on_the_frame_header_and_the_child_stays_small() -> None:
    assert sqlite_child.HEADER == sqlite_process.HEADER
    code = "import sys, switchpoint.storage.sqlite_child; print(sorted({'asyncio', 'concurrent'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("python", ["/nonexistent/python3", "/bin/false", "hangs"])
def test_a_writer_process_that_cannot_start_falls_back_to_the_thread(tmp_path: Path, python: str) -> None:
    if python == "hangs":
        script = tmp_path / "hangs.sh"
        script.write_text("#!/bin/sh\nexec sleep 30\n")
        script.chmod(0o755)
        python = str(script)

    async def main() -> None:
        store = SQLiteStore(tmp_path / "logs.db", writer="process")
        assert store._process is not None
        store._process.python = python  # no interpreter, one that exits, one that never says ready
        store._process._start_timeout = 1.0
        try:
            await store.migrate()
            assert store.writer == "thread" and store._process is None
            await store.write([record(1)])
            assert await store.request_ids() == ["req-1"]
        finally:
            await store.close()

    asyncio.run(main())
