"""Settings of the analysis pipeline, as plain frozen dataclasses.

``AnalysisConfig.from_mapping`` reads the proposed ``analysis:`` section of the config file::

    analysis:
      enabled: true
      budget_ms: 5
      analyzers: [shape, metadata, pii, language, task_type, sentiment, complexity, intents]
      offload: []                  # analysers to run in the worker thread
      token_family: auto           # or cl100k | o200k | llama3 | qwen
      default_token_family: o200k  # used by "auto" when the model name is not recognised
      intent_threshold: 0.5        # default for intents that do not set one
      intents:
        billing:
          threshold: 0.62
          examples: ["I was charged twice", "Why is my invoice higher than usual?"]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ANALYZER_NAMES", "DEFAULT_ANALYZERS", "AnalysisConfig", "IntentSpec"]

ANALYZER_NAMES: tuple[str, ...] = (
    "shape", "metadata", "pii", "language", "task_type", "sentiment", "complexity", "intents",
)
DEFAULT_ANALYZERS = ANALYZER_NAMES
TOKEN_FAMILIES: tuple[str, ...] = ("auto", "cl100k", "o200k", "llama3", "qwen")


@dataclass(frozen=True, slots=True)
class IntentSpec:
    """A user-defined intent: example utterances and the similarity (cosine, 0..1) needed to match."""

    name: str
    examples: tuple[str, ...]
    threshold: float = 0.5


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    enabled: bool = True
    budget_ms: float = 5.0
    analyzers: tuple[str, ...] = DEFAULT_ANALYZERS
    offload: tuple[str, ...] = ()
    token_family: str = "auto"
    default_token_family: str = "o200k"
    intent_threshold: float = 0.5
    intents: tuple[IntentSpec, ...] = field(default_factory=tuple)
    #: Share (0..1) of direct requests (naming a model group, not a router) whose record also
    #: carries the features, computed after the answer, off the request's path. Routed requests
    #: always carry them. 0 by default: analysis costs about as much CPU as the rest of a request.
    record_direct: float = 0.0

    def __post_init__(self) -> None:
        for name in (*self.analyzers, *self.offload):
            if name not in ANALYZER_NAMES:
                raise ValueError(f"analysis: unknown analyser {name!r}; known: {', '.join(ANALYZER_NAMES)}")
        if self.budget_ms <= 0:
            raise ValueError("analysis.budget_ms must be positive")
        if self.token_family not in TOKEN_FAMILIES:
            raise ValueError(f"analysis.token_family must be one of {', '.join(TOKEN_FAMILIES)}")
        if self.default_token_family not in TOKEN_FAMILIES[1:]:
            raise ValueError(f"analysis.default_token_family must be one of {', '.join(TOKEN_FAMILIES[1:])}")
        names = [i.name for i in self.intents]
        if len(set(names)) != len(names):
            raise ValueError("analysis.intents: names must be unique")
        if not 0.0 <= self.record_direct <= 1.0:
            raise ValueError("analysis.record_direct must be between 0 and 1")
        for intent in self.intents:
            if not intent.examples:
                raise ValueError(f"analysis.intents.{intent.name}: give at least one example")
            if not 0.0 < intent.threshold <= 1.0:
                raise ValueError(f"analysis.intents.{intent.name}.threshold must be in (0, 1]")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> AnalysisConfig:
        """Build from the parsed ``analysis:`` section; unknown keys are errors."""
        data = dict(data or {})
        known = {"enabled", "budget_ms", "analyzers", "offload", "token_family", "default_token_family",
                 "intent_threshold", "intents", "record_direct"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"analysis: unknown keys {sorted(unknown)}")
        default_threshold = float(data.get("intent_threshold", 0.5))
        intents = tuple(_intent(name, spec, default_threshold) for name, spec in (data.get("intents") or {}).items())
        kwargs: dict[str, Any] = {"intents": intents, "intent_threshold": default_threshold}
        if "enabled" in data:
            kwargs["enabled"] = bool(data["enabled"])
        if "budget_ms" in data:
            kwargs["budget_ms"] = float(data["budget_ms"])
        if "record_direct" in data:
            kwargs["record_direct"] = float(data["record_direct"])
        for key in ("analyzers", "offload"):
            if key in data:
                kwargs[key] = tuple(_strings(data[key], f"analysis.{key}"))
        for key in ("token_family", "default_token_family"):
            if key in data:
                kwargs[key] = str(data[key])
        return cls(**kwargs)


def _strings(value: Any, where: str) -> Sequence[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a list of strings")
    return value


def _intent(name: Any, spec: Any, default_threshold: float) -> IntentSpec:
    if not isinstance(spec, Mapping):
        raise ValueError(f"analysis.intents.{name} must be a mapping with 'examples'")
    unknown = set(spec) - {"examples", "threshold"}
    if unknown:
        raise ValueError(f"analysis.intents.{name}: unknown keys {sorted(unknown)}")
    examples = tuple(_strings(spec.get("examples"), f"analysis.intents.{name}.examples"))
    return IntentSpec(str(name), examples, float(spec.get("threshold", default_threshold)))
