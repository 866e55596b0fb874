"""Anthropic Messages (inbound) → OpenAI chat completions and back: pure translation, no HTTP."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from switchpoint.errors import InvalidRequest
from switchpoint.providers.sse import SSEBuffer, event_data
from switchpoint.providers.translate.anthropic import to_anthropic_request
from switchpoint.providers.translate.anthropic_inbound import (
    InboundRequest,
    anthropic_usage,
    message_from_completion,
    to_openai_body,
)
from switchpoint.providers.translate.anthropic_inbound_stream import MessageStream
from switchpoint.types import Usage
from switchpoint.validation import validate_chat_body

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
PDF = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}
TOOL = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}}


def translate(native: bool = False, **fields: Any) -> dict[str, Any]:
    body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}
    inbound = to_openai_body(body, native=native)
    validate_chat_body(inbound.body)  # whatever the translation makes must be a valid chat request
    return inbound.body


class TestRequests:
    def test_minimal(self) -> None:
        assert translate() == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}

    def test_scalars_stream_and_user(self) -> None:
        body = translate(temperature=0.3, top_p=0.9, top_k=5, stop_sequences=["END", "###"], stream=True,
                         metadata={"user_id": "u-1"}, thinking={"type": "enabled", "budget_tokens": 1024})
        assert body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["stop"] == ["END", "###"]
        assert body["user"] == "u-1" and body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert "top_k" not in body and "thinking" not in body  # Anthropic-only: dropped for other upstreams
        native = translate(True, top_k=5, thinking={"type": "enabled", "budget_tokens": 1024})
        assert native["top_k"] == 5 and native["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        quiet = to_openai_body({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
                               stream_usage=False)
        assert quiet.body["stream"] is True and "stream_options" not in quiet.body

    def test_system_string_and_blocks(self) -> None:
        assert translate(system="Be brief.")["messages"][0] == {"role": "system", "content": "Be brief."}
        blocks = [{"type": "text", "text": "A"}, {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}}]
        assert translate(system=blocks)["messages"][0] == {"role": "system", "content": [
            {"type": "text", "text": "A"}, {"type": "text", "text": "B"}]}
        assert translate(True, system=blocks)["messages"][0]["content"][1]["cache_control"] == {"type": "ephemeral"}
        assert translate(system=[{"type": "text", "text": "only"}])["messages"][0]["content"] == "only"
        assert translate(system="")["messages"] == [{"role": "user", "content": "hi"}]

    def test_user_content_blocks(self) -> None:
        content = [
            {"type": "text", "text": "Look:"},
            {"type": "image", "source": PNG},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "document", "source": PDF, "title": "report.pdf"},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
        ]
        body = translate(messages=[{"role": "user", "content": content}])
        assert body["messages"] == [{"role": "user", "content": [
            {"type": "text", "text": "Look:"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": "report.pdf"}},
            {"type": "text", "text": "plain words"},
        ]}]

    def test_tool_use_and_results_in_order(self) -> None:
        messages = [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "...", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {"city": "Rome"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "21C"},
                {"type": "tool_result", "tool_use_id": "t2", "is_error": True,
                 "content": [{"type": "text", "text": "no data"}, {"type": "image", "source": PNG}]},
                {"type": "text", "text": "Summarise."},
            ]},
        ]
        body = translate(messages=messages)
        assert body["messages"][1:] == [
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "t2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
            ]},
            {"role": "tool", "tool_call_id": "t1", "content": "21C"},
            {"role": "tool", "tool_call_id": "t2", "content": [
                {"type": "text", "text": "no data"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
            {"role": "user", "content": "Summarise."},
        ]

    def test_assistant_edge_cases(self) -> None:
        only_thinking = [{"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}]}]
        body = translate(messages=[{"role": "user", "content": "hi"}, *only_thinking])
        assert body["messages"] == [{"role": "user", "content": "hi"}]
        prefill = translate(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": []}])
        assert prefill["messages"][-1] == {"role": "assistant", "content": ""}

    @pytest.mark.parametrize(("choice", "expected"), [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        ({"type": "tool", "name": "get_weather"},
         {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
        ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
        (None, {}),
    ])
    def test_tools_and_tool_choice(self, choice: Any, expected: dict[str, Any]) -> None:
        body = translate(tools=[{**TOOL, "cache_control": {"type": "ephemeral"}}], tool_choice=choice)
        assert body["tools"] == [{"type": "function", "function": {
            "name": "get_weather", "parameters": TOOL["input_schema"], "description": "Weather"}}]
        assert {k: body[k] for k in ("tool_choice", "parallel_tool_calls") if k in body} == expected
        assert translate(True, tools=[{**TOOL, "cache_control": {"type": "ephemeral"}}])["tools"][0][
            "cache_control"] == {"type": "ephemeral"}

    def test_empty_tools_drop_tool_choice(self) -> None:
        body = translate(tools=[], tool_choice={"type": "any"})
        assert "tools" not in body and "tool_choice" not in body

    def test_structured_output(self) -> None:
        schema = {"type": "object", "properties": {"a": {"type": "string"}}}
        body = translate(output_config={"format": {"type": "json_schema", "schema": schema}, "effort": "low"})
        assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
        assert "response_format" not in translate(output_config={"effort": "high"})

    @pytest.mark.parametrize(("fields", "param"), [
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        ({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": ""}]}]},
         "messages[0].content[0].tool_use_id"),
        ({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "input": {}}]}]},
         "messages[0].content[0].name"),
        ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}]},
         "messages[0].content[0].source"),
        ({"messages": [{"role": "user", "content": [{"type": "search_result"}]}]}, "messages[0].content[0]"),
        ({"system": [{"type": "text", "text": 1}]}, "system[0].text"),
        ({"tools": [{"name": "f", "input_schema": "x"}]}, "tools[0].input_schema"),
        ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools[0].type"),
        ({"tools": [TOOL], "tool_choice": {"type": "tool"}}, "tool_choice"),
        ({"stop_sequences": [1]}, "stop_sequences"),
        ({"metadata": {"user_id": 1}}, "metadata.user_id"),
        ({"stream": 1}, "stream"),
    ])
    def test_errors_name_the_anthropic_param(self, fields: dict[str, Any], param: str) -> None:
        with pytest.raises(InvalidRequest) as raised:
            translate(**fields)
        assert raised.value.param == param and raised.value.status == 400

    def test_round_trip_through_the_outbound_translation(self) -> None:
        """Anthropic → OpenAI (inbound) → Anthropic (outbound) gives back the client's request."""
        original = {
            "model": "claude-up", "max_tokens": 256, "temperature": 0.2, "top_k": 3,
            "system": [{"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [{"type": "image", "source": PNG}, {"type": "text", "text": "Weather?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "21C"}, {"type": "text", "text": "So?"}]},
            ],
            "stop_sequences": ["END"],
            "tools": [TOOL],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "metadata": {"user_id": "u-1"},
        }
        body = to_openai_body(original, native=True).body
        back = to_anthropic_request(body, "claude-up", stream=False)
        assert back == {**original, "tools": [{"name": "get_weather", "input_schema": TOOL["input_schema"],
                                               "description": "Weather"}]}


REQUEST = InboundRequest({}, "my-model", ("END",), False)


def completion(message: dict[str, Any], finish: str | None = "stop", **choice: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-abc", "object": "chat.completion", "model": "up",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, **choice}]}


class TestAnswers:
    def test_text_tool_calls_and_usage(self) -> None:
        calls = [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"type": "function", "function": {"name": "g", "arguments": "not json"}},
        ]
        body = completion({"role": "assistant", "content": "Let me check.", "tool_calls": calls}, "tool_calls")
        usage = Usage(prompt_tokens=1200, completion_tokens=30, total_tokens=1230, cached_tokens=1000)
        assert message_from_completion(body, usage, REQUEST, "req1") == {
            "id": "msg_abc", "type": "message", "role": "assistant", "model": "my-model",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
                {"type": "tool_use", "id": "toolu_1", "name": "g", "input": {}},
            ],
            "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": 200, "output_tokens": 30, "cache_read_input_tokens": 1000,
                      "cache_creation_input_tokens": 0},
        }

    @pytest.mark.parametrize(("finish", "expected"), [
        ("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("function_call", "tool_use"),
        ("content_filter", "refusal"), (None, "end_turn"), ("something_new", "end_turn"),
    ])
    def test_stop_reasons(self, finish: str | None, expected: str) -> None:
        message = message_from_completion(completion({"content": "x"}, finish), None, REQUEST, "r")
        assert message["stop_reason"] == expected
        assert message["usage"] == {"input_tokens": 0, "output_tokens": 0}

    def test_matched_stop_sequence_when_the_upstream_reports_it(self) -> None:
        message = message_from_completion(completion({"content": "x"}, stop_reason="END"), None, REQUEST, "r")
        assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")

    def test_refusal_reasoning_and_ids(self) -> None:
        refused = completion({"content": None, "refusal": "I can't help with that."})
        message = message_from_completion({**refused, "id": None}, None, REQUEST, "req9")
        assert message["content"] == [{"type": "text", "text": "I can't help with that."}]
        assert message["stop_reason"] == "refusal" and message["id"] == "msg_req9"
        thinking = InboundRequest({}, "m", (), True)
        body = {**completion({"content": "42", "reasoning_content": "Think."}), "id": "msg_keep"}
        message = message_from_completion(body, None, thinking, "r")
        assert message["id"] == "msg_keep"
        assert message["content"] == [{"type": "thinking", "thinking": "Think.", "signature": ""},
                                      {"type": "text", "text": "42"}]
        assert message_from_completion(body, None, REQUEST, "r")["content"] == [{"type": "text", "text": "42"}]

    def test_malformed_answer_gives_an_empty_message(self) -> None:
        message = message_from_completion({"choices": "nope"}, None, REQUEST, "r")
        assert message["content"] == [] and message["stop_reason"] == "end_turn"


def sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-s1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}]}


def events_of(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for event in SSEBuffer().feed(data):
        name = event.split(b"\n", 1)[0].removeprefix(b"event: ").decode()
        payload = event_data(event)
        assert payload is not None
        body = orjson.loads(payload)
        assert body["type"] == name
        out.append((name, body))
    return out


def run(stream: MessageStream, data: bytes, piece: int) -> list[tuple[str, dict[str, Any]]]:
    """Feed ``data`` in pieces of ``piece`` bytes (events cut anywhere), then finish."""
    out = b"".join(stream.feed(data[i : i + piece]) for i in range(0, len(data), piece))
    return events_of(out + stream.finish())


class TestStreams:
    @pytest.mark.parametrize("piece", [1, 7, 10_000])
    def test_text_then_tool_calls(self, piece: int) -> None:
        data = sse(
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hello"}), chunk({"content": " there"}),
            chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                   "function": {"name": "f", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}),
            chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "g", "arguments": "{}"}}]}),
            chunk({}, "tool_calls"),
            {"id": "chatcmpl-s1", "choices": [], "usage": {
                "prompt_tokens": 50, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 40}}},
        )
        events = run(MessageStream(REQUEST, "req"), data, piece)
        assert [name for name, _ in events] == [
            "message_start", "ping",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_stop",
            "message_delta", "message_stop",
        ]
        start = events[0][1]["message"]
        assert start["id"] == "msg_s1" and start["model"] == "my-model" and start["content"] == []
        assert start["usage"] == {"input_tokens": 0, "output_tokens": 0}
        assert events[2][1] == {"type": "content_block_start", "index": 0,
                                "content_block": {"type": "text", "text": ""}}
        assert events[4][1]["delta"] == {"type": "text_delta", "text": " there"}
        assert events[6][1]["content_block"] == {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
        assert [e[1]["delta"]["partial_json"] for e in events[7:9]] == ['{"a":', " 1}"]
        assert events[10][1]["index"] == 2 and events[11][1]["delta"]["partial_json"] == "{}"
        assert events[13][1] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                 "usage": {"input_tokens": 10, "output_tokens": 9, "cache_read_input_tokens": 40,
                                           "cache_creation_input_tokens": 0}}

    def test_thinking_refusal_and_stop_sequence(self) -> None:
        request = InboundRequest({}, "m", ("END",), True)
        data = sse(chunk({"reasoning_content": "Hmm."}), chunk({"content": "Yes"}),
                   chunk({"refusal": " but no"}), chunk({}, "stop", stop_reason="END"))
        events = run(MessageStream(request, "req"), data, 5)
        blocks = [e[1]["content_block"]["type"] for e in events if e[0] == "content_block_start"]
        assert blocks == ["thinking", "text"]
        assert events[3][1]["delta"] == {"type": "thinking_delta", "thinking": "Hmm."}
        assert events[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
        assert events[-2][1]["usage"] == {"output_tokens": 0}  # the upstream sent no usage

    def test_an_empty_stream_still_makes_a_whole_message(self) -> None:
        events = events_of(MessageStream(REQUEST, "req9").finish())
        assert [name for name, _ in events] == ["message_start", "ping", "message_delta", "message_stop"]
        assert events[0][1]["message"]["id"] == "msg_req9"

    def test_noise_is_ignored(self) -> None:
        stream = MessageStream(REQUEST, "req")
        out = stream.feed(b": keep-alive\n\ndata: not json\n\ndata: [1, 2]\n\n" + sse(chunk({"content": "ok"})))
        names = [name for name, _ in events_of(out)]
        assert names == ["message_start", "ping", "content_block_start", "content_block_delta"]


@pytest.mark.parametrize(
    ("openai_usage", "expected"),
    [
        ({"prompt_tokens": 130, "completion_tokens": 2,
          "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20}},
         {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}),
        ({"prompt_tokens": 5, "completion_tokens": 1},
         {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}),
    ],
    ids=["openrouter-style-cache-writes", "no-cache"],
)
def test_cache_writes_are_counted_apart_from_input_tokens(openai_usage: dict[str, Any],
                                                          expected: dict[str, int]) -> None:
    assert anthropic_usage(Usage.from_openai(openai_usage)) == expected
