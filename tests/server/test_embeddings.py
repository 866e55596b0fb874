"""``POST /v1/embeddings`` with the official ``openai`` client: OpenAI-compatible and Gemini
deployments, base64 and float vectors, and failover between a group's deployments (balancing,
health, retries and records: ``test_embeddings_engine.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from switchpoint.testing import FakeGeminiUpstream, FakeOpenAIUpstream
from switchpoint.testing.fake_openai import fake_embedding
from tests.helpers import ServedGateway

KEY = "sk-gw-key"
GEMINI_KEY = "AIzaSyA-embed-test-key-0123456789abcd"


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGeminiUpstream]:
    with FakeGeminiUpstream(api_key=GEMINI_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAIUpstream, gemini_fake: FakeGeminiUpstream) -> Iterator[ServedGateway]:
    compat = {"provider": "openai_compat", "api_base": upstream.base_url}
    gemini = {"provider": "gemini", "api_base": gemini_fake.base_url, "api_key": GEMINI_KEY}
    claude = {"provider": "anthropic", "api_base": "http://127.0.0.1:9/v1", "api_key": "sk-ant-unused-0123456789"}
    config = {
        "server": {"master_key": KEY},
        "models": [
            # Weights make the balancer's order all but certain: primary first, then backup.
            {"name": "emb", "deployments": [{**compat, "id": "primary", "model": "emb-a", "weight": 1e6},
                                            {**compat, "id": "backup", "model": "emb-b", "weight": 1e-6}]},
            {"name": "gemini-emb", "model": "gemini-embedding-001", **gemini},
            {"name": "gemini-bad-key", "id": "bad-key", "model": "gemini-embedding-001", **gemini,
             "api_key": "AIza-wrong-key-0123"},
            {"name": "chat-only", "model": "claude-x", **claude},
            {"name": "mixed", "deployments": [{**claude, "model": "claude-x"},
                                              {**compat, "id": "m2", "model": "emb-m"}]},
        ],
    }
    with ServedGateway(config) as served:
        yield served


@pytest.fixture(scope="module")
def raw(gateway: ServedGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c


@pytest.fixture
def client(gateway: ServedGateway, gemini_fake: FakeGeminiUpstream) -> Iterator[openai.OpenAI]:
    gemini_fake.reset()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0) as c:
        yield c


def test_single_string_as_floats(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    raw = client.embeddings.with_raw_response.create(model="emb", input="hello world", encoding_format="float",
                                                     user="u-1")
    assert raw.headers["x-switchpoint-model"] == "emb" and raw.headers["x-switchpoint-deployment"] == "primary"
    reply = raw.parse()
    assert reply.object == "list" and reply.model == "emb-a" and len(reply.data) == 1
    assert reply.data[0].embedding == fake_embedding("hello world", 8) and reply.data[0].index == 0
    assert reply.usage.prompt_tokens == 2 and reply.usage.total_tokens == 2
    sent = upstream.requests[-1]
    assert sent.path == "/v1/embeddings"
    assert sent.body == {"model": "emb-a", "input": "hello world", "encoding_format": "float", "user": "u-1"}


def test_batch_in_base64_the_clients_default(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    reply = client.embeddings.create(model="emb", input=["a b", "c"], dimensions=4)
    assert upstream.requests[-1].body["encoding_format"] == "base64"  # what the openai client asks for by default
    assert [d.embedding for d in reply.data] == [fake_embedding("a b", 4), fake_embedding("c", 4)]
    assert [d.index for d in reply.data] == [0, 1] and reply.usage.prompt_tokens == 3


def test_token_arrays(client: openai.OpenAI) -> None:
    reply = client.embeddings.create(model="emb", input=[[1, 2, 3], [4]], encoding_format="float")
    assert len(reply.data) == 2 and reply.usage.prompt_tokens == 4


def test_failover_to_the_next_deployment(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("emb-a", status=500)
    raw = client.embeddings.with_raw_response.create(model="emb", input="x", encoding_format="float")
    assert raw.headers["x-switchpoint-deployment"] == "backup"
    assert raw.parse().data[0].embedding == fake_embedding("x", 8)
    assert [r.body["model"] for r in upstream.requests] == ["emb-a", "emb-b"]


def test_a_rejected_request_is_not_failed_over(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("emb-a", status=400, error={"message": "input too long", "type": "invalid_request_error"})
    with pytest.raises(openai.BadRequestError, match="input too long"):
        client.embeddings.create(model="emb", input="x")
    assert [r.body["model"] for r in upstream.requests] == ["emb-a"]


def test_every_deployment_failing(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("emb-a", status=503)
    upstream.script("emb-b", status=503)
    with pytest.raises(openai.InternalServerError) as raised:
        client.embeddings.create(model="emb", input="x")
    assert raised.value.status_code == 503 and "after 2 attempts" in raised.value.message


def test_gemini_single_and_batch(client: openai.OpenAI, gemini_fake: FakeGeminiUpstream) -> None:
    raw = client.embeddings.with_raw_response.create(model="gemini-emb", input="hello", encoding_format="float")
    assert raw.headers["x-switchpoint-deployment"]
    single = raw.parse()
    assert single.data[0].embedding == fake_embedding("hello", 8) and single.model == "gemini-embedding-001"
    assert single.usage.prompt_tokens == 0  # the Gemini API reports no tokens for embeddings
    sent = gemini_fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-embedding-001:embedContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert sent.body == {"content": {"parts": [{"text": "hello"}]}}
    batch = client.embeddings.create(model="gemini-emb", input=["a", "b"], dimensions=3)  # base64 by default
    assert [d.embedding for d in batch.data] == [fake_embedding("a", 3), fake_embedding("b", 3)]
    sent = gemini_fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.body == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}, "outputDimensionality": 3}
        for t in ("a", "b")]}


def test_gemini_refusals(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model="gemini-emb", input=[[1, 2]])
    assert raised.value.code == "invalid_request" and "token arrays" in raised.value.message
    with pytest.raises(openai.APIStatusError) as bad_key:
        client.embeddings.create(model="gemini-bad-key", input="x")
    assert bad_key.value.status_code == 502 and bad_key.value.code == "upstream_auth_error"
    assert "AIza" not in bad_key.value.message


def test_groups_without_embedding_deployments(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model="chat-only", input="x")
    assert raised.value.code == "unsupported_capability"
    raw = client.embeddings.with_raw_response.create(model="mixed", input="x")  # the Anthropic one is skipped
    assert raw.headers["x-switchpoint-deployment"] == "m2"
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="embb", input="x")


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "x"}, "model"),
    ({"model": "emb"}, "input"),
    ({"model": "emb", "input": ""}, "input"),
    ({"model": "emb", "input": []}, "input"),
    ({"model": "emb", "input": ["a", 1]}, "input"),
    ({"model": "emb", "input": [[1], []]}, "input"),
    ({"model": "emb", "input": [True]}, "input"),
    ({"model": "emb", "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"model": "emb", "input": "x", "dimensions": 0}, "dimensions"),
    ({"model": "emb", "input": "x", "user": 5}, "user"),
])
def test_invalid_requests_are_400(raw: httpx.Client, body: dict[str, Any], param: str) -> None:
    response = raw.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_http_edges(gateway: ServedGateway, raw: httpx.Client) -> None:
    assert raw.post("/v1/embeddings", content=b"{").status_code == 400
    assert raw.get("/v1/embeddings").status_code == 405
    response = httpx.post(gateway.url + "/v1/embeddings", json={"model": "emb", "input": "x"})
    assert response.status_code == 401
