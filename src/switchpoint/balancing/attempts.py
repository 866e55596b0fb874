"""The engine's per-request bookkeeping: run state, attempt records, served results, cursors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from switchpoint.balancing.health import DeploymentHealth, HealthTracker
from switchpoint.balancing.policy import GroupPolicy, estimate_prompt_tokens
from switchpoint.balancing.retry import RetryBudget, classify
from switchpoint.clock import Clock
from switchpoint.errors import (
    ContentFiltered,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    SwitchpointError,
    status_of,
)
from switchpoint.storage.records import AttemptRecord, RequestRecord
from switchpoint.types import ChatRequest, ChatStream, Deployment, ModelGroup, Usage

T = TypeVar("T")

_ROUTE_MAX = 600

__all__ = [
    "AttemptBook",
    "Cursor",
    "GroupRuntime",
    "Opened",
    "Run",
    "Served",
    "bill",
    "close_record",
    "deadline_error",
    "failed",
    "new_attempt",
    "route_headers",
    "settle_usage",
    "total_usage",
]


class Run:
    """What one request carries through its attempts. One small object per request."""

    __slots__ = ("_tokens", "deadline", "errors", "filtered", "record", "request", "start")

    def __init__(self, request: ChatRequest, record: RequestRecord, start: float, deadline: float) -> None:
        self.request = request
        self.record = record
        self.start = start
        self.deadline = deadline
        self.errors: list[SwitchpointError] = []
        self.filtered: Any = None
        self._tokens = -1

    def prompt_tokens(self) -> int:
        """The prompt-size estimate, computed at most once per request."""
        if self._tokens < 0:
            self._tokens = estimate_prompt_tokens(self.request.body)
        return self._tokens

    def tokens_wanted(self) -> int:
        """Prompt estimate plus the requested output budget (for tpm buckets)."""
        body = self.request.body
        out = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        return self.prompt_tokens() + (out if isinstance(out, int) else 0)


def new_attempt(record: RequestRecord, group: ModelGroup, deployment: Deployment, now: float,
                reason: str) -> AttemptRecord:
    attempt = AttemptRecord(deployment.id, deployment.provider, now, status="pending", reason=reason, group=group.name)
    record.attempts.append(attempt)
    return attempt


def failed(attempt: AttemptRecord, exc: ProviderError, kind: str, now: float) -> None:
    attempt.status = "error"
    attempt.error_class = type(exc).__name__
    attempt.error_kind = kind
    attempt.latency_ms = (now - attempt.started) * 1000
    status_code = getattr(exc, "status_code", None)
    attempt.status_code = status_code if isinstance(status_code, int) else (429 if kind == "rate_limit" else None)
    if isinstance(exc, ProviderRateLimited):
        attempt.retry_after = exc.retry_after


def bill(attempt: AttemptRecord, deployment: Deployment, usage: Usage | None, *, estimated: bool = False) -> None:
    if usage is None:
        return
    attempt.prompt_tokens = usage.prompt_tokens
    attempt.completion_tokens = usage.completion_tokens
    attempt.cached_tokens = usage.cached_tokens
    attempt.cost = deployment.price.cost(usage)
    attempt.usage_estimated = estimated


def total_usage(record: RequestRecord) -> None:
    """The request's tokens and cost: the sum over every billed attempt (cascade steps included)."""
    attempts = record.attempts
    if len(attempts) == 1:
        a = attempts[0]
        record.prompt_tokens, record.completion_tokens, record.cached_tokens = a.prompt_tokens, a.completion_tokens, \
            a.cached_tokens
        record.cost = a.cost
        return
    prompt = completion = cached = 0
    cost = 0.0
    for attempt in attempts:
        prompt += attempt.prompt_tokens
        completion += attempt.completion_tokens
        cached += attempt.cached_tokens
        cost += attempt.cost
    record.prompt_tokens, record.completion_tokens, record.cached_tokens, record.cost = prompt, completion, cached, cost


def settle_usage(record: RequestRecord, served: Served[Any], usage: Usage | None, finish_reason: str | None,
                 *, estimated: bool = False) -> None:
    """Close a successful request's record: the served attempt is billed, the totals summed."""
    attempt, deployment = served.attempt, served.deployment
    if attempt.status == "ok" and usage is not None:
        attempt.prompt_tokens = usage.prompt_tokens
        attempt.completion_tokens = usage.completion_tokens
        attempt.cached_tokens = usage.cached_tokens
        attempt.cost = deployment.price.cost(usage)
        attempt.usage_estimated = estimated
    record.deployment = deployment.id
    record.upstream_model = served.model
    record.finish_reason = finish_reason
    total_usage(record)


def close_record(record: RequestRecord, error: BaseException, start: float, now: float) -> None:
    record.latency_ms = (now - start) * 1000
    record.error_class = type(error).__name__
    total_usage(record)
    if isinstance(error, asyncio.CancelledError):
        record.client_disconnected = True
        record.status = 499
        for attempt in record.attempts:
            if attempt.status == "pending":
                attempt.status = "cancelled"
        return
    record.status = status_of(error)


def route_headers(record: RequestRecord, served_group: str) -> list[tuple[bytes, bytes]]:
    """Response headers that show how the request was served (attempts, fallbacks, cascade, cost)."""
    attempts = record.attempts
    headers = [(b"x-switchpoint-attempts", str(len(attempts)).encode())]
    if len(attempts) > 1:
        route = ",".join(f"{a.group}/{a.deployment}={a.error_kind or a.status}" for a in attempts)
        headers.append((b"x-switchpoint-route", _latin1(route)[:_ROUTE_MAX]))
    groups: list[str] = []
    for attempt in attempts:
        if attempt.group and (not groups or groups[-1] != attempt.group):
            groups.append(attempt.group)
    if len(groups) > 1 or (groups and groups[0] != record.group):
        headers.append((b"x-switchpoint-groups", _latin1(">".join(groups))))
    scores = [f"{a.group}={a.score:.3f}" for a in attempts if a.score is not None]
    if scores:
        headers.append((b"x-switchpoint-cascade", _latin1(",".join(scores))))
    headers.append((b"x-switchpoint-cost", f"{record.cost:.8f}".encode()))
    if served_group != record.group:
        headers.append((b"x-switchpoint-served-by-group", _latin1(served_group)))
    return headers


def _latin1(text: str) -> bytes:
    return text.encode("latin-1", "replace")


@dataclass(slots=True)
class Served(Generic[T]):
    """A successful attempt: where it ran and what it returned."""

    group: ModelGroup
    deployment: Deployment
    state: DeploymentHealth
    result: T
    attempt: AttemptRecord
    model: str


@dataclass(slots=True)
class Opened:
    """An upstream stream whose first events have arrived."""

    upstream: ChatStream
    blocks: AsyncIterator[bytes]
    first: bytes


class GroupRuntime:
    """Per-group state built once: its policy, its retry budget, whether it has context windows."""

    __slots__ = ("budget", "direct", "policy", "windows")

    def __init__(self, policy: GroupPolicy, budget: RetryBudget, windows: int) -> None:
        self.policy = policy
        self.budget = budget
        #: The smallest context window among the group's deployments (0: none is set): a prompt
        #: estimated under it fits everywhere and needs no filtering.
        self.windows = windows
        #: A non-streamed attempt can call the adapter directly (no attempt timeout, no content checks).
        self.direct = policy.attempt_timeout is None and not policy.fallbacks.content_policy


class Cursor:
    """The balancer's order, consumed once: the next deployment not yet tried that is available
    (in panic routing, the next one whatever its health)."""

    __slots__ = ("_ordered", "_panic", "_pos")

    def __init__(self, ordered: list[Deployment], panic: bool = False) -> None:
        self._ordered = ordered
        self._pos = 0
        self._panic = panic

    def first(self) -> Deployment:
        self._pos = 1
        return self._ordered[0]

    def next(self, health: HealthTracker, now: float) -> Deployment | None:
        ordered = self._ordered
        while self._pos < len(ordered):
            deployment = ordered[self._pos]
            self._pos += 1
            if self._panic or health.available(health.of(deployment), now):
                return deployment
        return None


def deadline_error(group: ModelGroup) -> ProviderTimeout:
    return ProviderTimeout(
        f"the request to '{group.name}' exceeded its total deadline of {group.total_timeout:g}s", phase="total"
    )


class AttemptBook:
    """The bookkeeping around one upstream call: health, the attempt record, rpm/tpm buckets.

    Synchronous on purpose: the engine awaits the adapter itself, between ``start`` and one of
    ``succeeded`` / ``failed`` / ``cancelled``, so an attempt adds no coroutine of its own.
    """

    __slots__ = ("_clock", "_health", "_runtime")

    def __init__(self, health: HealthTracker, clock: Clock, runtime: dict[str, GroupRuntime]) -> None:
        self._health = health
        self._clock = clock
        self._runtime = runtime

    def start(self, run: Run, group: ModelGroup, deployment: Deployment, model: str, reason: str, wait: float,
              now: float) -> Served[Any]:
        state = self._health.of(deployment)
        probe = self._health.begin(state, now)
        attempt = new_attempt(run.record, group, deployment, now, reason)
        if wait:
            attempt.backoff_ms = wait * 1000
        if probe:
            attempt.probe = True
        usage = state.usage
        if usage is not None:
            usage.take(run.tokens_wanted() if usage.needs_tokens() else 0, now)
        return Served(group, deployment, state, None, attempt, model)

    def failed(self, run: Run, served: Served[Any], exc: ProviderError) -> None:
        health, state, attempt = self._health, served.state, served.attempt
        now = self._clock.now()
        health.end(state)
        kind = classify(exc)
        health.failure(state, kind, now, getattr(exc, "retry_after", None), attempt.probe)
        failed(attempt, exc, kind, now)
        usage = state.usage
        if usage is not None:
            usage.settle(-run.tokens_wanted() if usage.needs_tokens() else 0, now)
        if isinstance(exc, ContentFiltered):
            attempt.status = "content_filtered"
            bill(attempt, served.deployment, exc.response.usage)
            served.result = exc.response
            run.filtered = served
        run.errors.append(exc)

    def cancelled(self, served: Served[Any]) -> None:
        self._health.end(served.state)
        self._health.abandon(served.state, served.attempt.probe)
        served.attempt.status = "cancelled"
        served.attempt.latency_ms = (self._clock.now() - served.attempt.started) * 1000

    def succeeded(self, served: Served[Any], result: Any, stream: bool) -> Served[Any]:
        now = self._clock.now()
        attempt = served.attempt
        latency = now - attempt.started
        self._health.success(served.state, latency, now, attempt.probe, release=not stream)
        limits = getattr(result.upstream if stream else result, "limits", None)  # embeddings: a dict, none
        if limits is not None:
            self._health.observe_limits(served.state, limits, now)
        attempt.status = "ok"
        attempt.latency_ms = latency * 1000
        hedge = self._runtime[served.group.name].policy.hedge
        if hedge is not None:
            hedge.window.add(latency)
        served.result = result
        return served
