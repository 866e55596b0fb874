"""The OpenAI-compatible HTTP API, over real HTTP on loopback, against the fake upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway, chat_config

HELLO = {"model": "chat", "messages": [{"role": "user", "content": "Say hello"}]}


@pytest.fixture
def gateway(upstream: FakeOpenAIUpstream) -> Iterator[ServedGateway]:
    with ServedGateway(chat_config(upstream)) as served:
        yield served


@pytest.fixture
def client(gateway: ServedGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        yield c


def sse_events(text: str) -> list[str]:
    return [block[len("data: ") :] for block in text.split("\n\n") if block.startswith("data: ")]


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error  # type: ignore[no-any-return]


def test_completion_is_relayed_with_routing_headers(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                                    gateway: ServedGateway) -> None:
    upstream.script("up-chat", reply="Hi there friend", prompt_tokens=10)
    response = client.post("/v1/chat/completions", json={**HELLO, "temperature": 0.2, "seed": 7, "user": "u1"})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "Hi there friend"
    assert response.headers["x-switchpoint-model"] == "chat"
    assert response.headers["x-switchpoint-deployment"] == "openai_compat/up-chat"
    assert len(response.headers["x-request-id"]) == 24
    sent = upstream.requests[-1]
    assert sent.body["model"] == "up-chat"
    assert sent.body["temperature"] == 0.2 and sent.body["seed"] == 7 and sent.body["user"] == "u1"
    assert sent.headers["Authorization"] == "Bearer sk-upstream-secret-0123456789"
    record = gateway.sink.records[-1]
    assert (record.prompt_tokens, record.completion_tokens) == (10, 3)
    assert record.cost == pytest.approx((10 * 1.0 + 3 * 2.0) / 1e6)
    assert record.finish_reason == "stop" and record.status == 200 and record.user == "u1"


def test_usual_fields_pass_through_untouched(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    fields = {
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto", "response_format": {"type": "json_object"}, "top_p": 0.5, "max_tokens": 5,
        "max_completion_tokens": 5, "stop": ["\n"], "n": 1, "logprobs": True, "metadata": {"k": "v"},
        "vendor_extension": {"x": 1},
    }
    assert client.post("/v1/chat/completions", json={**HELLO, **fields}).status_code == 200
    sent = upstream.requests[-1].body
    for key, value in fields.items():
        assert sent[key] == value


def test_request_id_is_echoed(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=HELLO, headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


def test_stream_framing_and_hidden_usage(client: httpx.Client, upstream: FakeOpenAIUpstream,
                                         gateway: ServedGateway) -> None:
    upstream.script("up-chat", reply="one two three", prompt_tokens=4)
    response = client.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("data: [DONE]\n\n")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "one two three"
    assert all(c["choices"] for c in chunks), "the usage-only chunk the client did not ask for is dropped"
    # ...but the gateway asked for it upstream, and priced the request
    assert upstream.requests[-1].body["stream_options"] == {"include_usage": True}
    record = gateway.sink.records[-1]
    assert (record.prompt_tokens, record.completion_tokens, record.finish_reason) == (4, 3, "stop")
    assert record.stream and not record.incomplete and record.ttft_ms is not None


def test_stream_with_include_usage_relays_usage_chunk(client: httpx.Client, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", reply="a b", prompt_tokens=3)
    body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}
    events = sse_events(client.post("/v1/chat/completions", json=body).text)
    last = json.loads(events[-2])
    assert last["choices"] == [] and last["usage"]["prompt_tokens"] == 3


def test_models_and_health(client: httpx.Client) -> None:
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["chat", "pair"]
    assert client.get("/v1/models/chat").json()["id"] == "chat"
    assert_openai_error(client.get("/v1/models/nope"), 404, "model_not_found")
    assert client.get("/health/liveness").status_code == 200
    ready = client.get("/health/readiness")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


class TestBadInput:
    def test_invalid_json(self, client: httpx.Client) -> None:
        error = assert_openai_error(client.post("/v1/chat/completions", content=b'{"model": '), 400)
        assert "not valid JSON" in str(error["message"])

    def test_empty_body(self, client: httpx.Client) -> None:
        assert_openai_error(client.post("/v1/chat/completions", content=b""), 400)

    def test_wrong_field_types_are_400_not_422(self, client: httpx.Client) -> None:
        error = assert_openai_error(client.post("/v1/chat/completions", json={**HELLO, "temperature": "hot"}), 400)
        assert error["param"] == "temperature"
        error = assert_openai_error(client.post("/v1/chat/completions", json={"model": "chat"}), 400)
        assert error["param"] == "messages"

    def test_unknown_model_lists_close_matches(self, client: httpx.Client) -> None:
        error = assert_openai_error(client.post("/v1/chat/completions", json={**HELLO, "model": "chta"}), 404,
                                    "model_not_found")
        assert "chat" in str(error["message"]) and error["param"] == "model"

    def test_body_over_limit_declared(self, upstream: FakeOpenAIUpstream) -> None:
        with ServedGateway(chat_config(upstream, max_body_bytes=1000)) as served, httpx.Client() as c:
            big = {**HELLO, "messages": [{"role": "user", "content": "x" * 5000}]}
            response = c.post(served.url + "/v1/chat/completions", json=big)
            assert_openai_error(response, 413, "request_too_large")
            assert upstream.requests == []

    def test_body_over_limit_chunked(self, upstream: FakeOpenAIUpstream) -> None:
        def chunks() -> Iterator[bytes]:
            yield b'{"model": "chat", "messages": [{"role": "user", "content": "'
            for _ in range(20):
                yield b"y" * 500

        with ServedGateway(chat_config(upstream, max_body_bytes=4000)) as served, httpx.Client() as c:
            response = c.post(served.url + "/v1/chat/completions", content=chunks())
            assert_openai_error(response, 413)

    def test_body_over_limit_chunked_in_one_piece(self, upstream: FakeOpenAIUpstream) -> None:
        def one_chunk() -> Iterator[bytes]:
            yield b'{"model": "chat", "messages": [{"role": "user", "content": "' + b"z" * 9000 + b'"}]}'

        with ServedGateway(chat_config(upstream, max_body_bytes=4000)) as served, httpx.Client() as c:
            assert_openai_error(c.post(served.url + "/v1/chat/completions", content=one_chunk()), 413)

    def test_unknown_path_and_wrong_method(self, client: httpx.Client) -> None:
        assert_openai_error(client.get("/v1/nothing-here"), 404)
        assert_openai_error(client.get("/v1/chat/completions"), 405)

    def test_tools_to_group_without_tool_support(self, upstream: FakeOpenAIUpstream) -> None:
        config = chat_config(upstream)
        config["models"][0]["capabilities"] = {"tools": False}
        with ServedGateway(config) as served, httpx.Client() as c:
            tools = [{"type": "function", "function": {"name": "f"}}]
            response = c.post(served.url + "/v1/chat/completions", json={**HELLO, "tools": tools})
            assert_openai_error(response, 400, "unsupported_capability")


class TestAuth:
    @pytest.fixture
    def locked(self, upstream: FakeOpenAIUpstream) -> Iterator[ServedGateway]:
        with ServedGateway(chat_config(upstream, master_key="sk-master-key-42")) as served:
            yield served

    def test_missing_key_is_401(self, locked: ServedGateway) -> None:
        response = httpx.post(locked.url + "/v1/chat/completions", json=HELLO)
        error = assert_openai_error(response, 401, "missing_api_key")
        assert error["type"] == "authentication_error"

    def test_wrong_key_is_401(self, locked: ServedGateway) -> None:
        response = httpx.post(locked.url + "/v1/chat/completions", json=HELLO,
                              headers={"Authorization": "Bearer sk-wrong"})
        assert_openai_error(response, 401, "invalid_api_key")
        assert_openai_error(httpx.get(locked.url + "/v1/models"), 401)

    def test_right_key_passes(self, locked: ServedGateway) -> None:
        ok = httpx.post(locked.url + "/v1/chat/completions", json=HELLO,
                        headers={"Authorization": "Bearer sk-master-key-42"})
        assert ok.status_code == 200
        ok = httpx.post(locked.url + "/v1/chat/completions", json=HELLO, headers={"x-api-key": "sk-master-key-42"})
        assert ok.status_code == 200

    def test_health_needs_no_key(self, locked: ServedGateway) -> None:
        assert httpx.get(locked.url + "/health/liveness").status_code == 200


def test_groups_sharing_a_model_keep_their_own_keys_and_ids(upstream: FakeOpenAIUpstream) -> None:
    def group(name: str, key: str) -> dict[str, object]:
        return {"name": name, "provider": "openai_compat", "model": "up-same", "api_base": upstream.base_url,
                "api_key": key}

    with ServedGateway({"models": [group("a", "sk-key-aaaaaaaaaa"), group("b", "sk-key-bbbbbbbbbb")]}) as served:
        for name, key in (("a", "sk-key-aaaaaaaaaa"), ("b", "sk-key-bbbbbbbbbb"), ("a", "sk-key-aaaaaaaaaa")):
            response = httpx.post(served.url + "/v1/chat/completions", json={**HELLO, "model": name})
            assert response.headers["x-switchpoint-deployment"] == f"{name}/openai_compat/up-same"
            assert upstream.requests[-1].headers["Authorization"] == f"Bearer {key}"


def test_upstream_cookies_are_never_replayed(upstream: FakeOpenAIUpstream) -> None:
    config = chat_config(upstream)
    config["models"][0]["api_base"] = upstream.base_url.replace("127.0.0.1", "localhost")  # a host cookies stick to
    upstream.script("up-chat", headers={"Set-Cookie": "session=tenant-a-secret; Path=/"})
    with ServedGateway(config) as served, httpx.Client(base_url=served.url) as c:
        assert c.post("/v1/chat/completions", json=HELLO).status_code == 200
        assert c.post("/v1/chat/completions", json=HELLO).status_code == 200
    assert "Cookie" not in upstream.requests[-1].headers
