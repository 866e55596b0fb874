"""The gateway engine: resolve the model group, order its deployments, call, fail over, record.

This is the only orchestration code. The HTTP server and the SDK both call :class:`Gateway`;
neither holds any logic of its own about models, providers or records.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from switchpoint.clock import Clock, MonotonicClock
from switchpoint.errors import (
    AllAttemptsFailed,
    NoDeploymentAvailable,
    ProviderError,
    ProviderTimeout,
    SwitchpointError,
    UnknownModel,
    UnsupportedCapability,
    status_of,
)
from switchpoint.protocols import Balancer, EventSink, Provider
from switchpoint.storage.records import AttemptRecord, RequestRecord
from switchpoint.types import ChatRequest, ChatResponse, ChatStream, Deployment, ModelGroup, Usage

__all__ = ["Completion", "Gateway", "StreamingCompletion"]


@dataclass(slots=True)
class Completion:
    response: ChatResponse
    group: ModelGroup
    deployment: Deployment
    record: RequestRecord


class Gateway:
    """Owns the model groups, the provider adapters, the balancer and the event sink."""

    def __init__(
        self,
        groups: Sequence[ModelGroup],
        adapters: Mapping[str, Provider],
        balancer: Balancer,
        sink: EventSink,
        clock: Clock | None = None,
    ) -> None:
        self._groups = {g.name: g for g in groups if not g.is_wildcard}
        # Longest prefix first, so "openai/gpt-*" wins over "openai/*" and "*" comes last.
        self._wildcards = sorted((g for g in groups if g.is_wildcard), key=lambda g: -len(g.name))
        self._adapters = dict(adapters)
        self._balancer = balancer
        self.sink = sink
        self.clock = clock or MonotonicClock()
        missing = {d.provider for g in groups for d in g.deployments} - set(self._adapters)
        if missing:
            raise ValueError(f"no adapter for provider kinds: {sorted(missing)}")

    # -- model groups -------------------------------------------------------------------

    @property
    def groups(self) -> list[ModelGroup]:
        return [*self._groups.values(), *self._wildcards]

    def resolve(self, model: str) -> tuple[ModelGroup, str | None]:
        """The group serving ``model``, and what a wildcard matched (None for an exact name)."""
        group = self._groups.get(model)
        if group is not None:
            return group, None
        for wildcard in self._wildcards:
            prefix = wildcard.name[:-1]
            if model.startswith(prefix) and len(model) > len(prefix):
                return wildcard, model[len(prefix) :]
        names = [g.name for g in self.groups]
        raise UnknownModel(model, difflib.get_close_matches(model, names, n=3, cutoff=0.5))

    def _candidates(self, group: ModelGroup, request: ChatRequest) -> list[Deployment]:
        deployments: Sequence[Deployment] = group.deployments
        if request.has_tools or request.has_images or request.wants_json:
            deployments = [d for d in deployments if _capable(d, request)]
            if not deployments:
                needed = [
                    n
                    for n, on in (
                        ("tools", request.has_tools),
                        ("images", request.has_images),
                        ("JSON mode", request.wants_json),
                    )
                    if on
                ]
                raise UnsupportedCapability(
                    f"No deployment of '{group.name}' supports {' and '.join(needed)}.", param="model"
                )
        ordered = self._balancer.order(group, deployments)
        if not ordered:
            raise NoDeploymentAvailable(f"No deployment of '{group.name}' is available.")
        return ordered[: group.max_attempts] if group.max_attempts else ordered

    def _new_record(self, request: ChatRequest, group: ModelGroup) -> RequestRecord:
        user = request.body.get("user")
        return RequestRecord(
            request_id=request.request_id,
            created=self.clock.wall(),
            model=request.model,
            stream=request.stream,
            group=group.name,
            tags=request.tags,
            user=user if isinstance(user, str) else None,
        )

    # -- calls ------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> Completion:
        group, matched = self.resolve(request.model)
        candidates = self._candidates(group, request)
        record = self._new_record(request, group)
        start = self.clock.now()
        errors: list[SwitchpointError] = []
        try:
            async with asyncio.timeout(group.total_timeout):
                for index, deployment in enumerate(candidates):
                    attempt = _attempt(record, deployment, index, errors, self.clock.now())
                    try:
                        response = await self._adapters[deployment.provider].complete(
                            request, deployment, upstream_model(deployment, matched)
                        )
                    except ProviderError as exc:
                        _failed(attempt, exc, self.clock.now())
                        errors.append(exc)
                        if not exc.retryable:
                            break
                        continue
                    now = self.clock.now()
                    attempt.latency_ms = (now - attempt.started) * 1000
                    _finish(record, deployment, response.usage, response.finish_reason)
                    record.latency_ms = (now - start) * 1000
                    self.sink.emit(record)
                    return Completion(response, group, deployment, record)
        except TimeoutError:
            errors.append(_deadline(group))
        except BaseException as exc:
            _close_record(record, exc, start, self.clock.now())
            self.sink.emit(record)
            raise
        error = errors[-1] if len(errors) == 1 else AllAttemptsFailed(errors)
        _close_record(record, error, start, self.clock.now())
        self.sink.emit(record)
        raise error

    async def stream(self, request: ChatRequest) -> StreamingCompletion:
        """Open a stream, failing over until one deployment has produced its first events."""
        group, matched = self.resolve(request.model)
        candidates = self._candidates(group, request)
        record = self._new_record(request, group)
        start = self.clock.now()
        deadline = start + group.total_timeout
        errors: list[SwitchpointError] = []
        try:
            async with asyncio.timeout(group.total_timeout):
                for index, deployment in enumerate(candidates):
                    attempt = _attempt(record, deployment, index, errors, self.clock.now())
                    upstream: ChatStream | None = None
                    try:
                        upstream = await self._adapters[deployment.provider].stream(
                            request, deployment, upstream_model(deployment, matched)
                        )
                        blocks = aiter(upstream)
                        first = await anext(blocks, b"")
                    except ProviderError as exc:
                        if upstream is not None:
                            await upstream.aclose()
                        _failed(attempt, exc, self.clock.now())
                        errors.append(exc)
                        if not exc.retryable:
                            break
                        continue
                    now = self.clock.now()
                    attempt.ttft_ms = record.ttft_ms = (now - attempt.started) * 1000
                    record.deployment = deployment.id
                    return StreamingCompletion(
                        self, group, deployment, record, upstream, blocks, first, start, deadline
                    )
        except TimeoutError:
            errors.append(_deadline(group))
        except BaseException as exc:
            _close_record(record, exc, start, self.clock.now())
            self.sink.emit(record)
            raise
        error = errors[-1] if len(errors) == 1 else AllAttemptsFailed(errors)
        _close_record(record, error, start, self.clock.now())
        self.sink.emit(record)
        raise error

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
        await self.sink.aclose()


class StreamingCompletion:
    """An open stream. Iterate it for SSE byte blocks; the record is emitted exactly once, at the end."""

    def __init__(
        self,
        gateway: Gateway,
        group: ModelGroup,
        deployment: Deployment,
        record: RequestRecord,
        upstream: ChatStream,
        blocks: AsyncIterator[bytes],
        first: bytes,
        start: float,
        deadline: float,
    ) -> None:
        self.group = group
        self.deployment = deployment
        self.record = record
        self._gateway = gateway
        self._upstream = upstream
        self._blocks = blocks
        self._first = first
        self._start = start
        self._deadline = deadline
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[bytes]:
        clock = self._gateway.clock
        try:
            if self._first:
                yield self._first
            async for block in self._blocks:
                if clock.now() > self._deadline:
                    raise _deadline(self.group)
                yield block
        except SwitchpointError as exc:
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
        record = self.record
        _finish(record, self.deployment, self._upstream.usage, self._upstream.finish_reason)
        if record.finish_reason is None and record.error_class is None:
            record.incomplete = True
        record.latency_ms = (self._gateway.clock.now() - self._start) * 1000
        self._gateway.sink.emit(record)


def upstream_model(deployment: Deployment, matched: str | None) -> str:
    """The model id to send upstream: a ``*`` in the deployment's model takes the wildcard's match."""
    if matched is not None and "*" in deployment.model:
        return deployment.model.replace("*", matched)
    return deployment.model


def _capable(deployment: Deployment, request: ChatRequest) -> bool:
    caps = deployment.capabilities
    return (
        (caps.tools or not request.has_tools)
        and (caps.vision or not request.has_images)
        and (caps.json_mode or not request.wants_json)
    )


def _attempt(
    record: RequestRecord, deployment: Deployment, index: int, errors: list[SwitchpointError], now: float
) -> AttemptRecord:
    reason = "first" if index == 0 else f"failover after {type(errors[-1]).__name__}" if errors else "next"
    attempt = AttemptRecord(deployment=deployment.id, provider=deployment.provider, started=now, reason=reason)
    record.attempts.append(attempt)
    return attempt


def _failed(attempt: AttemptRecord, exc: ProviderError, now: float) -> None:
    attempt.status = "error"
    attempt.error_class = type(exc).__name__
    attempt.latency_ms = (now - attempt.started) * 1000


def _finish(record: RequestRecord, deployment: Deployment, usage: Usage | None, finish_reason: str | None) -> None:
    record.deployment = deployment.id
    record.upstream_model = deployment.model
    record.finish_reason = finish_reason
    if usage is not None:
        record.prompt_tokens = usage.prompt_tokens
        record.completion_tokens = usage.completion_tokens
        record.cached_tokens = usage.cached_tokens
        record.cost = deployment.price.cost(usage)


def _close_record(record: RequestRecord, error: BaseException, start: float, now: float) -> None:
    record.latency_ms = (now - start) * 1000
    record.error_class = type(error).__name__
    if isinstance(error, asyncio.CancelledError):
        record.client_disconnected = True
        record.status = 499
        return
    record.status = status_of(error)


def _deadline(group: ModelGroup) -> ProviderTimeout:
    return ProviderTimeout(
        f"the request to '{group.name}' exceeded its total deadline of {group.total_timeout:g}s", phase="total"
    )
