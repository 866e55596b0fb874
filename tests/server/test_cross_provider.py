"""Acceptance: the official ``openai`` client, through a served gateway, reaches Anthropic- and
Gemini-format upstreams (real HTTP fakes on loopback): chat, streams, tool calls, usage and cost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from switchpoint.testing import FakeAnthropicUpstream, FakeGeminiUpstream
from switchpoint.types import Price
from tests.helpers import ServedGateway

ANTHROPIC_KEY = "sk-ant-api03-e2e-key-0123456789"
GEMINI_KEY = "AIzaSyA-e2e-test-key-0123456789abcdef"
MESSAGES: list[Any] = [{"role": "user", "content": "What's the weather in Paris?"}]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
CALL = {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
PRICES = {"claude": Price(3.0, 15.0, 0.3), "gemini": Price(0.3, 2.5, 0.075)}
UPSTREAM_MODELS = {"claude": "claude-up", "gemini": "gemini-up"}


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeAnthropicUpstream]:
    with FakeAnthropicUpstream(api_key=ANTHROPIC_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGeminiUpstream]:
    with FakeGeminiUpstream(api_key=GEMINI_KEY) as fake:
        yield fake


def _priced(price: Price) -> dict[str, float]:
    return {"input_cost_per_mtok": price.input, "output_cost_per_mtok": price.output,
            "cached_input_cost_per_mtok": price.cached_input or 0.0}


@pytest.fixture(scope="module")
def gateway(anthropic_fake: FakeAnthropicUpstream, gemini_fake: FakeGeminiUpstream) -> Iterator[ServedGateway]:
    claude = {"provider": "anthropic", "api_base": anthropic_fake.base_url, "api_key": ANTHROPIC_KEY}
    gemini = {"provider": "gemini", "api_base": gemini_fake.base_url, "api_key": GEMINI_KEY}
    config = {
        "server": {"master_key": "sk-gw-key"},
        "models": [
            {"name": "claude", "model": "claude-up", **claude, **_priced(PRICES["claude"])},
            {"name": "gemini", "model": "gemini-up", **gemini, **_priced(PRICES["gemini"])},
            {"name": "claude-or-gemini", "deployments": [
                {**claude, "id": "primary", "model": "claude-busy", "weight": 1000},
                {**gemini, "id": "backup", "model": "gemini-backup", "weight": 0.001},
            ]},
        ],
    }
    with ServedGateway(config) as served:
        yield served


@pytest.fixture
def client(gateway: ServedGateway, anthropic_fake: FakeAnthropicUpstream,
           gemini_fake: FakeGeminiUpstream) -> Iterator[openai.OpenAI]:
    anthropic_fake.reset()
    gemini_fake.reset()
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-gw-key", max_retries=0) as c:
        yield c


@pytest.fixture(params=["claude", "gemini"])
def group(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def fake_of(group: str, request: pytest.FixtureRequest) -> FakeAnthropicUpstream | FakeGeminiUpstream:
    return request.getfixturevalue("anthropic_fake" if group == "claude" else "gemini_fake")  # type: ignore[no-any-return]


def script_usage(group: str) -> tuple[dict[str, int], tuple[int, int, int]]:
    """Native usage to script, and the (prompt, cached, completion) tokens it must come back as."""
    if group == "claude":  # prompt = input + cache reads + cache writes; cached = cache reads
        return {"prompt_tokens": 20, "cache_read_tokens": 1000, "cache_creation_tokens": 200}, (1220, 1000, 4)
    return {"prompt_tokens": 1200, "cached_tokens": 1000}, (1200, 1000, 4)  # Gemini's prompt count includes the cache


def expected_cost(group: str, prompt: int, cached: int, completion: int) -> float:
    price = PRICES[group]
    assert price.cached_input is not None
    # Anthropic bills the 200 cache-write tokens at 1.25x the input price (the default write price).
    written = 200 if group == "claude" else 0
    return ((prompt - cached - written) * price.input + cached * price.cached_input + written * price.input * 1.25
            + completion * price.output) / 1e6


def test_chat(client: openai.OpenAI, gateway: ServedGateway, group: str, request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    usage, (prompt, cached, completion) = script_usage(group)
    fake.script(UPSTREAM_MODELS[group], reply="Sunny in Paris today.", **usage)
    reply = client.chat.completions.create(model=group, messages=MESSAGES, max_tokens=64, temperature=0.2)
    assert reply.choices[0].message.content == "Sunny in Paris today."
    assert reply.choices[0].finish_reason == "stop" and reply.object == "chat.completion"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (prompt, completion)
    assert reply.usage.prompt_tokens_details is not None and reply.usage.prompt_tokens_details.cached_tokens == cached
    written = getattr(reply.usage.prompt_tokens_details, "cache_write_tokens", None)
    assert written == (200 if group == "claude" else None)  # OpenRouter's name for cache writes
    record = gateway.sink.records[-1]
    assert (record.prompt_tokens, record.cached_tokens, record.completion_tokens) == (prompt, cached, completion)
    assert record.cost == pytest.approx(expected_cost(group, prompt, cached, completion))
    assert record.finish_reason == "stop" and record.status == 200
    sent = fake.requests[-1]
    if group == "claude":
        assert sent.headers["x-api-key"] == ANTHROPIC_KEY and sent.headers["anthropic-version"] == "2023-06-01"
        assert sent.body["max_tokens"] == 64 and sent.body["temperature"] == 0.2 and sent.body["model"] == "claude-up"
    else:
        assert sent.headers["x-goog-api-key"] == GEMINI_KEY and sent.path == "/v1beta/models/gemini-up:generateContent"
        assert sent.body["generationConfig"] == {"maxOutputTokens": 64, "temperature": 0.2}


def test_streaming(client: openai.OpenAI, gateway: ServedGateway, group: str, request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    usage, (prompt, cached, completion) = script_usage(group)
    fake.script(UPSTREAM_MODELS[group], reply="It is sunny today", **usage)
    stream = client.chat.completions.create(model=group, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    text, final_usage, finish, chunks = "", None, None, 0
    for chunk in stream:
        chunks += 1
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            final_usage = chunk.usage
    assert text == "It is sunny today" and finish == "stop" and chunks >= 6
    assert final_usage is not None
    assert (final_usage.prompt_tokens, final_usage.completion_tokens) == (prompt, completion)
    record = gateway.sink.records[-1]
    assert record.stream and not record.incomplete and record.finish_reason == "stop"
    assert record.cost == pytest.approx(expected_cost(group, prompt, cached, completion))


def test_streaming_without_usage_still_prices_the_request(client: openai.OpenAI, gateway: ServedGateway, group: str,
                                                          request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    usage, (prompt, cached, completion) = script_usage(group)
    fake.script(UPSTREAM_MODELS[group], reply="a b c d", **usage)
    chunks = list(client.chat.completions.create(model=group, messages=MESSAGES, stream=True))
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    assert gateway.sink.records[-1].cost == pytest.approx(expected_cost(group, prompt, cached, completion))


def test_tool_call_round_trip(client: openai.OpenAI, group: str, request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    extra = {"thought_signature": "c2lnLTE="} if group == "gemini" else {}
    fake.script(UPSTREAM_MODELS[group], tool_calls=[CALL], **extra)
    first = client.chat.completions.create(model=group, messages=MESSAGES, tools=[WEATHER_TOOL])
    assert first.choices[0].finish_reason == "tool_calls"
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert call.id == ("toolu_01" if group == "claude" else "call_0_get_weather")
    fake.script(UPSTREAM_MODELS[group], reply="It is 21 degrees in Paris.")
    follow_up = [*MESSAGES, first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'}]
    second = client.chat.completions.create(model=group, messages=follow_up, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "It is 21 degrees in Paris."
    sent = fake.requests[-1].body
    if group == "claude":
        assert sent["messages"][1] == {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]}
        assert sent["messages"][2] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": '{"temp": 21}'}]}
    else:
        # The thought signature went to the client with the call and came back with it.
        assert sent["contents"][1] == {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="}]}
        assert sent["contents"][2] == {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}]}


def test_streamed_tool_calls(client: openai.OpenAI, gateway: ServedGateway, group: str,
                             request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    time_call = {"id": "toolu_02", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "CET"}'}}
    calls = [CALL, time_call]
    fake.script(UPSTREAM_MODELS[group], tool_calls=calls)
    stream = client.chat.completions.create(model=group, messages=MESSAGES, tools=[WEATHER_TOOL], stream=True)
    names: dict[int, str] = {}
    pieces: dict[int, list[str]] = {0: [], 1: []}
    finish = None
    for chunk in stream:
        for tool_call in chunk.choices[0].delta.tool_calls or []:
            if tool_call.function and tool_call.function.name:
                names[tool_call.index] = tool_call.function.name
            if tool_call.function and tool_call.function.arguments:
                pieces[tool_call.index].append(tool_call.function.arguments)
        finish = chunk.choices[0].finish_reason or finish
    assert names == {0: "get_weather", 1: "get_time"} and finish == "tool_calls"
    assert json.loads("".join(pieces[0])) == {"city": "Paris"} and json.loads("".join(pieces[1])) == {"tz": "CET"}
    if group == "claude":  # Anthropic streams the arguments in pieces; Gemini sends each call whole
        assert len(pieces[0]) > 1
    assert gateway.sink.records[-1].finish_reason == "tool_calls"


def test_context_window_errors(client: openai.OpenAI, group: str, request: pytest.FixtureRequest) -> None:
    fake = fake_of(group, request)
    if group == "claude":
        fake.script(UPSTREAM_MODELS[group], status=400, error={"type": "invalid_request_error",
                                                               "message": "prompt is too long: 208310 tokens > 200000"})
    else:
        fake.script(UPSTREAM_MODELS[group], status=400, error={
            "code": 400, "status": "INVALID_ARGUMENT",
            "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."})
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=group, messages=MESSAGES)
    assert raised.value.code == "context_length_exceeded"


def test_failover_from_anthropic_to_gemini(client: openai.OpenAI, gateway: ServedGateway,
                                           anthropic_fake: FakeAnthropicUpstream,
                                           gemini_fake: FakeGeminiUpstream) -> None:
    anthropic_fake.script("claude-busy", status=529)
    gemini_fake.script("gemini-backup", reply="From Gemini.")
    reply = client.chat.completions.with_raw_response.create(model="claude-or-gemini", messages=MESSAGES)
    assert reply.headers["x-switchpoint-deployment"] == "backup"
    assert reply.parse().choices[0].message.content == "From Gemini."
    attempts = gateway.sink.records[-1].attempts
    assert [(a.deployment, a.status) for a in attempts][-2:] == [("primary", "error"), ("backup", "ok")]
    # A stream that fails right after message_start fails over too: nothing had reached the client yet.
    anthropic_fake.script("claude-busy", error_event_after=2)
    chunks = list(client.chat.completions.create(model="claude-or-gemini", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "From Gemini."
    assert gateway.sink.records[-1].deployment == "backup"


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_rate_limit_headers_pause_the_deployment_until_their_reset(
        anthropic_fake: FakeAnthropicUpstream, gemini_fake: FakeGeminiUpstream, stream: bool) -> None:
    """``anthropic-ratelimit-*`` on an answer (plain or streamed): nothing left means the deployment
    pauses until the reset, and the next requests go to the other deployment without a 429."""
    import datetime

    anthropic_fake.reset()
    gemini_fake.reset()
    reset = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)
    anthropic_fake.script("claude-limited", headers={
        "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": reset.isoformat().replace("+00:00", "Z")})
    claude = {"provider": "anthropic", "api_base": anthropic_fake.base_url, "api_key": ANTHROPIC_KEY}
    gemini = {"provider": "gemini", "api_base": gemini_fake.base_url, "api_key": GEMINI_KEY}
    config = {"models": [{"name": "pair", "deployments": [
        {**claude, "id": "primary", "model": "claude-limited", "weight": 1000},
        {**gemini, "id": "backup", "model": "gemini-backup", "weight": 0.001}]}]}
    with ServedGateway(config) as served, openai.OpenAI(base_url=served.url + "/v1", api_key="x",
                                                        max_retries=0) as client:
        def ask() -> str:
            if stream:
                with client.chat.completions.with_streaming_response.create(
                        model="pair", messages=MESSAGES, stream=True) as raw:
                    for _ in raw.iter_lines():
                        pass
                    return raw.headers["x-switchpoint-deployment"]
            return client.chat.completions.with_raw_response.create(
                model="pair", messages=MESSAGES).headers["x-switchpoint-deployment"]

        assert ask() == "primary"  # its answer says no request is left for about 30 s
        for _ in range(3):
            assert ask() == "backup"
        assert len(anthropic_fake.requests) == 1
        health = served.app.gateway.health()["deployments"]["pair"]
        primary = next(d for d in health if d["id"] == "primary")
        assert primary["state"] == "rate_limited" and primary["upstream_limits"]["limit_requests"] == 50
        assert 20 < primary["cooldown_remaining_s"] <= 30
