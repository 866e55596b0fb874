"""What the shipped router predicts on everyday prompts: the strong-minus-weak gain per task type, and on a few
hand-picked prompts, with and without the length prior. A diagnostic for docs/routing.md ("What the shipped
router has learned"), not an evaluation: the prompts are the analysis test set's (labelled by task type) and a
handful written here.

    PYTHONPATH=src python3 scripts/routing/probe_gains.py [--artifact PATH] [--strong gpt-4.1 --weak gpt-4.1-nano]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from switchpoint.routing.learned.artifact import load_predictor
from switchpoint.routing.learned.predictors import FactorPredictor

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "tests" / "analysis" / "data" / "labelled_prompts.jsonl"
PROMPTS = (
    "hi",
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "Prove Fermat's little theorem rigorously, with all the group theory needed.",
    "Solve: a train leaves at 3pm at 60 mph, another at 4pm at 80 mph on the same track; when does the second "
    "catch up?",
    "Implement a thread-safe LRU cache in C++ with O(1) operations and explain the locking strategy.",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", default="default")
    parser.add_argument("--strong", default="gpt-4.1")
    parser.add_argument("--weak", default="gpt-4.1-nano")
    args = parser.parse_args(argv)
    predictor = load_predictor(args.artifact)
    no_prior = predictor.with_length_prior(0.0) if isinstance(predictor, FactorPredictor) else None
    pair = [args.strong, args.weak]

    def gain(p: object, text: str) -> float:
        q = p.predict(text, pair)  # type: ignore[attr-defined]
        return float(q[args.strong] - q[args.weak])

    by_task: dict[str, list[float]] = defaultdict(list)
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_task[row["task"]].append(gain(predictor, row["text"]))
    total = sum(map(len, by_task.values()))
    print(f"{args.strong} − {args.weak}: mean predicted gain per task type ({LABELLED.name}, {total} prompts)")
    for task, gains in sorted(by_task.items(), key=lambda kv: -statistics.mean(kv[1])):
        mean, median = statistics.mean(gains), statistics.median(gains)
        print(f"  {task:14s} {len(gains):3d} prompts  mean {mean:.3f}  median {median:.3f}")
    print("hand-picked prompts: gain with the shipped prior" + (" | without it" if no_prior else ""))
    for text in PROMPTS:
        extra = f" | {gain(no_prior, text):.3f}" if no_prior else ""
        print(f"  {gain(predictor, text):.3f}{extra}  {text[:70]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
