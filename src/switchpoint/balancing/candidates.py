"""Which deployments of a group may take a request: capabilities, context window, health, limits."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from switchpoint.balancing.health import HealthTracker
from switchpoint.balancing.policy import GroupPolicy
from switchpoint.balancing.retry import RetryPolicy
from switchpoint.errors import (
    ContextWindowExceeded,
    NoDeploymentAvailable,
    NoHealthyDeployment,
    ProviderError,
    ProviderRateLimited,
    UnsupportedCapability,
)
from switchpoint.types import ChatRequest, Deployment, ModelGroup

__all__ = ["capable", "check_references", "fit_context", "retry_target", "unavailable"]


def capable(group: ModelGroup, request: ChatRequest) -> Sequence[Deployment]:
    """The deployments supporting what the request uses (tools, images, JSON mode)."""
    deployments: Sequence[Deployment] = group.deployments
    if request.has_tools or request.has_images or request.wants_json:
        deployments = [d for d in deployments if _supports(d, request)]
        if not deployments:
            needed = [
                n
                for n, on in (("tools", request.has_tools), ("images", request.has_images),
                              ("JSON mode", request.wants_json))
                if on
            ]
            raise UnsupportedCapability(
                f"No deployment of '{group.name}' supports {' and '.join(needed)}.", param="model"
            )
    if not deployments:
        raise NoDeploymentAvailable(f"No deployment of '{group.name}' is available.")
    return deployments


def _supports(deployment: Deployment, request: ChatRequest) -> bool:
    caps = deployment.capabilities
    return (
        (caps.tools or not request.has_tools)
        and (caps.vision or not request.has_images)
        and (caps.json_mode or not request.wants_json)
    )


def fit_context(group: ModelGroup, deployments: Sequence[Deployment], tokens: int) -> Sequence[Deployment]:
    """The deployments whose context window holds a prompt of about ``tokens`` (checked before the call)."""
    fits = [d for d in deployments if not d.context_window or tokens <= d.context_window]
    if not fits:
        largest = max(d.context_window or 0 for d in deployments)
        raise ContextWindowExceeded(
            f"The prompt (about {tokens} tokens) is larger than the context window of every deployment "
            f"of '{group.name}' (largest: {largest} tokens)."
        )
    return fits


def unavailable(
    group: ModelGroup, deployments: Sequence[Deployment], health: HealthTracker, now: float
) -> NoHealthyDeployment:
    """The fast 503 when every deployment is cooling down or at its rpm/tpm limit."""
    states = [health.of(d) for d in deployments]
    waits = [s.open_until - now for s in states if s.open_until > now]
    waits += [s.usage.wait_for(now) for s in states if s.usage is not None and not s.usage.has_room(now)]
    retry_after = max(0.0, min(waits)) if waits else None
    hint = f" Retry in {retry_after:.1f}s." if retry_after is not None else ""
    return NoHealthyDeployment(
        f"No deployment of '{group.name}' is available: every deployment is cooling down or at its rate limit."
        + hint,
        retry_after=retry_after,
    )


def check_references(groups: Sequence[ModelGroup], policies: Mapping[str, GroupPolicy]) -> None:
    """Fallback and cascade targets must be existing, non-wildcard groups."""
    names = {g.name for g in groups if not g.is_wildcard}
    for name, policy in policies.items():
        fb = policy.fallbacks
        targets = {*fb.rate_limit, *fb.server_error, *fb.timeout, *fb.context_window, *fb.content_policy}
        if policy.cascade is not None:
            targets.add(policy.cascade.next)
        unknown = targets - names
        if unknown:
            raise ValueError(f"group '{name}' refers to unknown groups: {sorted(unknown)}")


def retry_target(
    ordered: Sequence[Deployment], last: ProviderError, health: HealthTracker, policy: RetryPolicy,
    rng: random.Random, deadline: float, tries: int, now: float, panic: bool,
) -> tuple[Deployment | None, float, str]:
    """Every deployment was tried once: retry an available one after a full-jitter backoff, or wait
    out a ``Retry-After`` that is short enough; otherwise give up (None). Returns the wait and why."""
    for deployment in ordered:
        if panic or health.available(health.of(deployment), now):
            wait = policy.backoff(tries, rng)
            if now + wait >= deadline:
                break
            return deployment, wait, f"retry after {type(last).__name__} (backoff {wait * 1000:.0f} ms)"
    if isinstance(last, ProviderRateLimited) and last.retry_after is not None:
        wait = last.retry_after
        if wait <= policy.retry_after_cap and now + wait < deadline:
            target = next((d for d in ordered if d.id == last.deployment), ordered[0])
            return target, wait, f"retry after rate_limit (Retry-After {wait:g}s)"
    return None, 0.0, ""
