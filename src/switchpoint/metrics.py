"""Prometheus metrics, aggregated from request records in memory.

:class:`MetricsSink` is an :class:`~switchpoint.protocols.EventSink`: the hot path's one
``emit(record)`` call updates a few counters and histogram buckets (dict lookups by label tuple,
no locks: everything runs on the event loop). ``/metrics`` renders the text exposition format.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from switchpoint.storage.records import RequestRecord

__all__ = ["Histogram", "MetricsSink"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

Labels = tuple[str, ...]


@dataclass(slots=True)
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


class MetricsSink:
    """Counts requests, errors, attempts, tokens and cost; observes latency and time to first token."""

    def __init__(self, extra: Callable[[], Iterable[str]] | None = None) -> None:
        self.requests: dict[Labels, int] = {}
        self.errors: dict[Labels, int] = {}
        self.attempts: dict[Labels, int] = {}
        self.tokens: dict[Labels, int] = {}
        self.cost: dict[Labels, float] = {}
        self.latency: dict[Labels, Histogram] = {}
        self.ttft: dict[Labels, Histogram] = {}
        self.disconnects: dict[Labels, int] = {}
        self._extra = extra

    def emit(self, record: RequestRecord) -> None:
        group = record.group or ""
        deployment = record.deployment or ""
        key = (group, deployment, str(record.status), "true" if record.stream else "false")
        self.requests[key] = self.requests.get(key, 0) + 1
        if record.error_class:
            ekey = (group, record.error_class)
            self.errors[ekey] = self.errors.get(ekey, 0) + 1
        if record.client_disconnected:
            self.disconnects[(group,)] = self.disconnects.get((group,), 0) + 1
        for attempt in record.attempts:
            akey = (attempt.deployment, attempt.status, attempt.error_class or "")
            self.attempts[akey] = self.attempts.get(akey, 0) + 1
        if deployment:
            pair = (group, deployment)
            _observe(self.latency, pair, record.latency_ms / 1000)
            if record.ttft_ms is not None:
                _observe(self.ttft, pair, record.ttft_ms / 1000)
            for kind, value in (
                ("prompt", record.prompt_tokens),
                ("completion", record.completion_tokens),
                ("cached", record.cached_tokens),
            ):
                if value:
                    tkey = (group, deployment, kind)
                    self.tokens[tkey] = self.tokens.get(tkey, 0) + value
            if record.cost:
                self.cost[pair] = self.cost.get(pair, 0.0) + record.cost

    async def aclose(self) -> None:
        return None

    def render(self) -> str:
        out: list[str] = []
        _counter(
            out,
            "switchpoint_requests_total",
            "Requests answered.",
            ("model_group", "deployment", "status", "stream"),
            self.requests,
        )
        _counter(
            out,
            "switchpoint_request_errors_total",
            "Requests that ended in an error, by class.",
            ("model_group", "error_class"),
            self.errors,
        )
        _counter(
            out,
            "switchpoint_client_disconnects_total",
            "Requests whose client left before the end.",
            ("model_group",),
            self.disconnects,
        )
        _counter(
            out,
            "switchpoint_upstream_attempts_total",
            "Upstream attempts, by outcome.",
            ("deployment", "outcome", "error_class"),
            self.attempts,
        )
        _counter(
            out, "switchpoint_tokens_total", "Tokens, by kind.", ("model_group", "deployment", "kind"), self.tokens
        )
        _counter(out, "switchpoint_cost_usd_total", "Cost in US dollars.", ("model_group", "deployment"), self.cost)
        _histograms(out, "switchpoint_request_duration_seconds", "Request latency.", self.latency)
        _histograms(out, "switchpoint_time_to_first_token_seconds", "Time to the first streamed event.", self.ttft)
        if self._extra is not None:
            out.extend(self._extra())
        return "\n".join(out) + "\n"


def _observe(table: dict[Labels, Histogram], key: Labels, value: float) -> None:
    histogram = table.get(key)
    if histogram is None:
        histogram = table[key] = Histogram(LATENCY_BUCKETS)
    histogram.observe(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Iterable[str], values: Iterable[str]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _counter(
    out: list[str], name: str, help_text: str, names: Labels, values: dict[Labels, int] | dict[Labels, float]
) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} counter")
    for labels, value in sorted(values.items()):
        out.append(f"{name}{{{_labels(names, labels)}}} {_number(value)}")


def _histograms(out: list[str], name: str, help_text: str, table: dict[Labels, Histogram]) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} histogram")
    for (group, deployment), histogram in sorted(table.items()):
        base = _labels(("model_group", "deployment"), (group, deployment))
        running = 0
        for bound, count in zip(histogram.buckets, histogram.counts, strict=False):
            running += count
            out.append(f'{name}_bucket{{{base},le="{bound:g}"}} {running}')
        out.append(f'{name}_bucket{{{base},le="+Inf"}} {histogram.count}')
        out.append(f"{name}_sum{{{base}}} {histogram.total!r}")
        out.append(f"{name}_count{{{base}}} {histogram.count}")
