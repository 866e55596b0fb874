"""The SQLite writer process's own side (see :mod:`switchpoint.storage.sqlite_process`).

``python -m switchpoint.storage.sqlite_child PATH BUSY_TIMEOUT_MS``: read frames (4-byte big-endian
length, then ``[[request rows], [attempt rows]]`` as JSON) from stdin until it closes; commit each in
one transaction; answer each with one line on stdout: ``ok``, ``rejected<TAB>why`` or
``unavailable<TAB>why``. Imports only the standard library, orjson and
:mod:`switchpoint.storage.sqlite_sql`, so the process stays small.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import sys
from functools import partial
from typing import BinaryIO

import orjson

from switchpoint.storage.sqlite_sql import DATA_ERRORS, chunked, connect, execute_chunks, transaction

__all__ = ["HEADER", "READY", "main", "serve"]

_NICE = 10
HEADER = 4  # bytes of a frame's big-endian length
READY = b"ready\n"  # the first line, once the child can take frames


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(path: str, busy_timeout_ms: int, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Commit frames from ``stdin`` until it closes, answering each on ``stdout``."""
    conn: sqlite3.Connection | None = None
    try:
        while (header := _read_exact(stdin, HEADER)) is not None:
            payload = _read_exact(stdin, int.from_bytes(header, "big"))
            if payload is None:
                break  # the gateway died mid-frame: nothing of it was acknowledged
            try:
                requests, attempts = orjson.loads(payload)
                if conn is None:
                    conn = connect(path, busy_timeout_ms)
                work = partial(execute_chunks, chunked("requests", requests), chunked("attempts", attempts))
                transaction(conn, work)
                reply = b"ok\n"
            except (*DATA_ERRORS, orjson.JSONDecodeError) as exc:
                reply = b"rejected\t" + _one_line(exc)
            except Exception as exc:  # locked, I/O, disk full...: the database, not the rows
                reply = b"unavailable\t" + _one_line(exc)
                if conn is not None:
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
                    conn = None  # reopen on the next frame: the file may have been replaced
            try:
                stdout.write(reply)
                stdout.flush()
            except (BrokenPipeError, ValueError):
                break  # the gateway is gone
    finally:
        if conn is not None:
            conn.close()


def _one_line(exc: BaseException) -> bytes:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("\t", " ").encode() + b"\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m switchpoint.storage.sqlite_child PATH BUSY_TIMEOUT_MS")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(os, "nice"):
        # Below the gateway: on a busy machine the scheduler runs the writer in the gateway's idle
        # moments instead of taking turns with its event loop. Nice 10 still gets about 10% of a core
        # against a busy process, several times what the writes need at thousands of requests/s.
        with contextlib.suppress(OSError):
            os.nice(_NICE)
    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    serve(args[0], int(args[1]), sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
