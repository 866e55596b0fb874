"""Upstream failures as a client sees them: mapped statuses, failover, timeouts, truncated streams."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway, chat_config, free_port

HELLO = {"model": "chat", "messages": [{"role": "user", "content": "Say hello"}]}
PAIR = {**HELLO, "model": "pair"}
SECRET = "sk-upstream-secret-0123456789"


@pytest.fixture
def gateway(upstream: FakeOpenAIUpstream) -> Iterator[ServedGateway]:
    config = chat_config(upstream)
    config["timeouts"] = {"first_token": 0.5, "idle": 0.5, "total": 2}
    with ServedGateway(config) as served:
        yield served


@pytest.fixture
def client(gateway: ServedGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        yield c


def error_of(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("upstream_status", "status", "code"),
    [(500, 502, "upstream_error"), (502, 502, "upstream_error"), (503, 503, "upstream_unavailable"),
     (429, 429, "rate_limit_exceeded"), (400, 400, "upstream_rejected_request"),
     (401, 502, "upstream_auth_error")],
)
def test_upstream_status_mapping(client: httpx.Client, upstream: FakeOpenAIUpstream, upstream_status: int,
                                 status: int, code: str) -> None:
    upstream.script("up-chat", status=upstream_status)
    response = client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_client_errors_are_not_retried(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                       gateway: ServedGateway) -> None:
    upstream.script("up-a", status=400, error={"message": "bad temperature", "type": "invalid_request_error"})
    response = client.post("/v1/chat/completions", json=PAIR)
    assert response.status_code == 400
    assert "bad temperature" in str(error_of(response)["message"])
    assert len(upstream.requests) == 1
    assert len(gateway.sink.records[-1].attempts) == 1


def test_context_window_error_is_recognised(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", status=400, error={"message": "This model's maximum context length is 8192 tokens",
                                                  "code": "context_length_exceeded"})
    response = client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 400
    assert error_of(response)["code"] == "context_length_exceeded"


def test_failover_to_the_next_deployment(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                         gateway: ServedGateway) -> None:
    upstream.script("up-a", status=500)
    upstream.script("up-b", reply="from b")
    response = client.post("/v1/chat/completions", json=PAIR)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from b"
    assert response.headers["x-switchpoint-deployment"] == "second"
    record = gateway.sink.records[-1]
    assert [(a.deployment, a.status, a.error_class) for a in record.attempts] == [
        ("first", "error", "ProviderHTTPError"), ("second", "ok", None)]
    assert record.attempts[1].reason == "failover after ProviderHTTPError"


def test_stream_failover_before_first_byte_is_transparent(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-a", drop_after=0)
    upstream.script("up-b", reply="streamed from b")
    response = client.post("/v1/chat/completions", json={**PAIR, "stream": True})
    assert response.status_code == 200
    assert response.headers["x-switchpoint-deployment"] == "second"
    assert response.text.endswith("data: [DONE]\n\n")


def test_all_deployments_failing(client: httpx.Client, upstream: FakeOpenAIUpstream, gateway: ServedGateway) -> None:
    upstream.script("up-a", status=503)
    upstream.script("up-b", status=500)
    response = client.post("/v1/chat/completions", json=PAIR)
    assert response.status_code == 502
    assert "after 2 attempts" in str(error_of(response)["message"])
    assert gateway.sink.records[-1].error_class == "AllAttemptsFailed"


def test_connection_refused_is_502(upstream: FakeOpenAIUpstream) -> None:
    config = chat_config(upstream)
    config["models"][0]["api_base"] = f"http://127.0.0.1:{free_port()}/v1"
    with ServedGateway(config) as served:
        response = httpx.post(served.url + "/v1/chat/completions", json=HELLO)
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_connection_error"


def test_first_token_timeout_is_504(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", latency=1.5)
    started = time.monotonic()
    response = client.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert response.status_code == 504
    assert error_of(response)["code"] == "upstream_timeout"
    assert time.monotonic() - started < 1.4


def test_total_deadline_is_504(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", hang=True)
    started = time.monotonic()
    response = client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 504
    assert "total deadline" in str(error_of(response)["message"])
    assert 1.9 < time.monotonic() - started < 3.5


def test_stream_idle_timeout_ends_with_error_event(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                                   gateway: ServedGateway) -> None:
    upstream.script("up-chat", reply="a b c d", chunk_delay=1.0)
    response = client.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert response.status_code == 200
    assert "data: [DONE]" not in response.text
    last = json.loads(response.text.strip().split("\n\n")[-1][len("data: "):])
    assert last["error"]["code"] == "upstream_timeout"
    record = gateway.sink.records[-1]
    assert record.incomplete and record.error_class == "ProviderTimeout"


def test_stream_dropped_mid_way_is_never_a_silent_truncation(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                                             gateway: ServedGateway) -> None:
    upstream.script("up-chat", reply="one two three four", drop_after=3)
    response = client.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert "data: [DONE]" not in response.text
    assert '"error"' in response.text.strip().split("\n\n")[-1]
    assert gateway.sink.records[-1].incomplete


def test_mid_stream_error_event_is_relayed_as_error(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", reply="one two three four", error_event_after=2, chunk_delay=0.05)
    response = client.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert response.status_code == 200
    last = json.loads(response.text.strip().split("\n\n")[-1][len("data: "):])
    assert "mid-stream" in last["error"]["message"]


def test_error_before_the_first_byte_is_a_plain_error_response(client: httpx.Client,
                                                               upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", error_event_after=0)
    response = client.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert response.status_code == 502
    assert "mid-stream" in str(error_of(response)["message"])


def test_invalid_upstream_json_is_502(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", raw=b"<html>oops</html>")
    response = client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_protocol_error"


def test_provider_key_never_reaches_the_client(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    leak = {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error"}
    for status in (400, 401, 403, 500):
        upstream.script("up-chat", status=status, error=leak)
        response = client.post("/v1/chat/completions", json=HELLO)
        assert SECRET not in response.text
        assert "sk-upstream" not in response.text
    upstream.script("up-chat", reply="ok", error_event_after=1)
    response = client.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert SECRET not in response.text


def test_client_disconnect_cancels_the_upstream_stream(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                                       gateway: ServedGateway) -> None:
    upstream.script("up-chat", reply=" ".join(["w"] * 40), chunk_delay=0.1)
    config = chat_config(upstream)
    config["timeouts"] = {"idle": 5, "total": 30}
    with ServedGateway(config) as served, httpx.Client(timeout=10) as c:
        with c.stream("POST", served.url + "/v1/chat/completions", json={**HELLO, "stream": True}) as response:
            for _ in response.iter_bytes():
                break
        left = time.monotonic()
        deadline = left + 2
        while not upstream.aborted_streams and time.monotonic() < deadline:
            time.sleep(0.02)
        assert upstream.aborted_streams == 1
        assert upstream.abort_times[0] - left < 1.0
        for _ in range(100):
            if served.sink.records:
                break
            time.sleep(0.01)
        record = served.sink.records[-1]
        assert record.client_disconnected and record.incomplete


def test_client_disconnect_cancels_a_non_streamed_call(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", latency=3)
    with ServedGateway(chat_config(upstream)) as served:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(served.url + "/v1/chat/completions", json=HELLO, timeout=0.3)
        for _ in range(200):
            if served.sink.records:
                break
            time.sleep(0.01)
        record = served.sink.records[-1]
        assert record.client_disconnected and record.status == 499


def test_events_before_a_mid_stream_error_in_the_same_read_are_relayed(client: httpx.Client,
                                                                        upstream: FakeOpenAIUpstream) -> None:
    # The fake writes the error right after the third event, so both usually arrive in one read.
    upstream.script("up-chat", reply="alpha beta gamma delta", error_event_after=3, chunk_delay=0.05)
    response = client.post("/v1/chat/completions", json={**HELLO, "stream": True})
    events = [e[len("data: "):] for e in response.text.strip().split("\n\n")]
    content = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert content == "alpha beta"
    assert "mid-stream" in json.loads(events[-1])["error"]["message"]
