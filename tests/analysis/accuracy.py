"""Scoring the pipeline on a labelled prompt set (used by the accuracy test and scripts/analysis/evaluate.py)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchpoint.analysis import AnalysisPipeline
from switchpoint.types import ChatRequest

LABELLED = Path(__file__).resolve().parent / "data" / "labelled_prompts.jsonl"


def load(path: Path = LABELLED) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Scores:
    n: int = 0
    task: int = 0
    sentiment: int = 0
    language: int = 0
    task_non_english: list[int] = field(default_factory=lambda: [0, 0])
    pii_tp: int = 0  # prompt level: some PII labelled and some found
    pii_fp: int = 0
    pii_fn: int = 0
    kind_tp: int = 0  # (prompt, kind) pairs
    kind_fp: int = 0
    kind_fn: int = 0
    errors: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, float]:
        def ratio(a: int, b: int) -> float:
            return round(a / b, 4) if b else 1.0

        return {
            "n": self.n,
            "task_type": ratio(self.task, self.n),
            "task_type_non_english": ratio(*self.task_non_english),
            "sentiment": ratio(self.sentiment, self.n),
            "language": ratio(self.language, self.n),
            "pii_recall": ratio(self.pii_tp, self.pii_tp + self.pii_fn),
            "pii_precision": ratio(self.pii_tp, self.pii_tp + self.pii_fp),
            "pii_kind_recall": ratio(self.kind_tp, self.kind_tp + self.kind_fn),
            "pii_kind_precision": ratio(self.kind_tp, self.kind_tp + self.kind_fp),
        }


def score(pipeline: AnalysisPipeline, rows: list[dict[str, Any]]) -> Scores:
    scores = Scores()
    for row in rows:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": row["text"]}]}
        features = pipeline.analyze_sync(ChatRequest(body=body, model="gpt-4o"))
        scores.n += 1
        scores.task += features.task_type.label == row["task"]
        scores.sentiment += features.sentiment.label == row["sentiment"]
        scores.language += features.language.code == row["lang"]
        if row["lang"] != "en":
            scores.task_non_english[0] += features.task_type.label == row["task"]
            scores.task_non_english[1] += 1
        for name, got, want in (("task", features.task_type.label, row["task"]),
                                ("sentiment", features.sentiment.label, row["sentiment"]),
                                ("language", features.language.code, row["lang"])):
            if got != want:
                scores.errors[(name, want, got)] += 1
        found = set(features.pii.kinds)
        labelled = set(row["pii"])
        if labelled and found:
            scores.pii_tp += 1
        elif found:
            scores.pii_fp += 1
        elif labelled:
            scores.pii_fn += 1
        scores.kind_tp += len(found & labelled)
        scores.kind_fp += len(found - labelled)
        scores.kind_fn += len(labelled - found)
        if found != labelled:
            scores.errors[("pii", ",".join(sorted(labelled)), ",".join(sorted(found)))] += 1
    return scores
