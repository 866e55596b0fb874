"""The request metadata in the features record: every field the issue lists, read from the body as sent."""

from __future__ import annotations

from typing import Any

import pytest

from switchpoint.analysis import AnalysisPipeline
from switchpoint.analysis.analyzers import MetadataAnalyzer, ShapeAnalyzer
from switchpoint.analysis.tokens import FEATURES, TokenEstimator
from switchpoint.types import ChatRequest

# a token estimator with a flat cost (the counts themselves are tested in test_analysis_tokens.py)
_ESTIMATOR = TokenEstimator({"o200k": [1.0] * len(FEATURES)})
_PIPELINE = AnalysisPipeline([ShapeAnalyzer(_ESTIMATOR), MetadataAnalyzer()], budget_ms=60_000)  # no time limit


def _features(tags: tuple[str, ...] = (), **body: Any) -> dict[str, Any]:
    full = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}], **body}
    request = ChatRequest(body=full, model="gpt-4o", stream=bool(body.get("stream")), tags=tags)
    features = _PIPELINE.analyze_sync(request)
    assert features.analysis.degraded == ()
    return features.to_dict()


def test_openai_metadata_user_and_tags() -> None:
    data = _features(tags=("beta", "eu"), metadata={"team": "search", "ticket": "T-1"}, user="user-42")
    assert data["metadata"] == {"team": "search", "ticket": "T-1"}
    assert data["user"] == "user-42"
    assert data["tags"] == ["beta", "eu"]


def test_sampling_fields_stream_and_reasoning_effort() -> None:
    data = _features(temperature=0.2, top_p=0.9, n=2, stream=True, reasoning_effort="high")
    assert (data["temperature"], data["top_p"], data["n"], data["stream"]) == (0.2, 0.9, 2, True)
    assert data["reasoning_effort"] == "high"
    assert _features(reasoning={"effort": "low"})["reasoning_effort"] == "low"


def test_tools_their_names_and_tool_choice() -> None:
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "book_flight", "parameters": {"type": "object"}}},
    ]
    data = _features(tools=tools, tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert data["has_tools"] is True and data["tools"] == 2
    assert data["tool_names"] == ["get_weather", "book_flight"]
    assert data["tool_choice"] == "function:get_weather"
    legacy = _features(functions=[{"name": "lookup", "parameters": {}}])
    assert legacy["tools"] == 1 and legacy["tool_names"] == ["lookup"]
    none = _features()
    assert (none["has_tools"], none["tools"], none["tool_names"], none["tool_choice"]) == (False, 0, [], None)


@pytest.mark.parametrize(
    ("response_format", "kind", "schema"),
    [
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}, "json_schema", True),
        ({"type": "json_object"}, "json_object", False),
        ({"type": "text"}, "text", False),
        (None, None, False),
    ],
)
def test_response_format(response_format: dict[str, Any] | None, kind: str | None, schema: bool) -> None:
    data = _features(**({"response_format": response_format} if response_format else {}))
    assert data["response_format"] == kind
    assert data["json_schema"] is schema


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"max_tokens": 300}, 300),
        ({"max_completion_tokens": 500, "max_tokens": 300}, 500),
        ({"max_completion_tokens": None, "max_tokens": 300}, 300),  # a null one does not hide the other
        ({"max_tokens": True}, None),
        ({"max_tokens": "300"}, None),
        ({}, None),
    ],
)
def test_expected_output_size_from_max_tokens(body: dict[str, Any], expected: int | None) -> None:
    assert _features(**body)["max_tokens"] == expected


def test_malformed_fields_are_left_unknown_not_failed() -> None:
    data = _features(metadata="not an object", user=7, temperature="hot", n=True, tools="x", reasoning_effort=3)
    assert data["metadata"] == {} and data["user"] is None and data["temperature"] is None and data["n"] is None
    assert data["tools"] == 0 and data["tool_names"] == [] and data["reasoning_effort"] is None
