"""Acceptance: the official ``anthropic`` client against ``POST /v1/messages``, routed to an
OpenAI-format upstream (group ``gpt``) and an Anthropic-format upstream (group ``claude``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from switchpoint.errors import PayloadTooLarge, ProviderHTTPError
from switchpoint.server.anthropic_api import anthropic_error
from switchpoint.testing import FakeAnthropicUpstream, FakeOpenAIUpstream
from tests.helpers import ServedGateway

KEY = "sk-gw-key"
UPSTREAM_MODELS = {"gpt": "up-gpt", "claude": "claude-up"}
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CALL = {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
TIME_CALL = {"id": "toolu_02", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "CET"}'}}
ASK: Any = [{"role": "user", "content": "What's the weather in Paris?"}]
BASE: Any = {"model": "gpt", "max_tokens": 8, "messages": ASK}


def _user_blocks(*blocks: Any) -> Any:
    return {**BASE, "messages": [{"role": "user", "content": list(blocks)}]}


MALFORMED: list[Any] = [
    b"", b"{", b"[]", b'"text"', {"model": 5}, {"model": "gpt"}, {**BASE, "messages": {}}, {**BASE, "messages": [1]},
    {**BASE, "messages": [{"role": "system", "content": "x"}]}, {**BASE, "messages": [{"role": "user"}]},
    _user_blocks(), _user_blocks({"type": "image"}), _user_blocks({"text": "no type"}), _user_blocks({"type": "audio"}),
    _user_blocks({"type": "image", "source": {"type": "file", "file_id": "f1"}}),
    _user_blocks({"type": "tool_result", "tool_use_id": "t", "content": 5}),
    {**BASE, "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": 1}]}],
     },
    {**BASE, "max_tokens": "many"}, {**BASE, "max_tokens": 0}, {**BASE, "temperature": "hot"},
    {**BASE, "stream": "yes"},
    {**BASE, "system": 5}, {**BASE, "system": [{"type": "image"}]}, {**BASE, "stop_sequences": "x"},
    {**BASE, "metadata": {"user_id": 5}}, {**BASE, "metadata": []}, {**BASE, "tools": {}},
    {**BASE, "tools": [{"name": "f"}]}, {**BASE, "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
    {**BASE, "tools": [{"name": "f", "input_schema": {}}], "tool_choice": "auto"},
    {**BASE, "output_config": {"format": "json"}}, {**BASE, "output_config": 3},
]


@pytest.fixture(scope="module")
def claude_fake() -> Iterator[FakeAnthropicUpstream]:
    with FakeAnthropicUpstream(api_key="sk-ant-test-0123456789") as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAIUpstream, claude_fake: FakeAnthropicUpstream) -> Iterator[ServedGateway]:
    config = {
        "server": {"master_key": KEY},
        "models": [
            {"name": "gpt", "provider": "openai_compat", "model": "up-gpt", "api_base": upstream.base_url},
            {"name": "claude", "provider": "anthropic", "model": "claude-up", "api_base": claude_fake.base_url,
             "api_key": "sk-ant-test-0123456789"},
        ],
        "timeouts": {"idle": 5, "total": 30},
    }
    with ServedGateway(config) as served:
        yield served


@pytest.fixture
def client(gateway: ServedGateway, upstream: FakeOpenAIUpstream,
           claude_fake: FakeAnthropicUpstream) -> Iterator[anthropic.Anthropic]:
    claude_fake.reset()
    with anthropic.Anthropic(base_url=gateway.url, api_key=KEY, max_retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def raw(gateway: ServedGateway) -> Iterator[httpx.Client]:
    """Plain HTTP with the gateway's key as ``x-api-key``, on one kept-alive connection."""
    with httpx.Client(base_url=gateway.url, headers={"x-api-key": KEY}) as c:
        yield c


@pytest.fixture(params=["gpt", "claude"])
def group(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def fake_of(group: str, request: pytest.FixtureRequest) -> FakeOpenAIUpstream:
    return request.getfixturevalue("upstream" if group == "gpt" else "claude_fake")  # type: ignore[no-any-return]


def script_usage(group: str) -> tuple[dict[str, int], dict[str, int]]:
    """Usage to script upstream, and the Anthropic usage it must come back as."""
    if group == "gpt":
        return {"prompt_tokens": 12}, {"input_tokens": 12, "cache_read_input_tokens": 0,
                                       "cache_creation_input_tokens": 0}
    # Anthropic upstream: 20 input + 100 read + 5 written come back as they were sent
    return ({"prompt_tokens": 20, "cache_read_tokens": 100, "cache_creation_tokens": 5},
            {"input_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5})


def test_message(client: anthropic.Anthropic, group: str, request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    scripted, expected = script_usage(group)
    fake.script(UPSTREAM_MODELS[group], reply="Sunny in Paris.", **scripted)
    raw = client.messages.with_raw_response.create(
        model=group, max_tokens=64, system="Be brief.", messages=ASK, stop_sequences=["###"],
        metadata={"user_id": "user-7"}, extra_body={"temperature": 0.5},
    )
    assert raw.headers["x-switchpoint-model"] == group and raw.headers["x-switchpoint-deployment"]
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    message = raw.parse()
    assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
    assert message.model == group
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "Sunny in Paris.")]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens == expected["input_tokens"] and message.usage.output_tokens == 3
    assert message.usage.cache_read_input_tokens == expected["cache_read_input_tokens"]
    assert message.usage.cache_creation_input_tokens == expected["cache_creation_input_tokens"]
    sent = fake.requests[-1].body
    if group == "gpt":
        assert sent["messages"] == [{"role": "system", "content": "Be brief."}, *ASK]
        assert (sent["max_tokens"], sent["temperature"], sent["stop"], sent["user"]) == (64, 0.5, ["###"], "user-7")
        assert "stream" not in sent and "stream_options" not in sent
    else:
        assert sent["system"] == "Be brief." and sent["messages"] == ASK and sent["model"] == "claude-up"
        assert sent["stop_sequences"] == ["###"] and sent["metadata"] == {"user_id": "user-7"}


@pytest.mark.parametrize("helper", [True, False], ids=["messages.stream", "create-stream"])
def test_streaming(client: anthropic.Anthropic, gateway: ServedGateway, group: str, helper: bool,
                   request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    scripted, expected = script_usage(group)
    fake.script(UPSTREAM_MODELS[group], reply="It is sunny today", **scripted)
    if helper:
        with client.messages.stream(model=group, max_tokens=64, messages=ASK) as stream:
            text = "".join(stream.text_stream)
            message = stream.get_final_message()
        assert text == "It is sunny today"
        usage, stop, blocks = message.usage, message.stop_reason, message.content
        assert [b.type for b in blocks] == ["text"] and blocks[0].text == text  # type: ignore[union-attr]
    else:
        events = list(client.messages.create(model=group, max_tokens=64, messages=ASK, stream=True))
        kinds = [e.type for e in events]
        assert kinds[:2] == ["message_start", "content_block_start"] and kinds[-2:] == ["message_delta", "message_stop"]
        assert kinds.count("content_block_delta") == 4 and kinds.count("content_block_stop") == 1
        delta = events[-2]
        assert delta.type == "message_delta"
        usage, stop = delta.usage, delta.delta.stop_reason
    assert stop == "end_turn"
    assert usage.input_tokens == expected["input_tokens"] and usage.output_tokens == 4
    assert usage.cache_read_input_tokens == expected["cache_read_input_tokens"]
    assert usage.cache_creation_input_tokens == expected["cache_creation_input_tokens"]
    sent = fake.requests[-1].body
    assert sent["stream"] is True
    if group == "gpt":
        assert sent["stream_options"] == {"include_usage": True}
    record = gateway.sink.records[-1]
    assert record.stream and not record.incomplete and record.finish_reason == "stop"


def test_tool_use_round_trip(client: anthropic.Anthropic, group: str, request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    fake.script(UPSTREAM_MODELS[group], tool_calls=[CALL])
    first = client.messages.create(model=group, max_tokens=256, messages=ASK, tools=[WEATHER],
                                   tool_choice={"type": "any", "disable_parallel_tool_use": True})
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "Paris"}
    assert call.id == "toolu_01"
    sent = fake.requests[-1].body
    if group == "gpt":
        assert sent["tools"] == [{"type": "function", "function": {
            "name": "get_weather", "parameters": WEATHER["input_schema"], "description": "Weather for a city"}}]
        assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    else:
        assert sent["tools"] == [WEATHER] and sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    fake.script(UPSTREAM_MODELS[group], reply="21 degrees in Paris.")
    follow_up: Any = [
        *ASK,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.id, "content": '{"temp": 21}'},
            {"type": "text", "text": "Answer in one line."},
        ]},
    ]
    second = client.messages.create(model=group, max_tokens=256, messages=follow_up, tools=[WEATHER])
    assert second.content[0].type == "text" and second.content[0].text == "21 degrees in Paris."
    assert second.stop_reason == "end_turn"
    sent = fake.requests[-1].body
    if group == "gpt":
        assert sent["messages"][1:] == [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "toolu_01", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
            {"role": "tool", "tool_call_id": "toolu_01", "content": '{"temp": 21}'},
            {"role": "user", "content": "Answer in one line."},
        ]
    else:
        assert sent["messages"][1:] == [
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": '{"temp": 21}'},
                {"type": "text", "text": "Answer in one line."}]},
        ]


def test_streamed_tool_calls_arrive_in_pieces(client: anthropic.Anthropic, gateway: ServedGateway, group: str,
                                              request: pytest.FixtureRequest) -> None:
    fake_of(group, request).script(UPSTREAM_MODELS[group], tool_calls=[CALL, TIME_CALL])
    with client.messages.stream(model=group, max_tokens=256, messages=ASK, tools=[WEATHER]) as stream:
        events = list(stream)
        message = stream.get_final_message()
    pieces: dict[int, list[str]] = {}
    for event in events:
        if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            pieces.setdefault(event.index, []).append(event.delta.partial_json)
    assert sorted(pieces) == [0, 1] and all(len(p) > 1 for p in pieces.values())
    calls = [(b.type, b.id, b.name, b.input) for b in message.content]  # type: ignore[union-attr]
    assert calls == [("tool_use", "toolu_01", "get_weather", {"city": "Paris"}),
                     ("tool_use", "toolu_02", "get_time", {"tz": "CET"})]
    assert message.stop_reason == "tool_use"
    starts = [e.index for e in events if e.type == "content_block_start"]
    stops = [e.index for e in events if e.type == "content_block_stop"]
    assert starts == stops == [0, 1]
    assert gateway.sink.records[-1].finish_reason == "tool_calls"


def test_anthropic_only_fields_reach_anthropic_upstreams_only(client: anthropic.Anthropic, group: str,
                                                               request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    fake.script(UPSTREAM_MODELS[group], reply="ok")
    system: Any = [{"type": "text", "text": "Long policy.", "cache_control": {"type": "ephemeral"}}]
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    messages: Any = [{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}]
    client.messages.create(model=group, max_tokens=32, system=system, messages=messages, extra_body={"top_k": 5})
    sent = fake.requests[-1].body
    if group == "gpt":
        assert sent["messages"][0] == {"role": "system", "content": "Long policy."}
        assert sent["messages"][1]["content"][0] == {"type": "image_url",
                                                     "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        assert "top_k" not in sent
    else:
        assert sent["system"] == system and sent["top_k"] == 5
        assert sent["messages"][0]["content"][0] == image


class TestErrors:
    def test_unknown_model_is_not_found(self, client: anthropic.Anthropic) -> None:
        with pytest.raises(anthropic.NotFoundError) as raised:
            client.messages.create(model="claud", max_tokens=8, messages=ASK)
        assert raised.value.body == {"type": "error", "error": {
            "type": "not_found_error", "message": "The model 'claud' does not exist. Did you mean: claude?"}}

    def test_bad_request(self, client: anthropic.Anthropic) -> None:
        with pytest.raises(anthropic.BadRequestError) as raised:
            client.messages.create(model="gpt", max_tokens=0, messages=ASK)
        assert raised.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        with pytest.raises(anthropic.BadRequestError, match="tool_use_id"):
            client.messages.create(model="gpt", max_tokens=8, messages=[
                {"role": "user", "content": [{"type": "tool_result", "content": "x"}]}])  # type: ignore[typeddict-item]

    def test_bad_key(self, gateway: ServedGateway) -> None:
        with anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0) as bad:
            with pytest.raises(anthropic.AuthenticationError) as raised:
                bad.messages.create(model="gpt", max_tokens=8, messages=ASK)
        assert raised.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]

    def test_bearer_key_and_version_header_are_accepted(self, gateway: ServedGateway,
                                                        upstream: FakeOpenAIUpstream) -> None:
        body = {"model": "gpt", "max_tokens": 8, "messages": ASK}
        response = httpx.post(gateway.url + "/v1/messages", json=body,
                              headers={"Authorization": f"Bearer {KEY}", "anthropic-version": "2099-01-01"})
        assert response.status_code == 200 and response.json()["type"] == "message"
        missing = httpx.post(gateway.url + "/v1/messages", json=body)
        assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"

    @pytest.mark.parametrize("body", MALFORMED, ids=[str(i) for i in range(len(MALFORMED))])
    def test_malformed_input_is_400(self, raw: httpx.Client, body: Any) -> None:
        response = raw.post("/v1/messages", content=body if isinstance(body, bytes) else orjson.dumps(body))
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        assert error["error"]["message"]

    def test_wrong_method(self, raw: httpx.Client) -> None:
        response = raw.get("/v1/messages")
        assert response.status_code == 405 and response.json()["error"]["type"] == "invalid_request_error"

    def test_overloaded_upstream_is_529(self, client: anthropic.Anthropic, claude_fake: FakeAnthropicUpstream) -> None:
        claude_fake.script("claude-up", status=529)
        with pytest.raises(anthropic.OverloadedError) as raised:
            client.messages.create(model="claude", max_tokens=8, messages=ASK)
        assert raised.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]

    def test_upstream_statuses(self, client: anthropic.Anthropic, upstream: FakeOpenAIUpstream) -> None:
        upstream.script("up-gpt", status=429)
        with pytest.raises(anthropic.RateLimitError) as limited:
            client.messages.create(model="gpt", max_tokens=8, messages=ASK)
        assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
        upstream.script("up-gpt", status=500)
        with pytest.raises(anthropic.InternalServerError) as failed:
            client.messages.create(model="gpt", max_tokens=8, messages=ASK)
        assert failed.value.status_code == 502 and failed.value.body["error"]["type"] == "api_error"  # type: ignore[index]

    @pytest.mark.parametrize("group", ["gpt", "claude"])
    def test_mid_stream_error_is_an_error_event(self, client: anthropic.Anthropic, group: str,
                                                request: pytest.FixtureRequest) -> None:
        # The error comes after some text reached the client (an error before any output fails over instead).
        # OpenAI fake: role, "a", " b", error; Anthropic fake: message_start, ping, block start, "a", " b", error.
        fake_of(group, request).script(UPSTREAM_MODELS[group], reply="a b c d", chunk_delay=0.05,
                                       error_event_after=3 if group == "gpt" else 5)
        text = ""
        with pytest.raises(anthropic.APIStatusError) as raised:
            for event in client.messages.create(model=group, max_tokens=8, messages=ASK, stream=True):
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text += event.delta.text
        assert text.startswith("a") and "c" not in text
        error = raised.value.body["error"]  # type: ignore[index]
        assert error["type"] == ("api_error" if group == "gpt" else "overloaded_error") and error["message"]


def test_error_statuses_and_types() -> None:
    assert anthropic_error(PayloadTooLarge("too big"))[:2] == (413, "request_too_large")
    unavailable = ProviderHTTPError("upstream x returned 503", status_code=503)
    assert anthropic_error(unavailable)[:2] == (529, "overloaded_error")
    timeout = ProviderHTTPError("upstream x returned 504", status_code=504)
    assert anthropic_error(timeout)[:2] == (502, "api_error")


def test_client_disconnect_cancels_the_upstream(gateway: ServedGateway, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-gpt", reply=" ".join(["w"] * 40), chunk_delay=0.1)
    body = {"model": "gpt", "max_tokens": 8, "messages": ASK, "stream": True}
    with httpx.Client(timeout=10) as c, c.stream("POST", gateway.url + "/v1/messages", json=body,
                                                 headers={"x-api-key": KEY}) as response:
        assert response.status_code == 200
        for _ in response.iter_bytes():
            break
    left = time.monotonic()
    while not upstream.aborted_streams and time.monotonic() < left + 2:
        time.sleep(0.02)
    assert upstream.aborted_streams == 1 and upstream.abort_times[0] - left < 1.0
    for _ in range(100):
        if gateway.sink.records and gateway.sink.records[-1].client_disconnected:
            break
        time.sleep(0.01)
    assert gateway.sink.records[-1].client_disconnected


def test_client_disconnect_cancels_a_non_streamed_call(gateway: ServedGateway, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-gpt", latency=3)
    before = len(gateway.sink.records)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gateway.url + "/v1/messages", json=BASE, headers={"x-api-key": KEY}, timeout=0.3)
    for _ in range(200):
        if len(gateway.sink.records) > before:
            break
        time.sleep(0.01)
    record = gateway.sink.records[-1]
    assert record.client_disconnected and record.status == 499
