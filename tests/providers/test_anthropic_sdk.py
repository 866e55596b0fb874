"""The official ``anthropic`` SDK vouches for the wire fidelity of the fixtures and of the fake.

The SDK's own models must accept every committed upstream response and stream event, and the SDK's
client must read FakeAnthropicUpstream's answers, streams and errors as it reads Anthropic's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from switchpoint.testing import FakeAnthropicUpstream
from tests.providers.fixtures import cases

anthropic = pytest.importorskip("anthropic")

KEY = "sk-ant-api03-sdk-test-0123456789"
HI = [{"role": "user", "content": "Hi"}]
CALL = {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


@pytest.mark.parametrize("case", cases("anthropic", "response"))
def test_response_fixtures_follow_the_sdk_models(case: dict[str, Any]) -> None:
    anthropic.types.Message.model_validate(case["upstream_response"])


@pytest.mark.parametrize("case", cases("anthropic", "stream"))
def test_stream_fixtures_follow_the_sdk_models(case: dict[str, Any]) -> None:
    import pydantic

    events: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)
    for event in case["events"]:
        if event["type"] == "error":
            anthropic.types.ErrorResponse.model_validate(event)
        elif event["type"] != "ping":
            events.validate_python(event)


@pytest.mark.parametrize("case", cases("anthropic", "error"))
def test_error_fixtures_follow_the_sdk_models(case: dict[str, Any]) -> None:
    anthropic.types.ErrorResponse.model_validate(case["body"])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropicUpstream]:
    with FakeAnthropicUpstream(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture
def client(fake: FakeAnthropicUpstream) -> Iterator[Any]:
    fake.reset()
    with anthropic.Anthropic(base_url=fake.base_url.removesuffix("/v1"), api_key=KEY, max_retries=0) as c:
        yield c


def test_sdk_reads_the_fakes_message(client: Any, fake: FakeAnthropicUpstream) -> None:
    fake.script("m", reply="Hello there", prompt_tokens=9, cache_read_tokens=4, cache_creation_tokens=2)
    message = client.messages.create(model="m", max_tokens=10, messages=HI)
    assert message.content[0].text == "Hello there" and message.stop_reason == "end_turn"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (9, 2)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (4, 2)


def test_sdk_reads_the_fakes_streams(client: Any, fake: FakeAnthropicUpstream) -> None:
    fake.script("m", reply="one two three", stop_reason="stop_sequence")
    with client.messages.stream(model="m", max_tokens=10, messages=HI, stop_sequences=["four"]) as stream:
        assert "".join(stream.text_stream) == "one two three"
        final = stream.get_final_message()
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == "four" and final.usage.output_tokens == 3
    fake.script("m", tool_calls=[CALL, {**CALL, "id": "toolu_2", "function": {"name": "get_time", "arguments": ""}}])
    with client.messages.stream(model="m", max_tokens=10, messages=HI) as stream:
        final = stream.get_final_message()
    assert [(b.type, b.id, b.name, b.input) for b in final.content] == [
        ("tool_use", "toolu_1", "get_weather", {"city": "Paris"}), ("tool_use", "toolu_2", "get_time", {})]
    assert final.stop_reason == "tool_use"


def test_sdk_reads_the_fakes_errors(client: Any, fake: FakeAnthropicUpstream) -> None:
    fake.script("m", status=529)
    with pytest.raises(anthropic.APIStatusError) as raised:
        client.messages.create(model="m", max_tokens=10, messages=HI)
    assert raised.value.status_code == 529 and raised.value.type == "overloaded_error"
    fake.script("m", error_event_after=2)
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        with client.messages.stream(model="m", max_tokens=10, messages=HI) as stream:
            stream.get_final_message()
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=fake.base_url.removesuffix("/v1"), api_key="wrong", max_retries=0).messages.create(
            model="m", max_tokens=10, messages=HI)
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Field required"):
        client.post("/v1/messages", body={"model": "m", "messages": HI}, cast_to=object)
