"""``/v1/embeddings`` through the engine, with the official ``openai`` client over real HTTP: the
balancer, health tracking (cooldowns), retries and failover, and one request record per request
with its input tokens and cost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from switchpoint.storage.records import RequestRecord
from switchpoint.testing import FakeGeminiUpstream, FakeOpenAIUpstream
from switchpoint.testing.fake_openai import fake_embedding
from tests.helpers import ServedGateway

KEY = "sk-gw-key"
GEMINI_KEY = "AIzaSyA-embed-engine-key-0123456789ab"
PRICE = 0.02  # USD per million input tokens, as text-embedding-3-small is priced


def _served(upstream: FakeOpenAIUpstream, **extra: Any) -> ServedGateway:
    compat = {"provider": "openai_compat", "api_base": upstream.base_url, "input_cost_per_mtok": PRICE}
    config = {
        "server": {"master_key": KEY},
        "models": [
            {"name": "pair", "deployments": [{**compat, "id": "a", "model": "emb-a"},
                                             {**compat, "id": "b", "model": "emb-b"}]},
            {"name": "ordered", "deployments": [{**compat, "id": "first", "model": "emb-1", "weight": 1e6},
                                                {**compat, "id": "second", "model": "emb-2", "weight": 1e-6}]},
            {"name": "single", "id": "s", "model": "emb-s", "max_attempts": 2, **compat},
        ],
        **extra,
    }
    return ServedGateway(config)


@pytest.fixture
def gateway(upstream: FakeOpenAIUpstream) -> Iterator[ServedGateway]:
    with _served(upstream) as served:  # one per test: health state must not leak between tests
        yield served


@pytest.fixture
def client(gateway: ServedGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0) as c:
        yield c


def _records(gateway: ServedGateway) -> list[RequestRecord]:
    return list(gateway.sink.records)


def test_a_request_is_recorded_with_its_tokens_and_cost(client: openai.OpenAI, gateway: ServedGateway) -> None:
    raw = client.embeddings.with_raw_response.create(model="single", input=["one two three", "four"], user="u-9",
                                                     extra_headers={"x-switchpoint-tags": "batch, nightly"})
    reply = raw.parse()
    assert reply.usage.prompt_tokens == 4 and [d.embedding for d in reply.data] == [
        fake_embedding("one two three", 8), fake_embedding("four", 8)]
    [record] = _records(gateway)
    assert record.request_id == raw.headers["x-request-id"] and record.model == "single" and not record.stream
    assert (record.group, record.deployment, record.upstream_model) == ("single", "s", "emb-s")
    assert record.status == 200 and record.error_class is None and record.user == "u-9"
    assert record.tags == ("batch", "nightly", "embeddings")
    assert (record.prompt_tokens, record.completion_tokens, record.cached_tokens) == (4, 0, 0)
    assert record.cost == pytest.approx(4 * PRICE / 1e6)
    assert [(a.deployment, a.status) for a in record.attempts] == [("s", "ok")]
    assert raw.headers["x-switchpoint-attempts"] == "1" and float(raw.headers["x-switchpoint-cost"]) == pytest.approx(
        record.cost, abs=1e-8)


def test_the_balancer_spreads_requests(client: openai.OpenAI, gateway: ServedGateway,
                                       upstream: FakeOpenAIUpstream) -> None:
    for _ in range(40):
        client.embeddings.create(model="pair", input="x", encoding_format="float")
    used = Counter(r.body["model"] for r in upstream.requests)
    assert set(used) == {"emb-a", "emb-b"}, used  # equal weights: both serve (all on one: p = 2**-39)
    assert Counter(r.deployment for r in _records(gateway)) == {"a": used["emb-a"], "b": used["emb-b"]}


def test_failover_is_recorded_attempt_by_attempt(client: openai.OpenAI, gateway: ServedGateway,
                                                 upstream: FakeOpenAIUpstream) -> None:
    upstream.script("emb-1", status=500)
    raw = client.embeddings.with_raw_response.create(model="ordered", input="x", encoding_format="float")
    assert raw.headers["x-switchpoint-deployment"] == "second" and raw.headers["x-switchpoint-attempts"] == "2"
    assert raw.headers["x-switchpoint-route"] == "ordered/first=server_error,ordered/second=ok"
    [record] = _records(gateway)
    assert [(a.deployment, a.status, a.status_code) for a in record.attempts] == [
        ("first", "error", 500), ("second", "ok", None)]
    assert record.attempts[1].reason == "failover after ProviderHTTPError"
    assert record.deployment == "second" and record.prompt_tokens == 1 and record.cost == pytest.approx(PRICE / 1e6)


def test_a_failing_deployment_cools_down_and_is_skipped(client: openai.OpenAI, gateway: ServedGateway,
                                                        upstream: FakeOpenAIUpstream) -> None:
    upstream.script("emb-1", status=503)
    for _ in range(3):  # three failures in a row cool "first" down (the default health policy)
        assert client.embeddings.with_raw_response.create(
            model="ordered", input="x").headers["x-switchpoint-deployment"] == "second"
    assert [r.body["model"] for r in upstream.requests] == ["emb-1", "emb-2"] * 3
    upstream.requests.clear()
    raw = client.embeddings.with_raw_response.create(model="ordered", input="x")
    assert raw.headers["x-switchpoint-deployment"] == "second" and raw.headers["x-switchpoint-attempts"] == "1"
    assert [r.body["model"] for r in upstream.requests] == ["emb-2"]  # not even tried while cooling down
    health = {d["id"]: d for d in gateway.app.gateway.health()["deployments"]["ordered"]}
    assert health["first"]["ejections"] == 1 and health["first"]["cooldown_remaining_s"] > 0
    assert health["second"]["ejections"] == 0 and health["second"]["successes_total"] == 4


def test_a_retry_of_the_same_deployment_after_a_transient_failure(client: openai.OpenAI, gateway: ServedGateway,
                                                                  upstream: FakeOpenAIUpstream) -> None:
    upstream.script("emb-s", status=503, fail_times=1)  # fails once, then answers
    reply = client.embeddings.create(model="single", input="x", encoding_format="float")
    assert reply.data[0].embedding == fake_embedding("x", 8)
    [record] = _records(gateway)
    assert [a.status for a in record.attempts] == ["error", "ok"]
    assert record.attempts[1].reason.startswith("retry after ProviderHTTPError (backoff")


def test_a_rejected_request_is_a_400_recorded_once(client: openai.OpenAI, gateway: ServedGateway,
                                                   upstream: FakeOpenAIUpstream) -> None:
    upstream.script("emb-1", status=400, error={"message": "input too long", "type": "invalid_request_error"})
    with pytest.raises(openai.BadRequestError, match="input too long"):
        client.embeddings.create(model="ordered", input="x")
    assert [r.body["model"] for r in upstream.requests] == ["emb-1"]  # not failed over
    [record] = _records(gateway)
    assert record.status == 400 and record.error_class == "ProviderHTTPError" and record.cost == 0
    assert [(a.deployment, a.status) for a in record.attempts] == [("first", "error")]


def test_every_deployment_failing_is_one_error_record(client: openai.OpenAI, gateway: ServedGateway,
                                                      upstream: FakeOpenAIUpstream) -> None:
    upstream.script("emb-a", status=502)
    upstream.script("emb-b", status=502)
    with pytest.raises(openai.APIStatusError) as raised:
        client.embeddings.create(model="pair", input="x")
    assert raised.value.status_code == 502 and "after 2 attempts" in raised.value.message
    [record] = _records(gateway)
    assert record.status == 502 and record.error_class == "AllAttemptsFailed"
    assert sorted(a.deployment for a in record.attempts) == ["a", "b"]


def test_the_total_deadline(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("emb-s", latency=2.0)
    with _served(upstream, timeouts={"total": 0.3}) as gateway, \
            openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0) as client:
        with pytest.raises(openai.APIStatusError) as raised:
            client.embeddings.create(model="single", input="x")
        assert raised.value.status_code == 504
        [record] = _records(gateway)
        assert record.status == 504 and record.error_class == "ProviderTimeout"


def test_an_unknown_model_is_a_404_without_a_record(client: openai.OpenAI, gateway: ServedGateway) -> None:
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-group", input="x")
    assert _records(gateway) == []  # refused before a group was resolved


def test_gemini_embeddings_are_recorded_at_zero_tokens(upstream: FakeOpenAIUpstream) -> None:
    with FakeGeminiUpstream(api_key=GEMINI_KEY) as gemini:
        config = {"server": {"master_key": KEY}, "models": [
            {"name": "gem", "provider": "gemini", "model": "gemini-embedding-001", "api_base": gemini.base_url,
             "api_key": GEMINI_KEY, "input_cost_per_mtok": 0.15}]}
        with ServedGateway(config) as gateway, \
                openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0) as client:
            reply = client.embeddings.create(model="gem", input=["a", "b"], encoding_format="float")
            assert len(reply.data) == 2
            [record] = _records(gateway)
            assert record.deployment and record.prompt_tokens == 0 and record.cost == 0  # Gemini reports no tokens
