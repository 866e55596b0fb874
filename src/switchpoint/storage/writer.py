"""BatchingSink: the durable :class:`~switchpoint.protocols.EventSink`.

The hot path calls :meth:`BatchingSink.emit`, which appends to a bounded in-memory queue and
returns: it never awaits, never does I/O and never raises. One background task, started on the
first ``emit`` (or by :meth:`BatchingSink.start`), moves records to the store in batches of
``batch_size``, at least every ``flush_interval`` seconds.

When the store fails, records go to the on-disk :class:`~switchpoint.storage.spool.Spool` and
the store is retried with exponential backoff; once a write succeeds again the spool is replayed
a few batches per tick, interleaved with fresh records. Inserts are idempotent by ``request_id``,
so a batch written twice (a commit whose acknowledgement was lost, a replay cut short by a crash)
is stored once. Every record ends up counted exactly once in :attr:`written`, :attr:`replayed`
(after :attr:`spooled`), :attr:`rejected` or :attr:`dropped`; nothing grows without bound.

After a ``SIGKILL`` the records still in memory are gone; with a :class:`~switchpoint.storage.ledger.Ledger`
they are counted: the next start reports them in :attr:`lost` (``docs/storage.md``).

A batch the store *refuses* (:class:`~switchpoint.storage.store.RecordsRejected`) is split in
halves until the offending records are isolated; only those are dropped (and counted in both
:attr:`rejected` and :attr:`dropped`), so one bad row never poisons a batch or the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from switchpoint.clock import Clock, MonotonicClock
from switchpoint.storage.ledger import KIND_SPOOL, KIND_STORE, Ledger, Orphan, claim_orphans
from switchpoint.storage.records import RequestRecord
from switchpoint.storage.retention import RetentionPolicy
from switchpoint.storage.spool import Spool
from switchpoint.storage.store import RecordsRejected, RecordStore

__all__ = ["BatchingSink"]

T = TypeVar("T")

_LOG = logging.getLogger("switchpoint.storage")


@dataclasses.dataclass(slots=True)
class _Replay:
    """The spool segment being replayed and how far it got."""

    path: Path
    records: list[RequestRecord]
    done: int = 0


class BatchingSink:
    """Bounded queue → batched, idempotent store writes; a disk spool while the store is down."""

    def __init__(
        self,
        store: RecordStore,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.1,
        queue_max: int = 50_000,
        spool: Spool | None = None,
        retention: RetentionPolicy | None = None,
        prune_interval: float = 3600.0,
        write_timeout: float = 10.0,
        retry_min: float = 0.5,
        retry_max: float = 30.0,
        replay_batches_per_tick: int = 8,
        close_timeout: float = 30.0,
        store_content: bool = False,
        ledger: Ledger | None = None,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if batch_size < 1 or queue_max < 1:
            raise ValueError("batch_size and queue_max must be >= 1")
        self.store = store
        self.spool = spool
        self.retention = retention
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._queue_max = queue_max
        self._prune_interval = prune_interval
        self._write_timeout = write_timeout
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._replay_batches = replay_batches_per_tick
        self._close_timeout = close_timeout
        self._store_content = store_content
        self._clock = clock or MonotonicClock()
        self._log = logger or _LOG
        self.ledger = ledger
        self._inflight = 0  # records taken off the queue and not yet settled
        self._orphans_checked = ledger is None

        self._queue: deque[RequestRecord] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._first_tick = asyncio.Event()  # set once the start-up tick (migrate, count losses) is over
        self._task: asyncio.Task[None] | None = None
        self._io: ThreadPoolExecutor | None = None  # spool file I/O, one thread, created on first use
        self._closing = False
        self._closed = False
        self._migrated = False
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._retry_delay = retry_min
        self._spool_pending = spool is not None  # a previous run may have left segments
        self._replay: _Replay | None = None
        self._next_prune = self._clock.now()  # prune once soon after start
        self._last_drop_log = float("-inf")

        # Counters for metrics. Each emitted record is counted once in written, spooled or
        # dropped; each spooled one later in replayed or dropped, unless still on disk. With a
        # healthy store and an empty spool: emitted == written + replayed + dropped.
        self.emitted = 0
        self.written = 0
        self.spooled = 0
        self.replayed = 0
        self.dropped = 0
        self.rejected = 0
        self.write_failures = 0
        self.pruned = 0
        # Records a previous process acknowledged and never settled (it was killed); see ledger.py.
        self.lost = 0

    # -- the hot path ------------------------------------------------------------------------

    def emit(self, record: RequestRecord) -> None:
        """Queue one record. O(1), no I/O, never raises; a full queue drops and counts."""
        try:
            self.emitted += 1
            ledger = self.ledger
            if ledger is not None:
                ledger.emitted(self.emitted)
            if self._closed or len(self._queue) >= self._queue_max:
                self._drop(1, "the log queue is full" if not self._closed else "the log sink is closed")
                if ledger is not None:
                    ledger.settled(self._settled_total())
                return
            self._queue.append(record)
            if self._task is None:
                self._start_soon()
            elif len(self._queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception:  # never let logging break a request
            with contextlib.suppress(Exception):
                self._log.exception("switchpoint: failed to queue a log record")

    def _start_soon(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet (sync construction); the first emit inside one starts the task
        self.start()

    # -- observability -----------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def store_available(self) -> bool:
        return self._down_since is None

    @property
    def degraded(self) -> bool:
        """True while the store is failing or spooled records wait for replay (``/health``)."""
        return self._down_since is not None or self._replay is not None

    def stats(self) -> dict[str, int]:
        return {
            "emitted": self.emitted,
            "queued": len(self._queue),
            "written": self.written,
            "spooled": self.spooled,
            "replayed": self.replayed,
            "dropped": self.dropped,
            "rejected": self.rejected,
            "write_failures": self.write_failures,
            "pruned": self.pruned,
            "lost": self.lost,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task on the running loop. Idempotent; ``emit`` calls it lazily."""
        if self._task is None and not self._closing:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="switchpoint-log-writer")

    async def astart(self) -> None:
        """:meth:`start` as a startup hook: the first tick migrates, counts what killed predecessors
        lost and replays their spool at once, not on the first request, and the hook waits for it
        (at most ``write_timeout``), so a gateway reports ready with its log store migrated and the
        first requests' records are not drained with the start-up work; a store that is down holds
        the start-up no longer than that (its records spool meanwhile)."""
        self.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._write_timeout):
                await self._first_tick.wait()

    async def flush(self) -> None:
        """Hand every record queued so far to the store (or the spool). For tests and shutdown."""
        async with self._lock:
            await self._drain(len(self._queue), final=False)

    async def aclose(self) -> None:
        """Drain the queue, replay what the time allows, close the store. Idempotent."""
        if self._closing:
            if self._task is not None:
                await asyncio.shield(self._task)
            return
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        else:
            await self._finish()

    async def _run(self) -> None:
        try:
            try:
                await self._tick()  # migrate, count what killed predecessors lost, replay their spool
            except Exception:
                self._log.exception("switchpoint: log writer tick failed")
            finally:
                self._first_tick.set()
            while not self._closing:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_interval):
                        await self._wake.wait()
                self._wake.clear()
                try:
                    await self._tick()
                except Exception:
                    self._log.exception("switchpoint: log writer tick failed")
        finally:
            await self._finish()

    async def _tick(self) -> None:
        async with self._lock:
            if not self._migrated and self._store_due():
                await self._migrate()
            if not self._orphans_checked and self._migrated:
                await self._count_orphans()
            await self._drain(len(self._queue), final=False)
            await self._replay_some(self._replay_batches)
            await self._maybe_prune()

    async def _finish(self) -> None:
        """Drain everything, then replay the spool until ``close_timeout``; close the store."""
        if self._closed:
            return
        try:
            async with self._lock:
                if self.spool is None:
                    self._retry_at = min(self._retry_at, self._clock.now())  # one last try, then drop
                while self._queue:
                    await self._drain(len(self._queue), final=True)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._close_timeout):
                        while await self._replay_some(self._replay_batches):
                            pass
        finally:
            self._closed = True
            if self._queue:  # only if something above failed unexpectedly
                self._drop(len(self._queue), "the log sink closed with records queued")
                self._queue.clear()
            await self._close_resources()

    async def _close_resources(self) -> None:
        if self.ledger is not None:
            # Clean when nothing acknowledged is unaccounted for (always, unless a drain failed).
            self.ledger.close(clean=self.emitted == self._settled_total())
            self.ledger = None
        try:
            if self.spool is not None:
                await self._in_io(self.spool.close)
        except Exception:
            self._log.exception("switchpoint: closing the log spool failed")
        try:
            await self.store.close()
        except Exception:
            self._log.exception("switchpoint: closing the log store failed")
        if self._io is not None:
            self._io.shutdown(wait=False)

    # -- moving records ----------------------------------------------------------------------

    async def _drain(self, count: int, *, final: bool) -> None:
        """Deliver up to ``count`` queued records, a batch at a time."""
        while count > 0 and self._queue:
            if self.spool is None and not final and not self._store_due():
                return  # nowhere else to put them: they wait in memory until the next retry
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, count, len(self._queue)))]
            count -= len(batch)
            self._inflight = len(batch)
            try:
                await self._deliver(self._prepare(batch), final=final)
            finally:
                self._inflight = 0
                self._settle()

    def _prepare(self, batch: list[RequestRecord]) -> list[RequestRecord]:
        if self._store_content:
            return batch
        return [r if r.content is None else dataclasses.replace(r, content=None) for r in batch]

    async def _deliver(self, batch: list[RequestRecord], *, final: bool) -> None:
        if self._store_due():
            if self.ledger is not None:
                self.ledger.begin(KIND_STORE, len(batch), batch[-1].request_id)
            rejected = await self._write(batch)
            if rejected is not None:
                self.written += len(batch) - rejected
                return
        if self.spool is not None:
            await self._to_spool(batch)
        elif final:
            self._drop(len(batch), "the log store is unavailable at shutdown and no spool is configured")
        else:
            room = self._queue_max - len(self._queue)
            keep = batch[:room] if room > 0 else []
            self._queue.extendleft(reversed(keep))
            if len(keep) < len(batch):
                self._drop(len(batch) - len(keep), "the log store is unavailable and the queue is full")

    async def _migrate(self) -> bool:
        try:
            async with asyncio.timeout(self._write_timeout):
                applied = await self.store.migrate()
        except Exception as exc:
            self._store_failed(exc)
            return False
        if applied:
            self._log.info("switchpoint: log store migrations applied: %s", ", ".join(applied))
        self._migrated = True
        return True

    async def _write(self, batch: Sequence[RequestRecord]) -> int | None:
        """Write the batch; return how many rows the store refused (dropped and counted here),
        or None if the store is unavailable and nothing can be assumed written."""
        if not self._migrated and not await self._migrate():
            return None
        try:
            rejected = await self._write_isolating(batch)
        except Exception as exc:
            self._store_failed(exc)
            return None
        self._store_ok()
        if rejected:
            self.rejected += rejected
            self._drop(rejected, "the log store refused them")
        return rejected

    async def _write_isolating(self, batch: Sequence[RequestRecord]) -> int:
        try:
            async with asyncio.timeout(self._write_timeout):
                await self.store.write(batch)
            return 0
        except RecordsRejected as exc:
            if len(batch) == 1:
                self._log.warning("switchpoint: log record %s refused by the store: %s", batch[0].request_id, exc)
                return 1
        middle = len(batch) // 2
        return await self._write_isolating(batch[:middle]) + await self._write_isolating(batch[middle:])

    async def _to_spool(self, batch: list[RequestRecord]) -> None:
        assert self.spool is not None
        if self.ledger is not None:
            self.ledger.begin(KIND_SPOOL, len(batch), batch[-1].request_id)
        try:
            kept = await self._in_io(self.spool.append, batch)
        except Exception:
            self._log.exception("switchpoint: the log spool could not be written")
            kept = 0
        self.spooled += kept
        if kept:
            self._spool_pending = True
        if kept < len(batch):
            self._drop(len(batch) - kept, "the log store is unavailable and the spool is full")

    async def _replay_some(self, batches: int) -> bool:
        """Replay up to ``batches`` batches from the spool; True if there may be more to do."""
        spool = self.spool
        if spool is None or not self._spool_pending or not self._store_due():
            return False
        for _ in range(batches):
            if self._replay is None:
                segments = await self._in_io(_seal_and_list, spool)
                if not segments:
                    self._spool_pending = False
                    return False
                records, bad = await self._in_io(spool.read, segments[0])
                if bad:
                    self._drop(bad, "spooled lines could not be decoded")
                self._replay = _Replay(segments[0], records)
            replay = self._replay
            batch = replay.records[replay.done : replay.done + self._batch_size]
            if batch:
                rejected = await self._write(batch)
                if rejected is None:
                    return False
                self.replayed += len(batch) - rejected
                replay.done += len(batch)
            if replay.done >= len(replay.records):
                await self._in_io(spool.remove, replay.path)
                self._replay = None
        return True

    # -- store health ------------------------------------------------------------------------

    def _store_due(self) -> bool:
        return self._down_since is None or self._clock.now() >= self._retry_at

    def _store_failed(self, exc: BaseException) -> None:
        self.write_failures += 1
        self._migrated = False  # the database may have been recreated; migrate before the next write
        now = self._clock.now()
        if self._down_since is None:
            self._down_since = now
            self._retry_delay = self._retry_min
            self._log.warning("switchpoint: log store unavailable, spooling records: %s", exc)
        else:
            self._retry_delay = min(self._retry_delay * 2, self._retry_max)
        self._retry_at = now + self._retry_delay

    def _store_ok(self) -> None:
        if self._down_since is not None:
            self._log.warning(
                "switchpoint: log store available again after %.1fs", self._clock.now() - self._down_since
            )
            self._down_since = None
            self._spool_pending = self.spool is not None

    async def _maybe_prune(self) -> None:
        if self.retention is None or self._clock.now() < self._next_prune or not self._migrated:
            return
        self._next_prune = self._clock.now() + self._prune_interval
        self._spool_pending = self.spool is not None  # also picks up segments of workers that died
        try:
            result = await self.store.prune(self.retention, self._clock.wall())
        except Exception as exc:
            self._log.warning("switchpoint: log retention prune failed: %s", exc)
            return
        self.pruned += result.requests_deleted

    # -- loss accounting (ledger.py) ----------------------------------------------------------

    def _settled_total(self) -> int:
        return self.emitted - len(self._queue) - self._inflight

    def _settle(self) -> None:
        if self.ledger is not None:
            self.ledger.end(self._settled_total())

    async def _count_orphans(self) -> None:
        """Count what processes that died with records in memory lost; once, after migrating."""
        assert self.ledger is not None
        self._orphans_checked = True
        try:
            orphans = await self._in_io(_claim, self.ledger.directory, self.ledger.path)
        except Exception:
            self._log.exception("switchpoint: reading the ledgers of earlier log writers failed")
            return
        counts = [orphan.lost(await self._committed(orphan)) for orphan in orphans]
        self.lost += sum(counts)  # at once: a reader sees every orphan counted, or none
        for lost in counts:
            if lost:
                self._log.error(
                    "switchpoint: a log writer stopped without flushing (killed?): %d acknowledged request "
                    "record(s) were lost (%d lost in total since this start)", lost, self.lost)  # fmt: skip

    async def _committed(self, orphan: Orphan) -> bool:
        """Whether the batch a dead writer was committing reached the store (its last id is there)."""
        if orphan.inflight_kind != KIND_STORE or not orphan.inflight:
            return False
        lookup = getattr(self.store, "get_request", None)
        if lookup is None:
            return False
        try:
            async with asyncio.timeout(self._write_timeout):
                return await lookup(orphan.inflight_last_id) is not None
        except Exception as exc:
            self._log.warning("switchpoint: could not tell whether a dead writer's last batch was stored: %s", exc)
            return False

    # -- helpers -----------------------------------------------------------------------------

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        now = self._clock.now()
        if now - self._last_drop_log >= 10.0:
            self._last_drop_log = now
            self._log.error("switchpoint: dropped %d log record(s): %s (%d dropped in total)", count, why,
                            self.dropped)  # fmt: skip

    async def _in_io(self, fn: Callable[..., T], *args: Any) -> T:
        if self._io is None:
            self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchpoint-spool")
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)


def _claim(directory: Path, own: Path) -> list[Orphan]:
    return claim_orphans(directory, own=own)


def _seal_and_list(spool: Spool) -> list[Path]:
    spool.seal()
    return spool.segments()
