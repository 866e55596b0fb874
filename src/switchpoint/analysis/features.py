"""The request-features record: what every routing decision is made from.

:class:`RequestFeatures` is a stable, documented API (``docs/analysis.md`` lists every key).
It is immutable; ``to_dict()`` gives plain JSON-serialisable data, the same shape that the
``POST /v1/route`` dry-run returns and that request records store. ``SCHEMA_VERSION`` changes
only when a key is removed or changes meaning; adding keys does not bump it.

Every analysed group has an explicit "unknown" value, used when its analyser is disabled,
failed or ran out of time: ``"unknown"`` labels with empty probabilities, ``None`` complexity,
``None`` for ``pii.found``. The names of the degraded analysers are in ``analysis.degraded``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "SENTIMENTS",
    "TASK_TYPES",
    "UNKNOWN",
    "AnalysisInfo",
    "LanguageResult",
    "PIIResult",
    "RequestFeatures",
    "SentimentResult",
    "TaskTypeResult",
]

SCHEMA_VERSION = 1
UNKNOWN = "unknown"
TASK_TYPES: tuple[str, ...] = (
    "coding",
    "math",
    "reasoning",
    "writing",
    "roleplay",
    "extraction",
    "summarization",
    "translation",
    "knowledge",
    "conversation",
)
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping)) if mapping else _EMPTY


@dataclass(frozen=True, slots=True)
class TaskTypeResult:
    """The most likely task type and a probability for each of :data:`TASK_TYPES`."""

    label: str = UNKNOWN
    probs: Mapping[str, float] = field(default_factory=_empty)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "probs": dict(self.probs)}


@dataclass(frozen=True, slots=True)
class LanguageResult:
    """ISO 639-1 code of the prompt's language (``"unknown"`` when undecided) and a confidence in [0, 1]."""

    code: str = UNKNOWN
    confidence: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "confidence": self.confidence}


@dataclass(frozen=True, slots=True)
class SentimentResult:
    """``negative``, ``neutral`` or ``positive``; ``score`` is the label's probability."""

    label: str = UNKNOWN
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score}


@dataclass(frozen=True, slots=True)
class PIIResult:
    """Sensitive data found anywhere in the prompt. ``found`` is ``None`` when not checked.

    ``kinds`` is sorted and holds each kind once: ``email``, ``phone``, ``payment_card``, ``iban``,
    ``national_id``, ``ip_address``, ``api_key``, ``aws_key``, ``private_key``, ``jwt``, ``password``.
    """

    found: bool | None = None
    kinds: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"found": self.found, "kinds": list(self.kinds)}


@dataclass(frozen=True, slots=True)
class AnalysisInfo:
    """How the record was made: which analysers degraded to unknown, and the time it took."""

    degraded: tuple[str, ...] = ()
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"degraded": list(self.degraded), "elapsed_ms": self.elapsed_ms}


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """Everything known about one request before a model is chosen.

    Content analysis: ``task_type``, ``language``, ``sentiment``, ``pii``, ``complexity``
    (probability in [0, 1] that a small model answers poorly; ``None`` when unknown) and
    ``intents`` (name → similarity, only intents above their threshold, best first).

    Size and shape: ``prompt_tokens`` (estimated for ``token_family``), ``prompt_tokens_by_family``,
    ``messages``, ``turns`` (user messages), ``has_system_prompt``, ``has_images`` / ``images``,
    ``has_audio``, ``has_tools`` / ``tools`` / ``tool_names``, ``tool_choice``, ``json_schema`` (a JSON schema was
    requested), ``response_format`` (its ``type``), ``max_tokens`` (expected output size when given).

    Request fields and metadata: ``model``, ``stream``, ``temperature``, ``top_p``, ``n``, ``reasoning_effort``,
    ``metadata`` (the OpenAI ``metadata`` object), ``user``, ``tags`` (the ``x-switchpoint-tags``
    header), and ``key_id`` / ``team`` / ``key_user`` (filled once API keys exist).
    """

    task_type: TaskTypeResult = field(default_factory=TaskTypeResult)
    language: LanguageResult = field(default_factory=LanguageResult)
    sentiment: SentimentResult = field(default_factory=SentimentResult)
    pii: PIIResult = field(default_factory=PIIResult)
    complexity: float | None = None
    intents: Mapping[str, float] = field(default_factory=_empty)
    prompt_tokens: int = 0
    token_family: str = "o200k"
    prompt_tokens_by_family: Mapping[str, int] = field(default_factory=_empty)
    messages: int = 0
    turns: int = 0
    has_system_prompt: bool = False
    has_images: bool = False
    images: int = 0
    has_audio: bool = False
    has_tools: bool = False
    tools: int = 0
    tool_names: tuple[str, ...] = ()
    tool_choice: str | None = None
    json_schema: bool = False
    response_format: str | None = None
    max_tokens: int | None = None
    model: str = ""
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    reasoning_effort: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=_empty)
    user: str | None = None
    tags: tuple[str, ...] = ()
    key_id: str | None = None
    team: str | None = None
    key_user: str | None = None
    analysis: AnalysisInfo = field(default_factory=AnalysisInfo)

    def __post_init__(self) -> None:
        # Mappings are stored read-only, so a record handed to a rule cannot be changed by it.
        for name in ("intents", "prompt_tokens_by_family", "metadata"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, _frozen(value))
        probs = self.task_type.probs
        if not isinstance(probs, MappingProxyType):
            object.__setattr__(self, "task_type", TaskTypeResult(self.task_type.label, _frozen(probs)))

    @classmethod
    def from_parts(cls, parts: Mapping[str, Any]) -> RequestFeatures:
        """Build a record from analyser outputs; keys that are not fields are ignored."""
        return cls(**{name: value for name, value in parts.items() if name in _FIELD_NAMES})

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON data (the documented, stable shape)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "task_type": self.task_type.to_dict(),
            "language": self.language.to_dict(),
            "sentiment": self.sentiment.to_dict(),
            "pii": self.pii.to_dict(),
            "complexity": self.complexity,
            "intents": dict(self.intents),
            "prompt_tokens": self.prompt_tokens,
            "token_family": self.token_family,
            "prompt_tokens_by_family": dict(self.prompt_tokens_by_family),
            "messages": self.messages,
            "turns": self.turns,
            "has_system_prompt": self.has_system_prompt,
            "has_images": self.has_images,
            "images": self.images,
            "has_audio": self.has_audio,
            "has_tools": self.has_tools,
            "tools": self.tools,
            "tool_names": list(self.tool_names),
            "tool_choice": self.tool_choice,
            "json_schema": self.json_schema,
            "response_format": self.response_format,
            "max_tokens": self.max_tokens,
            "model": self.model,
            "stream": self.stream,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "reasoning_effort": self.reasoning_effort,
            "metadata": _plain(self.metadata),
            "user": self.user,
            "tags": list(self.tags),
            "key_id": self.key_id,
            "team": self.team,
            "key_user": self.key_user,
            "analysis": self.analysis.to_dict(),
        }


_FIELD_NAMES = frozenset(RequestFeatures.__dataclass_fields__)


def _plain(value: Any) -> Any:
    """A JSON-safe copy of client metadata (OpenAI allows string values; be lenient about others)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
