"""HealthTracker: outlier detection, growing cooldowns, the half-open probe, pauses, snapshots."""

from __future__ import annotations

import json

import pytest

from switchpoint.balancing.health import HealthPolicy, HealthTracker
from switchpoint.balancing.retry import ErrorKind
from switchpoint.clock import FakeClock
from switchpoint.types import Deployment, ModelGroup


def _deployment(name: str = "d", **extra: object) -> Deployment:
    return Deployment(id=name, provider="openai_compat", model=name, api_base="http://127.0.0.1:9", **extra)  # type: ignore[arg-type]


def _tracker(**policy: object) -> tuple[HealthTracker, FakeClock]:
    clock = FakeClock()
    return HealthTracker(HealthPolicy(**policy), clock), clock  # type: ignore[arg-type]


def _fail(tracker: HealthTracker, deployment: Deployment, kind: str = ErrorKind.SERVER_ERROR,
          retry_after: float | None = None) -> None:
    state = tracker.of(deployment)
    now = tracker.clock.now()
    probe = tracker.begin(state, now)
    tracker.end(state)
    tracker.failure(state, kind, now, retry_after, probe)


def _ok(tracker: HealthTracker, deployment: Deployment, latency: float = 0.1) -> bool:
    state = tracker.of(deployment)
    now = tracker.clock.now()
    probe = tracker.begin(state, now)
    tracker.end(state)
    tracker.success(state, latency, now, probe)
    return probe


def test_consecutive_failures_start_a_cooldown() -> None:
    tracker, clock = _tracker()
    d = _deployment()
    state = tracker.of(d)
    _fail(tracker, d)
    _fail(tracker, d)
    assert tracker.available(state, clock.now()) and tracker.paused == 0
    _fail(tracker, d)
    assert not tracker.available(state, clock.now())
    assert state.state(clock.now()) == "cooldown" and tracker.paused == 1
    clock.advance(4.99)
    assert not tracker.available(state, clock.now())
    clock.advance(0.02)
    assert tracker.available(state, clock.now()) and state.state(clock.now()) == "half_open"


def test_a_success_resets_the_consecutive_count() -> None:
    tracker, clock = _tracker()
    d = _deployment()
    for _ in range(10):
        _fail(tracker, d)
        _fail(tracker, d)
        _ok(tracker, d)
        clock.advance(61)  # keep the rate detector's window fresh
    assert tracker.of(d).state(clock.now()) == "healthy"


def test_failure_rate_over_the_window_starts_a_cooldown() -> None:
    tracker, clock = _tracker(consecutive_failures=100, failure_rate=0.5, min_requests=6)
    d = _deployment()
    for _ in range(2):
        _ok(tracker, d)
        _fail(tracker, d)
        _fail(tracker, d)
    assert tracker.of(d).state(clock.now()) == "cooldown"  # 4/6 failures > 50%


def test_rate_needs_min_requests_and_resets_with_the_window() -> None:
    tracker, clock = _tracker(consecutive_failures=100, failure_rate=0.5, min_requests=5, window=10)
    d = _deployment()
    for _ in range(4):
        _fail(tracker, d)
        _ok(tracker, d)
        clock.advance(6)  # the window restarts before the rate detector has 5 with > 50%
    assert tracker.of(d).state(clock.now()) == "healthy"


def test_half_open_lets_exactly_one_probe_through() -> None:
    tracker, clock = _tracker()
    d = _deployment()
    state = tracker.of(d)
    for _ in range(3):
        _fail(tracker, d)
    clock.advance(5)
    assert tracker.begin(state, clock.now()) is True  # the probe
    assert not tracker.available(state, clock.now())  # nobody else while it runs
    tracker.end(state)
    tracker.success(state, 0.2, clock.now(), probe=True)
    assert state.state(clock.now()) == "healthy" and tracker.available(state, clock.now())
    assert tracker.paused == 0


def test_cancelled_probe_frees_the_half_open_slot() -> None:
    tracker, clock = _tracker()
    d = _deployment()
    state = tracker.of(d)
    for _ in range(3):
        _fail(tracker, d)
    clock.advance(5)
    tracker.begin(state, clock.now())
    tracker.end(state)
    tracker.abandon(state, probe=True)
    assert tracker.available(state, clock.now())


def test_cooldowns_grow_exponentially_up_to_the_cap() -> None:
    tracker, clock = _tracker(cooldown=5, max_cooldown=30)
    d = _deployment()
    state = tracker.of(d)
    for _ in range(3):
        _fail(tracker, d)
    seen = [state.open_until - clock.now()]
    for _ in range(4):
        clock.advance(seen[-1])
        assert tracker.begin(state, clock.now())
        tracker.end(state)
        tracker.failure(state, ErrorKind.CONNECTION, clock.now(), probe=True)
        seen.append(state.open_until - clock.now())
    assert seen == [5, 10, 20, 30, 30]
    assert state.ejections == 5


def test_ejection_count_resets_after_a_healthy_spell_as_long_as_the_last_cooldown() -> None:
    tracker, clock = _tracker(cooldown=5, max_cooldown=60)
    d = _deployment()
    state = tracker.of(d)
    for _ in range(3):
        _fail(tracker, d)
    clock.advance(5)
    assert _ok(tracker, d)
    assert state.ejections == 1
    clock.advance(4)
    _ok(tracker, d)
    assert state.ejections == 1
    clock.advance(2)
    _ok(tracker, d)
    assert state.ejections == 0
    for _ in range(3):
        _fail(tracker, d)
    assert state.open_until - clock.now() == 5  # a fresh offence starts again at the base cooldown


def test_panic_needs_a_recent_success() -> None:
    tracker, clock = _tracker(panic_window=5)
    a, b = _deployment("a"), _deployment("b")
    states = [tracker.of(a), tracker.of(b)]
    assert not tracker.panic(states, clock.now())  # never answered: down
    _ok(tracker, a)
    clock.advance(5)
    assert tracker.panic(states, clock.now())
    clock.advance(0.1)
    assert not tracker.panic(states, clock.now())
    off, _ = _tracker(panic_window=0)
    _ok(off, a)
    assert not off.panic([off.of(a)], off.clock.now())


def test_attempts_started_before_an_ejection_do_not_extend_it() -> None:
    tracker, clock = _tracker()
    d = _deployment()
    state = tracker.of(d)
    for _ in range(6):
        _fail(tracker, d)
    assert state.ejections == 1 and state.open_until == clock.now() + 5


def test_retry_after_pauses_without_an_ejection_or_probe() -> None:
    tracker, clock = _tracker(retry_after_cap=60)
    d = _deployment()
    state = tracker.of(d)
    _fail(tracker, d, ErrorKind.RATE_LIMIT, retry_after=2)
    assert state.state(clock.now()) == "rate_limited" and state.ejections == 0
    clock.advance(2)
    assert tracker.begin(state, clock.now()) is False  # no probe needed
    assert state.open_until == 0 and tracker.paused == 0
    _fail(tracker, d, ErrorKind.RATE_LIMIT, retry_after=600)
    assert state.open_until - clock.now() == 60  # capped


def test_rate_limit_without_retry_after_counts_as_a_failure() -> None:
    tracker, clock = _tracker()
    d = _deployment()
    for _ in range(3):
        _fail(tracker, d, ErrorKind.RATE_LIMIT)
    assert tracker.of(d).state(clock.now()) == "cooldown"


def test_bad_key_gets_the_long_cooldown_at_once() -> None:
    tracker, clock = _tracker(auth_cooldown=900)
    d = _deployment()
    _fail(tracker, d, ErrorKind.AUTH)
    state = tracker.of(d)
    assert state.open_until - clock.now() == 900 and state.last_error == "auth"


@pytest.mark.parametrize("kind", [ErrorKind.CLIENT_ERROR, ErrorKind.CONTEXT_WINDOW, ErrorKind.CONTENT_POLICY])
def test_request_faults_say_the_deployment_is_alive(kind: str) -> None:
    tracker, clock = _tracker()
    d = _deployment()
    _fail(tracker, d)
    _fail(tracker, d)
    for _ in range(10):
        _fail(tracker, d, kind)
    state = tracker.of(d)
    assert state.consecutive == 0 and state.state(clock.now()) == "healthy" and state.failures == 2


def test_disabled_detection_never_cools_down() -> None:
    tracker, clock = _tracker(enabled=False)
    d = _deployment()
    for _ in range(20):
        _fail(tracker, d, ErrorKind.AUTH)
    assert tracker.of(d).state(clock.now()) == "healthy"


def test_latency_ewma_and_its_decay() -> None:
    tracker, clock = _tracker(latency_alpha=0.5, latency_half_life=10)
    d = _deployment()
    state = tracker.of(d)
    _ok(tracker, d, 1.0)
    _ok(tracker, d, 3.0)
    assert state.latency == pytest.approx(2.0)
    assert tracker.decayed_latency(state, clock.now()) == pytest.approx(2.0)
    clock.advance(10)
    assert tracker.decayed_latency(state, clock.now()) == pytest.approx(1.0)


def test_same_upstream_in_two_groups_shares_state() -> None:
    tracker, _ = _tracker()
    a = _deployment("x")
    b = _deployment("x")
    assert tracker.of(a) is tracker.of(b)
    assert tracker.of(_deployment("y")) is not tracker.of(a)


def test_active_check_results() -> None:
    tracker, clock = _tracker()
    d = _deployment()
    state = tracker.of(d)
    for _ in range(3):
        tracker.checked(state, ErrorKind.CONNECTION, clock.now())
    assert state.state(clock.now()) == "cooldown"
    tracker.checked(state, None, clock.now())
    assert state.state(clock.now()) == "cooldown"
    clock.advance(5)
    tracker.checked(state, ErrorKind.SERVER_ERROR, clock.now())  # a failed check in half-open: longer cooldown
    assert state.open_until - clock.now() == 10
    clock.advance(10)
    tracker.checked(state, ErrorKind.RATE_LIMIT, clock.now())  # throttled is alive, but no verdict
    tracker.checked(state, None, clock.now())
    assert state.state(clock.now()) == "healthy" and tracker.paused == 0


def test_snapshot_is_json_and_keyless() -> None:
    tracker, clock = _tracker()
    d = _deployment("k", api_key="sk-secret-0123456789", rpm=10, tpm=1000)
    _fail(tracker, d)
    snapshot = tracker.snapshot([ModelGroup("g", (d,))])
    text = json.dumps(snapshot)
    assert "sk-secret" not in text
    entry = snapshot["g"][0]
    assert entry["id"] == "k" and entry["state"] == "healthy" and entry["consecutive_failures"] == 1
    assert entry["usage"] == {"rpm_limit": 10.0, "requests_left": 10.0, "tpm_limit": 1000.0, "tokens_left": 1000.0}


def _group(tracker: HealthTracker, *names: str) -> list[Deployment]:
    deployments = [_deployment(n) for n in names]
    tracker.register_groups([ModelGroup(name="g", deployments=deployments)])  # type: ignore[call-arg]
    return deployments


def test_the_ejection_cap_keeps_a_group_with_random_faults_serving() -> None:
    tracker, clock = _tracker()  # max_ejection 0.5: one of three deployments at a time
    a, b, c = _group(tracker, "a", "b", "c")
    for d in (a, b, c):
        _ok(tracker, d)
    for _ in range(3):
        _fail(tracker, a)
    assert tracker.of(a).state(clock.now()) == "cooldown"
    _ok(tracker, c)  # the group is alive: c answered just now
    for _ in range(3):
        _fail(tracker, b)
    state_b = tracker.of(b)
    assert state_b.state(clock.now()) == "healthy" and state_b.held == 1
    assert tracker.describe(state_b, clock.now())["ejections_held"] == 1
    clock.advance(5)
    _ok(tracker, a)  # a's probe succeeds: a is back ...
    _fail(tracker, b)  # ... so b's next failure may cool b down
    assert state_b.state(clock.now()) == "cooldown"


def test_a_group_that_is_down_is_cooled_down_entirely() -> None:
    tracker, clock = _tracker()
    a, b, c = _group(tracker, "a", "b", "c")
    for _ in range(4):  # never answered; every deployment fails, requests spread over them
        for d in (a, b, c):
            _fail(tracker, d)
    assert tracker.of(b).state(clock.now()) == "healthy"  # the first 2 s: given the benefit of the doubt
    clock.advance(2.01)
    for d in (a, b, c):
        _fail(tracker, d)
    assert {tracker.of(d).state(clock.now()) for d in (a, b, c)} == {"cooldown"}


def test_past_the_cap_the_down_window_decides() -> None:
    tracker, clock = _tracker(down_window=2.0)
    a, b = _group(tracker, "a", "b")
    _ok(tracker, a)
    _ok(tracker, b)
    for _ in range(3):
        _fail(tracker, a)
    _fail(tracker, b)
    _fail(tracker, b)
    _fail(tracker, b)  # b failing too, but it answered less than 2 s ago: held
    assert tracker.of(b).state(clock.now()) == "healthy"
    clock.advance(2.5)
    _fail(tracker, b)  # no success in the group for 2.5 s and everything failing: down
    assert tracker.of(b).state(clock.now()) == "cooldown"


def test_bad_keys_are_not_capped_and_the_cap_can_be_lifted() -> None:
    tracker, clock = _tracker()
    a, b = _group(tracker, "a", "b")
    _ok(tracker, b)
    for _ in range(3):
        _fail(tracker, b)
    _fail(tracker, a, ErrorKind.AUTH)
    assert tracker.of(a).state(clock.now()) == "cooldown"
    uncapped, clock2 = _tracker(max_ejection=1.0)
    x, y = _group(uncapped, "x", "y")
    _ok(uncapped, x)
    _ok(uncapped, y)
    for d in (x, y):
        for _ in range(3):
            _fail(uncapped, d)
    assert {uncapped.of(d).state(clock2.now()) for d in (x, y)} == {"cooldown"}


def test_upstream_limits_sync_the_buckets_and_pause_an_exhausted_deployment() -> None:
    from switchpoint.types import UpstreamLimits

    tracker, clock = _tracker()
    d = _deployment("d", rpm=600, tpm=100_000)
    state = tracker.of(d)
    assert state.usage is not None and state.usage.requests is not None and state.usage.tokens is not None
    tracker.observe_limits(state, UpstreamLimits(remaining_requests=42, remaining_tokens=5_000), clock.now())
    assert state.usage.requests.level(clock.now()) == 42 and state.usage.tokens.level(clock.now()) == 5_000
    assert state.state(clock.now()) == "healthy"
    tracker.observe_limits(state, UpstreamLimits(remaining_requests=0, reset_requests=2.5), clock.now())
    assert state.state(clock.now()) == "rate_limited" and not tracker.available(state, clock.now())
    assert tracker.describe(state, clock.now())["upstream_limits"]["remaining_requests"] == 0
    clock.advance(2.6)
    assert tracker.available(state, clock.now())
    tracker.observe_limits(state, UpstreamLimits(remaining_tokens=0, reset_tokens=3600), clock.now())
    assert state.open_until - clock.now() == pytest.approx(60.0)  # capped like Retry-After


def test_only_a_deployment_failing_clearly_more_than_its_group_is_cooled_down() -> None:
    tracker, clock = _tracker()  # outlier_margin 0.3, min_requests 5
    a, b, c = _group(tracker, "a", "b", "c")
    for _ in range(4):  # everyone fails half of the time: the provider's fault, not a's
        for d in (a, b, c):
            _ok(tracker, d)
            _fail(tracker, d)
    for _ in range(3):
        _fail(tracker, a)  # a's window: 7 of 11 failed (0.64) against the others' 0.5
    state = tracker.of(a)
    assert state.state(clock.now()) == "healthy" and state.held >= 1
    for _ in range(10):
        _fail(tracker, a)  # now 17 of 21 (0.81): clearly worse than the rest
    assert state.state(clock.now()) == "cooldown"
