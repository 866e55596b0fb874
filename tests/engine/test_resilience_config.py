"""The resilience config sections: validation, defaults, and their wiring into the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from switchpoint.balancing.strategies import CostBalancer, GroupBalancer, LatencyBalancer, WeightedRandomBalancer
from switchpoint.config.build import build_gateway
from switchpoint.config.load import load_config, parse_config
from switchpoint.errors import ConfigError

BASE = "http://127.0.0.1:9/v1"
EXAMPLE = f"""
reliability:
  health: {{consecutive_failures: 3, cooldown: 5, max_cooldown: 300, auth_cooldown: 600}}
  retry: {{backoff_base: 0.1, backoff_cap: 8, retry_after_cap: 60, budget_ratio: 0.2}}
  active_checks: {{enabled: false, interval: 30}}
models:
  - name: cheap
    balancing: latency
    max_attempts: 3
    attempt_timeout: 30
    hedge: {{percentile: 95, min_samples: 50}}
    cascade: {{next: strong, threshold: 0.55, request_logprobs: true}}
    fallbacks:
      default: [backup]
      context_window: [long]
    deployments:
      - {{provider: openai_compat, id: a, model: small-a, api_base: "{BASE}", context_window: 8192}}
      - {{provider: openai_compat, id: b, model: small-b, api_base: "{BASE}", context_window: 8192}}
  - name: strong
    provider: openai_compat
    model: big
    api_base: "{BASE}"
    balancing: cost
    fallbacks: {{rate_limit: [backup]}}
  - name: backup
    provider: openai_compat
    model: other
    api_base: "{BASE}"
  - name: long
    provider: openai_compat
    model: long
    api_base: "{BASE}"
    context_window: 1000000
"""


def _models(*groups: dict[str, Any]) -> dict[str, Any]:
    return {"models": list(groups)}


def _group(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "provider": "openai_compat", "api_base": BASE, **extra}


def test_the_documented_example_loads_and_wires(tmp_path: Path) -> None:
    path = tmp_path / "switchpoint.yaml"
    path.write_text(EXAMPLE)
    config = load_config(path, {})
    gateway = build_gateway(config)
    assert isinstance(gateway._balancer, GroupBalancer)
    per_group = gateway._balancer._per_group
    assert isinstance(per_group["cheap"], LatencyBalancer) and isinstance(per_group["strong"], CostBalancer)
    cheap = gateway._runtime["cheap"].policy
    assert cheap.fallbacks.server_error == ("backup",) and cheap.fallbacks.context_window == ("long",)
    assert cheap.cascade is not None and cheap.cascade.threshold == 0.55 and cheap.cascade.request_logprobs
    assert cheap.hedge is not None and cheap.hedge.percentile == 95 and cheap.attempt_timeout == 30
    strong = gateway._runtime["strong"].policy
    assert strong.fallbacks.rate_limit == ("backup",) and strong.fallbacks.server_error == ()
    assert gateway.health_tracker.policy.auth_cooldown == 600 and gateway.retry.backoff_cap == 8
    assert gateway._checks is None


def test_defaults_keep_the_plain_weighted_random_balancer() -> None:
    gateway = build_gateway(parse_config(_models(_group("g")), {}))
    assert isinstance(gateway._balancer, WeightedRandomBalancer)
    assert gateway.health()["retry_budgets"]["g"]["ratio"] == 0.2
    assert gateway.health_tracker.policy.consecutive_failures == 3


def test_inline_deployments_accept_the_group_keys() -> None:
    config = parse_config(_models(_group("g", balancing="least_in_flight", attempt_timeout=5, hedge={"delay": 1},
                                         fallbacks={"default": ["h"]}), _group("h")), {})
    assert config.models[0].balancing == "least_in_flight" and len(config.models[0].deployments) == 1


@pytest.mark.parametrize(("data", "message"), [
    (_models(_group("g", fallbacks={"default": ["nope"]})), "unknown model groups: nope"),
    (_models(_group("g", fallbacks={"timeout": ["g"]})), "cannot fall back or escalate to itself"),
    (_models(_group("g", cascade={"next": "g"})), "itself"),
    (_models(_group("a", cascade={"next": "b"}), _group("b", cascade={"next": "a"})), "cascade loop"),
    (_models(_group("g", fallbacks={"default": ["w/*"]}), _group("w/*")), "unknown model groups: w/*"),
    (_models(_group("g", hedge={})), "hedge needs a delay or a percentile"),
    (_models(_group("g", balancing="round_robin")), "balancing"),
    (_models(_group("g", cascade={"next": "h", "threshold": 2}), _group("h")), "threshold"),
    ({"models": [_group("g")], "reliability": {"health": {"cooldown": 0}}}, "cooldown"),
    ({"models": [_group("g")], "reliability": {"retry": {"budget": 1}}}, "budget"),
])
def test_invalid_resilience_config_is_reported(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {})
    assert message in str(caught.value)


def test_verifier_import_errors_are_config_errors() -> None:
    for spec in ("no_colon", "no.such.module:f", "switchpoint.errors:nothing", "switchpoint.errors:__doc__"):
        config = parse_config(_models(_group("g", cascade={"next": "h", "verifier": spec}), _group("h")), {})
        with pytest.raises(ConfigError, match="models\\[0\\].cascade.verifier"):
            build_gateway(config)


def test_active_checks_are_built_when_enabled() -> None:
    config = parse_config({"models": [_group("g")], "reliability": {"active_checks": {"enabled": True}}}, {})
    gateway = build_gateway(config)
    assert gateway._checks is not None and gateway.health()["active_checks"]["rounds"] == 0
