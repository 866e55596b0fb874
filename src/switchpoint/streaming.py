"""An open stream handed out by :meth:`Gateway.stream <switchpoint.engine.Gateway.stream>`.

The first events have already arrived when the caller gets it (failover before the first byte
is transparent). After that a failure ends the iteration with a :class:`SwitchpointError` that
the server turns into an OpenAI-style error event; the record is marked incomplete and carries
the partial usage (estimated from the events relayed when the upstream never reported it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from switchpoint.balancing.attempts import Opened, Run, Served, deadline_error, route_headers, settle_usage
from switchpoint.balancing.retry import classify
from switchpoint.errors import ProviderError, SwitchpointError
from switchpoint.storage.content import stream_content
from switchpoint.types import Usage

if TYPE_CHECKING:
    from switchpoint.engine import Gateway

__all__ = ["StreamingCompletion"]


class StreamingCompletion:
    """An open stream. Iterate it for SSE byte blocks; the record is emitted exactly once, at the end."""

    def __init__(self, gateway: Gateway, served: Served[Opened], run: Run) -> None:
        self.group = served.group
        self.deployment = served.deployment
        self.record = run.record
        self._gateway = gateway
        self._served = served
        self._run = run
        self._upstream = served.result.upstream
        self._blocks = served.result.blocks
        self._first = served.result.first
        self._closed = False
        self._events = 0
        self._error: SwitchpointError | None = None
        # The relayed blocks, kept only when the record stores the conversation (logs.store_content).
        self._kept: list[bytes] | None = [] if run.record.content is not None else None

    def route_headers(self) -> list[tuple[bytes, bytes]]:
        """``x-switchpoint-attempts``/``-route``/``-groups``/``-cost`` (cost as known when headers go out)."""
        return route_headers(self.record, self.group.name)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[bytes]:
        clock = self._gateway.clock
        deadline = self._run.deadline
        kept = self._kept
        try:
            if self._first:
                self._events += self._first.count(b"\n\n")
                if kept is not None:
                    kept.append(self._first)
                yield self._first
            async for block in self._blocks:
                if clock.now() > deadline:
                    raise deadline_error(self.group)
                self._events += block.count(b"\n\n")
                if kept is not None:
                    kept.append(block)
                yield block
        except SwitchpointError as exc:
            self._error = exc
            self.record.incomplete = True
            self.record.error_class = type(exc).__name__
            self.record.status = 200  # the client already has a 200; the error travels in the stream
            raise
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._upstream.aclose()
        gateway = self._gateway
        health = gateway.health_tracker
        now = gateway.clock.now()
        served, record = self._served, self.record
        attempt, state = served.attempt, served.state
        health.end(state)
        usage, estimated = self._upstream.usage, False
        if usage is None and self._events:
            # The stream broke before its usage chunk: about one token per content event.
            usage, estimated = Usage(self._run.prompt_tokens(), max(0, self._events - 1)), True
            usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        if state.usage is not None and usage is not None:
            state.usage.settle(usage.total_tokens - self._run.tokens_wanted(), now)
        settle_usage(record, served, usage, self._upstream.finish_reason, estimated=estimated)
        if record.finish_reason is None and record.error_class is None:
            record.incomplete = True
        attempt.latency_ms = (now - attempt.started) * 1000
        error = self._error
        if isinstance(error, ProviderError) and getattr(error, "phase", None) != "total":
            kind = classify(error)
            health.failure(state, kind, now)
            attempt.status, attempt.error_class, attempt.error_kind = "error", type(error).__name__, kind
        elif record.incomplete:
            attempt.status = "incomplete"
        record.latency_ms = (now - self._run.start) * 1000
        if self._kept is not None and record.content is not None:
            record.content.update(stream_content(self._kept))
            self._kept = None
        gateway.emit(record, self._run.request if record.error_class is None else None)
