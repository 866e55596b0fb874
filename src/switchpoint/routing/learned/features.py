"""Prompt features of the learned routers, in pure Python (no numpy at request time).

One :class:`PromptFeaturizer` turns a prompt into

- a **dense** vector (``DENSE_NAMES``): the static sentence embedding of the prompt's *question
  block* (the text after the last blank line of its tail, so that few-shot examples in front of
  a question do not drown it), two log-length cues (whole text, question block), the analysis
  ``complexity`` probability and the ten ``task_type`` probabilities;
- a **sparse** set of text features (:func:`router_text_features`: words, bigrams, stems, lexicon
  cues and shape cues of the text's head and tail, plus size cues of the question).

**The features are frozen with the router.** A router's weights are only meaningful over the exact
features it was trained with, so the feature models are the router's own, not the analysis
pipeline's (which another component retrains on its own schedule):

- the complexity and task-type linear models and the lexicon are pinned copies in
  ``routing/learned/artifacts/features/`` (``ROUTER_FEATURES``), and the complexity model's input
  set is computed here (:func:`router_text_features`), not by ``analysis.analyzers``;
- the static embeddings (2.7 MB) are read from ``analysis/artifacts`` (``ANALYSIS_ARTIFACTS``), not copied.

Every router artifact records the SHA-256 of each of these files (:attr:`PromptFeaturizer.files`)
and the dense features of a few fixed probe prompts (:data:`PROBES`); loading it with files or
feature code that give anything else fails (``artifact.read_predictor``), so retraining an analysis
model or changing a shared text function can never silently change routing. The same functions
build the training matrices (``scripts/routing``) and run at request time. The cost is bounded by
the analysis window (head and tail), so it does not grow with the prompt.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from switchpoint.analysis.embeddings import StaticEmbedder
from switchpoint.analysis.linear import LinearModel
from switchpoint.analysis.textfeatures import Lexicon, text_features

__all__ = [
    "ANALYSIS_ARTIFACTS",
    "FEATURE_FILES",
    "PROBES",
    "ROUTER_FEATURES",
    "PromptFeatures",
    "PromptFeaturizer",
    "question_block",
    "router_text_features",
]

ANALYSIS_ARTIFACTS = Path(__file__).resolve().parents[2] / "analysis" / "artifacts"
ROUTER_FEATURES = Path(__file__).resolve().parent / "artifacts" / "features"
# where each feature file is read from: the router's pinned copies, and the shared embeddings
FEATURE_FILES: Mapping[str, Path] = {
    "static_embeddings.bin.gz": ANALYSIS_ARTIFACTS,
    "lexicon.json": ROUTER_FEATURES,
    "complexity.json.gz": ROUTER_FEATURES,
    "task_type.json.gz": ROUTER_FEATURES,
}
# prompts whose dense features every artifact records, to catch changes in the feature *code*
PROBES: tuple[str, ...] = (
    "What is the capital city of France?",
    "Write a Python function that merges two sorted lists in linear time, and explain its complexity.",
    "Janet has 3 boxes of 12 eggs. She uses 7 eggs for a cake and sells the rest at $0.25 each. "
    "How much money does she make?",
    "Question: Which of the following best describes mitosis?\nA. cell division\nB. respiration\n"
    "C. digestion\nD. osmosis\nAnswer:",
    "Example: 2 + 2 = 4.\n\nSummarise the following text in two sentences. " + "The market grew quickly. " * 40,
    "Écris un poème sur la mer et traduis-le en anglais.",
)
_TAIL = 3000
# \d+ and [...]+ written as one then any more: a pattern that begins with a character class lets the
# regex engine skip to where a match can start (same matches)
_NUMBER = re.compile(r"\d\d*(?:[.,]\d+)?")
_SENTENCE_END = re.compile(r"[.!?。！？][.!?。！？]*(?:\s|$)")
_CHOICES = re.compile(r"^\s*\(?[A-Da-d][.)]\s", re.MULTILINE)


def _bucket(n: int, edges: tuple[int, ...]) -> str:
    for edge in edges:
        if n <= edge:
            return str(edge)
    return str(edges[-1]) + "+"


def router_text_features(text: str, base: set[str]) -> set[str]:
    """The input set of the router's complexity model: the text features ``base`` plus size cues of
    the whole text and of its last block (the question, after any few-shot examples): log-length
    buckets, counts of numbers and sentences, and whether it offers lettered choices.

    Frozen with the pinned ``complexity.json.gz`` (the analysis complexity model of the time the
    router was trained, before issue 5 rebuilt it on other features); do not change one without
    retraining the other and the router."""
    features = set(base)
    question = text[-_TAIL:].rstrip().rsplit("\n\n", 1)[-1]
    features.add("#chars:" + str(min(14, int(math.log2(len(text) + 1)))))
    features.add("#qchars:" + str(min(13, int(math.log2(len(question) + 1)))))
    features.add("#nums:" + _bucket(len(_NUMBER.findall(question)), (0, 1, 2, 4, 8)))
    features.add("#sents:" + _bucket(len(_SENTENCE_END.findall(question)), (1, 2, 4, 8)))
    if len(_CHOICES.findall(question)) >= 3:
        features.add("#choices")
    return features


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
                 task_type: LinearModel, *, files: Mapping[str, str] | None = None) -> None:
        self.embedder = embedder
        self.lexicon = lexicon
        self.complexity = complexity
        self.task_type = task_type
        self.dense_names: tuple[str, ...] = (
            *(f"emb{i}" for i in range(embedder.dims)), "len", "qlen", "complexity",
            *(f"task:{c}" for c in task_type.classes),
        )
        # SHA-256 of each feature file, by name (empty when built from objects, e.g. in tests)
        self.files: dict[str, str] = dict(files or {})
        self._probes: list[list[float]] | None = None

    @classmethod
    def load(cls, directory: Path | None = None) -> PromptFeaturizer:
        """The router's feature models (``FEATURE_FILES``), or every file from ``directory`` when given."""
        paths = {name: (directory or where) / name for name, where in FEATURE_FILES.items()}
        return cls(
            StaticEmbedder.load(paths["static_embeddings.bin.gz"]),
            Lexicon.load(paths["lexicon.json"]),
            LinearModel.load(paths["complexity.json.gz"]),
            LinearModel.load(paths["task_type.json.gz"]),
            files={name: file_digest(path) for name, path in paths.items()},
        )

    def probes(self) -> list[list[float]]:
        """The dense features of ``PROBES`` (rounded to 6 decimals; computed once)."""
        if self._probes is None:
            self._probes = [[round(v, 6) for v in self.features(p).dense] for p in PROBES]
        return self._probes

    @property
    def dims(self) -> int:
        return len(self.dense_names)

    def features(self, text: str) -> PromptFeatures:
        question = question_block(text)
        base = text_features(text, self.lexicon)
        sparse = router_text_features(text, base)
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
