"""Composition: a router is ordered policies (first opinion wins), a default group, and shadow
policies (decide and record, never serve). :class:`Routing` holds a gateway's routers and the
shared analysis they decide from.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from switchpoint.analysis import AnalysisConfig, AnalysisPipeline, Artifacts, RequestFeatures, build_pipeline
from switchpoint.errors import ConfigError
from switchpoint.routing.decision import Candidate, RouteDecision
from switchpoint.routing.expr import Condition
from switchpoint.routing.learned_policy import estimate_cost, expected_output_tokens
from switchpoint.routing.protocol import RouteContext, RoutingPolicy
from switchpoint.types import ChatRequest, Price

if TYPE_CHECKING:
    from switchpoint.routing.adapt import LevelAdapter

__all__ = ["DEFAULT_OUTPUT_TOKENS", "Gated", "Router", "Routing", "SharedAnalysis"]

_log = logging.getLogger("switchpoint.routing")
DEFAULT_OUTPUT_TOKENS = 256


class Gated:
    """A policy consulted only when its ``when:`` condition holds."""

    def __init__(self, policy: RoutingPolicy, condition: Condition, needs_features: bool) -> None:
        self.policy = policy
        self.condition = condition
        self.name = policy.name
        self.kind = policy.kind
        self.needs_features = policy.needs_features or needs_features

    def route(self, ctx: RouteContext) -> RouteDecision | None:
        return self.policy.route(ctx) if self.condition.evaluate(ctx.env()) else None


class Router:
    """One router (``model: "<name>"``). ``prices`` (group → price) fill in cost estimates."""

    def __init__(
        self,
        name: str,
        policies: Sequence[RoutingPolicy],
        default: str,
        *,
        shadow: Sequence[RoutingPolicy] = (),
        prices: Mapping[str, Price] | None = None,
        output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        targets: Sequence[str] = (),
        needs_artifacts: bool = False,
    ) -> None:
        """``targets``: every group a policy may choose; ``needs_artifacts``: a policy must be bound
        to the analysis artifacts (semantic routes, a predictor) before it can decide."""
        self.name = name
        self.policies = tuple(policies)
        self.default = default
        self.shadow = tuple(shadow)
        self.prices = dict(prices or {})
        self.output_tokens = output_tokens
        self.needs_features = any(p.needs_features for p in (*self.policies, *self.shadow))
        self.needs_artifacts = needs_artifacts or self.needs_features
        self.targets = list(dict.fromkeys([default, *targets]))

    def decide(self, ctx: RouteContext) -> RouteDecision:
        """The serving decision (with the shadow decisions in ``shadow``). Never raises: a policy
        that fails is skipped, and named in the decision's ``detail``."""
        start = time.perf_counter()
        decision: RouteDecision | None = None
        skipped: list[str] = []
        failed: list[str] = []
        for policy in self.policies:
            found = self._ask(policy, ctx, failed)
            if found is not None:
                decision = found
                break
            skipped.append(policy.name)
        if decision is None:
            decision = RouteDecision(self.default, "default", "default",
                                     "no policy matched: default" if self.policies else "default",
                                     [Candidate(self.default, True, "the router's default")])
        else:
            decision.detail = {**decision.detail, **({"no_opinion": skipped} if skipped else {})}
        for policy in self.shadow:
            found = self._ask(policy, ctx, failed)
            if found is not None:
                found.router = self.name
                self._costs(found, ctx)
                decision.shadow.append(found)
        if failed:
            decision.detail = {**decision.detail, "failed": failed}
        decision.router = self.name
        self._costs(decision, ctx)
        features = ctx.features
        decision.analysis_ms = features.analysis.elapsed_ms if features is not None else None
        decision.decision_ms = (time.perf_counter() - start) * 1000
        return decision

    def _ask(self, policy: RoutingPolicy, ctx: RouteContext, failed: list[str]) -> RouteDecision | None:
        try:
            return policy.route(ctx)
        except Exception as exc:  # a policy must never fail the request
            _log.warning("routing policy %r of router %r failed: %r", policy.name, self.name, exc)
            failed.append(f"{policy.name}: {type(exc).__name__}")
            return None

    def _costs(self, decision: RouteDecision, ctx: RouteContext) -> None:
        """Cost estimates for candidates the policy did not price (needs the prompt token count)."""
        if ctx.features is None:
            return
        output = expected_output_tokens(ctx.request.body, self.output_tokens)
        for candidate in decision.candidates:
            price = self.prices.get(candidate.group)
            if candidate.cost is None and price is not None:
                candidate.cost = estimate_cost(price, ctx.features.prompt_tokens, output)


class SharedAnalysis:
    """The analysis pipeline and artifacts of one gateway, loaded once, in a worker thread.

    The routers and ``POST /v1/route`` share it. ``on_load`` callbacks (binding semantic routes to
    the embedder, loading predictors) run in the same thread, after the artifacts.
    """

    def __init__(self, config: AnalysisConfig | None = None, *,
                 on_load: Sequence[Callable[[Artifacts], None]] = ()) -> None:
        self.config = config or AnalysisConfig()
        self.on_load = list(on_load)
        self.pipeline: AnalysisPipeline | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self.pipeline is not None

    def load_sync(self) -> AnalysisPipeline:
        if self.pipeline is None:
            artifacts = Artifacts.load()
            for callback in self.on_load:
                callback(artifacts)
            self.pipeline = build_pipeline(self.config, artifacts=artifacts)
        return self.pipeline

    def check(self) -> list[str]:
        """Run every ``on_load`` callback once on freshly loaded artifacts, as start-up would, and return the
        problems they report (``ConfigError``: an artifact that will not load, a candidate profile the predictor
        cannot place, ...) instead of stopping at the first. For ``config check``: the callbacks bind their policies
        as at start-up, but no pipeline is built here."""
        artifacts = Artifacts.load()
        problems: list[str] = []
        for callback in self.on_load:
            try:
                callback(artifacts)
            except ConfigError as exc:
                problems.extend(exc.problems)
        return problems

    async def load(self) -> AnalysisPipeline:
        pipeline = self.pipeline
        if pipeline is not None:
            return pipeline
        async with self._lock:
            return await asyncio.to_thread(self.load_sync)

    async def analyze(self, request: ChatRequest) -> RequestFeatures:
        pipeline = self.pipeline or await self.load()
        return await pipeline.analyze(request)

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()


class Routing:
    """A gateway's routers by name, and the analysis they share."""

    def __init__(self, routers: Sequence[Router] = (), analysis: SharedAnalysis | None = None, *,
                 adapter: LevelAdapter | None = None) -> None:  # fmt: skip
        self.routers = {r.name: r for r in routers}
        self.analysis = analysis or SharedAnalysis()
        #: Refits adapting learned policies' levels from logged feedback (``routing/adapt.py``), if any.
        self.adapter = adapter

    @property
    def needs_analysis(self) -> bool:
        return self.analysis.config.record_direct > 0 or any(r.needs_artifacts for r in self.routers.values())

    async def start(self) -> None:
        """Load the analysis (off the event loop) when a router needs it, before traffic arrives."""
        if self.needs_analysis:
            await self.analysis.load()
        if self.adapter is not None:
            self.adapter.start()

    async def decide(
        self, router: Router, request: ChatRequest, headers: Mapping[str, str] | None = None
    ) -> tuple[RouteDecision, RequestFeatures | None]:
        features = None
        if router.needs_features:
            features = await self.analysis.analyze(request)
        elif router.needs_artifacts and not self.analysis.loaded:
            await self.analysis.load()
        ctx = RouteContext(request, features, headers)
        return router.decide(ctx), features

    def describe(self) -> dict[str, Any]:
        """Routers, their policies and (for semantic policies) thresholds: for listings and the CLI."""
        out: dict[str, Any] = {}
        for router in self.routers.values():
            policies = []
            for policy in router.policies + router.shadow:
                inner = getattr(policy, "policy", policy)
                entry: dict[str, Any] = {"name": policy.name, "kind": policy.kind, "shadow": policy in router.shadow}
                thresholds = getattr(inner, "thresholds", None)
                if callable(thresholds):
                    entry["thresholds"] = thresholds()
                levels = getattr(inner, "levels", None)
                if isinstance(levels, dict):
                    entry["levels"] = {g: round(v, 6) for g, v in levels.items()}
                    entry["levels_source"] = getattr(inner, "levels_source", None)
                policies.append(entry)
            out[router.name] = {"default": router.default, "policies": policies, "targets": router.targets}
        return out

    def close(self) -> None:
        self.analysis.close()

    async def aclose(self) -> None:
        """Stop the level refits, then :meth:`close`."""
        if self.adapter is not None:
            await self.adapter.aclose()
        self.close()
