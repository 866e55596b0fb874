"""The built-in analysers. Each is small, holds its own model, and reads the shared request view.

| name | sets | cost |
|---|---|---|
| ``shape`` | prompt tokens, messages, turns, system prompt, images, audio, tools, schema, max tokens | regex counts |
| ``metadata`` | request fields (model, stream, temperature...), metadata, user, tags, tool choice | dict reads |
| ``pii`` | ``pii`` | literal-led regex passes over all text |
| ``language`` | ``language`` | script counts + n-gram model |
| ``task_type`` | ``task_type`` | linear model over text features |
| ``sentiment`` | ``sentiment`` | linear model over text features |
| ``complexity`` | ``complexity`` | linear model over text features |
| ``intents`` | ``intents`` | static embeddings + cosine per example |
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from switchpoint.analysis.config import IntentSpec
from switchpoint.analysis.embeddings import MAX_TOKENS, StaticEmbedder
from switchpoint.analysis.features import (
    UNKNOWN,
    PIIResult,
    SentimentResult,
    TaskTypeResult,
)
from switchpoint.analysis.langid import LanguageIdentifier
from switchpoint.analysis.linear import LinearModel
from switchpoint.analysis.pii import PIIDetector
from switchpoint.analysis.textfeatures import Lexicon, text_features
from switchpoint.analysis.tokens import TokenEstimator, family_for_model
from switchpoint.analysis.view import RequestView

__all__ = [
    "ComplexityAnalyzer",
    "IntentAnalyzer",
    "LanguageAnalyzer",
    "MetadataAnalyzer",
    "PIIAnalyzer",
    "SentimentAnalyzer",
    "ShapeAnalyzer",
    "TaskTypeAnalyzer",
    "complexity_features",
    "kind_cues",
    "numeric_cues",
    "question_of",
    "size_cues",
]


def _features(view: RequestView, lexicon: Lexicon | None) -> set[str]:
    """Text features of the last user message, computed once per request and shared.

    The built-in classifiers share one lexicon (``Artifacts.lexicon``), so one cached set serves all.
    """
    cached = view.cache.get("text_features")
    if cached is None:
        cached = text_features(view.last_user_text, lexicon)
        view.cache["text_features"] = cached
    assert isinstance(cached, set)
    return cached


class ShapeAnalyzer:
    """Size and shape of the request; prompt tokens estimated for every calibrated family."""

    name = "shape"
    inline = True
    provides = ("prompt_tokens", "token_family", "prompt_tokens_by_family", "messages", "turns", "has_system_prompt",
                "has_images", "images", "has_audio", "has_tools", "tools", "tool_names", "json_schema", "max_tokens")

    def __init__(self, estimator: TokenEstimator, *, family: str = "auto", default_family: str = "o200k") -> None:
        self.estimator = estimator
        self.family = family
        self.default_family = default_family

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        body = view.body
        tools = body.get("tools")
        tools = tools if isinstance(tools, list) else []
        functions = body.get("functions")
        if isinstance(functions, list):
            tools = tools + functions
        texts = list(view.all_texts)
        if tools:
            texts.append(orjson.dumps(tools).decode())
        by_family = self.estimator.count_chat(texts, view.message_count)
        family = self.family
        if family == "auto":
            family = family_for_model(view.request.model, self.default_family)
        if family not in by_family:
            family = self.default_family if self.default_family in by_family else next(iter(by_family))
        response_format = body.get("response_format")
        # max_completion_tokens replaces max_tokens; a null one does not hide the other
        max_tokens = next((v for v in (body.get("max_completion_tokens"), body.get("max_tokens"))
                           if isinstance(v, int) and not isinstance(v, bool)), None)
        modalities = body.get("modalities")
        has_audio = view.audio > 0 or "audio" in body or (isinstance(modalities, list) and "audio" in modalities)
        return {
            "prompt_tokens": by_family[family],
            "token_family": family,
            "prompt_tokens_by_family": by_family,
            "messages": view.message_count,
            "turns": view.user_turns,
            "has_system_prompt": bool(view.system_text),
            "has_images": view.images > 0 or view.request.has_images,
            "images": view.images,
            "has_audio": has_audio,
            "has_tools": bool(tools) or view.request.has_tools,
            "tools": len(tools),
            "tool_names": _tool_names(tools),
            "json_schema": isinstance(response_format, Mapping) and response_format.get("type") == "json_schema",
            "max_tokens": max_tokens,
        }


def _tool_names(tools: list[Any]) -> tuple[str, ...]:
    """Names of the declared functions (``tools[].function.name``, legacy ``functions[].name``), in order."""
    names: list[str] = []
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool.get("name")
        if isinstance(name, str) and name not in names:
            names.append(name)
    return tuple(names)


class MetadataAnalyzer:
    """Request fields and metadata that rules may match on."""

    name = "metadata"
    inline = True
    provides = ("model", "stream", "temperature", "top_p", "n", "reasoning_effort", "metadata", "user", "tags",
                "tool_choice", "response_format")

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        body = view.body
        metadata = body.get("metadata")
        user = body.get("user")
        response_format = body.get("response_format")
        return {
            "model": view.request.model,
            "stream": view.request.stream,
            "temperature": _number(body.get("temperature")),
            "top_p": _number(body.get("top_p")),
            "n": body.get("n") if isinstance(body.get("n"), int) and not isinstance(body.get("n"), bool) else None,
            "reasoning_effort": _reasoning_effort(body),
            "metadata": metadata if isinstance(metadata, Mapping) else {},
            "user": user if isinstance(user, str) else None,
            "tags": tuple(view.request.tags),
            "tool_choice": _tool_choice(body.get("tool_choice")),
            "response_format": response_format.get("type") if isinstance(response_format, Mapping) else None,
        }


def _reasoning_effort(body: Mapping[str, Any]) -> str | None:
    """``reasoning_effort`` (chat completions), or ``reasoning.effort`` (the Responses API shape)."""
    effort = body.get("reasoning_effort")
    if effort is None and isinstance(body.get("reasoning"), Mapping):
        effort = body["reasoning"].get("effort")
    return effort if isinstance(effort, str) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _tool_choice(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        function = value.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if isinstance(name, str):
            return "function:" + name
        return str(value.get("type", "object"))
    return None


class PIIAnalyzer:
    """Sensitive data anywhere in the prompt: every character of every message is scanned.

    The scan costs about 15 microseconds per KB here, so it runs inline up to ``inline_chars``
    characters of text (about 1 ms); a request with more text is scanned in the pipeline's worker
    thread, off the event loop, under the same time budget (see ``docs/analysis.md``).
    """

    name = "pii"
    inline = True
    provides = ("pii",)

    def __init__(self, detector: PIIDetector | None = None, *, inline_chars: int = 65_536) -> None:
        self.detector = detector or PIIDetector()
        self.inline_chars = inline_chars

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        kinds: set[str] = set()
        for text in view.all_texts:
            kinds |= self.detector.kinds(text)
        return {"pii": PIIResult(bool(kinds), tuple(sorted(kinds)))}


class LanguageAnalyzer:
    name = "language"
    inline = True
    provides = ("language",)

    def __init__(self, identifier: LanguageIdentifier) -> None:
        self.identifier = identifier

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"language": self.identifier.identify(view.last_user_text)}


class TaskTypeAnalyzer:
    name = "task_type"
    inline = True
    provides = ("task_type",)

    def __init__(self, model: LinearModel, lexicon: Lexicon | None = None) -> None:
        self.model = model
        self.lexicon = lexicon

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        if not view.last_user_text.strip():
            return {"task_type": TaskTypeResult(UNKNOWN)}
        probs = self.model.predict_proba(_features(view, self.lexicon))
        label = max(probs, key=probs.__getitem__)
        return {"task_type": TaskTypeResult(label, {k: round(v, 4) for k, v in probs.items()})}


class SentimentAnalyzer:
    name = "sentiment"
    inline = True
    provides = ("sentiment",)

    def __init__(self, model: LinearModel, lexicon: Lexicon | None = None) -> None:
        self.model = model
        self.lexicon = lexicon

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        if not view.last_user_text.strip():
            return {"sentiment": SentimentResult(UNKNOWN)}
        probs = self.model.predict_proba(_features(view, self.lexicon))
        label = max(probs, key=probs.__getitem__)
        return {"sentiment": SentimentResult(label, round(probs[label], 4))}


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NUMBERS = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"[.!?。！？]+(?:\s|$)")
_SENTENCE = re.compile(r"[.!?](?:\s|$)")
_CHOICES = re.compile(r"^\s*\(?[A-Da-d][.)]\s", re.MULTILINE)
_FRACTION = re.compile(r"\d\s*/\s*\d")
_WORDS = re.compile(r"\w+")
# words that quantity problems are made of; counted on the question's lower-cased words
_MATH_WORDS = frozenset(
    "each per total times twice half third quarter percent remaining left altogether combined fewer average ratio "
    "profit cost costs spent spend spends earn earns save saves pay pays sell sells sold buy buys bought every rate "
    "hour hours minute minutes day days week weeks dollar dollars".split())
_MATH_PAIRS = frozenset({("more", "than"), ("less", "than"), ("how", "many"), ("how", "much")})
_PAIR_FIRST = frozenset(first for first, _ in _MATH_PAIRS)
_CUES_WINDOW = 1200  # characters of the question the numeric and kind cues read


def _bucket(n: float, edges: tuple[float, ...]) -> str:
    for edge in edges:
        if n <= edge:
            return str(edge)
    return str(edges[-1]) + "+"


def question_of(text: str) -> str:
    """The question itself: the last block of the text's last 3,000 characters (after any few-shot examples)."""
    return text[-3000:].rstrip().rsplit("\n\n", 1)[-1]


def size_cues(text: str, question: str) -> set[str]:
    """Log-length buckets of the whole text and of the question, counts of numbers and sentences,
    and whether it offers lettered choices."""
    features = {
        "#chars:" + str(min(14, int(math.log2(len(text) + 1)))),
        "#qchars:" + str(min(13, int(math.log2(len(question) + 1)))),
        "#nums:" + _bucket(len(_NUMBER.findall(question)), (0, 1, 2, 4, 8)),
        "#sents:" + _bucket(len(_SENTENCE_END.findall(question)), (1, 2, 4, 8)),
    }
    if len(_CHOICES.findall(question)) >= 3:
        features.add("#choices")
    return features


def numeric_cues(question: str, numbers: list[str] | None = None) -> set[str]:
    """How much arithmetic a question asks for: distinct numbers, quantity words ("each", "total",
    "how many"...), big numbers, decimals, percentages, fractions, and its length in words."""
    numbers = _NUMBERS.findall(question) if numbers is None else numbers
    words = _WORDS.findall(question.lower())
    quantity = sum(map(_MATH_WORDS.__contains__, words))
    if not _PAIR_FIRST.isdisjoint(words):
        quantity += sum(pair in _MATH_PAIRS for pair in zip(words, words[1:], strict=False))
    features = {
        "#dnums:" + _bucket(len(set(numbers)), (0, 1, 2, 3, 4, 5, 6, 8)),
        "#mwords:" + _bucket(quantity, (0, 1, 2, 3, 5, 8)),
        "#qwords:" + _bucket(len(question.split()), (8, 16, 24, 32, 48, 64, 96, 128, 256)),
    }
    if any(len(n.replace(",", "").split(".")[0]) >= 4 for n in numbers):
        features.add("#bignum")
    if any("." in n or "," in n for n in numbers):
        features.add("#decimal")
    if "%" in question:
        features.add("#percent")
    if _FRACTION.search(question):
        features.add("#fraction")
    return features


def kind_cues(question: str, numbers: list[str] | None = None) -> set[str]:
    """Length, numbers and sentences read separately for word problems (two or more numbers),
    multiple-choice questions and the rest: what makes each kind harder differs."""
    count = len(_NUMBERS.findall(question) if numbers is None else numbers)
    options = [line for line in question.splitlines() if _CHOICES.match(line)]
    kind = "mc" if len(options) >= 3 else "wp" if count >= 2 else "other"
    features = {
        "#" + kind,
        f"#{kind}_qchars:{min(13, int(math.log2(len(question) + 1)))}",
        f"#{kind}_nums:" + _bucket(count, (0, 1, 2, 3, 4, 5, 6, 8, 12)),
        f"#{kind}_sents:" + _bucket(len(_SENTENCE.findall(question)), (1, 2, 3, 4, 5, 6, 8)),
    }
    if kind == "mc":
        features.add("#mc_optlen:" + _bucket(sum(map(len, options)) / len(options), (4, 8, 16, 32, 64, 128)))
    return features


def complexity_features(text: str, base: set[str] | None = None) -> set[str]:
    """The complexity model's features: the shape and cue-word features of the text features (not
    its words: on prompts of unseen benchmarks, topic words transferred worse than shape), plus
    size, arithmetic and kind cues of the question. Training uses the same function."""
    base = base if base is not None else text_features(text)
    question = question_of(text)
    tail = question[-_CUES_WINDOW:]  # a word problem or a multiple-choice question fits; a long text costs no more
    numbers = _NUMBERS.findall(tail)
    return ({f for f in base if f.startswith("#")} | size_cues(text, question) | numeric_cues(tail, numbers)
            | kind_cues(tail, numbers))


class ComplexityAnalyzer:
    """P(a small model answers poorly), from a model trained on routing outcome data."""

    name = "complexity"
    inline = True
    provides = ("complexity",)

    def __init__(self, model: LinearModel, lexicon: Lexicon | None = None) -> None:
        self.model = model
        self.lexicon = lexicon

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        text = view.last_user_text
        if not text.strip():
            return {}
        probs = self.model.predict_proba(complexity_features(text, _features(view, self.lexicon)))
        return {"complexity": round(probs[self.model.classes[-1]], 4)}


class IntentAnalyzer:
    """User-defined intents matched by embedding similarity to their examples.

    An intent's score is its best cosine similarity over its examples; intents at or above their
    threshold are reported, best first.

    All the arithmetic is on integers packed into big Python integers (a 40-bit field per
    example), so its cost hardly grows with the number of examples:

    - the examples are unit vectors quantised to 1/1000; ``_columns[d]`` packs dimension ``d`` of
      every example, offset to be positive;
    - a token's dot products with every example are ``sum(row[d] * _columns[d])`` over its 128
      int8 dimensions (offset too), computed once per token and cached (bounded);
    - a request sums its tokens' packed products, removes the offsets, and divides each field by
      the norm of its vector: one cosine per example.
    """

    name = "intents"
    inline = True
    provides = ("intents",)

    _QUANT = 1000  # example components in thousandths
    _OFF = 1024  # keeps quantised example components positive
    _ROW_OFF = 128  # keeps int8 token components positive
    _FIELD = 40
    _CACHE_LIMIT = 50_000

    def __init__(self, embedder: StaticEmbedder, intents: Sequence[IntentSpec]) -> None:
        self.embedder = embedder
        self.intents = tuple(intents)
        self._names: list[str] = []
        self._thresholds: list[float] = []
        self._ranges: list[tuple[int, int]] = []  # each intent's examples, as indices
        examples: list[list[int]] = []
        for intent in self.intents:
            vectors = [v for v in map(embedder.encode, intent.examples) if v is not None]
            if vectors:
                self._names.append(intent.name)
                self._thresholds.append(intent.threshold)
                self._ranges.append((len(examples), len(examples) + len(vectors)))
                examples.extend([round(x * self._QUANT) for x in v] for v in vectors)
        self._n = len(examples)
        dims = embedder.dims
        self._columns = [sum((e[d] + self._OFF) << (self._FIELD * i) for i, e in enumerate(examples))
                         for d in range(dims)]
        # per example: the offsets' share of a field, for one token whose components sum to 0
        self._base = [self._ROW_OFF * (sum(e) + self._OFF * dims) for e in examples]
        self._dots: dict[int, int] = {}

    def _token_dots(self, token_id: int) -> int:
        packed = self._dots.get(token_id)
        if packed is None:
            shifted = [v + self._ROW_OFF for v in self.embedder.values(token_id)]
            packed = sum(map(int.__mul__, shifted, self._columns))
            if len(self._dots) < self._CACHE_LIMIT:
                self._dots[token_id] = packed
        return packed

    def scores(self, text: str) -> dict[str, float]:
        """Similarity of ``text`` to every intent (matched or not)."""
        ids = self.embedder.token_ids(text)[:MAX_TOKENS]
        vector = self.embedder.sum_vectors(ids)
        norm = math.hypot(*vector) if vector is not None else 0.0
        if vector is None or not norm:
            return dict.fromkeys(self._names, 0.0)
        total = sum(map(self._token_dots, ids))
        shift = self._OFF * sum(vector)
        n = len(ids)
        mask = (1 << self._FIELD) - 1
        scale = 1.0 / (self._QUANT * norm)
        sims = [(((total >> (self._FIELD * i)) & mask) - shift - n * self._base[i]) * scale for i in range(self._n)]
        return {name: max(sims[a:b]) for name, (a, b) in zip(self._names, self._ranges, strict=True)}

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        if not self._n:
            return {"intents": {}}
        scores = self.scores(view.last_user_text)
        matched = sorted(((score, name) for (name, score), threshold in zip(scores.items(), self._thresholds,
                                                                            strict=True) if score >= threshold),
                         reverse=True)
        return {"intents": {name: round(score, 4) for score, name in matched}}
