"""The composition root: a validated :class:`GatewayConfig` becomes a wired :class:`Gateway`.

Nothing else constructs adapters, balancers or sinks for a running gateway, and nothing here
touches the network: HTTP sessions open lazily on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from switchpoint.balancing.strategies import WeightedRandomBalancer
from switchpoint.clock import Clock
from switchpoint.config.schema import DeploymentConfig, GatewayConfig, ModelGroupConfig, TimeoutsConfig
from switchpoint.engine import Gateway
from switchpoint.errors import ConfigError
from switchpoint.protocols import EventSink, Provider
from switchpoint.providers.registry import PROVIDER_KINDS, create_adapter
from switchpoint.storage.sinks import NullSink
from switchpoint.types import Capabilities, Deployment, ModelGroup, Price, Timeouts

__all__ = ["build_gateway", "build_groups"]


def build_groups(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> list[ModelGroup]:
    env = os.environ if environ is None else environ
    problems: list[str] = []
    groups = [_group(g, i, config.timeouts, env, problems) for i, g in enumerate(config.models)]
    if problems:
        raise ConfigError("\n".join(problems), problems)
    return groups


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
    return Gateway(groups, adapters, WeightedRandomBalancer(), sink or NullSink(), clock)


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
    if not api_base:
        problems.append(f"{where}.api_base: provider '{config.provider}' needs an api_base")
        return None
    key = config.api_key.get_secret_value() if config.api_key else (env.get(kind.key_env) if kind.key_env else None)
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
        options={**config.options, "stream_usage": config.stream_usage},
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
