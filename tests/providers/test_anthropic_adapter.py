"""The Anthropic adapter over real HTTP against FakeAnthropicUpstream: wire, headers, errors, streams."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest

from switchpoint.errors import (
    ContextWindowExceeded,
    ProviderError,
    ProviderHTTPError,
    ProviderProtocolError,
    ProviderRateLimited,
)
from switchpoint.providers.anthropic import AnthropicProvider
from switchpoint.testing import FakeAnthropicUpstream
from switchpoint.types import ChatRequest, ChatResponse, Deployment, Usage
from tests.providers import adapter_harness as harness
from tests.providers.adapter_harness import TIMEOUTS, Streamed, chat_request, run
from tests.providers.fixtures import cases, check_error, sse_chunks, without_created

MODEL = "claude-sonnet-4-5"
KEY = "sk-ant-api03-adapter-test-0123456789"
HI = {"model": "claude", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropicUpstream]:
    with FakeAnthropicUpstream(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _reset(fake: FakeAnthropicUpstream) -> None:
    fake.reset()


def deployment(fake: FakeAnthropicUpstream, **changes: Any) -> Deployment:
    base = Deployment(id="claude", provider="anthropic", model=MODEL, api_base=fake.base_url, api_key=KEY,
                      timeouts=TIMEOUTS)
    return replace(base, **changes)


def request(body: dict[str, Any] | None = None, *, include_usage: bool = False) -> ChatRequest:
    return chat_request(body or HI, include_usage=include_usage)


async def complete(d: Deployment, r: ChatRequest) -> ChatResponse:
    return await harness.complete(AnthropicProvider, d, r)


async def stream(d: Deployment, r: ChatRequest) -> Streamed:
    return await harness.stream(AnthropicProvider, d, r)


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)


# --- fixtures through the adapter --------------------------------------------------------------


@pytest.mark.parametrize("case", cases("anthropic", "request"))
def test_request_fixtures_reach_the_upstream(fake: FakeAnthropicUpstream, case: dict[str, Any]) -> None:
    d = deployment(fake, options=case.get("options", {}))
    r = request({**case["request"], "stream": case["stream"]})
    if case["stream"]:
        assert run(stream(d, r))[3] is None
    else:
        run(complete(d, r))
    assert fake.requests[-1].body == case["upstream_request"]


@pytest.mark.parametrize("case", cases("anthropic", "response"))
def test_response_fixtures_come_back_translated(fake: FakeAnthropicUpstream, case: dict[str, Any]) -> None:
    fake.script(MODEL, raw=orjson.dumps(case["upstream_response"]))
    response = run(complete(deployment(fake), request()))
    assert without_created(response.body) == without_created(case["response"])
    assert response.raw is None and abs(response.body["created"] - time.time()) < 60
    assert response.usage is not None and response.usage.to_openai() == case["response"]["usage"]
    assert response.finish_reason == case["response"]["choices"][0]["finish_reason"]


@pytest.mark.parametrize("case", cases("anthropic", "stream"))
def test_stream_fixtures_come_back_translated(fake: FakeAnthropicUpstream, case: dict[str, Any]) -> None:
    fake.script(MODEL, raw=sse(case["events"]))
    blocks, usage, finish, error = run(stream(deployment(fake), request(include_usage=case["include_usage"])))
    if "error" in case:
        # Every event arrived in one read: nothing was relayed yet, so the error comes alone (fail-over is possible).
        assert blocks == [] and isinstance(error, ProviderError)
        check_error(error, case["error"])
        return
    assert error is None
    assert without_created(sse_chunks(blocks)) == without_created(case["chunks"])
    assert usage is not None and case["usage"] == {
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens}
    assert finish == case["finish_reason"]


# --- headers and options -----------------------------------------------------------------------


def test_headers(fake: FakeAnthropicUpstream) -> None:
    run(complete(deployment(fake, headers={"anthropic-beta": "some-feature"}), request()))
    headers = fake.requests[-1].headers
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"
    assert headers["anthropic-beta"] == "some-feature" and "Authorization" not in headers
    assert fake.requests[-1].path == "/v1/messages"


def test_anthropic_version_option(fake: FakeAnthropicUpstream) -> None:
    run(complete(deployment(fake, options={"anthropic_version": "2099-01-01"}), request()))
    assert fake.requests[-1].headers["anthropic-version"] == "2099-01-01"


# --- errors ------------------------------------------------------------------------------------


def test_rate_limit_with_retry_after(fake: FakeAnthropicUpstream) -> None:
    fake.script(MODEL, status=429, headers={"retry-after": "3"})
    with pytest.raises(ProviderRateLimited) as raised:
        run(complete(deployment(fake), request()))
    assert raised.value.retry_after == 3.0 and raised.value.retryable


def test_overloaded_then_ok(fake: FakeAnthropicUpstream) -> None:
    fake.script(MODEL, status=529, fail_times=1, reply="Back.")
    with pytest.raises(ProviderHTTPError) as raised:
        run(complete(deployment(fake), request()))
    assert raised.value.status == 503 and raised.value.retryable and "overloaded_error" in raised.value.message
    assert run(complete(deployment(fake), request())).body["choices"][0]["message"]["content"] == "Back."


def test_stream_status_errors_are_raised_when_opening(fake: FakeAnthropicUpstream) -> None:
    fake.script(MODEL, status=400, error={"type": "invalid_request_error", "message": "prompt is too long: 9 > 8"})
    with pytest.raises(ContextWindowExceeded, match="prompt is too long"):
        run(stream(deployment(fake), request(include_usage=True)))


def test_wrong_key_is_an_auth_error_without_the_key(fake: FakeAnthropicUpstream) -> None:
    wrong = "sk-ant-api03-wrong-key-0123456789"
    with pytest.raises(ProviderHTTPError) as raised:
        run(complete(deployment(fake, api_key=wrong), request()))
    assert raised.value.status_code == 401 and raised.value.status == 502 and not raised.value.retryable
    assert wrong not in raised.value.message and "invalid x-api-key" not in raised.value.message


def test_invalid_json_and_malformed_answers_are_protocol_errors(fake: FakeAnthropicUpstream) -> None:
    fake.script(MODEL, raw=b"<html>oops</html>")
    with pytest.raises(ProviderProtocolError, match="invalid JSON"):
        run(complete(deployment(fake), request()))
    fake.script(MODEL, raw=b'{"type": "message"}')
    with pytest.raises(ProviderProtocolError, match="without content"):
        run(complete(deployment(fake), request()))


# --- streams -----------------------------------------------------------------------------------


def test_stream_of_the_fake(fake: FakeAnthropicUpstream) -> None:
    fake.script(MODEL, reply="one two three", prompt_tokens=7, cache_read_tokens=100, cache_creation_tokens=20)
    blocks, usage, finish, error = run(stream(deployment(fake), request(include_usage=True)))
    chunks = sse_chunks(blocks)
    assert error is None and finish == "stop"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "one two three"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 127
    assert usage == Usage(prompt_tokens=127, completion_tokens=3, total_tokens=130, cached_tokens=100,
                          cache_creation_tokens=20)
    assert fake.requests[-1].body["stream"] is True


@pytest.mark.parametrize("after", [0, 2])
def test_a_stream_error_before_any_output_allows_failover(fake: FakeAnthropicUpstream, after: int) -> None:
    # after=2: message_start and a ping came first; the role chunk alone is held back, so nothing was sent.
    fake.script(MODEL, error_event_after=after)
    blocks, _, _, error = run(stream(deployment(fake), request()))
    assert blocks == [] and isinstance(error, ProviderHTTPError) and error.retryable and error.status == 503


def test_the_role_chunk_goes_out_with_the_first_output(fake: FakeAnthropicUpstream) -> None:
    fake.script(MODEL, reply="a b", chunk_delay=0.02)
    blocks, _, _, _ = run(stream(deployment(fake), request()))
    first = sse_chunks(blocks[:1])
    assert [c["choices"][0]["delta"] for c in first] == [{"role": "assistant", "content": ""}, {"content": "a"}]
    assert sum("role" in c["choices"][0]["delta"] for c in sse_chunks(blocks)) == 1


def test_chunks_before_a_mid_stream_error_are_relayed(fake: FakeAnthropicUpstream) -> None:
    # 0.2 s between events: the first chunks are read (and relayed) before the error arrives, even on a
    # loaded machine; an error in the very first read would rightly be raised before anything is relayed
    fake.script(MODEL, reply="a b c d", error_event_after=5, chunk_delay=0.2, error_type="api_error")
    blocks, _, finish, error = run(stream(deployment(fake), request()))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in sse_chunks(blocks))
    assert text == "a b" and finish is None
    assert isinstance(error, ProviderHTTPError) and error.status_code == 500 and "mid-stream" in error.message


def test_stream_without_an_end_is_a_protocol_error(fake: FakeAnthropicUpstream) -> None:
    start = {"type": "message_start", "message": {"id": "m", "model": MODEL, "content": [],
                                                  "usage": {"input_tokens": 1, "output_tokens": 1}}}
    fake.script(MODEL, raw=sse([start]))
    _, _, _, error = run(stream(deployment(fake), request()))
    assert isinstance(error, ProviderProtocolError) and "before it finished" in error.message
