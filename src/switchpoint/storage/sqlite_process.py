"""The SQLite request-log writer in a child process, so that the gateway's GIL never waits for it.

Why a process: the stdlib ``sqlite3`` module holds the GIL while it binds a statement's parameters
and releases it around each step. On a thread of the gateway's process every batch therefore
handed the GIL back and forth with the event loop many times, and on a busy machine the thread
could be descheduled while holding it. Measured side by side (``bench/log_cpu.py``), the writes
cost the loop several times their own CPU time. A child process has its own interpreter: the
loop only encodes the rows as JSON (a slice per turn) and writes them to a pipe.

Protocol, over the child's stdin and stdout: the parent sends frames of a 4-byte big-endian length
followed by ``[[request rows...], [attempt rows...]]`` as JSON; the child commits each frame in one
transaction (multi-row, idempotent ``INSERT ... ON CONFLICT DO NOTHING``) and answers one line:
``ok``, ``rejected<TAB>why`` (the rows themselves are refused: the writer isolates them) or
``unavailable<TAB>why`` (the database failed: the writer spools and retries).

Lifecycle: the child starts when the store migrates (or with the first write) and exits when its stdin closes: at
:meth:`SQLiteWriterProcess.close`, or when the gateway dies, however it dies, so it never outlives
it. It runs in a session of its own (a terminal's Ctrl-C signals the gateway's process group, not
it) and ignores SIGINT and SIGTERM (a service manager may signal every process of the service):
the gateway drains its queue through the child before closing that pipe. A child that
dies, or a write that times out or is cancelled (its outcome unknown), is killed and replaced at
the next write; re-sending a batch that was committed after all is harmless (idempotent inserts).

The child is :mod:`switchpoint.storage.sqlite_child` (``python -m switchpoint.storage.sqlite_child
PATH BUSY_TIMEOUT_MS``); it imports only the standard library, orjson and the synchronous SQLite
plumbing (:mod:`switchpoint.storage.sqlite_sql`), about 15 MB of memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

from switchpoint.storage.sqlite_child import HEADER, READY
from switchpoint.storage.store import RecordsRejected, StoreUnavailable

__all__ = ["HEADER", "READY", "SQLiteWriterProcess", "WriterStartFailed"]

_LOG = logging.getLogger("switchpoint.storage")


class WriterStartFailed(StoreUnavailable):
    """The writer process could not be started (no usable interpreter, a broken install...): the
    store falls back to writing on its thread."""
_MAX_FRAME = 2**32 - 1
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding ``switchpoint``


class SQLiteWriterProcess:
    """The gateway's end: one child process, one frame at a time."""

    def __init__(
        self, path: str, busy_timeout_ms: int, *, close_timeout: float = 30.0, start_timeout: float = 15.0
    ) -> None:
        self.path = path
        self.python = sys.executable
        self._start_timeout = start_timeout
        self._busy_timeout_ms = busy_timeout_ms
        self._close_timeout = close_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._reaping: set[asyncio.Task[int]] = set()
        self.started = 0  # child processes started so far (a restart after a crash counts)

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def start(self) -> None:
        """Start the child now (the store does at ``migrate``), so the first batch does not wait."""
        async with self._lock:
            await self._ensure()

    async def write(self, payload: bytes) -> None:
        """Commit one encoded batch; raise :class:`RecordsRejected` or :class:`StoreUnavailable`."""
        if len(payload) > _MAX_FRAME:
            raise RecordsRejected(f"a batch of {len(payload)} bytes is too large for one frame")
        async with self._lock:
            proc = await self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(len(payload).to_bytes(HEADER, "big"))
                proc.stdin.write(payload)
                await proc.stdin.drain()
                line = await proc.stdout.readline()
            except (ConnectionError, OSError) as exc:
                self._discard(proc)
                raise StoreUnavailable(f"the SQLite writer process failed: {exc}") from exc
            except BaseException:  # cancelled or timed out mid-frame: its state is unknown
                self._discard(proc)
                raise
        if not line.endswith(b"\n"):
            self._discard(proc)
            raise StoreUnavailable(f"the SQLite writer process exited (code {proc.returncode})")
        status, _, why = line[:-1].decode("utf-8", "replace").partition("\t")
        if status == "ok":
            return
        if status == "rejected":
            raise RecordsRejected(f"SQLite refused the rows: {why}")
        raise StoreUnavailable(f"SQLite write failed: {why}")

    async def _ensure(self) -> asyncio.subprocess.Process:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            return proc
        env = dict(os.environ)
        paths = [_PACKAGE_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        try:
            proc = await asyncio.create_subprocess_exec(
                self.python, "-m", "switchpoint.storage.sqlite_child", self.path, str(int(self._busy_timeout_ms)),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
                start_new_session=True,  # a terminal's Ctrl-C goes to the gateway's group, not here
            )  # fmt: skip
        except OSError as exc:
            raise WriterStartFailed(f"could not start the SQLite writer process: {exc}") from exc
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(self._start_timeout):
                ready = await proc.stdout.readline()
        except TimeoutError:
            self._discard(proc)
            why = f"the SQLite writer process was not ready within {self._start_timeout:g}s"
            raise WriterStartFailed(why) from None
        except BaseException:
            self._discard(proc)
            raise
        if ready != READY:
            self._discard(proc)
            raise WriterStartFailed(f"the SQLite writer process did not start (it said {ready[:200]!r})")
        self._proc = proc
        self.started += 1
        return proc

    def _discard(self, proc: asyncio.subprocess.Process) -> None:
        """Kill a child whose state is unknown; reap it in the background."""
        if self._proc is proc:
            self._proc = None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        task = asyncio.get_running_loop().create_task(proc.wait())
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def close(self) -> None:
        """Close the child's stdin and wait for it to finish its frame and exit."""
        async with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None and proc.returncode is None:
                assert proc.stdin is not None
                proc.stdin.close()
                try:
                    async with asyncio.timeout(self._close_timeout):
                        await proc.wait()
                except TimeoutError:
                    _LOG.warning("switchpoint: the SQLite writer process did not exit; killing it")
                    self._discard(proc)
            if self._reaping:
                await asyncio.gather(*self._reaping, return_exceptions=True)
