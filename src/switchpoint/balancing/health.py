"""Deployment health: passive outlier detection, growing cooldowns, half-open probes, live stats.

One :class:`HealthTracker` per gateway holds a :class:`DeploymentHealth` per upstream deployment.
The engine reports each attempt (``begin`` / ``success`` / ``failure`` / ``end``); balancers read
``in_flight``, ``latency`` and the usage buckets. Nothing here awaits or allocates per request.

State machine of one deployment::

    healthy ──(N consecutive failures, or failure rate over the window, or a bad key)──▶ cooldown
    cooldown ──(cooldown over)──▶ half-open: exactly one request (the probe) may go through
    half-open ──probe ok──▶ healthy          half-open ──probe fails──▶ cooldown × 2

A 429 with ``Retry-After`` pauses the deployment for that long (capped) without counting as an
ejection and without a probe. Cooldowns grow ``cooldown × 2**(ejections-1)`` up to ``max_cooldown``;
the ejection count resets once the deployment has stayed healthy for as long as its last cooldown.

Ejection cap: outlier detection (failures in a row, failure rate) cools down at most
``max_ejection`` of a group's deployments at once (at least one), as Envoy's
``max_ejection_percent`` does, and only a deployment that fails clearly more often than the rest
of its group (``outlier_margin``), so random faults spread over every deployment never empty the
group. Past the cap a deployment is cooled down only when the group looks down: every other
deployment of the group is cooling down or failing too, and none of them answered in the last
``down_window`` seconds. A group that is really down is then fully cooled, and requests get a
fast 503 with no upstream attempt (fault F11). Bad keys and failed probes are not capped.

Panic routing (off by default, ``panic_window`` > 0 turns it on): when *every* deployment a
request could use is cooling down, the engine still tries them while any of them answered in the
last ``panic_window`` seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from switchpoint.balancing.retry import ErrorKind
from switchpoint.balancing.usage import UsageLimiter
from switchpoint.clock import Clock, MonotonicClock
from switchpoint.types import Deployment, ModelGroup, UpstreamLimits

__all__ = ["DeploymentHealth", "HealthPolicy", "HealthTracker"]

logger = logging.getLogger("switchpoint.health")
_LN2 = math.log(2.0)

#: Kinds that say nothing bad about the deployment: it answered, the request was at fault.
_ALIVE = frozenset({ErrorKind.CLIENT_ERROR, ErrorKind.CONTEXT_WINDOW, ErrorKind.CONTENT_POLICY})


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    consecutive_failures: int = 3
    failure_rate: float = 0.5
    min_requests: int = 5
    window: float = 60.0
    cooldown: float = 5.0
    max_cooldown: float = 300.0
    auth_cooldown: float = 600.0
    retry_after_cap: float = 60.0
    latency_alpha: float = 0.3
    latency_half_life: float = 30.0
    panic_window: float = 0.0
    max_ejection: float = 0.5
    outlier_margin: float = 0.3
    down_window: float = 2.0
    enabled: bool = True


class DeploymentHealth:
    """Live state of one upstream deployment (shared by every group that lists it)."""

    __slots__ = (
        "consecutive", "ejections", "failures", "healthy_since", "id", "in_flight", "last_error", "last_error_at",
        "held", "last_success_at", "limits", "latency", "latency_at", "open_until", "peer_sets", "probe_required",
        "probing", "seen_at", "successes", "usage", "window_failures", "window_start", "window_total",
    )  # fmt: skip

    def __init__(self, deployment_id: str, usage: UsageLimiter | None = None) -> None:
        self.id = deployment_id
        self.in_flight = 0
        self.consecutive = 0
        self.window_start = -math.inf
        self.window_total = 0
        self.window_failures = 0
        self.open_until = 0.0
        self.probe_required = False
        self.probing = False
        self.ejections = 0
        self.healthy_since = 0.0
        self.last_success_at = -math.inf
        #: When the tracker first saw it: a deployment that never answered is given the benefit
        #: of the doubt for ``down_window`` seconds after that.
        self.seen_at = -math.inf
        self.latency = 0.0
        self.latency_at = 0.0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.successes = 0
        self.failures = 0
        self.usage = usage
        #: The deployments of each group this one belongs to (itself included), for the ejection cap.
        self.peer_sets: list[tuple[DeploymentHealth, ...]] = []
        #: Ejections the cap held back (the deployment kept serving).
        self.held = 0
        #: The upstream's rate-limit headers on its last answer, when it sends them.
        self.limits: UpstreamLimits | None = None

    def state(self, now: float) -> str:
        if not self.open_until:
            return "healthy"
        if now < self.open_until:
            return "cooldown" if self.probe_required else "rate_limited"
        return "half_open" if self.probe_required else "healthy"


class HealthTracker:
    """Health and load statistics of every deployment a gateway routes to."""

    def __init__(self, policy: HealthPolicy | None = None, clock: Clock | None = None) -> None:
        self.policy = policy or HealthPolicy()
        self.clock = clock or MonotonicClock()
        self._by_object: dict[int, DeploymentHealth] = {}
        self._by_key: dict[tuple[str, str, str], DeploymentHealth] = {}
        self._keep: list[Deployment] = []  # keeps the objects whose id() keys _by_object alive
        #: How many deployments have a cooldown or pause set; 0 lets the engine skip health filtering.
        self.paused = 0

    # -- lookup -------------------------------------------------------------------------------

    def register(self, deployments: Iterable[Deployment]) -> None:
        for deployment in deployments:
            self.of(deployment)

    def register_groups(self, groups: Iterable[ModelGroup]) -> None:
        """Register every deployment and remember each group's members, for the ejection cap."""
        for group in groups:
            members = tuple(dict.fromkeys(self.of(d) for d in group.deployments))
            if len(members) > 1:
                for state in members:
                    state.peer_sets.append(members)

    def of(self, deployment: Deployment) -> DeploymentHealth:
        """The state of a deployment; the same upstream listed in two groups shares one state."""
        state = self._by_object.get(id(deployment))
        if state is not None:
            return state
        key = (deployment.id, deployment.api_base, deployment.model)
        state = self._by_key.get(key)
        if state is None:
            usage = UsageLimiter(deployment.rpm, deployment.tpm, self.clock.now()) if (
                deployment.rpm or deployment.tpm) else None
            state = self._by_key[key] = DeploymentHealth(deployment.id, usage)
            state.seen_at = self.clock.now()
        self._by_object[id(deployment)] = state
        self._keep.append(deployment)
        return state

    # -- decisions ----------------------------------------------------------------------------

    def available(self, state: DeploymentHealth, now: float) -> bool:
        """Whether a new attempt may go to the deployment now (a half-open one takes one probe)."""
        until = state.open_until
        if not until:
            return True
        if now < until:
            return False
        return not state.probing

    def begin(self, state: DeploymentHealth, now: float) -> bool:
        """An attempt starts. Returns whether it is the half-open probe."""
        state.in_flight += 1
        if state.open_until and now >= state.open_until:
            if state.probe_required:
                state.probing = True
                return True
            self._resume(state)
        return False

    def end(self, state: DeploymentHealth) -> None:
        state.in_flight -= 1

    def abandon(self, state: DeploymentHealth, probe: bool) -> None:
        """The attempt was cancelled (client gone, hedge lost): no verdict on the deployment."""
        if probe:
            state.probing = False

    def success(
        self, state: DeploymentHealth, latency: float, now: float, probe: bool = False, release: bool = False
    ) -> None:
        """The attempt got its answer (first byte, for a stream). ``probe``: it was the half-open
        probe. ``release``: the attempt is over too (``end`` in the same call; the hot path)."""
        if release:
            state.in_flight -= 1
        state.successes += 1
        state.last_success_at = now
        state.consecutive = 0
        if probe and state.probing:
            state.probing = False
            self._resume(state)
            state.healthy_since = now
            logger.info("deployment %s is healthy again after its probe", state.id)
        elif state.ejections and not state.open_until and now - state.healthy_since > self._cooldown(state.ejections):
            state.ejections = 0
        if now - state.window_start > self.policy.window:
            state.window_start = now
            state.window_total = state.window_failures = 0
        state.window_total += 1
        previous = state.latency  # EWMA of the time to first byte
        state.latency = previous + self.policy.latency_alpha * (latency - previous) if previous else latency
        state.latency_at = now

    def failure(
        self, state: DeploymentHealth, kind: str, now: float, retry_after: float | None = None, probe: bool = False
    ) -> None:
        """The attempt failed with an error of ``kind`` (see ``retry.ErrorKind``)."""
        if kind in _ALIVE:
            self.success_without_latency(state, now, probe)
            return
        state.failures += 1
        state.last_error = kind
        state.last_error_at = now
        policy = self.policy
        if not policy.enabled:
            return
        if probe and state.probing:
            state.probing = False
            self._eject(state, now, f"its probe failed ({kind})")
            return
        if state.probe_required:
            return  # an attempt started before the ejection: the deployment is already cooling down
        if kind == ErrorKind.AUTH:
            self._eject(state, now, "the upstream rejected the gateway's key", policy.auth_cooldown)
            logger.warning("deployment %s rejected the gateway's credentials; cooling it down for %gs",
                           state.id, policy.auth_cooldown)
            return
        if kind == ErrorKind.RATE_LIMIT and retry_after is not None:
            pause = min(retry_after, policy.retry_after_cap)
            if pause > 0 and not state.probe_required:
                self._pause(state, max(state.open_until, now + pause))
            return
        state.consecutive += 1
        self._count(state, now, failed=True)
        if state.consecutive >= policy.consecutive_failures:
            why = f"{state.consecutive} consecutive failures ({kind})"
        elif (
            state.window_total >= policy.min_requests
            and state.window_failures / state.window_total > policy.failure_rate
        ):
            why = f"{state.window_failures}/{state.window_total} failures in the window"
        else:
            return
        if self._capped(state, now):
            state.held += 1
            return
        self._eject(state, now, why)

    def _capped(self, state: DeploymentHealth, now: float) -> bool:
        """Whether to keep ``state`` serving although its own failures would cool it down: in one
        of its groups that still looks alive, ejecting it would cool down more than
        ``max_ejection`` of the group, or it fails no more often than the rest of the group (its
        window failure rate is within ``outlier_margin`` of theirs: the faults are the provider's,
        not this deployment's). A group looks down when every other deployment is cooling down or
        failing and none answered in the last ``down_window`` seconds (one that never answered
        counts from when the gateway started: a group is never judged down in its first seconds)."""
        policy = self.policy
        if policy.max_ejection >= 1.0 and policy.outlier_margin >= 1.0:
            return False
        recent = now - policy.down_window
        for peers in state.peer_sets:
            cooling = total = failures = 0
            alive = False
            for peer in peers:
                if peer is state:
                    continue
                if peer.probe_required:
                    cooling += 1
                else:
                    total += peer.window_total
                    failures += peer.window_failures
                if max(peer.last_success_at, peer.seen_at) >= recent or not (peer.probe_required or peer.consecutive):
                    alive = True
            if not alive:
                continue  # the group is down: nothing to keep serving for
            if cooling + 1 > max(1, int(policy.max_ejection * len(peers))):
                return True
            if total >= policy.min_requests and state.window_total:
                if state.window_failures / state.window_total - failures / total < policy.outlier_margin:
                    return True
        return False

    def observe_limits(self, state: DeploymentHealth, limits: UpstreamLimits, now: float) -> None:
        """The upstream's rate-limit headers on an answer: the deployment's request and token
        buckets (when rpm/tpm are configured) take the upstream's count of what is left, and a
        deployment with nothing left pauses until its reset (capped like ``Retry-After``) instead
        of collecting 429s."""
        state.limits = limits
        usage = state.usage
        if usage is not None:
            if usage.requests is not None and limits.remaining_requests is not None:
                usage.requests.sync(limits.remaining_requests, now)
            if usage.tokens is not None and limits.remaining_tokens is not None:
                usage.tokens.sync(limits.remaining_tokens, now)
        wait = 0.0
        if limits.remaining_requests == 0 and limits.reset_requests:
            wait = limits.reset_requests
        if limits.remaining_tokens == 0 and limits.reset_tokens:
            wait = max(wait, limits.reset_tokens)
        if wait > 0 and self.policy.enabled and not state.probe_required:
            self._pause(state, max(state.open_until, now + min(wait, self.policy.retry_after_cap)))
            logger.info("deployment %s has no rate limit left upstream; paused for %.3gs", state.id, wait)

    def checked(self, state: DeploymentHealth, kind: str | None, now: float) -> None:
        """The result of an active health check (``kind`` None: it passed)."""
        half_open = state.probe_required and not state.probing and now >= state.open_until
        if kind is None:
            if half_open:
                self._resume(state)
                state.healthy_since = now
                logger.info("deployment %s passed its active health check and takes traffic again", state.id)
            return
        if kind == ErrorKind.RATE_LIMIT or not self.policy.enabled:
            return
        if half_open:
            state.failures += 1
            state.last_error, state.last_error_at = kind, now
            self._eject(state, now, f"its active health check failed ({kind})")
            return
        self.failure(state, kind, now)

    def success_without_latency(self, state: DeploymentHealth, now: float, probe: bool = False) -> None:
        """The upstream answered (a 4xx at the request's fault): it is alive."""
        if probe:
            self.success(state, state.latency, now, probe)
            return
        state.consecutive = 0
        self._count(state, now, failed=False)

    def observe_latency(self, state: DeploymentHealth, latency: float, now: float) -> None:
        """Time to first byte, as an EWMA."""
        alpha = self.policy.latency_alpha
        state.latency = latency if not state.latency else state.latency + alpha * (latency - state.latency)
        state.latency_at = now

    def decayed_latency(self, state: DeploymentHealth, now: float) -> float:
        """The EWMA, halved for every ``latency_half_life`` without news, so a slow deployment gets re-sampled."""
        if not state.latency:
            return 0.0
        age = now - state.latency_at
        if age <= 0:
            return state.latency
        return state.latency * math.exp(-_LN2 * age / self.policy.latency_half_life)

    def retry_in(self, states: Iterable[DeploymentHealth], now: float) -> float | None:
        """Seconds until the first of ``states`` takes traffic again."""
        waits = [s.open_until - now for s in states if s.open_until and s.open_until > now]
        return max(0.0, min(waits)) if waits else None

    # -- internals ----------------------------------------------------------------------------

    def _count(self, state: DeploymentHealth, now: float, *, failed: bool) -> None:
        if now - state.window_start > self.policy.window:
            state.window_start = now
            state.window_total = state.window_failures = 0
        state.window_total += 1
        if failed:
            state.window_failures += 1

    def _cooldown(self, ejections: int) -> float:
        return float(min(self.policy.max_cooldown, self.policy.cooldown * 2.0 ** max(0, ejections - 1)))

    def panic(self, states: Iterable[DeploymentHealth], now: float) -> bool:
        """Whether to try deployments that are all cooling down: one of them succeeded recently."""
        window = self.policy.panic_window
        return window > 0 and any(now - s.last_success_at <= window for s in states)

    def _pause(self, state: DeploymentHealth, until: float) -> None:
        if not state.open_until:
            self.paused += 1
        state.open_until = until

    def _resume(self, state: DeploymentHealth) -> None:
        if state.open_until:
            self.paused -= 1
        state.open_until = 0.0
        state.probe_required = False

    def _eject(self, state: DeploymentHealth, now: float, why: str, cooldown: float | None = None) -> None:
        state.ejections += 1
        if cooldown is None:
            cooldown = self._cooldown(state.ejections)
        self._pause(state, now + cooldown)
        state.probe_required = True
        state.consecutive = 0
        state.window_total = state.window_failures = 0
        logger.warning("deployment %s cooled down for %gs: %s", state.id, cooldown, why)

    # -- reporting ----------------------------------------------------------------------------

    def describe(self, state: DeploymentHealth, now: float) -> dict[str, Any]:
        return {
            "id": state.id,
            "state": state.state(now),
            "cooldown_remaining_s": round(max(0.0, state.open_until - now), 3) if state.open_until else 0.0,
            "ejections": state.ejections,
            "consecutive_failures": state.consecutive,
            "ejections_held": state.held,
            "window_requests": state.window_total,
            "window_failures": state.window_failures,
            "in_flight": state.in_flight,
            "latency_ewma_ms": round(state.latency * 1000, 2),
            "successes_total": state.successes,
            "failures_total": state.failures,
            "last_error": state.last_error,
            "last_error_age_s": round(now - state.last_error_at, 3) if state.last_error_at is not None else None,
            "usage": state.usage.snapshot(now) if state.usage is not None else None,
            "upstream_limits": _limits(state.limits),
        }

    def snapshot(self, groups: Iterable[ModelGroup]) -> dict[str, Any]:
        now = self.clock.now()
        return {
            group.name: [{**self.describe(self.of(d), now), "provider": d.provider} for d in group.deployments]
            for group in groups
        }


def _limits(limits: UpstreamLimits | None) -> dict[str, Any] | None:
    if limits is None:
        return None
    return dataclasses.asdict(limits)
