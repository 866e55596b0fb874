"""A bounded on-disk spool: records the store could not take, kept until it can.

Records are appended as JSON lines to segment files in one directory and fsync'd once per batch.
The segment being written is ``<name>.open`` and holds an exclusive ``flock`` while its writer
lives; :meth:`Spool.seal` renames it to ``<name>.jsonl``. Only sealed segments are replayed and
then deleted. A ``.open`` segment whose lock can be taken belongs to a process that died: it is
sealed and replayed too (F13: records spooled before a crash are replayed on the next start).

Names start with the creation time in nanoseconds, so sorting names replays oldest first, and
carry the pid and a random token, so worker processes can share one directory.

The total size of every segment in the directory stays under ``max_bytes``: records that do not
fit are refused, and the caller counts them as dropped. Every method does blocking file I/O; call
them from a worker thread, never from the event loop.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from switchpoint.storage.records import AttemptRecord, RequestRecord

__all__ = ["Spool", "decode_record", "encode_record"]

_OPEN, _SEALED = ".open", ".jsonl"
_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(RequestRecord))
_ATTEMPT_FIELDS = frozenset(f.name for f in dataclasses.fields(AttemptRecord))


def encode_record(record: RequestRecord) -> bytes:
    """One JSON line (newline included)."""
    return orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)


def decode_record(line: bytes) -> RequestRecord:
    """The inverse of :func:`encode_record`. Unknown keys (a newer writer) are ignored."""
    data: dict[str, Any] = orjson.loads(line)
    fields = {k: v for k, v in data.items() if k in _RECORD_FIELDS}
    fields["attempts"] = [
        AttemptRecord(**{k: v for k, v in a.items() if k in _ATTEMPT_FIELDS}) for a in data.get("attempts") or ()
    ]
    fields["tags"] = tuple(data.get("tags") or ())
    return RequestRecord(**fields)


class Spool:
    def __init__(self, directory: str | Path, *, max_bytes: int, segment_bytes: int | None = None) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(64 * 1024, min(8 * 1024 * 1024, max_bytes // 8))
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._seq = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0

    # -- writing -----------------------------------------------------------------------------

    def append(self, records: Sequence[RequestRecord]) -> int:
        """Append what fits under ``max_bytes``, fsync, and return how many records were kept."""
        lines: list[bytes] = []
        room = self.max_bytes - self.size()
        for record in records:
            line = encode_record(record)
            if len(line) > room:
                break
            lines.append(line)
            room -= len(line)
        if not lines:
            return 0
        data = b"".join(lines)
        if self._fd is not None and self._size and self._size + len(data) > self.segment_bytes:
            self.seal()
        fd = self._active()
        start = self._size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            # Leave no torn line behind: cut the segment back to where this batch began.
            try:
                os.ftruncate(fd, start)
            finally:
                self.seal()
            raise
        self._size += len(data)
        return len(lines)

    def _active(self) -> int:
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            path = self.directory / f"{time.time_ns():020d}-{self._token}-{self._seq:06d}{_OPEN}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            _lock(fd)
            _fsync_dir(self.directory)
            self._fd, self._path, self._size = fd, path, 0
        return self._fd

    def seal(self) -> None:
        """Close the segment being written (if any) so that it can be replayed."""
        fd, path = self._fd, self._path
        self._fd, self._path, self._size = None, None, 0
        if fd is None or path is None:
            return
        try:
            if os.fstat(fd).st_size == 0:
                path.unlink(missing_ok=True)
            else:
                path.rename(path.with_suffix(_SEALED))
        finally:
            os.close(fd)

    close = seal

    # -- reading -----------------------------------------------------------------------------

    def size(self) -> int:
        """Bytes in every segment of the directory, every process's included."""
        total = 0
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if entry.name.endswith((_OPEN, _SEALED)):
                try:
                    total += entry.stat().st_size
                except FileNotFoundError:
                    continue
        return total

    def segments(self) -> list[Path]:
        """Sealed segments, oldest first, after sealing the ``.open`` ones whose writer is gone."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        out: list[Path] = []
        for name in names:
            path = self.directory / name
            if name.endswith(_OPEN) and path != self._path and _adopt(path):
                out.append(path.with_suffix(_SEALED))
            elif name.endswith(_SEALED):
                out.append(path)
        return sorted(out)

    @staticmethod
    def read(path: Path) -> tuple[list[RequestRecord], int]:
        """The records of a sealed segment and the number of lines that could not be decoded."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # replayed and removed by another process meanwhile
            return [], 0
        records: list[RequestRecord] = []
        bad = 0
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                records.append(decode_record(line))
            except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
                bad += 1
        return records, bad

    @staticmethod
    def remove(path: Path) -> None:
        path.unlink(missing_ok=True)


if sys.platform != "win32":
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _adopt(path: Path) -> bool:
        """Seal another process's ``.open`` segment if that process no longer holds its lock."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # its writer is alive
            try:
                path.rename(path.with_suffix(_SEALED))
            except FileNotFoundError:
                return False
            return True
        finally:
            os.close(fd)

    def _fsync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

else:  # pragma: no cover - no flock on Windows: a .open segment is adopted once its pid is gone

    def _lock(fd: int) -> None:
        return None

    def _adopt(path: Path) -> bool:
        pid = path.name.split("-")[1] if path.name.count("-") >= 2 else ""
        if pid == str(os.getpid()):
            return False
        path.rename(path.with_suffix(_SEALED))
        return True

    def _fsync_dir(directory: Path) -> None:
        return None
