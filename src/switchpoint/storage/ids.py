"""Request ids: 24 hex characters, time-ordered.

The first 12 characters are the milliseconds since the epoch, the last 12 are 48 random bits.
Ordered ids matter to the request log: ``request_id`` is the primary key of ``requests`` and
leads the key of ``attempts``, and random keys scatter every batch over the whole B-tree, so
each commit rewrites about one page per row. Measured with SQLite on this machine: 34 µs of
writer CPU per record at 160,000 rows with random ids, 12 µs with ordered ones, and the gap grows
with the table (``docs/storage.md``). A client's own ``X-Request-Id`` is kept as it is.
"""

from __future__ import annotations

import os
import time

__all__ = ["new_request_id"]


def new_request_id() -> str:
    """A fresh id: unique (48 random bits per millisecond) and sorted by creation time."""
    return f"{int(time.time() * 1000) & 0xFFFF_FFFF_FFFF:012x}{os.urandom(6).hex()}"
