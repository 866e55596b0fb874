"""The features record: immutable, JSON-serialisable, with the documented keys."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from switchpoint.analysis import (
    SCHEMA_VERSION,
    LanguageResult,
    PIIResult,
    RequestFeatures,
    SentimentResult,
    TaskTypeResult,
)

DOCUMENTED_KEYS = {
    "schema_version", "task_type", "language", "sentiment", "pii", "complexity", "intents", "prompt_tokens",
    "token_family", "prompt_tokens_by_family", "messages", "turns", "has_system_prompt", "has_images", "images",
    "has_audio", "has_tools", "tools", "tool_names", "tool_choice", "json_schema", "response_format", "max_tokens",
    "model", "stream", "temperature", "top_p", "n", "reasoning_effort", "metadata", "user", "tags", "key_id", "team",
    "key_user", "analysis",
}


def _full() -> RequestFeatures:
    return RequestFeatures(
        task_type=TaskTypeResult("coding", {"coding": 0.9, "math": 0.1}),
        language=LanguageResult("en", 0.99),
        sentiment=SentimentResult("neutral", 0.8),
        pii=PIIResult(True, ("email",)),
        complexity=0.42,
        intents={"billing": 0.81},
        prompt_tokens=120,
        prompt_tokens_by_family={"o200k": 120, "cl100k": 125},
        metadata={"team": "search", "nested": {"a": [1, 2]}},
        tags=("beta",),
    )


def test_to_dict_has_the_documented_keys_and_is_json() -> None:
    data = _full().to_dict()
    assert set(data) == DOCUMENTED_KEYS
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["task_type"] == {"label": "coding", "probs": {"coding": 0.9, "math": 0.1}}
    assert data["language"] == {"code": "en", "confidence": 0.99}
    assert data["sentiment"] == {"label": "neutral", "score": 0.8}
    assert data["pii"] == {"found": True, "kinds": ["email"]}
    assert data["intents"] == {"billing": 0.81}
    assert orjson.loads(orjson.dumps(data)) == data


def test_record_is_immutable() -> None:
    features = _full()
    with pytest.raises(dataclasses.FrozenInstanceError):
        features.complexity = 0.1  # type: ignore[misc]
    with pytest.raises(TypeError):
        features.intents["x"] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        features.task_type.probs["x"] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        features.metadata["x"] = 1  # type: ignore[index]


def test_caller_mappings_are_copied() -> None:
    intents = {"billing": 0.8}
    features = RequestFeatures(intents=intents)
    intents["other"] = 0.9
    assert dict(features.intents) == {"billing": 0.8}


def test_from_parts_ignores_unknown_keys() -> None:
    features = RequestFeatures.from_parts({"prompt_tokens": 5, "not_a_field": 1})
    assert features.prompt_tokens == 5


def test_unknown_metadata_values_are_stringified() -> None:
    features = RequestFeatures(metadata={"when": object.__name__, "obj": object()})
    orjson.dumps(features.to_dict())
