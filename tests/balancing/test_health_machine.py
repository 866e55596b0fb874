"""Property test of the cooldown state machine (hypothesis, when installed).

Invariants over random successes, failures, cancellations and time advances:
- an attempt never starts on a deployment that is cooling down (the engine asks ``available`` first);
- a half-open deployment lets at most one probe run at a time;
- every cooldown ends: after ``max_cooldown`` without attempts the deployment is available again;
- the tracker's ``paused`` counter equals the number of deployments with a cooldown or pause set.
"""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule  # noqa: E402

from switchpoint.balancing.health import HealthPolicy, HealthTracker  # noqa: E402
from switchpoint.balancing.retry import ErrorKind  # noqa: E402
from switchpoint.clock import FakeClock  # noqa: E402
from switchpoint.types import Deployment  # noqa: E402

KINDS = [ErrorKind.SERVER_ERROR, ErrorKind.CONNECTION, ErrorKind.TIMEOUT, ErrorKind.AUTH, ErrorKind.RATE_LIMIT,
         ErrorKind.CLIENT_ERROR, ErrorKind.PROTOCOL]
DEPLOYMENTS = [Deployment(id=f"d{i}", provider="openai_compat", model="m", api_base="http://x") for i in range(3)]


class CooldownMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.policy = HealthPolicy(cooldown=5, max_cooldown=40, auth_cooldown=30, retry_after_cap=20)
        self.tracker = HealthTracker(self.policy, self.clock)
        self.running: list[tuple[int, bool]] = []  # (deployment, is_probe)

    @rule(i=st.integers(0, 2))
    def start(self, i: int) -> None:
        state = self.tracker.of(DEPLOYMENTS[i])
        now = self.clock.now()
        if not self.tracker.available(state, now):
            return
        assert not (state.open_until and now < state.open_until)
        probe = self.tracker.begin(state, now)
        if probe:
            assert not any(j == i and p for j, p in self.running), "two probes at once"
        self.running.append((i, probe))

    @precondition(lambda self: bool(self.running))
    @rule(pick=st.integers(0, 100), outcome=st.sampled_from(["ok", "cancel", *KINDS]),
          retry_after=st.one_of(st.none(), st.floats(0, 100)))
    def finish(self, pick: int, outcome: str, retry_after: float | None) -> None:
        i, probe = self.running.pop(pick % len(self.running))
        state = self.tracker.of(DEPLOYMENTS[i])
        now = self.clock.now()
        self.tracker.end(state)
        if outcome == "ok":
            self.tracker.success(state, 0.1, now, probe)
        elif outcome == "cancel":
            self.tracker.abandon(state, probe)
        else:
            self.tracker.failure(state, outcome, now, retry_after, probe)

    @rule(seconds=st.floats(0, 30))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def paused_counter_matches(self) -> None:
        states = {id(self.tracker.of(d)): self.tracker.of(d) for d in DEPLOYMENTS}
        assert self.tracker.paused == sum(1 for s in states.values() if s.open_until)

    @invariant()
    def in_flight_matches(self) -> None:
        for i, d in enumerate(DEPLOYMENTS):
            assert self.tracker.of(d).in_flight == sum(1 for j, _ in self.running if j == i)

    @invariant()
    def cooldowns_end(self) -> None:
        horizon = self.clock.now() + max(self.policy.max_cooldown, self.policy.auth_cooldown,
                                         self.policy.retry_after_cap)
        for d in DEPLOYMENTS:
            state = self.tracker.of(d)
            assert state.open_until <= horizon + 1e-9
            if not state.probing:
                assert self.tracker.available(state, horizon + 1e-9)


CooldownMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestCooldownMachine = CooldownMachine.TestCase
