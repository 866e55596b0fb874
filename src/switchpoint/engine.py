"""The gateway engine: resolve the model group, order its deployments, call, fail over, record.

This is the only orchestration code. The HTTP server and the SDK both call :class:`Gateway`;
neither holds any logic of its own about models, providers or records.

One request, in order: when the client named a router (``model: "auto"``), analyse the request and
let the router choose a model group (``switchpoint.routing``) → resolve the group → drop
deployments that lack a needed capability, whose context window is too small (estimated before
the call) or that are cooling down → the group's balancer orders the rest → attempts, switching
deployment at once after a retryable failure and backing off (full jitter, or ``Retry-After``)
only when retrying the same one, every retry paid from the group's retry budget → when the group
is exhausted, its fallback group for that class of error → for a non-streamed answer, the cascade
(escalate on low confidence). One total deadline covers all of it. The policies live in
``switchpoint.balancing``.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from switchpoint.balancing.attempts import (
    AttemptBook,
    Cursor,
    GroupRuntime,
    Opened,
    Run,
    Served,
    bill,
    close_record,
    deadline_error,
    route_headers,
    settle_usage,
)
from switchpoint.balancing.calls import complete_once, open_stream
from switchpoint.balancing.candidates import capable, check_references, fit_context, retry_target, unavailable
from switchpoint.balancing.cascade import score_answer, strip_logprobs, with_logprobs
from switchpoint.balancing.checks import ActiveHealthChecker
from switchpoint.balancing.health import HealthTracker
from switchpoint.balancing.hedge import race
from switchpoint.balancing.policy import DEFAULT_POLICY, GroupPolicy
from switchpoint.balancing.retry import (
    FALLBACK_CLASS,
    RETRYABLE,
    RetryPolicy,
    classify,
)
from switchpoint.clock import Clock, MonotonicClock
from switchpoint.errors import (
    AllAttemptsFailed,
    NoDeploymentAvailable,
    ProviderError,
    SwitchpointError,
    UnknownModel,
    UnsupportedCapability,
    release_tracebacks,
)
from switchpoint.protocols import Balancer, Embedder, EventSink, Provider
from switchpoint.routing.router import Routing
from switchpoint.storage.content import answer_content
from switchpoint.storage.records import RequestRecord
from switchpoint.streaming import StreamingCompletion
from switchpoint.types import ChatRequest, ChatResponse, Deployment, ModelGroup, Usage

__all__ = ["Completion", "Embedded", "Gateway", "StreamingCompletion"]

logger = logging.getLogger("switchpoint.engine")
Sleep = Callable[[float], Awaitable[None]]
_MAX_FALLBACK_HOPS = 5
_MAX_CASCADE_STEPS = 4


@dataclass(slots=True)
class Completion:
    """A finished answer. ``group`` and ``deployment`` are the ones that served it (after any
    fallback or escalation); ``record.group`` is the group the client asked for."""

    response: ChatResponse
    group: ModelGroup
    deployment: Deployment
    record: RequestRecord

    def route_headers(self) -> list[tuple[bytes, bytes]]:
        """``x-switchpoint-attempts``/``-route``/``-groups``/``-cascade``/``-cost`` response headers."""
        return route_headers(self.record, self.group.name)


class Gateway:
    """Owns the model groups, the provider adapters, the balancer, health and the event sink.

    ``clock``, ``sleep`` and ``rng`` are injectable so tests run backoffs and cooldowns on a
    fake clock without waiting.
    """

    def __init__(
        self,
        groups: Sequence[ModelGroup],
        adapters: Mapping[str, Provider],
        balancer: Balancer,
        sink: EventSink,
        clock: Clock | None = None,
        *,
        policies: Mapping[str, GroupPolicy] | None = None,
        health: HealthTracker | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        checks: ActiveHealthChecker | None = None,
        routing: Routing | None = None,
        store_content: bool = False,
    ) -> None:
        self._groups = {g.name: g for g in groups if not g.is_wildcard}
        #: Records carry the request's messages and the answer's text (``logs.store_content``).
        self.store_content = store_content
        self.routing = routing or Routing()
        self._routers = self.routing.routers
        self._record_direct = self.routing.analysis.config.record_direct
        self._annotating: set[asyncio.Task[None]] = set()
        # Longest prefix first, so "openai/gpt-*" wins over "openai/*" and "*" comes last.
        self._wildcards = sorted((g for g in groups if g.is_wildcard), key=lambda g: -len(g.name))
        self._adapters = dict(adapters)
        self._balancer = balancer
        self.sink = sink
        self.clock = clock or (health.clock if health is not None else MonotonicClock())
        self.health_tracker = health or HealthTracker(clock=self.clock)
        self.retry = retry or RetryPolicy()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._checks = checks
        self.counters = {
            "retries_denied": 0, "hedges": 0, "hedges_won": 0, "escalations": 0, "fallbacks": 0, "panics": 0,
        }
        missing = {d.provider for g in groups for d in g.deployments} - set(self._adapters)
        if missing:
            raise ValueError(f"no adapter for provider kinds: {sorted(missing)}")
        policies = dict(policies or {})
        check_references(groups, policies)
        now = self.clock.now()
        self._runtime = {
            g.name: GroupRuntime(
                policies.get(g.name, DEFAULT_POLICY),
                self.retry.budget(now),
                min((d.context_window for d in g.deployments if d.context_window), default=0),
            )
            for g in groups
        }
        self.health_tracker.register_groups(groups)
        self._book = AttemptBook(self.health_tracker, self.clock, self._runtime)

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
        names = [g.name for g in self.groups] + list(self._routers)
        raise UnknownModel(model, difflib.get_close_matches(model, names, n=3, cutoff=0.5))

    def is_router(self, model: str) -> bool:
        return model in self._routers

    def deployments_for(self, model: str) -> tuple[Deployment, ...]:
        """Every deployment that may serve ``model``: its group's, or for a router, those of every
        group the router may choose."""
        router = self._routers.get(model)
        if router is None:
            return self.resolve(model)[0].deployments
        return tuple(d for name in router.targets for d in self.resolve(name)[0].deployments)

    async def _route(
        self, request: ChatRequest, headers: Mapping[str, str] | None
    ) -> tuple[ModelGroup, str | None, dict[str, Any]]:
        """The group a router chose, what a wildcard matched, and the record's ``routing``."""
        decision, features = await self.routing.decide(self._routers[request.model], request, headers)
        group, matched = self.resolve(decision.group)
        return group, matched, {**decision.to_dict(), "features": features.to_dict() if features else None}

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
            content={"messages": request.body.get("messages"), "response": None} if self.store_content else None,
        )

    async def _begin(
        self, request: ChatRequest, headers: Mapping[str, str] | None
    ) -> tuple[ModelGroup, str | None, Run]:
        """Resolve the group (a router decides first when the model names one), open the record
        and start the clock: the start of every call."""
        if request.model in self._routers:
            group, matched, routing = await self._route(request, headers)
            record = self._new_record(request, group)
            record.routing = routing
        else:
            group, matched = self.resolve(request.model)
            record = self._new_record(request, group)
        start = self.clock.now()
        return group, matched, Run(request, record, start, start + group.total_timeout)

    # -- calls ------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest, *, headers: Mapping[str, str] | None = None) -> Completion:
        """Serve a non-streamed request. ``headers`` (request headers, for routers' rules) are read
        only when ``request.model`` names a router."""
        group, matched, run = await self._begin(request, headers)
        record, start = run.record, run.start
        try:
            async with asyncio.timeout(group.total_timeout):
                cascade = self._runtime[group.name].policy.cascade
                if cascade is not None and cascade.request_logprobs:
                    run.request = with_logprobs(request)
                try:  # _serve, inlined on the hot path
                    served: Served[ChatResponse] = await self._attempts(run, group, matched, "first", False)
                except (ProviderError, NoDeploymentAvailable) as exc:
                    served = await self._fall_back(run, group, exc, False)
                if self._runtime[served.group.name].policy.cascade is not None:
                    served = await self._cascade(run, served, request)
        except TimeoutError:
            error = self._final_error(run, deadline_error(group))
        except SwitchpointError as exc:
            error = self._final_error(run, exc)
        except BaseException as exc:
            self._close_failed(run, exc)
            raise
        else:
            response = served.result
            if run.request is not request and not request.body.get("logprobs"):
                strip_logprobs(response)
            state = served.state
            if state.usage is not None and response.usage is not None:
                state.usage.settle(response.usage.total_tokens - run.tokens_wanted(), self.clock.now())
            settle_usage(record, served, response.usage, response.finish_reason)
            record.latency_ms = (self.clock.now() - start) * 1000
            if record.content is not None:
                record.content.update(answer_content(response.body))
            self.emit(record, request)
            return Completion(response, served.group, served.deployment, record)
        self._close_failed(run, error)
        raise error

    async def stream(
        self, request: ChatRequest, *, headers: Mapping[str, str] | None = None
    ) -> StreamingCompletion:
        """Open a stream, failing over until one deployment has produced its first events."""
        group, matched, run = await self._begin(request, headers)
        record = run.record
        try:
            async with asyncio.timeout(group.total_timeout):
                try:
                    served: Served[Opened] = await self._attempts(run, group, matched, "first", True)
                except (ProviderError, NoDeploymentAvailable) as exc:
                    served = await self._fall_back(run, group, exc, True)
        except TimeoutError:
            error = self._final_error(run, deadline_error(group))
        except SwitchpointError as exc:
            error = self._final_error(run, exc)
        except BaseException as exc:
            self._close_failed(run, exc)
            raise
        else:
            record.ttft_ms = served.attempt.ttft_ms = served.attempt.latency_ms
            record.deployment = served.deployment.id
            return StreamingCompletion(self, served, run)
        self._close_failed(run, error)
        raise error

    def _close_failed(self, run: Run, error: BaseException) -> None:
        """Close a failed (or cancelled) call's record and hand it to the sink."""
        close_record(run.record, error, run.start, self.clock.now())
        self.sink.emit(run.record)

    @staticmethod
    def _final_error(run: Run, error: SwitchpointError) -> SwitchpointError:
        errors = run.errors
        if not errors or errors[-1] is not error:
            errors.append(error)
        return errors[-1] if len(errors) == 1 else AllAttemptsFailed(errors)

    # -- groups, fallbacks, cascade ---------------------------------------------------------

    async def _serve(
        self, run: Run, group: ModelGroup, matched: str | None, reason: str = "first", *, stream: bool = False
    ) -> Served[Any]:
        """Serve from ``group``, then from its fallback groups for the class of each failure."""
        try:
            return await self._attempts(run, group, matched, reason, stream)
        except (ProviderError, NoDeploymentAvailable) as exc:
            return await self._fall_back(run, group, exc, stream)

    async def _fall_back(
        self, run: Run, group: ModelGroup, first_error: SwitchpointError, stream: bool
    ) -> Served[Any]:
        release_tracebacks(first_error)  # kept in run.errors: no traceback holding the frames that hold run
        error: SwitchpointError | None = first_error
        fallbacks = self._runtime[group.name].policy.fallbacks
        tried = [group.name]
        current, kind = group, ""
        while True:
            if error is not None:
                kind = classify(error)
                if not run.errors or run.errors[-1] is not error:
                    run.errors.append(error)
            target = next((t for t in fallbacks.for_class(FALLBACK_CLASS.get(kind)) if t not in tried), None)
            if target is None or len(tried) > _MAX_FALLBACK_HOPS:
                if run.filtered is not None:
                    filtered: Served[Any] = run.filtered
                    return filtered
                raise run.errors[-1]
            self.counters["fallbacks"] += 1
            reason = f"fallback from {current.name} after {type(run.errors[-1]).__name__} ({kind})"
            if kind == "context_window" and not run.record.attempts:
                reason += f" (about {run.prompt_tokens()} prompt tokens)"
            current = self._groups[target]
            tried.append(target)
            try:
                return await self._attempts(run, current, None, reason, stream)
            except UnsupportedCapability:
                error = None  # this fallback cannot serve the request: the next one, same class
            except (ProviderError, NoDeploymentAvailable) as exc:
                release_tracebacks(exc)
                error = exc

    def _order(self, run: Run, group: ModelGroup) -> tuple[list[Deployment], GroupRuntime, bool]:
        """The group's deployments that may take the request, in the balancer's order, and whether
        this is panic routing (every one is cooling down, but one of them answered recently)."""
        runtime = self._runtime[group.name]
        request = run.request
        candidates: Sequence[Deployment] = group.deployments
        if request.has_tools or request.has_images or request.wants_json or not candidates:
            candidates = capable(group, request)
        if runtime.windows and run.prompt_tokens() > runtime.windows:
            candidates = fit_context(group, candidates, run.prompt_tokens())
        ordered, panic = self._balance(group, candidates)
        return ordered, runtime, panic

    def _balance(self, group: ModelGroup, candidates: Sequence[Deployment]) -> tuple[list[Deployment], bool]:
        """``candidates`` without those cooling down, in the balancer's order, and whether this is
        panic routing; a fast ``NoHealthyDeployment`` when none may take the request."""
        health = self.health_tracker
        available, panic = candidates, False
        if health.paused:
            now = self.clock.now()
            available = [d for d in candidates if health.available(health.of(d), now)]
            if not available and health.panic([health.of(d) for d in candidates], now):
                available, panic = candidates, True
                self.counters["panics"] += 1
        ordered = self._balancer.order(group, available) if available else []
        if not ordered:
            raise unavailable(group, candidates, health, self.clock.now())
        return ordered, panic

    async def _attempts(
        self, run: Run, group: ModelGroup, matched: str | None, reason: str, stream: bool
    ) -> Served[Any]:
        """Attempts within one group: the next deployment at once after a retryable failure."""
        ordered, runtime, panic = self._order(run, group)
        now = self.clock.now()
        runtime.budget.on_request(now)
        limit = group.max_attempts or len(ordered)
        health = self.health_tracker
        fresh = Cursor(ordered, panic)
        if panic:
            reason += " (panic: every deployment is cooling down)"
        last: ProviderError | None = None
        tries = 0
        while tries < limit:
            wait = 0.0
            if tries:
                now = self.clock.now()
                deployment = fresh.next(health, now)
            else:
                deployment = fresh.first()  # available by construction of the order
            if deployment is None:
                if last is None:
                    raise unavailable(group, ordered, self.health_tracker, now)
                deployment, wait, reason = retry_target(
                    ordered, last, self.health_tracker, self.retry, self._rng, run.deadline, tries, now, panic)
                if deployment is None:
                    raise last
            if tries:
                if not self._may_retry(run, runtime, now):
                    raise last or unavailable(group, ordered, self.health_tracker, now)
                if wait:
                    await self._sleep(wait)
            try:
                hedge = runtime.policy.hedge
                if hedge is not None and tries == 0 and limit > 1 and (delay := hedge.threshold()) is not None:
                    return await self._hedged(run, group, matched, deployment, fresh, delay, stream)
                book = self._book  # one attempt, inlined (no extra coroutine on the hot path)
                served = book.start(run, group, deployment, upstream_model(deployment, matched), reason, wait,
                                    self.clock.now() if wait else now)
                try:
                    result = await self._call(run, served, stream)
                except ProviderError as exc:
                    book.failed(run, served, exc)
                    raise
                except BaseException:
                    book.cancelled(served)
                    raise
                return book.succeeded(served, result, stream)
            except ProviderError as exc:
                if classify(exc) not in RETRYABLE:
                    raise
                release_tracebacks(exc)  # retried past: kept as `last`, it must not keep this frame alive
                last, tries, reason = exc, tries + 1, f"failover after {type(exc).__name__}"
        raise last or unavailable(group, ordered, self.health_tracker, self.clock.now())

    def _may_retry(self, run: Run, runtime: GroupRuntime, now: float) -> bool:
        """A retry is paid from the group's budget, except after a failed half-open probe: the
        probe was the gateway's choice, not an extra attempt for the request."""
        if run.record.attempts[-1].probe or runtime.budget.try_retry(now):
            return True
        self.counters["retries_denied"] += 1
        return False

    async def _attempt(
        self, run: Run, group: ModelGroup, deployment: Deployment, matched: str | None, reason: str, wait: float,
        stream: bool,
    ) -> Served[Any]:
        """One attempt as a coroutine (hedging races two); ``_attempts`` inlines the same steps."""
        book = self._book
        served = book.start(run, group, deployment, upstream_model(deployment, matched), reason, wait,
                            self.clock.now())
        try:
            result = await self._call(run, served, stream)
        except ProviderError as exc:
            book.failed(run, served, exc)
            raise
        except BaseException:
            book.cancelled(served)
            raise
        return book.succeeded(served, result, stream)

    def _call(self, run: Run, served: Served[Any], stream: bool) -> Awaitable[Any]:
        deployment = served.deployment
        adapter = self._adapters[deployment.provider]
        if stream:
            return open_stream(adapter, run.request, deployment, served.model)
        runtime = self._runtime[served.group.name]
        if runtime.direct:
            return adapter.complete(run.request, deployment, served.model)
        return complete_once(adapter, run.request, deployment, served.model, runtime.policy)

    async def _hedged(
        self, run: Run, group: ModelGroup, matched: str | None, first: Deployment, fresh: Cursor, delay: float,
        stream: bool,
    ) -> Served[Any]:
        """Race the first attempt against a second, started on another deployment after ``delay``."""

        def second() -> Coroutine[Any, Any, Served[Any]] | None:
            now = self.clock.now()
            partner = fresh.next(self.health_tracker, now)
            if partner is None or not self._runtime[group.name].budget.try_retry(now):
                return None
            self.counters["hedges"] += 1
            reason = f"hedge: first attempt slower than {delay * 1000:.0f} ms"
            return self._attempt(run, group, partner, matched, reason, 0.0, stream)

        async def discard(served: Served[Any]) -> None:  # two streams opened at once: close the spare
            served.attempt.status = "cancelled"
            if stream:
                self.health_tracker.end(served.state)
            if isinstance(served.result, Opened):
                await served.result.upstream.aclose()

        first_attempt = self._attempt(run, group, first, matched, "first", 0.0, stream)
        served, hedge_won = await race(first_attempt, second, delay, discard)
        if hedge_won:
            self.counters["hedges_won"] += 1
        return served

    async def _cascade(self, run: Run, served: Served[ChatResponse], request: ChatRequest) -> Served[ChatResponse]:
        """Escalate while the answer's confidence is below the group's threshold."""
        visited = {served.group.name}
        while len(visited) <= _MAX_CASCADE_STEPS:
            policy = self._runtime[served.group.name].policy.cascade
            if policy is None:
                return served
            score, signals = await score_answer(run.request, served.result, policy)
            served.attempt.score = score
            if score >= policy.threshold or policy.next in visited:
                return served
            visited.add(policy.next)
            self.counters["escalations"] += 1
            if served.attempt.status == "ok":
                bill(served.attempt, served.deployment, served.result.usage)
            weakest = min(signals, key=lambda name: signals[name]) if signals else "score"
            reason = f"escalation from {served.group.name}: {weakest} {score:.3f} < {policy.threshold:g}"
            target = self._groups[policy.next]
            following = self._runtime[target.name].policy.cascade
            asked = run.request
            run.request = with_logprobs(request) if following and following.request_logprobs else request
            try:
                served = await self._serve(run, target, None, reason)
            except SwitchpointError:
                run.request = asked  # the answer kept is the one this request produced
                return served  # a low-confidence answer beats an error
        return served

    # -- lifecycle and state ----------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """JSON-able health of every deployment, the retry budgets and the resilience counters."""
        now = self.clock.now()
        return {
            "deployments": self.health_tracker.snapshot(self.groups),
            "retry_budgets": {name: rt.budget.snapshot(now) for name, rt in self._runtime.items()},
            "counters": dict(self.counters),
            "active_checks": self._checks.snapshot() if self._checks is not None else None,
        }

    async def start(self) -> None:
        """Start background work (active health checks, managed upstreams such as the local model) and
        load what the routers need (the analysis models, in a worker thread)."""
        await self.routing.start()
        for adapter in {id(a): a for a in self._adapters.values()}.values():
            start = getattr(adapter, "start", None)
            if start is not None:
                await start()
        if self._checks is not None:
            self._checks.start()

    def emit(self, record: RequestRecord, request: ChatRequest | None = None) -> None:
        """Hand a finished record to the sink. A direct request's record (no router decided) may first
        get the request's features, computed after the answer in a background task, for a share
        ``analysis.record_direct`` of them; routed records already carry theirs."""
        share = self._record_direct
        if request is None or record.routing is not None or not share or (share < 1.0 and self._rng.random() >= share):
            self.sink.emit(record)
            return
        task = asyncio.get_running_loop().create_task(self._annotate(record, request))
        self._annotating.add(task)
        task.add_done_callback(self._annotating.discard)

    async def _annotate(self, record: RequestRecord, request: ChatRequest) -> None:
        try:
            features = await self.routing.analysis.analyze(request)
            record.routing = {"router": None, "features": features.to_dict()}
        except Exception:  # the features are a bonus: the record is never lost for them
            logger.warning("could not analyse request %s for its record", record.request_id, exc_info=True)
        finally:
            self.sink.emit(record)

    async def aclose(self) -> None:
        if self._annotating:  # records waiting for their features are emitted before the sink closes
            await asyncio.gather(*self._annotating, return_exceptions=True)
        if self._checks is not None:
            await self._checks.aclose()
        for adapter in {id(a): a for a in self._adapters.values()}.values():
            await adapter.aclose()
        await self.routing.aclose()
        await self.sink.aclose()

    # -- embeddings -------------------------------------------------------------------------

    def adapter(self, kind: str) -> Provider:
        """The adapter serving the deployments of provider ``kind`` (KeyError if none)."""
        return self._adapters[kind]

    def embedder(self, deployment: Deployment) -> Embedder | None:
        """The deployment's adapter if it can embed, else None."""
        adapter = self._adapters.get(deployment.provider)
        return cast(Embedder, adapter) if callable(getattr(adapter, "embed", None)) else None

    async def embed(self, body: dict[str, Any], *, request_id: str = "", tags: tuple[str, ...] = ()) -> Embedded:
        """Serve a validated OpenAI embeddings request from its model group's embedding deployments.

        As for chat: the balancer orders them, cooling-down ones are skipped, a retryable failure
        moves on to the next one (retries paid from the group's budget, with backoff when retrying
        the same one), and one total deadline covers it all. The record carries the input tokens
        and their cost (the deployment's input price) and the tag ``embeddings``. Fallback groups
        and the cascade do not apply to embeddings.
        """
        model = body["model"]
        group, matched = self.resolve(model)
        user = body.get("user")
        record = RequestRecord(
            request_id=request_id, created=self.clock.wall(), model=model, stream=False, group=group.name,
            tags=(*tags, "embeddings"), user=user if isinstance(user, str) else None,
        )
        start = self.clock.now()
        run = Run(ChatRequest(body, model, request_id=request_id, tags=tags), record, start,
                  start + group.total_timeout)
        try:
            async with asyncio.timeout(group.total_timeout):
                served: Served[dict[str, Any]] = await self._embed_attempts(run, group, matched)
        except TimeoutError:
            error = self._final_error(run, deadline_error(group))
        except SwitchpointError as exc:
            error = self._final_error(run, exc)
        except BaseException as exc:
            self._close_failed(run, exc)
            raise
        else:
            usage = Usage.from_openai(served.result.get("usage"))
            limiter = served.state.usage
            if limiter is not None and usage is not None:
                limiter.settle(usage.total_tokens - run.tokens_wanted(), self.clock.now())
            settle_usage(record, served, usage, None)
            record.latency_ms = (self.clock.now() - start) * 1000
            self.sink.emit(record)
            return Embedded(served.result, served.group, served.deployment, record)
        self._close_failed(run, error)
        raise error

    def _embedding_order(self, group: ModelGroup) -> tuple[list[Deployment], list[Deployment], bool]:
        """The group's embedding deployments, those that may take the request in the balancer's
        order, and whether this is panic routing."""
        candidates = [d for d in group.deployments if self.embedder(d) is not None]
        if not candidates:
            raise UnsupportedCapability(
                f"No deployment of the model group '{group.name}' serves embeddings "
                "(OpenAI-compatible and Gemini deployments do).",
                param="model",
            )
        ordered, panic = self._balance(group, candidates)
        return candidates, ordered, panic

    async def _embed_attempts(self, run: Run, group: ModelGroup, matched: str | None) -> Served[dict[str, Any]]:
        """Attempts within the group, as :meth:`_attempts` makes them for chat (without hedging)."""
        candidates, ordered, panic = self._embedding_order(group)
        runtime = self._runtime[group.name]
        health, book = self.health_tracker, self._book
        now = self.clock.now()
        runtime.budget.on_request(now)
        cursor = Cursor(ordered, panic)
        reason = "first (panic: every deployment is cooling down)" if panic else "first"
        last: ProviderError | None = None
        tries, limit = 0, group.max_attempts or len(ordered)
        while tries < limit:
            wait = 0.0
            deployment = cursor.next(health, now) if tries else cursor.first()
            if deployment is None:
                if last is None:
                    raise unavailable(group, candidates, health, now)
                deployment, wait, reason = retry_target(
                    ordered, last, health, self.retry, self._rng, run.deadline, tries, now, panic)
                if deployment is None:
                    raise last
            if tries:
                if not self._may_retry(run, runtime, now):
                    raise last or unavailable(group, candidates, health, now)
                if wait:
                    await self._sleep(wait)
            embedder = self.embedder(deployment)
            assert embedder is not None  # the order holds embedding deployments only
            served = book.start(run, group, deployment, upstream_model(deployment, matched), reason, wait,
                                self.clock.now())
            try:
                result = await embedder.embed(run.request.body, deployment, served.model)
            except ProviderError as exc:
                book.failed(run, served, exc)
                if classify(exc) not in RETRYABLE:
                    raise
                last, tries, reason = exc, tries + 1, f"failover after {type(exc).__name__}"
                now = self.clock.now()
                continue
            except BaseException:
                book.cancelled(served)
                raise
            return book.succeeded(served, result, False)
        raise last or unavailable(group, candidates, health, self.clock.now())


def upstream_model(deployment: Deployment, matched: str | None) -> str:
    """The model id to send upstream: a ``*`` in the deployment's model takes the wildcard's match."""
    if matched is not None and "*" in deployment.model:
        return deployment.model.replace("*", matched)
    return deployment.model


@dataclass(slots=True)
class Embedded:
    """A served embeddings request: the OpenAI embeddings response, where it ran, and its record."""

    response: dict[str, Any]
    group: ModelGroup
    deployment: Deployment
    record: RequestRecord

    def route_headers(self) -> list[tuple[bytes, bytes]]:
        """``x-switchpoint-attempts``/``-route``/``-cost`` response headers."""
        return route_headers(self.record, self.group.name)
