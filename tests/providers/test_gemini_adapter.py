"""The Gemini adapter over real HTTP against FakeGeminiUpstream: wire, URLs, headers, errors, streams."""

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
from switchpoint.providers.gemini import GeminiProvider
from switchpoint.testing import FakeGeminiUpstream
from switchpoint.types import ChatRequest, ChatResponse, Deployment, Usage
from tests.providers import adapter_harness as harness
from tests.providers.adapter_harness import TIMEOUTS, Streamed, chat_request, run
from tests.providers.fixtures import cases, check_error, sse_chunks, without_created

MODEL = "gemini-2.5-flash"
KEY = "AIzaSyA-adapter-test-key-0123456789ab"
HI = {"model": "gemini", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGeminiUpstream]:
    with FakeGeminiUpstream(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _reset(fake: FakeGeminiUpstream) -> None:
    fake.reset()


def deployment(fake: FakeGeminiUpstream, **changes: Any) -> Deployment:
    base = Deployment(id="gemini", provider="gemini", model=MODEL, api_base=fake.base_url, api_key=KEY,
                      timeouts=TIMEOUTS)
    return replace(base, **changes)


def request(body: dict[str, Any] | None = None, *, include_usage: bool = False) -> ChatRequest:
    return chat_request(body or HI, include_usage=include_usage)


async def complete(d: Deployment, r: ChatRequest) -> ChatResponse:
    return await harness.complete(GeminiProvider, d, r)


async def stream(d: Deployment, r: ChatRequest) -> Streamed:
    return await harness.stream(GeminiProvider, d, r)


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)


# --- fixtures through the adapter --------------------------------------------------------------


@pytest.mark.parametrize("case", cases("gemini", "request"))
def test_request_fixtures_reach_the_upstream(fake: FakeGeminiUpstream, case: dict[str, Any]) -> None:
    d = deployment(fake)
    assert run(stream(d, request({**case["request"], "stream": True})))[3] is None
    assert fake.requests[-1].path == f"/v1beta/models/{MODEL}:streamGenerateContent"
    run(complete(d, request(case["request"])))
    assert fake.requests[-1].path == f"/v1beta/models/{MODEL}:generateContent"
    assert fake.requests[-1].body == fake.requests[-2].body == case["upstream_request"]


@pytest.mark.parametrize("case", cases("gemini", "response"))
def test_response_fixtures_come_back_translated(fake: FakeGeminiUpstream, case: dict[str, Any]) -> None:
    fake.script(MODEL, raw=orjson.dumps(case["upstream_response"]))
    response = run(complete(deployment(fake), request()))
    assert without_created(response.body) == without_created(case["response"])
    assert response.raw is None and abs(response.body["created"] - time.time()) < 60
    assert response.usage is not None
    assert response.usage.to_openai() == {k: v for k, v in case["response"]["usage"].items()
                                          if k != "completion_tokens_details"}
    assert response.finish_reason == case["response"]["choices"][0]["finish_reason"]


@pytest.mark.parametrize("case", cases("gemini", "stream"))
def test_stream_fixtures_come_back_translated(fake: FakeGeminiUpstream, case: dict[str, Any]) -> None:
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


def test_url_and_headers(fake: FakeGeminiUpstream) -> None:
    run(complete(deployment(fake, headers={"x-goog-user-project": "p1"}), request()))
    sent = fake.requests[-1]
    assert sent.headers["x-goog-api-key"] == KEY and sent.headers["x-goog-user-project"] == "p1"
    assert "Authorization" not in sent.headers and "key=" not in sent.path
    run(stream(deployment(fake, model="models/gemini-x"), request(include_usage=True)))
    assert fake.requests[-1].path == "/v1beta/models/gemini-x:streamGenerateContent"
    assert len(fake.requests_for("gemini-x")) == 1


def test_wildcard_models_get_their_own_urls(fake: FakeGeminiUpstream) -> None:
    async def both() -> None:
        provider = GeminiProvider()
        d = deployment(fake, model="*")
        for model in ("gemini-a", "gemini-b"):
            await provider.complete(request(), d, model)
        await provider.aclose()

    run(both())
    assert [r.path for r in fake.requests] == ["/v1beta/models/gemini-a:generateContent",
                                               "/v1beta/models/gemini-b:generateContent"]


# --- errors ------------------------------------------------------------------------------------


def test_rate_limit_with_retry_after(fake: FakeGeminiUpstream) -> None:
    fake.script(MODEL, status=429, headers={"retry-after": "3"})
    with pytest.raises(ProviderRateLimited) as raised:
        run(complete(deployment(fake), request()))
    assert raised.value.retry_after == 3.0 and raised.value.retryable and "RESOURCE_EXHAUSTED" in raised.value.message


def test_unavailable_then_ok(fake: FakeGeminiUpstream) -> None:
    fake.script(MODEL, status=503, fail_times=1, reply="Back.")
    with pytest.raises(ProviderHTTPError) as raised:
        run(complete(deployment(fake), request()))
    assert raised.value.status == 503 and raised.value.retryable and "UNAVAILABLE" in raised.value.message
    assert run(complete(deployment(fake), request())).body["choices"][0]["message"]["content"] == "Back."


def test_stream_status_errors_are_raised_when_opening(fake: FakeGeminiUpstream) -> None:
    message = "The input token count (9) exceeds the maximum number of tokens allowed (8)."
    fake.script(MODEL, status=400, error={"code": 400, "status": "INVALID_ARGUMENT", "message": message})
    with pytest.raises(ContextWindowExceeded, match="input token count"):
        run(stream(deployment(fake), request(include_usage=True)))


@pytest.mark.parametrize("key", ["AIzaSyA-wrong-key-0123456789abcdefgh", None])
def test_bad_or_missing_key_is_an_auth_error_without_the_key(fake: FakeGeminiUpstream, key: str | None) -> None:
    with pytest.raises(ProviderHTTPError) as raised:
        run(complete(deployment(fake, api_key=key), request()))
    assert raised.value.status == 502 and raised.value.code == "upstream_auth_error" and not raised.value.retryable
    assert "AIza" not in raised.value.message and "not valid" not in raised.value.message


def test_safety_and_blocked_prompts(fake: FakeGeminiUpstream) -> None:
    fake.script(MODEL, stop_reason="SAFETY")
    response = run(complete(deployment(fake), request()))
    assert response.finish_reason == "content_filter" and response.body["choices"][0]["message"]["content"] == ""
    fake.script(MODEL, block_reason="PROHIBITED_CONTENT", prompt_tokens=4)
    blocks, usage, finish, error = run(stream(deployment(fake), request(include_usage=True)))
    assert error is None and finish == "content_filter" and usage is not None and usage.prompt_tokens == 4
    assert [c["choices"][0]["finish_reason"] for c in sse_chunks(blocks) if c["choices"]] == [None, "content_filter"]


def test_invalid_json_and_malformed_answers_are_protocol_errors(fake: FakeGeminiUpstream) -> None:
    fake.script(MODEL, raw=b"<html>oops</html>")
    with pytest.raises(ProviderProtocolError, match="invalid JSON"):
        run(complete(deployment(fake), request()))
    fake.script(MODEL, raw=b'{"usageMetadata": {}}')
    with pytest.raises(ProviderProtocolError, match="no candidates"):
        run(complete(deployment(fake), request()))


# --- streams -----------------------------------------------------------------------------------


def test_stream_of_the_fake(fake: FakeGeminiUpstream) -> None:
    fake.script(MODEL, reply="one two three", prompt_tokens=70, cached_tokens=50, thoughts_tokens=4)
    blocks, usage, finish, error = run(stream(deployment(fake), request(include_usage=True)))
    chunks = sse_chunks(blocks)
    assert error is None and finish == "stop"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "one two three"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 4}
    assert usage == Usage(prompt_tokens=70, completion_tokens=7, total_tokens=77, cached_tokens=50)
    assert fake.requests[-1].path.endswith(":streamGenerateContent")


def test_streamed_tool_calls_and_signatures(fake: FakeGeminiUpstream) -> None:
    call = {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    fake.script(MODEL, tool_calls=[call, call], thought_signature="c2ln")
    blocks, _, finish, _ = run(stream(deployment(fake), request()))
    calls = [t for c in sse_chunks(blocks) for t in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [(t["index"], t["id"], t["function"]["arguments"]) for t in calls] == [
        (0, "call_0_get_weather", '{"city":"Paris"}'), (1, "call_1_get_weather", '{"city":"Paris"}')]
    assert calls[0]["extra_content"] == {"google": {"thought_signature": "c2ln"}} and "extra_content" not in calls[1]
    assert finish == "tool_calls"


def test_a_stream_error_before_any_output_allows_failover(fake: FakeGeminiUpstream) -> None:
    fake.script(MODEL, error_event_after=0)
    blocks, _, _, error = run(stream(deployment(fake), request()))
    assert blocks == [] and isinstance(error, ProviderHTTPError) and error.retryable and error.status == 503


def test_chunks_before_a_mid_stream_error_are_relayed(fake: FakeGeminiUpstream) -> None:
    fake.script(MODEL, reply="a b c d", error_event_after=2, chunk_delay=0.2)  # see the Anthropic twin
    blocks, _, finish, error = run(stream(deployment(fake), request()))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in sse_chunks(blocks))
    assert text == "a b" and finish is None
    assert isinstance(error, ProviderHTTPError) and error.status == 503 and "mid-stream" in error.message


def test_stream_without_an_end_is_a_protocol_error(fake: FakeGeminiUpstream) -> None:
    fake.script(MODEL, raw=sse([{"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}]))
    _, _, _, error = run(stream(deployment(fake), request()))
    assert isinstance(error, ProviderProtocolError) and "before it finished" in error.message
