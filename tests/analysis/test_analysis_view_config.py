"""The request view (text extraction) and the analysis config."""

from __future__ import annotations

import pytest

from switchpoint.analysis import AnalysisConfig, IntentSpec, RequestView
from switchpoint.analysis.tokens import family_for_model
from switchpoint.types import ChatRequest


def _view(messages: list[object], **body: object) -> RequestView:
    return RequestView(ChatRequest(body={"model": "m", "messages": messages, **body}, model="m"))


def test_text_parts_images_audio_and_turns() -> None:
    view = _view([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ]},
        {"role": "assistant", "content": "A cat.", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": "{\"q\": \"cats\"}"}}]},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "...", "format": "wav"}},
                                     {"type": "text", "text": "And this sound?"}]},
    ])
    assert view.message_count == 4
    assert view.user_turns == 2
    assert view.images == 1 and view.audio == 1
    assert view.system_text == "Be brief."
    assert view.last_user_text == "And this sound?"
    assert "What is in this picture?" in view.user_text
    assert '{"q": "cats"}' in view.all_texts


def test_malformed_messages_do_not_raise() -> None:
    view = _view(["nonsense", {"role": "user", "content": None}, {"role": "user", "content": [1, {"type": "x"}]}])
    assert view.message_count == 2
    assert view.last_user_text == ""
    assert RequestView(ChatRequest(body={"model": "m"}, model="m")).message_count == 0


def test_last_user_text_falls_back_when_the_conversation_ends_elsewhere() -> None:
    view = _view([{"role": "user", "content": "first"}, {"role": "assistant", "content": "reply"}])
    assert view.last_user_text == "first"


def test_config_from_mapping() -> None:
    config = AnalysisConfig.from_mapping({
        "budget_ms": 3,
        "analyzers": ["shape", "intents"],
        "offload": ["intents"],
        "intent_threshold": 0.5,
        "intents": {
            "billing": {"examples": ["I was charged twice"], "threshold": 0.7},
            "cancel": {"examples": ["cancel my plan"]},
        },
    })
    assert config.budget_ms == 3.0
    assert config.analyzers == ("shape", "intents")
    assert config.intents == (IntentSpec("billing", ("I was charged twice",), 0.7),
                              IntentSpec("cancel", ("cancel my plan",), 0.5))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"analyzers": ["nope"]}, "unknown analyser"),
        ({"budget_ms": 0}, "budget_ms"),
        ({"token_family": "gpt2"}, "token_family"),
        ({"intents": {"x": {"examples": []}}}, "at least one example"),
        ({"intents": {"x": {"examples": ["a"], "threshold": 2}}}, "threshold"),
        ({"intents": {"x": ["a"]}}, "mapping"),
        ({"intents": {"x": {"examples": ["a"], "extra": 1}}}, "unknown keys"),
        ({"colour": "blue"}, "unknown keys"),
    ],
)
def test_config_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnalysisConfig.from_mapping(data)


@pytest.mark.parametrize(
    ("model", "family"),
    [("gpt-4o-mini", "o200k"), ("openai/gpt-4.1", "o200k"), ("gpt-4-turbo", "cl100k"), ("gpt-3.5-turbo", "cl100k"),
     ("meta-llama/Llama-3.1-8B-Instruct", "llama3"), ("Qwen2.5-7B", "qwen"), ("o3-mini", "o200k"),
     ("smart-router", "o200k")],
)
def test_family_for_model(model: str, family: str) -> None:
    assert family_for_model(model) == family
