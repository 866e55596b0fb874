"""Resilience as an HTTP client sees it: failover, fast 503s, bad keys, stalls, slow clients, disconnects."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway, chat_config, free_port, in_cycles

HELLO = {"model": "pair", "messages": [{"role": "user", "content": "Say hello"}]}
SECRET = "sk-upstream-secret-0123456789"


def _config(upstream: FakeOpenAIUpstream, **timeouts: Any) -> dict[str, Any]:
    config = chat_config(upstream)
    config["timeouts"] = {"first_token": 0.5, "idle": 0.5, "total": 5, **timeouts}
    return config


@pytest.fixture
def served(upstream: FakeOpenAIUpstream) -> Iterator[ServedGateway]:
    with ServedGateway(_config(upstream)) as gateway:
        yield gateway


@pytest.fixture
def client(served: ServedGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as c:
        yield c


def test_f1_rate_limited_first_deployment_is_invisible(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                                       served: ServedGateway) -> None:
    upstream.script("up-a", status=429, headers={"Retry-After": "2"})
    for _ in range(3):
        response = client.post("/v1/chat/completions", json=HELLO)
        assert response.status_code == 200 and response.headers["x-switchpoint-deployment"] == "second"
    assert len(upstream.requests_for("up-a")) == 1  # paused for its Retry-After
    record = served.sink.records[0]
    assert [(a.deployment, a.error_kind, a.retry_after) for a in record.attempts] == [
        ("first", "rate_limit", 2.0), ("second", None, None)]


def test_f3_refused_deployment_is_ejected_after_three_requests(upstream: FakeOpenAIUpstream) -> None:
    config = _config(upstream)
    config["models"][1]["deployments"][0]["api_base"] = f"http://127.0.0.1:{free_port()}/v1"
    with ServedGateway(config) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as c:
        for _ in range(10):
            response = c.post("/v1/chat/completions", json=HELLO)
            assert response.status_code == 200 and response.headers["x-switchpoint-deployment"] == "second"
        tried_dead = sum(1 for r in gateway.sink.records for a in r.attempts if a.deployment == "first")
        assert tried_dead == 3
        health = gateway.app.gateway.health()
        orjson.dumps(health)  # JSON-able for the admin endpoint
        first = next(d for d in health["deployments"]["pair"] if d["id"] == "first")
        assert first["state"] == "cooldown" and first["last_error"] == "connection"


def test_f11_everything_down_answers_a_fast_503(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-a", status=500)
    upstream.script("up-b", status=500)
    with ServedGateway(_config(upstream)) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as client:
        _all_down(client, upstream)


def _all_down(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    # Failing requests (502) until the group is judged down: everything failing and nothing
    # answered for down_window (2 s by default, from start-up for deployments that never answered).
    give_up = time.monotonic() + 10
    while (status := client.post("/v1/chat/completions", json=HELLO).status_code) == 502:
        assert time.monotonic() < give_up
        time.sleep(0.1)
    assert status == 503
    before = len(upstream.requests)
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        response = client.post("/v1/chat/completions", json=HELLO)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "no_healthy_deployment"
        assert int(response.headers["retry-after"]) >= 1
    assert len(upstream.requests) == before
    assert sorted(timings)[len(timings) // 2] < 0.05 and max(timings) < 0.5  # loose: shared CI machines


def test_f17_bad_key_never_reaches_the_client(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-a", status=401, error={"message": f"Incorrect API key provided: {SECRET}"})
    response = client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 200 and response.headers["x-switchpoint-deployment"] == "second"
    upstream.script("up-b", status=403, error={"message": f"Key {SECRET} revoked"})
    upstream.script("up-a", status=401, error={"message": f"Incorrect API key provided: {SECRET}"})
    response = client.post("/v1/chat/completions", json={**HELLO, "model": "chat"})
    assert response.status_code == 200  # the other group is unaffected
    for _ in range(2):
        response = client.post("/v1/chat/completions", json=HELLO)
        assert response.status_code in (502, 503) and SECRET not in response.text and "sk-upstream" not in response.text
        assert response.status_code != 401


def test_f6_stall_mid_stream_ends_with_an_error_event(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                                     served: ServedGateway) -> None:
    upstream.script("up-a", reply="one two three four five", stall_after=3)
    started = time.monotonic()
    response = client.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert response.status_code == 200 and time.monotonic() - started < 2.0
    events = [e for e in response.text.strip().split("\n\n") if e]
    assert "data: [DONE]" not in response.text
    assert json.loads(events[-1][len("data: "):])["error"]["code"] == "upstream_timeout"
    record = served.sink.records[-1]
    assert record.incomplete and record.attempts[-1].usage_estimated and record.completion_tokens >= 1
    for _ in range(100):
        if upstream.aborted_streams:
            break
        time.sleep(0.01)
    assert upstream.aborted_streams == 1


def test_f8_slow_client_never_reaches_the_upstream(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                                   served: ServedGateway) -> None:
    slow = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", served.port))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"model\":")
        slow.append(sock)
    try:
        timings = []
        for _ in range(10):
            started = time.perf_counter()
            response = client.post("/v1/chat/completions", json=HELLO)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
        assert max(timings) < 0.5
        assert len(upstream.requests) == 10  # only the normal requests reached the upstream
    finally:
        for sock in slow:
            sock.close()


def test_f9_disconnect_while_waiting_for_the_first_token(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-a", latency=3)
    with ServedGateway(_config(upstream, first_token=10)) as gateway:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(gateway.url + "/v1/chat/completions", json={**HELLO, "stream": True}, timeout=0.3)
        left = time.monotonic()
        for _ in range(200):
            if upstream.cancel_times and gateway.sink.records:
                break
            time.sleep(0.01)
        assert upstream.cancel_times and upstream.cancel_times[0] - left < 1.0
        record = gateway.sink.records[-1]
        assert record.client_disconnected and record.status == 499
        health = gateway.app.gateway.health()
        assert all(d["in_flight"] == 0 for d in health["deployments"]["pair"])



def test_f1_every_deployment_rate_limited_answers_429_with_the_gateways_view(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-a", status=429, headers={"Retry-After": "120"})
    upstream.script("up-b", status=429, headers={"Retry-After": "90"})
    with ServedGateway(_config(upstream)) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as client:
        response = client.post("/v1/chat/completions", json=HELLO)
        assert response.status_code == 429
        assert response.json()["error"]["type"] == "rate_limit_error"
        wait = int(response.headers["retry-after"])
        assert wait >= 1
        assert response.headers["x-ratelimit-remaining-requests"] == "0"
        assert response.headers["x-ratelimit-reset-requests"] == f"{wait}s"


def _switchpoint_object(o: object) -> bool:
    """A switchpoint error, or a frame of switchpoint's own code (not of its test fakes)."""
    from switchpoint.errors import SwitchpointError

    if isinstance(o, SwitchpointError):
        return True
    code = getattr(o, "f_code", None) if type(o).__name__ == "frame" else None
    return code is not None and "/switchpoint/" in code.co_filename and "/switchpoint/testing/" not in code.co_filename


def test_failures_leave_no_reference_cycles(upstream: FakeOpenAIUpstream) -> None:
    """Retried, failed-over and finally failed requests (plain, streamed, Anthropic-shaped) leave no error or frame
    that only the garbage collector frees: a handled error's traceback is dropped where it is retried past or
    answered. Before, each failed attempt left about 40 objects in cycles, and their collections were the tail."""
    import gc

    with ServedGateway(_config(upstream)) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as c:
        c.post("/v1/chat/completions", json=HELLO)  # warm: the first request's one-off allocations
        gc.collect()
        gc.disable()
        try:
            upstream.script("up-a", status=500)  # retried on the second deployment
            for _ in range(3):
                assert c.post("/v1/chat/completions", json=HELLO).status_code == 200
            upstream.script("up-b", status=500)  # both fail: an error answer
            assert c.post("/v1/chat/completions", json=HELLO).status_code >= 500
            with c.stream("POST", "/v1/chat/completions", json={**HELLO, "stream": True}) as streamed:
                streamed.read()
            body = {"model": "pair", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
            assert c.post("/v1/messages", json=body).status_code >= 500
            assert c.post("/v1/chat/completions", json={"model": "pair", "messages": []}).status_code == 400
            time.sleep(0.2)  # the server thread finishes its requests
            assert in_cycles(_switchpoint_object) == 0
        finally:
            gc.enable()
