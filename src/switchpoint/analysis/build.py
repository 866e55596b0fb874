"""Composition: load the shipped artifacts once and build a pipeline from an :class:`AnalysisConfig`.

Artifacts are read explicitly into an :class:`Artifacts` object (no module-level caches); a
pipeline keeps what it was built with. Building several pipelines from one ``Artifacts`` shares
the read-only models; building them separately shares nothing.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchpoint.analysis.analyzers import (
    ComplexityAnalyzer,
    IntentAnalyzer,
    LanguageAnalyzer,
    MetadataAnalyzer,
    PIIAnalyzer,
    SentimentAnalyzer,
    ShapeAnalyzer,
    TaskTypeAnalyzer,
)
from switchpoint.analysis.config import AnalysisConfig
from switchpoint.analysis.embeddings import StaticEmbedder
from switchpoint.analysis.langid import LanguageIdentifier
from switchpoint.analysis.linear import LinearModel
from switchpoint.analysis.pii import PIIDetector
from switchpoint.analysis.pipeline import AnalysisPipeline
from switchpoint.analysis.protocol import Analyzer
from switchpoint.analysis.textfeatures import Lexicon
from switchpoint.analysis.tokens import TokenEstimator
from switchpoint.analysis.view import RequestView
from switchpoint.clock import Clock

__all__ = ["ARTIFACTS_DIR", "Artifacts", "Offloaded", "build_pipeline"]

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


@dataclass(frozen=True, slots=True)
class Artifacts:
    """The trained models the built-in analysers use."""

    tokens: TokenEstimator
    langid: Mapping[str, LinearModel]
    task_type: LinearModel
    sentiment: LinearModel
    complexity: LinearModel
    lexicon: Lexicon
    embedder: StaticEmbedder

    @classmethod
    def load(cls, directory: Path = ARTIFACTS_DIR) -> Artifacts:
        calibration = json.loads((directory / "token_calibration.json").read_text(encoding="utf-8"))
        with gzip.open(directory / "token_words.txt.gz", "rt", encoding="utf-8") as file:
            known_words = {word: int(mask) for word, mask in (line.split("\t") for line in file.read().splitlines())}
        return cls(
            tokens=TokenEstimator(calibration["coefficients"], known_words=known_words,
                                  message_overhead=float(calibration.get("message_overhead", 3.0)),
                                  reply_overhead=float(calibration.get("reply_overhead", 3.0))),
            langid={script: LinearModel.load(directory / f"langid_{script}.json.gz")
                    for script in ("latin", "cyrillic")},
            task_type=LinearModel.load(directory / "task_type.json.gz"),
            sentiment=LinearModel.load(directory / "sentiment.json.gz"),
            complexity=LinearModel.load(directory / "complexity.json.gz"),
            lexicon=Lexicon.load(directory / "lexicon.json"),
            embedder=StaticEmbedder.load(directory / "static_embeddings.bin.gz"),
        )


class Offloaded:
    """Runs another analyser in the pipeline's worker thread (``analysis.offload`` in config)."""

    inline = False

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.name = analyzer.name
        self.provides = analyzer.provides

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        return self.analyzer.analyze(view, partial)


def build_pipeline(
    config: AnalysisConfig | None = None,
    *,
    artifacts: Artifacts | None = None,
    clock: Clock | None = None,
) -> AnalysisPipeline:
    """The pipeline for ``config`` (default: every built-in analyser, no intents)."""
    config = config or AnalysisConfig()
    if not config.enabled:
        return AnalysisPipeline([], budget_ms=config.budget_ms, clock=clock)
    artifacts = artifacts or Artifacts.load()
    factories: dict[str, Callable[[], Analyzer]] = {
        "shape": lambda: ShapeAnalyzer(artifacts.tokens, family=config.token_family,
                                       default_family=config.default_token_family),
        "metadata": MetadataAnalyzer,
        "pii": lambda: PIIAnalyzer(PIIDetector()),
        "language": lambda: LanguageAnalyzer(LanguageIdentifier(artifacts.langid)),
        "task_type": lambda: TaskTypeAnalyzer(artifacts.task_type, artifacts.lexicon),
        "sentiment": lambda: SentimentAnalyzer(artifacts.sentiment, artifacts.lexicon),
        "complexity": lambda: ComplexityAnalyzer(artifacts.complexity, artifacts.lexicon),
        "intents": lambda: IntentAnalyzer(artifacts.embedder, config.intents),
    }
    analyzers: list[Analyzer] = []
    for name in config.analyzers:
        analyzer: Analyzer = factories[name]()
        analyzers.append(Offloaded(analyzer) if name in config.offload else analyzer)
    return AnalysisPipeline(analyzers, budget_ms=config.budget_ms, clock=clock)
