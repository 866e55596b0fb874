"""OpenAI ⇄ Anthropic Messages translation: the committed fixtures both ways, and the edge cases."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from switchpoint.errors import InvalidRequest, ProviderError
from switchpoint.providers.anthropic import _event_error, _status_error
from switchpoint.providers.translate.anthropic import (
    AnthropicStreamTranslator,
    finish_reason,
    response_from_anthropic,
    to_anthropic_request,
    usage_from_anthropic,
)
from switchpoint.providers.translate.common import MalformedUpstream, UpstreamErrorEvent, chunk, encode_events
from switchpoint.types import Deployment, Price, Usage
from tests.providers.fixtures import CREATED, cases, check_error, sse_chunks

MODEL = "claude-sonnet-4-5"
DEPLOYMENT = Deployment(id="claude", provider="anthropic", model=MODEL, api_base="http://127.0.0.1:9/v1",
                        api_key="sk-ant-api03-secret-0123456789")
HI = [{"role": "user", "content": "Hi"}]


def _request(body: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    return to_anthropic_request({"model": "x", **body}, MODEL, stream=stream)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", cases("anthropic", "request"))
def test_request_fixtures(case: dict[str, Any]) -> None:
    default = case.get("options", {}).get("default_max_tokens", 4096)
    assert to_anthropic_request(case["request"], MODEL, stream=case["stream"], default_max_tokens=default) == (
        case["upstream_request"]
    )


@pytest.mark.parametrize("case", cases("anthropic", "response"))
def test_response_fixtures(case: dict[str, Any]) -> None:
    body, usage, finish = response_from_anthropic(case["upstream_response"], created=CREATED)
    assert body == case["response"]
    assert usage is not None and usage.to_openai() == case["response"]["usage"]
    assert finish == case["response"]["choices"][0]["finish_reason"]


@pytest.mark.parametrize("case", cases("anthropic", "stream"))
def test_stream_fixtures(case: dict[str, Any]) -> None:
    translator = AnthropicStreamTranslator(created=CREATED, model=MODEL, include_usage=case["include_usage"])
    chunks: list[dict[str, Any]] = []
    if "error" in case:
        with pytest.raises(UpstreamErrorEvent) as raised:
            for event in case["events"]:
                chunks.extend(sse_chunks([translator.feed(event)]))
        check_error(_event_error(DEPLOYMENT, raised.value), case["error"])
    else:
        for event in case["events"]:
            chunks.extend(sse_chunks([translator.feed(event)]))
        chunks.extend(sse_chunks([translator.end()]))
        usage = translator.usage
        assert usage is not None
        assert case["usage"] == {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                                 "cached_tokens": usage.cached_tokens}
        assert translator.finish_reason == case["finish_reason"] and translator.complete
    assert chunks == case["chunks"]


@pytest.mark.parametrize("case", cases("anthropic", "error"))
def test_error_fixtures(case: dict[str, Any]) -> None:
    headers = CIMultiDictProxy(CIMultiDict(case["headers"]))
    error = _status_error(DEPLOYMENT, case["status"], orjson.dumps(case["body"]), headers)
    check_error(error, case["expected"])
    assert DEPLOYMENT.api_key not in error.message  # type: ignore[operator]


# --- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, True, None),
    ],
)
def test_tool_choice(choice: Any, parallel: Any, expected: dict[str, Any] | None) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    sent = _request({"messages": HI, "tools": tools, "tool_choice": choice, "parallel_tool_calls": parallel})
    assert sent.get("tool_choice") == expected
    assert sent["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


def test_tool_choice_without_tools_is_not_sent() -> None:
    assert "tool_choice" not in _request({"messages": HI, "tool_choice": "auto"})


def test_max_tokens_precedence() -> None:
    assert _request({"messages": HI})["max_tokens"] == 4096
    assert _request({"messages": HI, "max_tokens": 10})["max_tokens"] == 10
    assert _request({"messages": HI, "max_tokens": 10, "max_completion_tokens": 20})["max_tokens"] == 20


def test_native_fields_pass_through() -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    sent = _request({"messages": HI, "top_k": 5, "thinking": thinking, "seed": 1, "logprobs": True})
    assert sent["top_k"] == 5 and sent["thinking"] == thinking
    assert "seed" not in sent and "logprobs" not in sent  # OpenAI-only fields are not forwarded


def test_json_object_has_no_native_equivalent() -> None:
    assert "output_config" not in _request({"messages": HI, "response_format": {"type": "json_object"}})


def test_assistant_turn_without_content_is_dropped() -> None:
    sent = _request({"messages": [*HI, {"role": "assistant", "content": ""}, {"role": "user", "content": "Hey"}]})
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                             {"type": "text", "text": "Hey"}]}]


def test_tool_result_content_list_and_empty() -> None:
    messages = [*HI, {"role": "assistant", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": ""}]
    sent = _request({"messages": messages})
    assert sent["messages"][-1] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": HI, "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
         "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f-1"}}]}]},
         "messages[0].content[0]"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         "messages[0].content[0]"),
        ({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
        ({"messages": [{"role": "assistant", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}, "messages[0].tool_calls[0].id"),
        ({"messages": HI, "tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"messages": HI, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "sometimes"},
         "tool_choice"),
    ],
)
def test_requests_anthropic_cannot_express_are_clear_400s(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        _request(body)
    assert raised.value.param == param


# --- responses and usage -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
     ("refusal", "content_filter"), ("pause_turn", "stop"), ("model_context_window_exceeded", "length"),
     ("some_future_reason", "stop"), (None, None)],
)
def test_finish_reasons(stop_reason: str | None, finish: str | None) -> None:
    assert finish_reason(stop_reason) == finish


def test_cache_tokens_are_priced_reads_at_the_cached_rate_and_writes_at_1_25x_the_input_rate() -> None:
    data = {"id": "m", "model": MODEL, "content": [{"type": "text", "text": "x"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 1000,
                      "output_tokens": 9}}
    _, usage, _ = response_from_anthropic(data, created=CREATED)
    assert usage is not None and (usage.cache_creation_tokens, usage.cache_creation_1h_tokens) == (200, 0)
    price = Price(input=3.0, output=15.0, cached_input=0.3)
    assert price.cost(usage) == pytest.approx((12 * 3.0 + 200 * 3.75 + 1000 * 0.3 + 9 * 15.0) / 1e6)
    configured = Price(input=3.0, output=15.0, cached_input=0.3, cache_write=5.0)
    assert configured.cost(usage) == pytest.approx((12 * 3.0 + 200 * 5.0 + 1000 * 0.3 + 9 * 15.0) / 1e6)


@pytest.mark.parametrize(
    ("usage", "written", "hour"),
    [
        ({"cache_creation_input_tokens": 300,
          "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}}, 300, 200),
        ({"cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}}, 300, 200),
        ({"cache_creation_input_tokens": 50, "cache_creation": {"ephemeral_1h_input_tokens": 50}}, 50, 50),
        ({"cache_creation_input_tokens": 50, "cache_creation": None}, 50, 0),
        ({"cache_creation_input_tokens": 10, "cache_creation": {"ephemeral_1h_input_tokens": 99}}, 10, 10),
        ({"cache_creation_input_tokens": True, "cache_creation": {"ephemeral_1h_input_tokens": "9"}}, 0, 0),
    ],
    ids=["both-ttls", "breakdown-only", "1h-only", "null-breakdown", "inconsistent-capped", "wrong-types"],
)
def test_cache_write_breakdown(usage: dict[str, Any], written: int, hour: int) -> None:
    parsed = usage_from_anthropic({"input_tokens": 10, "output_tokens": 5, **usage})
    assert parsed is not None
    assert (parsed.prompt_tokens, parsed.cache_creation_tokens, parsed.cache_creation_1h_tokens) == (
        10 + written, written, hour)
    # 1-hour writes cost 2x the input rate, 5-minute writes 1.25x, unless configured.
    expected = (10 * 3.0 + (written - hour) * 3.75 + hour * 6.0 + 5 * 15.0) / 1e6
    assert Price(input=3.0, output=15.0).cost(parsed) == pytest.approx(expected)
    expected = (10 * 3.0 + (written - hour) * 4.0 + hour * 7.0 + 5 * 15.0) / 1e6
    assert Price(input=3.0, output=15.0, cache_write=4.0, cache_write_1h=7.0).cost(parsed) == pytest.approx(expected)


def test_cache_writes_reach_the_openai_usage_as_cache_write_tokens() -> None:
    usage = usage_from_anthropic({"input_tokens": 1, "cache_creation_input_tokens": 7, "output_tokens": 2})
    assert usage is not None
    assert usage.to_openai() == {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10,
                                 "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 7}}
    assert Usage.from_openai(usage.to_openai()) == Usage(8, 2, 10, 0, 7)  # the 1-hour split is not in this format


def test_stream_cache_writes_from_message_start_and_delta() -> None:
    translator = AnthropicStreamTranslator(created=CREATED)
    translator.feed({"type": "message_start", "message": {"id": "m", "usage": {
        "input_tokens": 4, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 0, "output_tokens": 1,
        "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}}}})
    start = translator.usage
    assert start is not None and (start.cache_creation_tokens, start.cache_creation_1h_tokens) == (30, 20)
    # message_delta may repeat the cumulative counts; the latest value of each wins.
    translator.feed({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                     "usage": {"output_tokens": 6, "cache_creation_input_tokens": 30}})
    usage = translator.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (34, 6)
    assert (usage.cache_creation_tokens, usage.cache_creation_1h_tokens) == (30, 20)


def test_thinking_blocks_become_reasoning_content() -> None:
    data = {"id": "m", "model": MODEL, "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1},
            "content": [{"type": "thinking", "thinking": "Hmm.", "signature": "sig"}, {"type": "text", "text": "Yes"}]}
    body, _, _ = response_from_anthropic(data, created=CREATED)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Yes", "reasoning_content": "Hmm."}


@pytest.mark.parametrize("data", [None, [], {"type": "message"}, {"content": "text"}])
def test_malformed_responses(data: Any) -> None:
    with pytest.raises(MalformedUpstream):
        response_from_anthropic(data, created=CREATED)


# --- streams -----------------------------------------------------------------------------------

START = {"type": "message_start", "message": {"id": "m1", "model": MODEL, "content": [],
                                              "usage": {"input_tokens": 5, "output_tokens": 1}}}


def test_stream_usage_is_cumulative_and_hidden_unless_asked() -> None:
    translator = AnthropicStreamTranslator(created=CREATED, include_usage=False)
    translator.feed(START)
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
             "usage": {"input_tokens": 7, "cache_read_input_tokens": 3, "output_tokens": 4}}
    assert sse_chunks([translator.feed(delta)])[-1]["choices"][0]["finish_reason"] == "stop"
    assert translator.feed({"type": "message_stop"}) == b"" and translator.end() == b""
    usage = translator.usage
    assert usage is not None and (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (10, 3, 4)


def test_stream_state_before_the_end() -> None:
    translator = AnthropicStreamTranslator(created=CREATED, include_usage=True)
    assert translator.usage is None and not translator.complete and translator.end() == b""
    translator.feed(START)
    assert translator.feed({"type": "some_new_event", "data": 1}) == b""
    assert translator.feed({"type": "content_block_start", "index": 0,
                            "content_block": {"type": "thinking", "thinking": ""}}) == b""
    chunks = sse_chunks([translator.feed({"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "thinking_delta", "thinking": "Hm"}})])
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""},
                                                          {"reasoning_content": "Hm"}]
    assert translator.feed({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "signature_delta", "signature": "s"}}) == b""
    assert not translator.complete and translator.end() == b""  # no usage chunk for an unfinished stream


@pytest.mark.parametrize(
    "event",
    [{"type": "message_start"}, {"type": "content_block_start", "index": 0},
     {"type": "content_block_delta", "index": 0}],
)
def test_malformed_stream_events(event: dict[str, Any]) -> None:
    with pytest.raises(MalformedUpstream):
        AnthropicStreamTranslator(created=CREATED).feed(event)


@pytest.mark.parametrize(
    ("error_type", "cls", "status"),
    [("overloaded_error", "ProviderHTTPError", 503), ("rate_limit_error", "ProviderRateLimited", 429),
     ("api_error", "ProviderHTTPError", 502), ("invalid_request_error", "ProviderHTTPError", 400),
     ("brand_new_error", "ProviderHTTPError", 502)],
)
def test_stream_error_events(error_type: str, cls: str, status: int) -> None:
    translator = AnthropicStreamTranslator(created=CREATED)
    with pytest.raises(UpstreamErrorEvent) as raised:
        translator.feed({"type": "error", "error": {"type": error_type, "message": "boom"}})
    error: ProviderError = _event_error(DEPLOYMENT, raised.value)
    assert type(error).__name__ == cls and error.status == status and "boom" in error.message


# --- the byte templates of the stream fast path --------------------------------------------------


def _started(message_id: str = "m1", model: str = MODEL) -> AnthropicStreamTranslator:
    translator = AnthropicStreamTranslator(created=CREATED, include_usage=True)
    start = {"type": "message_start", "message": {"id": message_id, "model": model, "content": [],
                                                  "usage": {"input_tokens": 5, "output_tokens": 1}}}
    assert translator.feed(start) == b""  # the role chunk waits for the first output
    return translator


def _expected(delta: dict[str, Any], finish: str | None = None, message_id: str = "m1",
              model: str = MODEL) -> bytes:
    """What the dict-building path gives for the same chunk: the bytes must be identical."""
    return encode_events([chunk({"id": message_id, "created": CREATED, "model": model}, delta, finish)])


ROLE = {"role": "assistant", "content": ""}
TEXTS = ["", "plain", "héllo wörld ✓ 中文 😀", 'say "hi"', "back\\slash", "line\nbreak\r\ttab",
         "\x00\x01\x1f\x7f", "\u2028\u2029", "</script>", "{\"not\": \"json\"}", "a" * 5000]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_text_deltas_are_byte_identical_to_the_encoded_chunk(text: str) -> None:
    translator = _started()
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    assert translator.feed(delta) == _expected(ROLE) + _expected({"content": text})
    assert translator.feed(delta) == _expected({"content": text})
    assert sse_chunks([_expected({"content": text})])[0]["choices"][0]["delta"]["content"] == text


@pytest.mark.parametrize(("message_id", "model"), [("msg_\"q\"", "cl\\aude"), ("msg_é", "模型"), ("", "")])
def test_the_rendered_head_escapes_id_and_model(message_id: str, model: str) -> None:
    translator = AnthropicStreamTranslator(created=CREATED, model="fallback")
    translator.feed({"type": "message_start", "message": {"id": message_id, "model": model}})
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
    model = model or "fallback"  # an empty model keeps the one the request named
    assert translator.feed(delta) == (_expected(ROLE, message_id=message_id, model=model)
                                      + _expected({"content": "x"}, message_id=message_id, model=model))


def test_a_text_delta_without_text_is_empty_content() -> None:
    translator = _started()
    for delta in ({"type": "text_delta"}, {"type": "text_delta", "text": None}, {"type": "text_delta", "text": 3}):
        out = translator.feed({"type": "content_block_delta", "index": 0, "delta": delta})
        assert sse_chunks([out])[-1]["choices"][0]["delta"] == {"content": ""}


def test_tool_argument_deltas_are_byte_identical() -> None:
    translator = _started()
    start = {"type": "content_block_start", "index": 1,
             "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}
    call = {"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    assert translator.feed(start) == _expected(ROLE) + _expected({"tool_calls": [call]})
    for piece in ['{"city": "Pa', 'ris \\"Fr\\"', ' é 😀"}']:
        delta = {"type": "content_block_delta", "index": 1,
                 "delta": {"type": "input_json_delta", "partial_json": piece}}
        assert translator.feed(delta) == _expected({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    # An argument delta for a block that is not a tool call, or an empty one, makes nothing.
    assert translator.feed({"type": "content_block_delta", "index": 7,
                            "delta": {"type": "input_json_delta", "partial_json": "{}"}}) == b""
    assert translator.feed({"type": "content_block_delta", "index": 1,
                            "delta": {"type": "input_json_delta", "partial_json": ""}}) == b""


@pytest.mark.parametrize(
    "event",
    [{"type": "ping"}, {"type": "content_block_stop", "index": 0}, {"type": "brand_new_event", "x": [1]},
     {"no_type": True}, {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta"}},
     {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 3}}],
    ids=["ping", "block_stop", "unknown", "untyped", "citations", "usage-only-delta"],
)
def test_events_that_make_nothing_keep_the_role_chunk_waiting(event: dict[str, Any]) -> None:
    translator = _started()
    assert translator.feed(event) == b""
    finish = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
    assert translator.feed(finish) == _expected(ROLE) + _expected({}, "stop")


def test_a_stream_with_no_output_still_sends_the_role_chunk_at_its_end() -> None:
    translator = AnthropicStreamTranslator(created=CREATED, model=MODEL)
    translator.feed(START)
    assert translator.feed({"type": "message_stop"}) == _expected(ROLE) and translator.done
    assert translator.end() == b""


def test_usage_is_recomputed_only_when_it_changes() -> None:
    translator = _started()
    first = translator.usage
    assert first is not None and translator.usage is first
    translator.feed({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}})
    second = translator.usage
    assert second is not None and second is not first and second.completion_tokens == 9


def test_chunks_before_any_message_start_use_the_requested_model() -> None:
    translator = AnthropicStreamTranslator(created=CREATED, model="asked")
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
    assert translator.feed(delta) == _expected({"content": "x"}, message_id="", model="asked")
    translator = AnthropicStreamTranslator(created=CREATED, model="asked")
    finish = {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}}
    assert translator.feed(finish) == _expected({}, "length", message_id="", model="asked")
