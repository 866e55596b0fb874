"""Cascade scoring signals, the JSON-schema subset, threshold calibration and the prompt estimate."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from switchpoint.balancing.cascade import calibrate_threshold, json_schema_errors, score_answer
from switchpoint.balancing.policy import CascadePolicy, LatencyWindow, estimate_prompt_tokens
from switchpoint.types import ChatRequest, ChatResponse
from switchpoint.validation import validate_chat_body

POLICY = CascadePolicy(next="strong")


def _request(**body: Any) -> ChatRequest:
    return validate_chat_body({"model": "m", "messages": [{"role": "user", "content": "q"}], **body}, request_id="r")


def _response(content: str | None = "The answer is 4.", finish: str = "stop", **message: Any) -> ChatResponse:
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content, **message},
                              "finish_reason": finish}
    return ChatResponse({"choices": [choice]}, None, finish_reason=finish)


def _score(response: ChatResponse, request: ChatRequest | None = None,
           policy: CascadePolicy = POLICY) -> tuple[float, dict[str, float]]:
    return asyncio.run(score_answer(request or _request(), response, policy))


def test_a_plain_answer_is_confident() -> None:
    assert _score(_response()) == (1.0, {})


@pytest.mark.parametrize("text", ["I'm sorry, but I can't help with that.", "Sorry, I cannot do this.",
                                  "I am unable to answer."])
def test_refusals_score_zero(text: str) -> None:
    assert _score(_response(text)) == (0.0, {"refusal": 0.0})


def test_structured_refusal_and_empty_answers() -> None:
    assert _score(_response(None, refusal="no"))[1] == {"refusal": 0.0, "empty": 0.0}
    assert _score(_response("   "))[0] == 0.0
    tool_call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assert _score(_response(None, tool_calls=[tool_call]))[0] == 1.0


def test_truncated_answers_are_doubtful() -> None:
    assert _score(_response(finish="length")) == (0.4, {"truncated": 0.4})


def test_signals_can_be_switched_off() -> None:
    policy = CascadePolicy(next="s", refusal=False, json_schema=False, logprobs=False)
    assert _score(_response("I'm sorry, but I can't"), policy=policy)[0] == 1.0


def test_json_mode_and_schema() -> None:
    json_object = _request(response_format={"type": "json_object"})
    assert _score(_response('{"a": 1}'), json_object)[0] == 1.0
    assert _score(_response("{'a': 1}"), json_object)[1] == {"json": 0.0}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    typed = _request(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert _score(_response('{"a": 1}'), typed)[0] == 1.0
    assert _score(_response('{"a": "1"}'), typed)[0] == 0.0
    assert _score(_response('{"a": 1, "b": 2}'), typed)[0] == 0.0


def test_logprobs_give_the_geometric_mean_probability() -> None:
    response = _response()
    response.body["choices"][0]["logprobs"] = {"content": [{"token": "a", "logprob": -0.1},
                                                           {"token": "b", "logprob": -0.3}]}
    score, signals = _score(response)
    assert score == pytest.approx(math.exp(-0.2)) and set(signals) == {"logprobs"}


def test_verifier_hooks_sync_and_async() -> None:
    async def judge(request: ChatRequest, response: ChatResponse) -> float:
        return 0.3

    assert _score(_response(), policy=CascadePolicy("s", verifier=lambda q, a: 7.0))[0] == 1.0  # clamped
    assert _score(_response(), policy=CascadePolicy("s", verifier=judge)) == (0.3, {"verifier": 0.3})


@pytest.mark.parametrize(("value", "schema", "ok"), [
    (1, {"type": "integer"}, True),
    (1.0, {"type": "integer"}, True),
    (1.5, {"type": "integer"}, False),
    (True, {"type": "number"}, False),
    (None, {"type": ["string", "null"]}, True),
    ("x", {"enum": ["a", "b"]}, False),
    ("a", {"const": "a"}, True),
    ([1, "2"], {"type": "array", "items": {"type": "integer"}}, False),
    ({"a": {"b": []}}, {"type": "object", "properties": {"a": {"type": "object", "required": ["b"]}}}, True),
    ("x", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, True),
    ([], {"anyOf": [{"type": "integer"}, {"type": "string"}]}, False),
    ("x", {"type": "string", "minLength": 5}, True),  # unsupported keywords are ignored
])
def test_json_schema_subset(value: Any, schema: dict[str, Any], ok: bool) -> None:
    assert (json_schema_errors(value, schema) == []) is ok


def test_json_schema_depth_is_bounded() -> None:
    schema: dict[str, Any] = {"type": "array"}
    value: Any = []
    for _ in range(200):
        schema = {"type": "array", "items": schema}
        value = [value]
    assert json_schema_errors(value, schema) == []


def test_calibration_finds_the_cheapest_threshold_reaching_the_target() -> None:
    # 10 prompts: the weak model is right where its score is high.
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    weak = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    strong = [1] * 10
    result = calibrate_threshold(scores, weak, strong, target_pgr=1.0)
    assert result.threshold == 0.4 and result.escalation_rate == pytest.approx(0.3)
    assert result.quality == 1.0 and result.pgr == pytest.approx(1.0)
    half = calibrate_threshold(scores, weak, strong, target_pgr=0.5)
    assert half.escalation_rate == pytest.approx(0.2)


def test_calibration_handles_ties_and_unreachable_targets() -> None:
    result = calibrate_threshold([0.5] * 4, [0, 1, 0, 1], [1, 1, 1, 1], target_pgr=0.9)
    assert result.escalation_rate == 1.0 and result.threshold == math.inf
    best = calibrate_threshold([0.1, 0.9], [1, 0], [0, 1], target_pgr=2.0)
    assert best.pgr <= 2.0
    with pytest.raises(ValueError):
        calibrate_threshold([], [], [])


def test_prompt_estimate_is_cheap_and_ignores_image_bytes() -> None:
    text = {"messages": [{"role": "user", "content": "x" * 4000}]}
    assert 1000 <= estimate_prompt_tokens(text) <= 1020
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 400_000}}
    with_image = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]}
    assert 1000 <= estimate_prompt_tokens(with_image) < 1100
    tools = {"messages": [], "tools": [{"type": "function", "function": {"name": "f" * 400}}]}
    assert estimate_prompt_tokens(tools) >= 100


def test_latency_window_percentile() -> None:
    window = LatencyWindow(size=10)
    assert window.percentile(95) is None
    for value in range(20):
        window.add(float(value))
    assert window.count == 20 and window.percentile(50) == 15.0 and window.percentile(99) == 19.0
