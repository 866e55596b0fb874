"""The shipped pipeline end to end: artifacts load, each analyser works, accuracy holds on the labelled set."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from switchpoint.analysis import (
    ANALYZER_NAMES,
    ARTIFACTS_DIR,
    TASK_TYPES,
    AnalysisConfig,
    AnalysisPipeline,
    Artifacts,
    build_pipeline,
)
from switchpoint.analysis.langid import LanguageIdentifier
from switchpoint.types import ChatRequest
from tests.analysis.accuracy import load, score

INTENTS = {
    "billing": {"examples": ["I was charged twice this month", "Why is my invoice higher than usual?",
                             "How do I update my credit card for payments?", "Can I get a refund for my bill?"]},
    "cancellation": {"examples": ["I want to cancel my subscription", "How do I close my account?",
                                  "Please stop my membership at the end of the month"]},
    "troubleshooting": {"examples": ["The app crashes when I open it", "I can't connect to the server",
                                     "The page shows an error 500"], "threshold": 0.5},
}


@pytest.fixture(scope="module")
def artifacts() -> Artifacts:
    return Artifacts.load()


@pytest.fixture(scope="module")
def pipeline(artifacts: Artifacts) -> AnalysisPipeline:
    return build_pipeline(AnalysisConfig.from_mapping({"intents": INTENTS, "budget_ms": 1000}), artifacts=artifacts)


def _request(content: object, **body: object) -> ChatRequest:
    messages = content if isinstance(content, list) else [{"role": "user", "content": content}]
    full = {"model": "gpt-4o", "messages": messages, **body}
    return ChatRequest(body=full, model="gpt-4o", stream=bool(body.get("stream")), tags=("beta",))


def test_artifacts_are_small_and_documented() -> None:
    files = [p for p in ARTIFACTS_DIR.iterdir() if p.is_file() and not p.name.startswith(".")]
    total = sum(p.stat().st_size for p in files)
    assert total < 5_000_000, total
    provenance = (ARTIFACTS_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
    for path in files:
        if path.name != "PROVENANCE.md":
            assert f"`{path.name}`" in provenance, f"{path.name} is not described in PROVENANCE.md"


def test_full_record_for_a_rich_request(pipeline: AnalysisPipeline) -> None:
    request = _request(
        [
            {"role": "system", "content": "You are a support assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "I was charged twice on my card this month, please refund me."},
                {"type": "image_url", "image_url": {"url": "https://example.com/receipt.png"}},
            ]},
        ],
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        tool_choice="auto", response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        max_tokens=300, temperature=0.3, stream=True, metadata={"team": "support"}, user="u-1",
    )
    features = pipeline.analyze_sync(request)
    assert features.analysis.degraded == ()
    assert features.messages == 2 and features.turns == 1
    assert features.has_system_prompt and features.has_images and features.images == 1
    assert features.has_tools and features.tools == 1 and features.tool_choice == "auto"
    assert features.json_schema and features.response_format == "json_schema"
    assert features.max_tokens == 300 and features.temperature == 0.3 and features.stream
    assert dict(features.metadata) == {"team": "support"} and features.user == "u-1" and features.tags == ("beta",)
    assert features.token_family == "o200k"
    assert set(features.prompt_tokens_by_family) == {"cl100k", "o200k", "llama3", "qwen"}
    assert 30 <= features.prompt_tokens <= 80
    assert features.language.code == "en"
    assert "billing" in features.intents
    assert set(features.task_type.probs) == set(TASK_TYPES)
    assert abs(sum(features.task_type.probs.values()) - 1) < 0.01
    assert features.complexity is not None and 0.0 <= features.complexity <= 1.0
    data = features.to_dict()
    assert orjson.loads(orjson.dumps(data)) == data


def test_async_matches_sync(pipeline: AnalysisPipeline) -> None:
    request = _request("Translate 'good morning' into Japanese, please.")
    a = pipeline.analyze_sync(request).to_dict()
    b = asyncio.run(pipeline.analyze(request)).to_dict()
    a.pop("analysis")
    b.pop("analysis")
    assert a == b


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("Write a Python function that merges two sorted lists.", "coding"),
        ("What is the integral of x^2 from 0 to 3?", "math"),
        ("Translate this sentence into French: the cat sleeps on the sofa.", "translation"),
        ("Summarize the following article in three bullet points.", "summarization"),
        ("Write a short poem about the autumn rain.", "writing"),
        ("Pretend you are a pirate captain and stay in character.", "roleplay"),
        ("Extract all the dates and names from this text.", "extraction"),
        ("Who was the first president of the United States?", "knowledge"),
        ("Hey, how's it going?", "conversation"),
    ],
)
def test_task_type_examples(pipeline: AnalysisPipeline, text: str, task: str) -> None:
    assert pipeline.analyze_sync(_request(text)).task_type.label == task


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The weather is lovely today and we are going to the beach.", "en"),
        ("¿Dónde está la estación de tren más cercana?", "es"),
        ("Je voudrais réserver une table pour deux personnes ce soir.", "fr"),
        ("Ich möchte morgen mit dem Zug nach München fahren.", "de"),
        ("Как пройти к центральной площади?", "ru"),
        ("Де знаходиться найближча аптека?", "uk"),
        ("今日はとても良い天気ですね。", "ja"),
        ("我想明天去北京看长城。", "zh"),
        ("오늘 저녁에 뭐 먹을까요?", "ko"),
        ("أين يقع أقرب مستشفى؟", "ar"),
        ("मुझे हिंदी सीखना बहुत पसंद है।", "hi"),
        ("Bugün hava çok güzel, parka gidelim mi?", "tr"),
        ("Hôm nay trời đẹp quá, chúng ta đi dạo nhé.", "vi"),
        ("Καλημέρα, πώς είσαι σήμερα;", "el"),
    ],
)
def test_language_examples(artifacts: Artifacts, text: str, code: str) -> None:
    result = LanguageIdentifier(artifacts.langid).identify(text)
    assert result.code == code
    assert 0.5 <= result.confidence <= 1.0


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Hello!", {"en"}), ("Hi", {"en"}), ("hi there", {"en"}), ("thanks!", {"en"}), ("ok", {"en"}),
        ("Thank you", {"en"}), ("Good morning", {"en"}), ("yes", {"en"}), ("Bonjour !", {"fr"}), ("Merci", {"fr"}),
        ("Ciao!", {"it"}), ("Grazie mille", {"it"}), ("Hola", {"es"}), ("¡Gracias!", {"es"}), ("Obrigado!", {"pt"}),
        ("Danke", {"de"}), ("Guten Morgen", {"de"}), ("Tack!", {"sv"}), ("Kiitos", {"fi"}), ("Dziękuję", {"pl"}),
        ("Merhaba", {"tr"}), ("Terima kasih", {"id"}), ("Cảm ơn", {"vi"}), ("Köszönöm", {"hu"}),
        ("Hallo!", {"de", "nl", "da"}), ("Hej", {"sv", "da", "pl"}), ("ja", {"de", "nl", "sv", "da"}),
        ("no", {"en", "es", "it"}),
    ],
)
def test_short_chat_messages(artifacts: Artifacts, text: str, codes: set[str]) -> None:
    """A message of one to three everyday chat words is not left to the n-gram model's guess ("Hello!" used to
    read as Italian, "Hi" as Vietnamese): its words decide, and the model only chooses among their languages."""
    result = LanguageIdentifier(artifacts.langid).identify(text)
    assert result.code in codes
    assert result.confidence == (0.8 if len(codes) == 1 else 0.6)


def test_short_message_table_stays_within_reach(artifacts: Artifacts) -> None:
    """Every language of the short-message table is one the identifier reports; longer messages, and chat words that
    share no language, go to the model as before."""
    from switchpoint.analysis.langid import SHORT_WORDS

    identifier = LanguageIdentifier(artifacts.langid)
    assert {c for codes in SHORT_WORDS.values() for c in codes} <= set(identifier.languages)
    assert {c for codes in SHORT_WORDS.values() for c in codes} <= set(artifacts.langid["latin"].classes)
    assert identifier.identify("Hello, how are you today?").confidence > 0.8  # five words: the model, sure of it
    mixed = identifier.identify("merci danke")  # no shared language: the model's guess, with its own confidence
    assert mixed.confidence not in (0.8, 0.6)
    assert LanguageIdentifier({}).identify("Merci").code == "fr"  # no Latin model: the table still answers


def test_at_least_twenty_languages(artifacts: Artifacts) -> None:
    languages = LanguageIdentifier(artifacts.langid).languages
    assert len(languages) >= 20
    assert {"ja", "zh", "ko", "ar", "ru", "hi", "en"} <= set(languages)


def test_sentiment_examples(pipeline: AnalysisPipeline) -> None:
    negative = pipeline.analyze_sync(_request("This is terrible, I'm furious, nothing works!"))
    assert negative.sentiment.label == "negative"
    assert pipeline.analyze_sync(_request("Thank you so much, this is wonderful!")).sentiment.label == "positive"
    assert pipeline.analyze_sync(_request("List the planets of the solar system.")).sentiment.label == "neutral"


def test_intents_respect_thresholds(pipeline: AnalysisPipeline) -> None:
    matched = pipeline.analyze_sync(_request("How can I cancel my plan?")).intents
    assert list(matched)[:1] == ["cancellation"]
    assert pipeline.analyze_sync(_request("Write a haiku about the sea.")).intents == {}


def test_empty_and_odd_requests_never_fail(pipeline: AnalysisPipeline) -> None:
    for content in ("", "   ", "🙂🙂🙂", "1234", "x" * 50_000, [{"role": "assistant", "content": "hi"}]):
        features = pipeline.analyze_sync(_request(content))
        assert features.analysis.degraded == ()


def test_disabled_config_builds_an_empty_pipeline() -> None:
    pipeline = build_pipeline(AnalysisConfig(enabled=False))
    assert pipeline.analyzers == ()


def test_every_analyser_can_be_offloaded(artifacts: Artifacts) -> None:
    config = AnalysisConfig(offload=ANALYZER_NAMES, budget_ms=5000)
    pipeline = build_pipeline(config, artifacts=artifacts)
    try:
        features = asyncio.run(pipeline.analyze(_request("Solve 2x + 3 = 11.")))
    finally:
        pipeline.close()
    assert features.analysis.degraded == ()
    assert features.task_type.label == "math"


def test_accuracy_on_the_labelled_set(pipeline: AnalysisPipeline) -> None:
    rows = load()
    assert len(rows) >= 300 and len({r["lang"] for r in rows}) >= 10
    result = score(pipeline, rows).as_dict()
    assert result["task_type"] >= 0.85, result
    assert result["sentiment"] >= 0.85, result
    assert result["language"] >= 0.97, result
    assert result["pii_recall"] >= 0.95 and result["pii_precision"] >= 0.90, result


def test_analysis_imports_no_numpy_or_torch() -> None:
    code = (
        "import sys; from switchpoint.analysis import build_pipeline; from switchpoint.types import ChatRequest; "
        "p = build_pipeline(); "
        "p.analyze_sync(ChatRequest(body={'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}]}, model='m')); "
        "print(','.join(m for m in ('numpy', 'torch', 'sklearn', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    assert out == ""
