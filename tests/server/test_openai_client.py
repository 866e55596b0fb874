"""The official ``openai`` package, unchanged, against a served gateway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import openai
import pytest

from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway, chat_config

MESSAGES = [{"role": "user", "content": "What's the weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


@pytest.fixture
def gateway(upstream: FakeOpenAIUpstream) -> Iterator[ServedGateway]:
    with ServedGateway(chat_config(upstream, master_key="sk-gw-key")) as served:
        yield served


@pytest.fixture
def client(gateway: ServedGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-gw-key", max_retries=0) as c:
        yield c


def test_chat_completion(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", reply="Sunny.", prompt_tokens=12)
    reply = client.chat.completions.create(model="chat", messages=MESSAGES, max_tokens=16)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Sunny."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens == 12


def test_streaming(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", reply="It is sunny today")
    stream = client.chat.completions.create(model="chat", messages=MESSAGES, stream=True,  # type: ignore[arg-type]
                                            stream_options={"include_usage": True})
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert text == "It is sunny today"
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == 4


def test_tool_call_round_trip(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", tool_calls=[CALL])
    first = client.chat.completions.create(model="chat", messages=MESSAGES, tools=[WEATHER_TOOL])  # type: ignore[arg-type,list-item]
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    upstream.script("up-chat", reply="It is 21 degrees in Paris.")
    follow_up = [*MESSAGES, first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'}]
    second = client.chat.completions.create(model="chat", messages=follow_up, tools=[WEATHER_TOOL])  # type: ignore[arg-type,list-item]
    assert second.choices[0].message.content == "It is 21 degrees in Paris."
    sent = upstream.requests[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1" and sent[2]["role"] == "tool"


def test_streamed_tool_call_arguments_arrive_in_pieces(client: openai.OpenAI, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", tool_calls=[CALL])
    stream = client.chat.completions.create(model="chat", messages=MESSAGES, tools=[WEATHER_TOOL],  # type: ignore[arg-type,list-item]
                                            stream=True)
    arguments, name, finish = "", None, None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for tool_call in delta.tool_calls or []:
            name = (tool_call.function.name if tool_call.function else None) or name
            arguments += (tool_call.function.arguments if tool_call.function else None) or ""
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather" and json.loads(arguments) == {"city": "Paris"} and finish == "tool_calls"


def test_errors_surface_as_openai_exceptions(client: openai.OpenAI, gateway: ServedGateway,
                                             upstream: FakeOpenAIUpstream) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert not_found.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="chat", messages=MESSAGES, temperature=7)  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway.url + "/v1", api_key="wrong", max_retries=0).models.list()
    upstream.script("up-chat", status=429, headers={"Retry-After": "1"})
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]


def test_models_list(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["chat", "pair"]


def test_async_client_concurrently(gateway: ServedGateway, upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", reply="ok", latency=0.05)

    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="sk-gw-key") as c:
            replies = await asyncio.gather(*[
                c.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
                for _ in range(50)
            ])
            return [r.choices[0].message.content or "" for r in replies]

    assert asyncio.run(run()) == ["ok"] * 50
    assert len([r for r in gateway.sink.records if r.status == 200]) == 50
