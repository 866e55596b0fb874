"""Counting what a killed process lost: a small memory-mapped ledger per writer process.

A ``SIGKILL`` (or an OOM kill, or a power cut of the container) gives the writer no chance to
flush: records still queued in memory are gone. They cannot be recovered, but they can be
*counted*. Each :class:`~switchpoint.storage.writer.BatchingSink` keeps a :class:`Ledger`, a
file of a few dozen bytes mapped into memory, and updates two counters in it:

* ``emitted``: records handed to the sink (one store into the mapping per request, no syscall);
* ``settled``: records whose fate is decided: committed to the store, appended to the spool
  (fsync'd), or dropped and counted as such.

A store into a shared file mapping lands in the kernel's page cache, which outlives the
process; no ``msync`` is needed to survive a process death (a power loss is another matter).
While a batch is being committed, the ledger also holds its size and the id of its last record,
so the next run can tell whether the commit happened before the kill (the transaction is
atomic: if the last id is in the store, the whole batch is).

A clean shutdown deletes the ledger. On start, :func:`claim_orphans` looks for ledgers whose
process is gone (their ``flock`` can be taken), counts ``emitted - settled`` (minus the in-flight
batch if it was committed) as lost, and deletes them. The bound: what a process can lose is what
was queued in memory, at most one flush interval of traffic (``logs.flush_ms``, or ``batch_size``
records when traffic is heavier), and never more than ``queue_max``.
"""

from __future__ import annotations

import dataclasses
import mmap
import os
import secrets
import struct
import sys
from pathlib import Path

__all__ = ["KIND_NONE", "KIND_SPOOL", "KIND_STORE", "Ledger", "Orphan", "claim_orphans"]

_SUFFIX = ".ledger"
_CLAIMED = ".ledger-counting"
_MAGIC = 0x5357_5054_4C45_4431  # "SWPTLED1"
# u64 cells: magic, emitted, settled, in-flight count, in-flight kind, id length; then the id.
_CELLS = 6
_ID_MAX = 128
_SIZE = _CELLS * 8 + _ID_MAX
_EMITTED, _SETTLED, _INFLIGHT, _KIND, _IDLEN = 1, 2, 3, 4, 5
KIND_NONE, KIND_STORE, KIND_SPOOL = 0, 1, 2


@dataclasses.dataclass(frozen=True, slots=True)
class Orphan:
    """What a ledger left by a dead process says."""

    path: str
    emitted: int
    settled: int
    inflight: int
    inflight_kind: int
    inflight_last_id: str

    def lost(self, inflight_committed: bool) -> int:
        """Records acknowledged but never committed, spooled or counted as dropped."""
        settled = self.settled + (self.inflight if inflight_committed or self.inflight_kind == KIND_SPOOL else 0)
        return max(0, self.emitted - settled)


class Ledger:
    """This process's ledger. Updating it is a store into shared memory: cheap enough per request."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}{_SUFFIX}"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _lock(fd)
            os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        except BaseException:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise
        self._fd = fd
        self._cells = memoryview(self._map)[: _CELLS * 8].cast("Q")
        self._cells[0] = _MAGIC
        self._closed = False

    def emitted(self, total: int) -> None:
        self._cells[_EMITTED] = total

    def settled(self, total: int) -> None:
        self._cells[_SETTLED] = total

    def begin(self, kind: int, count: int, last_id: str) -> None:
        """A batch of ``count`` records is about to be committed (or spooled)."""
        raw = last_id.encode("utf-8", "replace")[:_ID_MAX]
        self._map[_CELLS * 8 : _CELLS * 8 + len(raw)] = raw
        self._cells[_IDLEN] = len(raw)
        self._cells[_KIND] = kind
        self._cells[_INFLIGHT] = count

    def end(self, settled_total: int) -> None:
        """The batch begun last is settled; ``settled_total`` includes it."""
        self._cells[_SETTLED] = settled_total
        self._cells[_INFLIGHT] = 0
        self._cells[_KIND] = KIND_NONE

    def close(self, *, clean: bool) -> None:
        """Unmap; a clean close deletes the file (nothing can have been lost)."""
        if self._closed:
            return
        self._closed = True
        self._cells.release()
        self._map.close()
        if clean:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)


def claim_orphans(directory: str | Path, *, own: Path | None = None) -> list[Orphan]:
    """Read and delete the ledgers of processes that died without closing them. Blocking file I/O:
    call from a worker thread. Each orphan is claimed by exactly one caller (lock, then rename)."""
    directory = Path(directory)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    out: list[Orphan] = []
    for name in names:
        path = directory / name
        if not name.endswith(_SUFFIX) or path == own:
            continue
        orphan = _claim(path)
        if orphan is not None:
            out.append(orphan)
    return out


def _claim(path: Path) -> Orphan | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if not _try_lock(fd):
            return None  # its process is alive
        claimed = path.with_name(path.name[: -len(_SUFFIX)] + _CLAIMED)
        try:
            os.rename(path, claimed)  # only one claimant succeeds
        except FileNotFoundError:
            return None
        data = os.pread(fd, _SIZE, 0)
        claimed.unlink(missing_ok=True)
    finally:
        os.close(fd)
    if len(data) < _SIZE:
        return None
    cells = struct.unpack_from(f"={_CELLS}Q", data)
    if cells[0] != _MAGIC:
        return None
    idlen = min(cells[_IDLEN], _ID_MAX)
    last_id = data[_CELLS * 8 : _CELLS * 8 + idlen].decode("utf-8", "replace")
    return Orphan(str(path), cells[_EMITTED], cells[_SETTLED], cells[_INFLIGHT], cells[_KIND], last_id)


if sys.platform != "win32":
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

else:  # pragma: no cover - no flock on Windows: ledgers are written but never counted there

    def _lock(fd: int) -> None:
        return None

    def _try_lock(fd: int) -> bool:
        return False
