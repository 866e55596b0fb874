"""Prompt features of the learned routers, in pure Python (no numpy at request time).

One :class:`PromptFeaturizer` turns a prompt into

- a **dense** vector (``DENSE_NAMES``): the static sentence embedding of the prompt's *question
  block* (the text after the last blank line of its tail, so that few-shot examples in front of
  a question do not drown it), two log-length cues (whole text, question block), the analysis
  ``complexity`` probability and the ten ``task_type`` probabilities;
- a **sparse** set of text features (``switchpoint.analysis.analyzers.complexity_features``:
  words, bigrams, stems, lexicon cues and shape cues of the text's head and tail).

Both reuse the analysis artifacts (``switchpoint/analysis/artifacts``): the same functions build
the training matrices (``scripts/routing``) and run at request time, so the two cannot drift.
The cost is bounded by the analysis window (head and tail), so it does not grow with the prompt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from switchpoint.analysis.analyzers import complexity_features
from switchpoint.analysis.embeddings import StaticEmbedder
from switchpoint.analysis.linear import LinearModel
from switchpoint.analysis.textfeatures import Lexicon, text_features

__all__ = ["ANALYSIS_ARTIFACTS", "PromptFeatures", "PromptFeaturizer", "question_block"]

ANALYSIS_ARTIFACTS = Path(__file__).resolve().parents[2] / "analysis" / "artifacts"
_TAIL = 3000


def question_block(text: str) -> str:
    """The last blank-line-separated block of the text's tail (the question after any few-shot
    examples); the whole tail when that block is too short to say anything."""
    tail = text[-_TAIL:].strip()
    block = tail.rsplit("\n\n", 1)[-1].strip()
    return block if len(block) >= 24 else tail


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    dense: list[float]
    sparse: set[str]


class PromptFeaturizer:
    """Dense and sparse features of a prompt text (see the module docstring)."""

    def __init__(self, embedder: StaticEmbedder, lexicon: Lexicon, complexity: LinearModel,
                 task_type: LinearModel) -> None:
        self.embedder = embedder
        self.lexicon = lexicon
        self.complexity = complexity
        self.task_type = task_type
        self.dense_names: tuple[str, ...] = (
            *(f"emb{i}" for i in range(embedder.dims)), "len", "qlen", "complexity",
            *(f"task:{c}" for c in task_type.classes),
        )

    @classmethod
    def load(cls, directory: Path = ANALYSIS_ARTIFACTS) -> PromptFeaturizer:
        return cls(
            StaticEmbedder.load(directory / "static_embeddings.bin.gz"),
            Lexicon.load(directory / "lexicon.json"),
            LinearModel.load(directory / "complexity.json.gz"),
            LinearModel.load(directory / "task_type.json.gz"),
        )

    @property
    def dims(self) -> int:
        return len(self.dense_names)

    def features(self, text: str) -> PromptFeatures:
        question = question_block(text)
        base = text_features(text, self.lexicon)
        sparse = complexity_features(text, base)
        vector = self.embedder.encode(question) or [0.0] * self.embedder.dims
        hard = self.complexity.predict_proba(sparse)[self.complexity.classes[-1]]
        tasks = self.task_type.predict_proba(base)
        dense = [
            *vector,
            math.log2(len(text) + 1) / 14.0,
            math.log2(len(question) + 1) / 13.0,
            hard,
            *(tasks[c] for c in self.task_type.classes),
        ]
        return PromptFeatures(dense, sparse)

    def dense_matrix(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.features(t).dense for t in texts]
