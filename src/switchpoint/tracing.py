"""OpenTelemetry traces of finished requests: the optional extra ``switchpoint[otel]``.

:class:`TracingSink` is an :class:`~switchpoint.protocols.EventSink`. The request path only
emits its :class:`~switchpoint.storage.records.RequestRecord`, as it does for the log and the
metrics; the sink keeps it in a bounded queue, and a background task turns queued records into
spans a few dozen at a time, with the request's own start and end times. So tracing adds no
work to a request's latency and needs no change to the engine.

Each request becomes one span (kind ``SERVER``, named ``chat {model}``) with one child span per
upstream attempt (kind ``CLIENT``, ``chat {upstream model}``). Attributes follow the OpenTelemetry
GenAI semantic conventions where they define one (``gen_ai.operation.name``, ``gen_ai.system``,
``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` and
``output_tokens``, ``gen_ai.response.finish_reasons``, ``error.type``); what is ours is under
``switchpoint.*`` (request id, model group, deployment, router, cost, stream, attempt reason).
A failed request or attempt gets status ``ERROR`` and an ``exception`` event with its error class.

This module imports ``opentelemetry`` at once; nothing imports it unless ``tracing.enabled`` is
set (:func:`switchpoint.config.build.build_tracing_sink`), so the base install never loads it.
The tracer provider is this gateway's own: the process-wide global provider is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
from collections import deque
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode

from switchpoint._version import __version__
from switchpoint.config.schema import TracingConfig
from switchpoint.storage.records import AttemptRecord, RequestRecord

__all__ = ["TracingSink", "make_exporter"]

_LOG = logging.getLogger("switchpoint.tracing")
_SLICE = 64  # records turned into spans per event-loop turn
_NS = 1_000_000_000
# Provider kinds → the GenAI conventions' gen_ai.system values; any other kind is named as it is
# (an OpenAI-compatible server of unknown family: "openai_compat").
_SYSTEMS = {"openai": "openai", "azure_openai": "az.ai.openai", "anthropic": "anthropic", "gemini": "gcp.gemini",
            "groq": "groq", "mistral": "mistral_ai", "deepseek": "deepseek"}  # fmt: skip
_OTLP_MODULES = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)


def make_exporter(config: TracingConfig) -> SpanExporter | None:
    """The configured exporter: OTLP (http, else grpc), console, or None for ``none``."""
    if config.exporter in ("otlp", "auto"):
        for name in _OTLP_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            options = {"endpoint": config.endpoint} if config.endpoint else {}
            exporter: SpanExporter = module.OTLPSpanExporter(**options)
            return exporter
        if config.exporter == "otlp":
            from switchpoint.errors import ConfigError

            raise ConfigError("tracing.exporter 'otlp' needs: pip install opentelemetry-exporter-otlp")
        _LOG.warning("switchpoint: tracing without opentelemetry-exporter-otlp installed: spans go to the console")
    if config.exporter == "none":
        return None
    return ConsoleSpanExporter(out=sys.stdout)  # the stdout of now, not of import time


class TracingSink:
    """Finished request records → OpenTelemetry spans, off the request path."""

    def __init__(
        self,
        config: TracingConfig,
        *,
        exporter: SpanExporter | None = None,
        processor: SpanProcessor | None = None,
        flush_interval: float = 0.05,
    ) -> None:
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": config.service_name, "service.version": __version__}),
            sampler=TraceIdRatioBased(config.sample_ratio),
        )
        if processor is None and exporter is not None:
            # A console exporter writes synchronously; anything else is batched on the SDK's thread.
            simple = isinstance(exporter, ConsoleSpanExporter)
            processor = SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter)
        if processor is not None:
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("switchpoint", __version__)
        self._queue: deque[RequestRecord] = deque()
        self._queue_max = config.queue_max
        self._flush_interval = flush_interval
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False
        self.spans = 0  # request spans started (sampled or not)
        self.dropped = 0

    # -- EventSink -----------------------------------------------------------------------------

    def emit(self, record: RequestRecord) -> None:
        """Queue the record; O(1), never raises. A full queue drops (and counts) the record."""
        if self._closed or len(self._queue) >= self._queue_max:
            self.dropped += 1
            return
        self._queue.append(record)
        if self._task is None:
            with contextlib.suppress(RuntimeError):  # no running loop: the next emit inside one starts it
                self._task = asyncio.get_running_loop().create_task(self._run(), name="switchpoint-tracing")

    async def aclose(self) -> None:
        """Turn what is queued into spans, export them, shut the provider down. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self.flush_now()
        await asyncio.get_running_loop().run_in_executor(None, self.provider.shutdown)

    # -- turning records into spans ------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval):
                    await self._wake.wait()
            while self._queue:
                self._convert(_SLICE)
                await asyncio.sleep(0)

    def flush_now(self) -> None:
        """Convert every queued record at once (tests, shutdown)."""
        while self._queue:
            self._convert(len(self._queue))

    def _convert(self, count: int) -> None:
        for _ in range(min(count, len(self._queue))):
            record = self._queue.popleft()
            try:
                self._spans(record)
            except Exception:  # a malformed record must never stop tracing
                _LOG.exception("switchpoint: could not trace request %s", record.request_id)

    def _spans(self, r: RequestRecord) -> None:
        start = int(r.created * _NS)
        end = start + int(r.latency_ms * 1_000_000)
        attributes = _request_attributes(r)
        span = self.tracer.start_span(f"chat {r.model}", kind=SpanKind.SERVER, attributes=attributes,
                                      start_time=start)  # fmt: skip
        self.spans += 1
        if not span.is_recording():  # not sampled
            span.end(end_time=end)
            return
        context = trace.set_span_in_context(span)
        first = r.attempts[0].started if r.attempts else 0.0
        for a in r.attempts:
            a_start = start + int((a.started - first) * _NS)
            child = self.tracer.start_span(f"chat {r.upstream_model or a.deployment}", context=context,
                                           kind=SpanKind.CLIENT, attributes=_attempt_attributes(r, a),
                                           start_time=a_start)  # fmt: skip
            if a.status != "ok" or a.error_class:
                _failed(child, a.error_class or a.status, f"attempt on {a.deployment}: {a.status}")
            child.end(end_time=a_start + int(a.latency_ms * 1_000_000))
        if r.status >= 400 or r.error_class or r.incomplete:
            _failed(span, r.error_class or ("incomplete" if r.incomplete else str(r.status)),
                    f"HTTP {r.status}" + (", stream cut short" if r.incomplete else ""))  # fmt: skip
        span.end(end_time=end)


def _failed(span: trace.Span, error_type: str, message: str) -> None:
    span.set_status(Status(StatusCode.ERROR, message))
    span.set_attribute("error.type", error_type)
    span.add_event("exception", {"exception.type": error_type, "exception.message": message})


def _request_attributes(r: RequestRecord) -> dict[str, Any]:
    provider = r.attempts[-1].provider if r.attempts else None
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": r.model,
        "gen_ai.usage.input_tokens": r.prompt_tokens,
        "gen_ai.usage.output_tokens": r.completion_tokens,
        "http.response.status_code": r.status,
        "switchpoint.request_id": r.request_id,
        "switchpoint.stream": r.stream,
        "switchpoint.cost_usd": r.cost,
        "switchpoint.attempts": len(r.attempts),
    }
    optional = {
        "gen_ai.system": _system(provider),
        "switchpoint.provider": provider,
        "gen_ai.response.model": r.upstream_model,
        "gen_ai.response.finish_reasons": [r.finish_reason] if r.finish_reason else None,
        "switchpoint.model_group": r.group,
        "switchpoint.deployment": r.deployment,
        "switchpoint.router": _router(r.routing),
        "switchpoint.key_id": r.key_id,
        "switchpoint.team": r.team,
        "switchpoint.tags": list(r.tags) if r.tags else None,
        "switchpoint.cached_tokens": r.cached_tokens or None,
        "switchpoint.ttft_ms": r.ttft_ms,
        "switchpoint.client_disconnected": r.client_disconnected or None,
    }
    attributes.update((k, v) for k, v in optional.items() if v is not None)
    return attributes


def _attempt_attributes(r: RequestRecord, a: AttemptRecord) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": _system(a.provider),
        "switchpoint.provider": a.provider,
        "gen_ai.request.model": r.upstream_model or r.model,
        "gen_ai.usage.input_tokens": a.prompt_tokens,
        "gen_ai.usage.output_tokens": a.completion_tokens,
        "switchpoint.deployment": a.deployment,
        "switchpoint.attempt.reason": a.reason,
        "switchpoint.attempt.status": a.status,
        "switchpoint.cost_usd": a.cost,
    }
    optional = {
        "switchpoint.model_group": a.group,
        "http.response.status_code": a.status_code,
        "switchpoint.ttft_ms": a.ttft_ms,
        "switchpoint.backoff_ms": a.backoff_ms or None,
        "switchpoint.error_kind": a.error_kind,
        "switchpoint.probe": a.probe or None,
    }
    attributes.update((k, v) for k, v in optional.items() if v is not None)
    return attributes


def _system(provider: str | None) -> str | None:
    return None if provider is None else _SYSTEMS.get(provider, provider)


def _router(routing: Mapping[str, Any] | None) -> str | None:
    if not routing:
        return None
    value = routing.get("router") or routing.get("policy")
    return str(value) if value is not None else None
