"""OpenAI ⇄ Gemini generateContent translation: the committed fixtures both ways, and the edge cases."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from switchpoint.errors import InvalidRequest
from switchpoint.providers.gemini import _event_error, _status_error
from switchpoint.providers.translate.common import MalformedUpstream, UpstreamErrorEvent
from switchpoint.providers.translate.gemini import (
    SKIP_SIGNATURE,
    GeminiStreamTranslator,
    finish_reason,
    response_from_gemini,
    to_gemini_request,
)
from switchpoint.types import Deployment, Price
from tests.providers.fixtures import CREATED, cases, check_error, sse_chunks

MODEL = "gemini-2.5-flash"
DEPLOYMENT = Deployment(id="gemini", provider="gemini", model=MODEL, api_base="http://127.0.0.1:9/v1beta",
                        api_key="AIzaSyA-secret-key-0123456789abcdef")
HI = [{"role": "user", "content": "Hi"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def _translate(events: list[dict[str, Any]], include_usage: bool = False) -> tuple[GeminiStreamTranslator, list[Any]]:
    translator = GeminiStreamTranslator(created=CREATED, model=MODEL, response_id="chatcmpl-test",
                                        include_usage=include_usage)
    chunks = sse_chunks([translator.feed(event) for event in events])
    return translator, chunks + sse_chunks([translator.end()])


# --- fixtures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", cases("gemini", "request"))
def test_request_fixtures(case: dict[str, Any]) -> None:
    assert to_gemini_request(case["request"]) == case["upstream_request"]


@pytest.mark.parametrize("case", cases("gemini", "response"))
def test_response_fixtures(case: dict[str, Any]) -> None:
    body, usage, finish = response_from_gemini(case["upstream_response"], model=MODEL, created=CREATED,
                                               response_id="chatcmpl-test")
    assert body == case["response"]
    assert usage is not None
    assert {k: v for k, v in body["usage"].items() if k != "completion_tokens_details"} == usage.to_openai()
    assert finish == case["response"]["choices"][0]["finish_reason"]


@pytest.mark.parametrize("case", cases("gemini", "stream"))
def test_stream_fixtures(case: dict[str, Any]) -> None:
    if "error" in case:
        translator = GeminiStreamTranslator(created=CREATED, model=MODEL, response_id="chatcmpl-test")
        chunks: list[Any] = []
        with pytest.raises(UpstreamErrorEvent) as raised:
            for event in case["events"]:
                chunks.extend(sse_chunks([translator.feed(event)]))
        check_error(_event_error(DEPLOYMENT, raised.value), case["error"])
        assert chunks == case["chunks"]
        return
    translator, chunks = _translate(case["events"], case["include_usage"])
    assert chunks == case["chunks"]
    usage = translator.usage
    assert usage is not None and case["usage"] == {
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens}
    assert translator.finish_reason == case["finish_reason"] and translator.complete and not translator.done


@pytest.mark.parametrize("case", cases("gemini", "error"))
def test_error_fixtures(case: dict[str, Any]) -> None:
    headers = CIMultiDictProxy(CIMultiDict(case["headers"]))
    error = _status_error(DEPLOYMENT, case["status"], orjson.dumps(case["body"]), headers)
    check_error(error, case["expected"])
    assert DEPLOYMENT.api_key not in error.message  # type: ignore[operator]


# --- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}),
     ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
     (None, None)],
)
def test_tool_choice(choice: Any, expected: dict[str, Any] | None) -> None:
    sent = to_gemini_request({"messages": HI, "tools": [WEATHER], "tool_choice": choice})
    assert sent.get("toolConfig") == (None if expected is None else {"functionCallingConfig": expected})
    assert sent["tools"] == [{"functionDeclarations": [{"name": "get_weather",
                                                        "parametersJsonSchema": {"type": "object"}}]}]


def test_signature_fallback_can_be_turned_off() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    messages = [*HI, {"role": "assistant", "tool_calls": [call]}]
    assert to_gemini_request({"messages": messages})["contents"][1]["parts"][0]["thoughtSignature"] == SKIP_SIGNATURE
    part = to_gemini_request({"messages": messages}, signature_fallback=False)["contents"][1]["parts"][0]
    assert part == {"functionCall": {"name": "get_weather", "args": {}}}


def test_tool_results_find_their_function() -> None:
    # By the latest assistant call with that id; by our own id's shape; by the legacy "name" field.
    messages = [
        *HI,
        {"role": "assistant", "tool_calls": [{"id": "call_0_a", "type": "function",
                                              "function": {"name": "first", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0_a", "content": "{}"},
        {"role": "assistant", "tool_calls": [{"id": "call_0_a", "type": "function",
                                              "function": {"name": "second", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0_a", "content": "{}"},
        {"role": "tool", "tool_call_id": "call_3_lookup_city", "content": "{}"},
        {"role": "tool", "tool_call_id": "x", "name": "legacy", "content": "{}"},
    ]
    contents = to_gemini_request({"messages": messages})["contents"]
    names = [p["functionResponse"]["name"] for c in contents for p in c["parts"] if "functionResponse" in p]
    assert names == ["first", "second", "lookup_city", "legacy"]


def test_native_fields_pass_through() -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    sent = to_gemini_request({"messages": HI, "safetySettings": safety, "thinkingConfig": {"thinkingBudget": 0},
                              "cachedContent": "cachedContents/abc", "logprobs": True})
    assert sent["safetySettings"] == safety and sent["cachedContent"] == "cachedContents/abc"
    assert sent["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}


def test_audio_and_file_parts() -> None:
    parts = to_gemini_request({"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}}]}]})["contents"][0]["parts"]
    assert parts == [{"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                     {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "tool", "tool_call_id": "unknown", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f-1"}}]}]},
         "messages[0].content[0]"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
        ({"messages": HI, "tools": [{"type": "code_interpreter"}]}, "tools[0]"),
        ({"messages": HI, "tools": [WEATHER], "tool_choice": 3}, "tool_choice"),
    ],
)
def test_requests_gemini_cannot_express_are_clear_400s(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        to_gemini_request(body)
    assert raised.value.param == param


# --- responses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "tools", "finish"),
    [("STOP", False, "stop"), ("STOP", True, "tool_calls"), ("MAX_TOKENS", True, "length"),
     ("SAFETY", False, "content_filter"), ("RECITATION", False, "content_filter"),
     ("BLOCKLIST", False, "content_filter"), ("PROHIBITED_CONTENT", False, "content_filter"),
     ("SPII", False, "content_filter"), ("MALFORMED_FUNCTION_CALL", False, "stop"), ("OTHER", False, "stop"),
     ("FINISH_REASON_UNSPECIFIED", False, None), (None, False, None)],
)
def test_finish_reasons(reason: str | None, tools: bool, finish: str | None) -> None:
    assert finish_reason(reason, tools) == finish


def test_cached_tokens_are_priced_at_the_cached_rate() -> None:
    data = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 1000, "cachedContentTokenCount": 800, "candidatesTokenCount": 10,
                              "thoughtsTokenCount": 5, "toolUsePromptTokenCount": 20}}
    _, usage, _ = response_from_gemini(data, model=MODEL, created=CREATED, response_id="r")
    assert usage is not None and (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (1020, 800, 15)
    price = Price(input=0.3, output=2.5, cached_input=0.075)
    assert price.cost(usage) == pytest.approx((220 * 0.3 + 800 * 0.075 + 15 * 2.5) / 1e6)


@pytest.mark.parametrize("data", [None, [], {"usageMetadata": {}}, {"promptFeedback": {}}])
def test_malformed_responses(data: Any) -> None:
    with pytest.raises(MalformedUpstream):
        response_from_gemini(data, model=MODEL, created=CREATED, response_id="r")


def test_gemini_call_ids_are_kept() -> None:
    data = {"candidates": [{"content": {"parts": [{"functionCall": {"id": "fc-1", "name": "f", "args": {}}}]},
                            "finishReason": "STOP"}]}
    body, usage, _ = response_from_gemini(data, model=MODEL, created=CREATED, response_id="r")
    assert body["choices"][0]["message"]["tool_calls"][0]["id"] == "fc-1"
    assert usage is None and "usage" not in body


# --- streams -----------------------------------------------------------------------------------


def test_stream_ends_only_with_a_finish_reason() -> None:
    translator, chunks = _translate([{"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}], include_usage=True)
    assert not translator.complete and translator.usage is None
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}, {"content": "Hi"}]


def test_stream_thoughts_and_several_candidates() -> None:
    events = [{"candidates": [{"index": 0, "content": {"parts": [{"text": "Hmm", "thought": True}]}},
                              {"index": 1, "content": {"parts": [{"text": "B"}]}, "finishReason": "STOP"}]},
              {"candidates": [{"index": 0, "content": {"parts": [{"text": "A"}]}, "finishReason": "MAX_TOKENS"}]}]
    translator, chunks = _translate(events)
    assert [(c["choices"][0]["index"], c["choices"][0]["delta"], c["choices"][0]["finish_reason"])
            for c in chunks[1:]] == [(0, {"reasoning_content": "Hmm"}, None), (1, {"content": "B"}, None),
                                     (1, {}, "stop"), (0, {"content": "A"}, None), (0, {}, "length")]
    assert translator.finish_reason == "length"


def test_stream_error_without_a_code_uses_its_status() -> None:
    translator = GeminiStreamTranslator(created=CREATED, model=MODEL, response_id="r")
    with pytest.raises(UpstreamErrorEvent) as raised:
        translator.feed({"error": {"message": "slow down", "status": "RESOURCE_EXHAUSTED"}})
    assert raised.value.status == 429
    assert type(_event_error(DEPLOYMENT, raised.value)).__name__ == "ProviderRateLimited"
