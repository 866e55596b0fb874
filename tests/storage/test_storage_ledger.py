"""The loss ledger: what a killed writer process held in memory is counted by the next one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from switchpoint.storage.ledger import KIND_STORE, Ledger, claim_orphans
from switchpoint.storage.writer import BatchingSink

from .support import StoreTarget, record, until

ROOT = Path(__file__).resolve().parents[2]


def _killed_ledger(directory: Path, body: str) -> None:
    """Run ``body`` against a fresh Ledger ``ledger`` in a child process, then SIGKILL it."""
    script = textwrap.dedent(f"""
        import sys, time
        from switchpoint.storage.ledger import *
        ledger = Ledger({str(directory)!r})
    """) + textwrap.dedent(body) + "\nprint('ready', flush=True)\ntime.sleep(60)\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL


def test_a_killed_process_leaves_its_counters_and_the_batch_it_was_committing(tmp_path: Path) -> None:
    _killed_ledger(tmp_path, """
        ledger.emitted(10)
        ledger.settled(5)
        ledger.begin(KIND_STORE, 3, "req-7")
    """)
    [orphan] = claim_orphans(tmp_path)
    assert (orphan.emitted, orphan.settled, orphan.inflight, orphan.inflight_kind, orphan.inflight_last_id) == (
        10, 5, 3, KIND_STORE, "req-7")  # fmt: skip
    assert orphan.lost(inflight_committed=True) == 2  # the batch reached the store: only the queue is lost
    assert orphan.lost(inflight_committed=False) == 5
    assert claim_orphans(tmp_path) == []  # counted once, and the file is gone
    assert list(tmp_path.iterdir()) == []


def test_a_batch_being_spooled_is_not_counted_lost(tmp_path: Path) -> None:
    # Spooled lines are replayed by the next run; a torn line is counted as dropped by that replay.
    _killed_ledger(tmp_path, "ledger.emitted(4)\nledger.begin(KIND_SPOOL, 4, 'req-3')\n")
    [orphan] = claim_orphans(tmp_path)
    assert orphan.lost(inflight_committed=False) == 0


def test_a_live_ledger_is_never_claimed_and_a_clean_close_removes_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.emitted(3)
    assert claim_orphans(tmp_path) == []  # its flock is held: the process is alive
    assert ledger.path.exists()
    ledger.end(3)
    ledger.close(clean=True)
    assert not ledger.path.exists()


def test_the_next_writer_counts_the_loss_and_checks_the_batch_in_flight_against_the_store(
    tmp_path: Path, target: StoreTarget
) -> None:
    async def main() -> None:
        # What the killed process had committed: the batch ending with req-9 is in the store.
        store = target.make()
        await store.migrate()
        await store.write([record(i) for i in range(10)])
        await store.close()
        _killed_ledger(tmp_path / "spool", """
            ledger.emitted(25)
            ledger.settled(5)
            ledger.begin(KIND_STORE, 5, "req-9")
        """)
        _killed_ledger(tmp_path / "spool", """
            ledger.emitted(7)
            ledger.settled(0)
            ledger.begin(KIND_STORE, 7, "req-never-stored")
        """)
        ledger = Ledger(tmp_path / "spool")
        sink = BatchingSink(target.make(), flush_interval=0.01, ledger=ledger)
        await sink.astart()
        await until(lambda: sink.lost > 0, timeout=10)
        assert sink.lost == (25 - 5 - 5) + 7
        assert sink.stats()["lost"] == 22
        sink.emit(record(100))
        await sink.aclose()
        assert sink.written == 1
        assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == []  # clean close: no ledger left

    asyncio.run(main())
