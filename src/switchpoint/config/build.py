"""The composition root: a validated :class:`GatewayConfig` becomes a wired :class:`Gateway`.

Nothing else constructs adapters, balancers or sinks for a running gateway, and nothing here
touches the network: HTTP sessions open lazily on the first request.
"""

from __future__ import annotations

import importlib
import os
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from switchpoint.analysis import AnalysisConfig, Artifacts
from switchpoint.analytics.readers import open_reader
from switchpoint.balancing.checks import ActiveHealthChecker, CheckSettings
from switchpoint.balancing.health import HealthPolicy, HealthTracker
from switchpoint.balancing.policy import CascadePolicy, Fallbacks, GroupPolicy, HedgePolicy, Verifier
from switchpoint.balancing.retry import RetryPolicy
from switchpoint.balancing.strategies import GroupBalancer, WeightedRandomBalancer, make_balancer
from switchpoint.clock import Clock, MonotonicClock
from switchpoint.config.schema import (
    DeploymentConfig,
    GatewayConfig,
    LogsConfig,
    ModelGroupConfig,
    PolicyConfig,
    RouterConfig,
    TimeoutsConfig,
    TracingConfig,
)
from switchpoint.engine import Gateway
from switchpoint.errors import ConfigError
from switchpoint.protocols import Balancer, EventSink, Provider
from switchpoint.providers.registry import PROVIDER_KINDS, create_adapter
from switchpoint.routing.adapt import AdaptOptions, AdaptTarget, LevelAdapter
from switchpoint.routing.cascade import CascadePolicy as CascadeRouting
from switchpoint.routing.learned_policy import (
    LearnedCandidate,
    LearnedPolicy,
    decision_rule,
    learned_api,
)
from switchpoint.routing.protocol import RoutingPolicy
from switchpoint.routing.router import Gated, Router, Routing, SharedAnalysis
from switchpoint.routing.rules import RulesPolicy, compile_rule, uses_features
from switchpoint.routing.semantic import SemanticPolicy, SemanticRoute
from switchpoint.storage.ledger import Ledger
from switchpoint.storage.retention import RetentionPolicy
from switchpoint.storage.sinks import NullSink
from switchpoint.storage.spool import Spool
from switchpoint.storage.store import LogStore, open_store
from switchpoint.storage.writer import BatchingSink
from switchpoint.types import Capabilities, Deployment, ModelGroup, Price, Timeouts

__all__ = [
    "Resilience", "build_gateway", "build_groups", "build_log_sink", "build_resilience", "build_routing",
    "build_tracing_sink",
]


def build_groups(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> list[ModelGroup]:
    env = os.environ if environ is None else environ
    problems: list[str] = []
    groups = [_group(g, i, config.timeouts, env, problems) for i, g in enumerate(config.models)]
    if problems:
        raise ConfigError("\n".join(problems), problems)
    return _unique_across_groups(groups)


def build_gateway(
    config: GatewayConfig,
    *,
    environ: Mapping[str, str] | None = None,
    sink: EventSink | None = None,
    clock: Clock | None = None,
) -> Gateway:
    groups = build_groups(config, environ)
    adapters: dict[str, Provider] = {}
    by_adapter: dict[str, Provider] = {}
    for kind in {d.provider for g in groups for d in g.deployments}:
        adapter_name = PROVIDER_KINDS[kind].adapter
        if adapter_name not in by_adapter:
            by_adapter[adapter_name] = create_adapter(adapter_name)
        adapters[kind] = by_adapter[adapter_name]
    for group in groups:
        for deployment in group.deployments:
            prepare = getattr(adapters[deployment.provider], "prepare", None)
            if prepare is not None:  # adapters that run their upstream themselves (the local model)
                prepare(deployment)
    clock = clock or MonotonicClock()
    resilience = build_resilience(config, groups, clock)
    routing = build_routing(config, groups)
    return Gateway(groups, adapters, resilience.balancer, sink or NullSink(), clock, routing=routing,
                   store_content=config.logs.store_content and config.logs.url is not None,
                   **resilience.gateway_options())


# -- routers: rules, semantic routes, learned policies, cascades (docs/routing.md) -------------


def build_routing(config: GatewayConfig, groups: list[ModelGroup]) -> Routing:
    """The gateway's routers and the analysis pipeline they share with ``POST /v1/route``.

    Nothing heavy happens here: the analysis artifacts, the semantic routes' embeddings and the
    predictors load in a worker thread when the gateway starts (``Gateway.start``), or on first use.
    """
    analysis = SharedAnalysis(AnalysisConfig.from_mapping(config.analysis))
    problems: list[str] = []
    routers = [_router(name, rc, config, groups, analysis, problems) for name, rc in config.routers.items()]
    adapter = _level_adapter(config, routers, problems)
    if problems:
        raise ConfigError("\n".join(problems), problems)
    return Routing(routers, analysis, adapter=adapter)


def _level_adapter(config: GatewayConfig, routers: list[Router], problems: list[str]) -> LevelAdapter | None:
    """The background refit of the learned policies that ``adapt`` their levels from logged feedback."""
    targets = []
    for router, (name, rc) in zip(routers, config.routers.items(), strict=True):
        for i, spec in enumerate(rc.shadow):
            if spec.adapt is not None:
                problems.append(f"routers.{name}.shadow[{i}]: adapt needs a policy that serves (feedback rates the "
                                "answer the client got), not a shadow one")
        for i, (spec, policy) in enumerate(zip(rc.policies, router.policies, strict=True)):
            inner = getattr(policy, "policy", policy)
            if spec.adapt is None or not isinstance(inner, LearnedPolicy):
                continue
            if config.logs.url is None:
                problems.append(f"routers.{name}.policies[{i}]: adapt reads feedback from the request log: "
                                "set logs.url")
                continue
            a = spec.adapt
            targets.append(AdaptTarget(name, inner, AdaptOptions(a.window_days, a.refresh_s, a.max_requests, a.prior)))
    if not targets or config.logs.url is None:
        return None
    url, schema = config.logs.url, config.logs.pg_schema
    return LevelAdapter(lambda: open_reader(url, schema=schema), targets)


def _resolve_group(name: str, groups: list[ModelGroup]) -> ModelGroup | None:
    for group in groups:
        if group.name == name:
            return group
    for group in sorted((g for g in groups if g.is_wildcard), key=lambda g: -len(g.name)):
        if name.startswith(group.name[:-1]) and len(name) > len(group.name) - 1:
            return group
    return None


def _cheapest(group: ModelGroup) -> Price:
    return min((d.price for d in group.deployments), key=lambda p: p.input + p.output, default=Price())


def _router(
    name: str, rc: RouterConfig, config: GatewayConfig, groups: list[ModelGroup], analysis: SharedAnalysis,
    problems: list[str],
) -> Router:
    def build(section: str, specs: list[PolicyConfig]) -> list[RoutingPolicy]:
        return [_routing_policy(p, f"routers.{name}.{section}[{i}]", rc, config, groups, analysis, problems)
                for i, p in enumerate(specs)]

    policies, shadow = build("policies", rc.policies), build("shadow", rc.shadow)
    targets = [target for p in (*rc.policies, *rc.shadow) for _, target in p.targets()]
    chains = [g for p in (*rc.policies, *rc.shadow) if p.start for g, _ in _cascade_chain(p.start, config)]
    prices = {}
    for target in {rc.default, *targets, *chains}:
        group = _resolve_group(target, groups)
        if group is not None:
            prices[target] = _cheapest(group)
    needs_artifacts = any(p.kind in ("semantic", "learned") for p in (*rc.policies, *rc.shadow))
    return Router(name, policies, rc.default, shadow=shadow, prices=prices, output_tokens=rc.output_tokens,
                  targets=[*targets, *chains], needs_artifacts=needs_artifacts)


def _cascade_chain(start: str, config: GatewayConfig) -> list[tuple[str, float | None]]:
    by_name = {g.name: g for g in config.models}
    chain: list[tuple[str, float | None]] = []
    current: str | None = start
    while current is not None and current not in {g for g, _ in chain}:
        cascade = by_name[current].cascade if current in by_name else None
        chain.append((current, cascade.threshold if cascade else None))
        current = cascade.next if cascade else None
    return chain


def _routing_policy(
    spec: PolicyConfig, where: str, rc: RouterConfig, config: GatewayConfig, groups: list[ModelGroup],
    analysis: SharedAnalysis, problems: list[str],
) -> RoutingPolicy:
    name = spec.name or spec.kind
    policy: RoutingPolicy
    if spec.kind == "rules":
        policy = RulesPolicy(name, [compile_rule(r.when, r.to, r.reason) for r in spec.rules or ()])
    elif spec.kind == "semantic":
        default = spec.threshold if spec.threshold is not None else 0.5
        routes = [SemanticRoute(route_name, r.to, tuple(e for e in r.examples if e.strip()),
                                r.threshold if r.threshold is not None else default)
                  for route_name, r in (spec.routes or {}).items()]
        semantic = SemanticPolicy(name, routes)
        analysis.on_load.append(lambda artifacts: semantic.bind(artifacts.embedder))
        policy = semantic
    elif spec.kind == "cascade":
        policy = CascadeRouting(name, _cascade_chain(spec.start or "", config))
    else:  # learned; on a problem (reported, the build fails) a placeholder keeps the types simple
        learned = _learned_policy(spec, name, where, rc, groups, analysis, problems)
        policy = learned if learned is not None else CascadeRouting(name, [(rc.default, None)])
    if spec.when is not None:
        condition = compile_rule(spec.when, "-").condition
        policy = Gated(policy, condition, uses_features([condition]))
    return policy


def _learned_policy(
    spec: PolicyConfig, name: str, where: str, rc: RouterConfig, groups: list[ModelGroup], analysis: SharedAnalysis,
    problems: list[str],
) -> LearnedPolicy | None:
    assert spec.objective is not None and spec.candidates is not None
    try:
        learned, choose, calibrate = learned_api()
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None
    candidates = []
    for group_name, c in spec.candidates.items():
        group = _resolve_group(group_name, groups)
        candidates.append(LearnedCandidate(group_name, c.profile or group_name,
                                           _cheapest(group) if group else Price(), c.latency, c.level))
    goal = spec.objective.values()
    objective: dict[str, float] = {}
    if goal["max_cost_per_1k"] is not None or goal["max_latency"] is not None:
        if goal["max_cost_per_1k"] is not None:
            objective["max_cost"] = goal["max_cost_per_1k"] / 1000
        if goal["max_latency"] is not None:
            objective["max_latency"] = goal["max_latency"]
    else:
        key = next(k for k, v in goal.items() if v is not None)
        value = goal[key]
        assert value is not None
        objective = {"threshold": 0.0} if key == "strong_share" else {key: value}
    shown = {k: v for k, v in goal.items() if v is not None}
    policy = LearnedPolicy(name, candidates, decision_rule(objective, choose), objective=shown,
                           output_tokens=spec.output_tokens or rc.output_tokens)
    artifact, share, calibration = spec.artifact or "default", goal["strong_share"], spec.calibration

    length_prior = spec.length_prior

    def load(artifacts: Artifacts) -> None:  # in the analysis loader's worker thread
        try:
            predictor = learned.load_predictor(artifact)
        except (OSError, ValueError) as exc:  # missing, not an artifact, or trained on other features
            message = f"{where}.artifact: {exc}"
            raise ConfigError(message, [message]) from None
        if length_prior is not None:
            predictor = _with_length_prior(predictor, length_prior, where)
        try:  # every candidate's profile must resolve: fail at start-up, not on each request
            predictor.predict("", [c.profile for c in candidates])
        except KeyError as exc:
            message = exc.args[0] if exc.args else str(exc)
            raise ConfigError(f"{where}: {message}", [f"{where}: {message}"]) from None
        if share is not None and calibration is not None:
            policy.hold_share(share, _calibration_predictions(predictor, policy, calibration),
                              lambda t: decision_rule({"threshold": t}, choose), calibrate.calibrate_threshold)
        policy.predictor = predictor

    analysis.on_load.append(load)
    return policy


def _with_length_prior(predictor: Any, beta: float, where: str) -> Any:
    """The predictor with its length prior replaced (``length_prior:``), or a ConfigError saying why not."""
    change = getattr(predictor, "with_length_prior", None)
    message = f"{where}: length_prior applies to mf and linear routers, not to {predictor.kind}"
    if change is not None:
        try:
            return change(beta)
        except ValueError as exc:
            message = f"{where}: length_prior: {exc}"
    raise ConfigError(message, [message])


def _calibration_predictions(predictor: Any, policy: LearnedPolicy, path: str) -> list[dict[str, float]]:
    """The predictor's raw q̂ of each candidate (by group) on each prompt of the calibration file."""
    import orjson

    out = []
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.strip():
                item = orjson.loads(line)
                text = item.get("prompt") or item.get("text") if isinstance(item, dict) else str(item)
                q = predictor.predict(str(text), [c.profile for c in policy.candidates])
                out.append({c.group: float(q[c.profile]) for c in policy.candidates})
    return out


# -- the request log -----------------------------------------------------------------------------


def build_log_sink(config: LogsConfig) -> tuple[BatchingSink, LogStore] | None:
    """The durable request log (a batching writer in front of SQLite or Postgres), or None when off."""
    if config.url is None:
        return None
    store = open_store(config.url, schema=config.pg_schema, sqlite_writer=config.sqlite_writer)
    spool = Spool(Path(config.spool_dir), max_bytes=config.spool_max_bytes) if config.spool_dir else None
    retention = RetentionPolicy(
        raw_days=config.retention_days, max_rows=config.max_rows, rollup_days=config.rollup_retention_days
    )
    sink = BatchingSink(
        store,
        batch_size=config.batch_size,
        flush_interval=config.flush_ms / 1000,
        queue_max=config.queue_max,
        spool=spool,
        retention=retention,
        prune_interval=config.prune_interval_s,
        write_timeout=config.write_timeout_s,
        store_content=config.store_content,
        # Counts what a killed process lost (storage/ledger.py); it lives next to the spool.
        ledger=Ledger(config.spool_dir) if config.spool_dir else None,
    )
    return sink, store


def build_tracing_sink(config: TracingConfig) -> EventSink | None:
    """OpenTelemetry spans of finished requests (``switchpoint.tracing``), or None when off. The
    OpenTelemetry SDK is imported here and only here, when ``tracing.enabled`` is set."""
    if not config.enabled:
        return None
    try:
        from switchpoint.tracing import TracingSink, make_exporter
    except ImportError as exc:
        raise ConfigError(f"tracing.enabled needs OpenTelemetry: pip install 'switchpoint[otel]' ({exc})") from exc
    return TracingSink(config, exporter=make_exporter(config))


# -- resilience: balancing, health, retries, fallbacks, cascade, hedging -----------------------


@dataclass(slots=True)
class Resilience:
    balancer: Balancer
    health: HealthTracker
    retry: RetryPolicy
    policies: dict[str, GroupPolicy]
    checks: ActiveHealthChecker | None

    def gateway_options(self) -> dict[str, Any]:
        return {"policies": self.policies, "health": self.health, "retry": self.retry, "checks": self.checks}


def build_resilience(
    config: GatewayConfig, groups: list[ModelGroup], clock: Clock, rng: random.Random | None = None
) -> Resilience:
    """The balancer, health tracker, retry policy, per-group policies and active checker."""
    reliability = config.reliability
    h, r = reliability.health, reliability.retry
    health = HealthTracker(
        HealthPolicy(
            consecutive_failures=h.consecutive_failures, failure_rate=h.failure_rate, min_requests=h.min_requests,
            window=h.window, cooldown=h.cooldown, max_cooldown=h.max_cooldown, auth_cooldown=h.auth_cooldown,
            retry_after_cap=r.retry_after_cap, panic_window=h.panic_window, max_ejection=h.max_ejection,
            outlier_margin=h.outlier_margin, down_window=h.down_window, enabled=h.enabled,
        ),
        clock,
    )  # fmt: skip
    retry = RetryPolicy(
        r.backoff_base, r.backoff_cap, r.retry_after_cap, r.budget_ratio, r.budget_min_retries, r.budget_window
    )
    per_group = {
        g.name: make_balancer(g.balancing, health, rng) for g in config.models if g.balancing != "weighted_random"
    }
    default = WeightedRandomBalancer(rng)
    balancer: Balancer = GroupBalancer(default, per_group) if per_group else default
    problems: list[str] = []
    policies = {g.name: _policy(g, i, problems) for i, g in enumerate(config.models)}
    if problems:
        raise ConfigError("\n".join(problems), problems)
    checks = None
    if reliability.active_checks.enabled:
        a = reliability.active_checks
        deployments = [d for g in groups for d in g.deployments]
        checks = ActiveHealthChecker(health, deployments, CheckSettings(a.interval, a.timeout, a.path))
    return Resilience(balancer, health, retry, policies, checks)


def _policy(config: ModelGroupConfig, index: int, problems: list[str]) -> GroupPolicy:
    fallbacks = Fallbacks()
    if config.fallbacks is not None:
        f = config.fallbacks
        default = tuple(f.default)
        fallbacks = Fallbacks(
            rate_limit=tuple(f.rate_limit) if f.rate_limit is not None else default,
            server_error=tuple(f.server_error) if f.server_error is not None else default,
            timeout=tuple(f.timeout) if f.timeout is not None else default,
            context_window=tuple(f.context_window),
            content_policy=tuple(f.content_policy),
        )
    cascade = None
    if config.cascade is not None:
        c = config.cascade
        verifier = _import_verifier(c.verifier, f"models[{index}].cascade.verifier", problems) if c.verifier else None
        cascade = CascadePolicy(c.next, c.threshold, c.request_logprobs, c.logprobs, c.refusal, c.json_schema, verifier)
    hedge = None
    if config.hedge is not None:
        hedge = HedgePolicy(config.hedge.delay, config.hedge.percentile, config.hedge.min_samples)
    return GroupPolicy(config.balancing, fallbacks, hedge, cascade, config.attempt_timeout)


def _import_verifier(spec: str, where: str, problems: list[str]) -> Verifier | None:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        problems.append(f"{where}: expected 'package.module:function', got '{spec}'")
        return None
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        problems.append(f"{where}: cannot import '{spec}': {exc}")
        return None
    if not callable(target):
        problems.append(f"{where}: '{spec}' is not callable")
        return None
    verifier: Verifier = target
    return verifier


def _group(
    config: ModelGroupConfig, index: int, defaults: TimeoutsConfig, env: Mapping[str, str], problems: list[str]
) -> ModelGroup:
    deployments: list[Deployment] = []
    for j, d in enumerate(config.deployments):
        deployment = _deployment(config.name, d, defaults, env, f"models[{index}].deployments[{j}]", problems)
        if deployment is not None:
            deployments.append(deployment)
    deployments = _unique_ids(deployments)
    total = max((d.timeouts.total for d in deployments), default=Timeouts().total)
    return ModelGroup(config.name, tuple(deployments), config.max_attempts, total)


def _deployment(
    group: str,
    config: DeploymentConfig,
    defaults: TimeoutsConfig,
    env: Mapping[str, str],
    where: str,
    problems: list[str],
) -> Deployment | None:
    kind = PROVIDER_KINDS[config.provider]
    api_base = config.api_base or (env.get(kind.base_env) if kind.base_env else None) or kind.default_api_base
    if not api_base and kind.managed:
        api_base = f"http://127.0.0.1:{_free_loopback_port()}/v1"
    if not api_base:
        problems.append(f"{where}.api_base: provider '{config.provider}' needs an api_base")
        return None
    key = config.api_key.get_secret_value() if config.api_key else kind.key_from(env)
    if kind.needs_key and not key:
        problems.append(f"{where}.api_key: provider '{config.provider}' needs an API key (use ${{ENV_VAR}})")
        return None
    model = config.model or group
    fallback = Timeouts()

    def pick(name: str) -> float:
        own = getattr(config.timeouts, name)
        default = getattr(defaults, name)
        return float(own if own is not None else default if default is not None else getattr(fallback, name))

    return Deployment(
        id=config.id or f"{config.provider}/{model}",
        provider=config.provider,
        model=model,
        api_base=api_base.rstrip("/"),
        api_key=key or None,
        price=Price(
            config.input_cost_per_mtok,
            config.output_cost_per_mtok,
            config.cached_input_cost_per_mtok,
            config.cache_write_cost_per_mtok,
            config.cache_write_1h_cost_per_mtok,
        ),
        context_window=config.context_window,
        capabilities=Capabilities(**config.capabilities.model_dump()),
        rpm=config.rpm,
        tpm=config.tpm,
        weight=config.weight,
        timeouts=Timeouts(pick("connect"), pick("first_token"), pick("idle"), pick("total")),
        headers=dict(config.headers),
        options={**kind.options_for(config.options), "stream_usage": config.stream_usage},
    )


def _unique_ids(deployments: list[Deployment]) -> list[Deployment]:
    """Deployments sharing an id get ``#k`` suffixes, never colliding with any other id."""
    ids = [d.id for d in deployments]
    taken = set(ids)
    out = []
    for k, deployment in enumerate(deployments):
        if ids.count(deployment.id) > 1:
            new_id = f"{deployment.id}#{k}"
            while new_id in taken:
                new_id += "'"
            taken.add(new_id)
            deployment = replace(deployment, id=new_id)
        out.append(deployment)
    return out


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unique_across_groups(groups: list[ModelGroup]) -> list[ModelGroup]:
    """A deployment id used by several groups is prefixed with its group's name in each of them.

    Health, headers and records are kept per deployment id, so two groups' ``openai/gpt-4o``
    (perhaps with different keys) must not share one.
    """
    seen: dict[str, int] = {}
    for group in groups:
        for deployment in group.deployments:
            seen[deployment.id] = seen.get(deployment.id, 0) + 1
    if all(count == 1 for count in seen.values()):
        return groups
    return [
        replace(
            group,
            deployments=tuple(
                replace(d, id=f"{group.name}/{d.id}") if seen[d.id] > 1 else d for d in group.deployments
            ),
        )
        for group in groups
    ]
