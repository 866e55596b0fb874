"""Simple event sinks. The durable batching writer comes with the storage work."""

from __future__ import annotations

from collections import deque

from switchpoint.storage.records import RequestRecord

__all__ = ["MemorySink", "NullSink"]


class NullSink:
    """Drops every record."""

    def emit(self, record: RequestRecord) -> None:
        return None

    async def aclose(self) -> None:
        return None


class MemorySink:
    """Keeps the last ``maxlen`` records in memory (tests, the SDK, debugging)."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=maxlen)

    def emit(self, record: RequestRecord) -> None:
        self.records.append(record)

    async def aclose(self) -> None:
        return None
