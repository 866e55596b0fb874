"""Latency of one learned routing decision on one core: features + q̂ for the candidates + the rule.

    python3 bench/routing_learned_decision.py                  # default artifact, 2 candidates, threshold rule
    python3 bench/routing_learned_decision.py --candidates 5 --clock cpu --json

Two prompt sets, each prompt decided once in a timed pass after one untimed warm-up pass over
*other* prompts (so word caches hold common words, as in a running server, but no timed prompt was
seen before):

- ``short``: MMLU-like multiple-choice questions (a question and four options, 150-500 bytes), built
  from templates and word lists below;
- ``long``: 2-8 KB prompts (prose paragraphs, a code block, a question at the end).

A decision is ``predictor.predict(text, candidates)`` then ``choose_threshold`` (two candidates) or
``choose_lambda`` (more). Reported: p50 / p90 / p99 / max in microseconds. Target (issue 6): p50 ≤ 1 ms.
``--clock cpu`` times by the thread's CPU time (leaves out time other processes held the core).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable

from switchpoint.routing.learned import Option, choose_lambda, choose_threshold, load_predictor

SUBJECTS = ["photosynthesis", "the French Revolution", "prime factorisation", "supply and demand", "mitosis",
            "Newton's second law", "the Treaty of Westphalia", "binary search", "covalent bonds", "inflation",
            "the Krebs cycle", "plate tectonics", "Bayes' theorem", "the separation of powers", "entropy"]
STEMS = ["Which of the following best describes {s}?", "What is the main consequence of {s} in this case?",
         "A student studies {s}. Which statement is correct?", "Which example illustrates {s} most clearly?",
         "In the context of {s}, which of the following is NOT true?"]
WORDS = ("energy system market cell force value process state model rate change structure function law "
         "theory effect result factor reaction equation population temperature pressure time").split()
CANDIDATES = ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-3.5-turbo", "claude-3-haiku",
              "llama-3-70b", "mistral-7b-instruct", "gpt-4o"]


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def short_prompt(rng: random.Random) -> str:
    stem = rng.choice(STEMS).format(s=rng.choice(SUBJECTS))
    options = "\n".join(f"{letter}. The {_phrase(rng, rng.randint(3, 12))}" for letter in "ABCD")
    return f"{stem} {_phrase(rng, rng.randint(0, 30))}\n{options}\nAnswer:"


def long_prompt(rng: random.Random) -> str:
    target = rng.randint(2000, 8000)
    parts: list[str] = []
    size = 0
    while size < target:
        if rng.random() < 0.2:
            block = "```python\n" + "\n".join(f"def f{i}(x):\n    return x * {i} + {rng.randint(0, 99)}"
                                              for i in range(rng.randint(2, 6))) + "\n```"
        else:
            block = f"The {rng.choice(SUBJECTS)} " + ". ".join(_phrase(rng, rng.randint(8, 20))
                                                             for _ in range(rng.randint(3, 7))) + "."
        parts.append(block)
        size += len(block) + 2
    parts.append(f"Given all this, explain {rng.choice(SUBJECTS)} and fix the code above.")
    return "\n\n".join(parts)


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": round(statistics.median(ordered), 1), "p90": round(q[89], 1), "p99": round(q[98], 1),
            "max": round(ordered[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", default="default")
    parser.add_argument("--prompts", type=int, default=1000, help="timed prompts per set")
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    clock: Callable[[], int] = time.thread_time_ns if args.clock == "cpu" else time.perf_counter_ns
    predictor = load_predictor(args.artifact)
    candidates = CANDIDATES[: args.candidates]
    costs = [0.01 / (i + 1) for i in range(len(candidates))]
    results: dict[str, dict[str, float]] = {}
    for name, make in (("short", short_prompt), ("long", long_prompt)):
        rng = random.Random(name)
        warm = [make(rng) for _ in range(200)]
        timed = [make(rng) for _ in range(args.prompts)]
        for text in warm:
            predictor.predict(text, candidates)
        elapsed: list[float] = []
        for text in timed:
            start = clock()
            q = predictor.predict(text, candidates)
            options = [Option(m, q[m], c) for m, c in zip(candidates, costs, strict=True)]
            if len(options) == 2:
                choose_threshold(options[0], options[1], 0.1)
            else:
                choose_lambda(options, 10.0)
            elapsed.append((clock() - start) / 1000.0)
        results[name] = {**_percentiles(elapsed), "bytes_p50": statistics.median(len(t.encode()) for t in timed)}
    for name, row in results.items():
        print(f"{name:6s} {len(candidates)} candidates  p50 {row['p50']:7.1f} us  p90 {row['p90']:7.1f} us  "
              f"p99 {row['p99']:7.1f} us  max {row['max']:8.1f} us  (median prompt {row['bytes_p50']:.0f} bytes)")
    if args.json:
        print(json.dumps({"artifact": args.artifact, "clock": args.clock, "candidates": candidates,
                          "results": results}))


if __name__ == "__main__":
    main()
