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
    TimeoutsConfig,
    TracingConfig,
)
from switchpoint.engine import Gateway
from switchpoint.errors import ConfigError
from switchpoint.protocols import Balancer, EventSink, Provider
from switchpoint.providers.registry import PROVIDER_KINDS, create_adapter
from switchpoint.storage.ledger import Ledger
from switchpoint.storage.retention import RetentionPolicy
from switchpoint.storage.sinks import NullSink
from switchpoint.storage.spool import Spool
from switchpoint.storage.store import LogStore, open_store
from switchpoint.storage.writer import BatchingSink
from switchpoint.types import Capabilities, Deployment, ModelGroup, Price, Timeouts

__all__ = ["Resilience", "build_gateway", "build_groups", "build_log_sink", "build_resilience", "build_tracing_sink"]


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
    return Gateway(groups, adapters, resilience.balancer, sink or NullSink(), clock, **resilience.gateway_options())


# -- the request log -----------------------------------------------------------------------------


def build_log_sink(config: LogsConfig) -> tuple[BatchingSink, LogStore] | None:
    """The durable request log (a batching writer in front of SQLite or Postgres), or None when off."""
    if config.url is None:
        return None
    store = open_store(config.url, schema=config.pg_schema)
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
            retry_after_cap=r.retry_after_cap, panic_window=h.panic_window, enabled=h.enabled,
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
        price=Price(config.input_cost_per_mtok, config.output_cost_per_mtok, config.cached_input_cost_per_mtok),
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
