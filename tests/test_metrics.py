"""Prometheus metrics, unit and through a served gateway."""

from __future__ import annotations

import re

import httpx

from switchpoint.metrics import MetricsSink
from switchpoint.storage.records import AttemptRecord, RequestRecord
from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway, chat_config

HELLO = {"model": "pair", "messages": [{"role": "user", "content": "hi"}]}


def record(**fields: object) -> RequestRecord:
    base = RequestRecord(request_id="r", created=0.0, model="m", stream=False, group="g", deployment="d",
                         latency_ms=120.0, prompt_tokens=10, completion_tokens=5, cost=0.25)
    for key, value in fields.items():
        setattr(base, key, value)
    return base


def test_counters_and_histograms() -> None:
    sink = MetricsSink()
    sink.emit(record(attempts=[AttemptRecord("d", "openai_compat", 0.0)]))
    sink.emit(record(ttft_ms=30.0, stream=True))
    sink.emit(record(status=502, error_class="ProviderHTTPError", deployment=None, latency_ms=5.0))
    text = sink.render()
    assert 'switchpoint_requests_total{model_group="g",deployment="d",status="200",stream="false"} 1' in text
    assert 'switchpoint_requests_total{model_group="g",deployment="d",status="200",stream="true"} 1' in text
    assert 'switchpoint_request_errors_total{model_group="g",error_class="ProviderHTTPError"} 1' in text
    assert 'switchpoint_tokens_total{model_group="g",deployment="d",kind="prompt"} 20' in text
    assert 'switchpoint_cost_usd_total{model_group="g",deployment="d"} 0.5' in text
    assert 'switchpoint_request_duration_seconds_bucket{model_group="g",deployment="d",le="0.1"} 0' in text
    assert 'switchpoint_request_duration_seconds_bucket{model_group="g",deployment="d",le="0.25"} 2' in text
    assert 'switchpoint_request_duration_seconds_count{model_group="g",deployment="d"} 2' in text
    assert 'switchpoint_time_to_first_token_seconds_bucket{model_group="g",deployment="d",le="0.05"} 1' in text
    assert 'switchpoint_upstream_attempts_total{deployment="d",outcome="ok",error_class=""} 1' in text


def test_label_values_are_escaped() -> None:
    sink = MetricsSink()
    sink.emit(record(group='we"ird\\name'))
    assert 'model_group="we\\"ird\\\\name"' in sink.render()


def test_metrics_endpoint_counts_served_traffic(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-a", status=500)
    with ServedGateway(chat_config(upstream, master_key="k")) as served:
        headers = {"Authorization": "Bearer k"}
        for _ in range(3):
            assert httpx.post(served.url + "/v1/chat/completions", json=HELLO, headers=headers).status_code == 200
        response = httpx.get(served.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'switchpoint_requests_total{model_group="pair",deployment="second",status="200",stream="false"} 3' in text
    assert 'switchpoint_upstream_attempts_total{deployment="first",outcome="error",error_class="ProviderHTTPError"} 3' \
        in text
    for line in text.splitlines():
        assert line.startswith("#") or re.match(r"^[a-z_]+(\{.*\})? [0-9.e+-]+$", line), line


def test_health_endpoint_and_gauges_show_a_cooled_down_deployment(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-a", status=500)
    with ServedGateway(chat_config(upstream)) as served:
        for _ in range(4):
            assert httpx.post(served.url + "/v1/chat/completions", json=HELLO).status_code == 200
        health = httpx.get(served.url + "/health/deployments").json()
        states = {d["id"]: d["state"] for d in health["deployments"]["pair"]}
        metrics = httpx.get(served.url + "/metrics").text
    assert states == {"first": "cooldown", "second": "healthy"}
    assert 'switchpoint_deployment_up{model_group="pair",deployment="first",state="cooldown"} 0' in metrics
    assert 'switchpoint_deployment_up{model_group="pair",deployment="second",state="healthy"} 1' in metrics


def test_rate_limited_answer_carries_retry_after(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", status=429, headers={"Retry-After": "7"})
    with ServedGateway(chat_config(upstream)) as served:
        response = httpx.post(served.url + "/v1/chat/completions",
                              json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
