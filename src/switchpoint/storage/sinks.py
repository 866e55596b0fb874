"""Simple event sinks: drop, keep in memory, fan out. The durable writer is :mod:`switchpoint.storage.writer`."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from switchpoint.storage.records import RequestRecord

if TYPE_CHECKING:
    from switchpoint.protocols import EventSink

__all__ = ["FanoutSink", "MemorySink", "NullSink"]

logger = logging.getLogger("switchpoint.storage")


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


class FanoutSink:
    """Hands each record to several sinks, in order. One failing sink never stops the others."""

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        self.sinks = list(sinks)

    def emit(self, record: RequestRecord) -> None:
        for sink in self.sinks:
            try:
                sink.emit(record)
            except Exception:  # a sink must not raise; if one does, the request still succeeds
                logger.exception("event sink %r failed", sink)

    async def aclose(self) -> None:
        for sink in self.sinks:
            try:
                await sink.aclose()
            except Exception:
                logger.exception("event sink %r failed to close", sink)
