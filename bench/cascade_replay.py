"""Replay the cascade on stored answers: RouteLLM GSM8K (gpt-4-1106 strong, Mixtral-8x7B weak).

    python3 bench/cascade_replay.py [--data ../shared/data/routing/routellm_gsm8k.jsonl]

The file holds, per prompt, whether each model's stored answer was correct, its estimated cost and
the estimated length of each answer (``tokens.out_est/<model>``); it holds neither the answers'
text nor their logprobs. So the replay can score the cheap answer only with signals derived from
what is stored:

- ``answer length``: the cheap answer's length (a long GSM8K answer is a less confident one); its
  threshold is calibrated with ``switchpoint.balancing.cascade.calibrate_threshold`` by 2-fold
  cross-fitting on this file — an in-distribution figure, labelled as such (the data README
  forbids tuning on it otherwise);
- ``verifier (simulated)``: a judge that is right about the cheap answer with probability a; no
  judge model was run, this only shows what a verifier of that accuracy would buy;
- ``oracle verifier``: escalate exactly the wrong cheap answers (the upper bound).

Baselines beside them, as the data README asks: always-weak, always-strong, random escalation,
and the prompt-length router, each with APGR where it is a sweep, and a bootstrap 95% interval.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from switchpoint.balancing.cascade import calibrate_threshold

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/routing/routellm_gsm8k.jsonl"


@dataclass(frozen=True, slots=True)
class Row:
    weak: float
    strong: float
    weak_cost: float
    strong_cost: float
    prompt_tokens: int
    weak_answer_tokens: int


def load(path: Path) -> list[Row]:
    rows = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        rows.append(Row(r["scores"][WEAK], r["scores"][STRONG], r["cost"][WEAK], r["cost"][STRONG],
                        r["tokens"]["in_est"], r["tokens"][f"out_est/{WEAK}"]))
    return rows


def answer_length_confidence(row: Row) -> float:
    """The cascade signal the replay can compute: shorter cheap answers are more confident."""
    return 1.0 - min(1.0, row.weak_answer_tokens / 512)


def outcome(rows: Sequence[Row], escalate: Sequence[bool]) -> dict[str, float]:
    n = len(rows)
    quality = sum(r.strong if e else r.weak for r, e in zip(rows, escalate, strict=True)) / n
    cost = sum(r.weak_cost + (r.strong_cost if e else 0.0) for r, e in zip(rows, escalate, strict=True)) / n
    q_weak = sum(r.weak for r in rows) / n
    q_strong = sum(r.strong for r in rows) / n
    return {"escalation": sum(escalate) / n, "quality": quality, "pgr": (quality - q_weak) / (q_strong - q_weak),
            "cost": cost, "cost_vs_strong": cost / (sum(r.strong_cost for r in rows) / n)}


def apgr(rows: Sequence[Row], score: Sequence[float]) -> float:
    """Area under PGR over the strong-call share, routing the highest ``score`` to the strong model first."""
    n = len(rows)
    q_weak = sum(r.weak for r in rows) / n
    gap = sum(r.strong for r in rows) / n - q_weak
    order = sorted(range(n), key=lambda i: -score[i])
    points = [(0.0, 0.0)]
    total = sum(r.weak for r in rows)
    for k, i in enumerate(order, start=1):
        total += rows[i].strong - rows[i].weak
        if k < n and score[order[k]] == score[i]:
            continue
        points.append((k / n, (total / n - q_weak) / gap))
    return sum((c1 - c0) * (p0 + p1) / 2 for (c0, p0), (c1, p1) in zip(points, points[1:], strict=False))


def cross_fit(rows: Sequence[Row], target: float, seed: int) -> list[bool]:
    """2-fold: calibrate the answer-length threshold on one half, apply it to the other."""
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    halves = [idx[: len(idx) // 2], idx[len(idx) // 2 :]]
    escalate = [False] * len(rows)
    for fit, apply in ((halves[0], halves[1]), (halves[1], halves[0])):
        cal = calibrate_threshold([answer_length_confidence(rows[i]) for i in fit], [rows[i].weak for i in fit],
                                  [rows[i].strong for i in fit], target)
        for i in apply:
            escalate[i] = answer_length_confidence(rows[i]) < cal.threshold
    return escalate


def simulated_verifier(rows: Sequence[Row], accuracy: float, seed: int) -> list[bool]:
    rng = random.Random(seed)
    return [(r.weak < 1) == (rng.random() < accuracy) for r in rows]


def bootstrap(rows: Sequence[Row], escalate: Sequence[bool], seed: int, reps: int = 1000) -> dict[str, list[float]]:
    rng = random.Random(seed)
    n = len(rows)
    stats: dict[str, list[float]] = {"quality": [], "escalation": [], "pgr": []}
    for _ in range(reps):
        pick = [rng.randrange(n) for _ in range(n)]
        o = outcome([rows[i] for i in pick], [escalate[i] for i in pick])
        for key in stats:
            stats[key].append(o[key])
    return {k: [sorted(v)[int(0.025 * reps)], sorted(v)[int(0.975 * reps) - 1]] for k, v in stats.items()}


def apgr_interval(rows: Sequence[Row], score: Sequence[float], seed: int, reps: int = 300) -> list[float]:
    rng = random.Random(seed)
    n = len(rows)
    values = []
    for _ in range(reps):
        pick = [rng.randrange(n) for _ in range(n)]
        values.append(apgr([rows[i] for i in pick], [score[i] for i in pick]))
    values.sort()
    return [values[int(0.025 * reps)], values[int(0.975 * reps) - 1]]


def run(path: Path, seed: int) -> dict[str, object]:
    rows = load(path)
    n = len(rows)
    points: dict[str, dict[str, object]] = {}
    for name, escalate in (
        ("always weak", [False] * n),
        ("always strong", [True] * n),
        ("oracle verifier", [r.weak < 1 for r in rows]),
        ("answer length, PGR target 0.8 (2-fold, in-distribution)", cross_fit(rows, 0.8, seed)),
        ("answer length, PGR target 0.5 (2-fold, in-distribution)", cross_fit(rows, 0.5, seed)),
        *((f"verifier (simulated), accuracy {a:.0%}", simulated_verifier(rows, a, seed)) for a in (0.7, 0.8, 0.9)),
    ):
        points[name] = {**outcome(rows, escalate), "ci95": bootstrap(rows, escalate, seed)}
    length_conf = [answer_length_confidence(r) for r in rows]
    sweeps = {
        "random": 0.5,
        "prompt-length router": apgr(rows, [float(r.prompt_tokens) for r in rows]),
        "answer-length cascade": apgr(rows, [-c for c in length_conf]),
    }
    intervals = {
        "prompt-length router": apgr_interval(rows, [float(r.prompt_tokens) for r in rows], seed),
        "answer-length cascade": apgr_interval(rows, [-c for c in length_conf], seed),
    }
    return {"rows": n, "points": points, "apgr": sweeps, "apgr_ci95": intervals}


def markdown(result: dict[str, object]) -> str:
    points = result["points"]
    assert isinstance(points, dict)
    lines = [f"Replay of {result['rows']} GSM8K prompts (strong {STRONG}, weak Mixtral-8x7B).", "",
             "| cascade | escalation rate | quality (95% CI) | PGR | cost / prompt | cost vs always-strong |",
             "|---|---|---|---|---|---|"]
    for name, o in points.items():
        ci = o["ci95"]["quality"]
        lines.append(f"| {name} | {o['escalation']:.1%} | {o['quality']:.3f} ({ci[0]:.3f}–{ci[1]:.3f}) | "
                     f"{o['pgr']:.2f} | ${o['cost'] * 1000:.3f}/1k | {o['cost_vs_strong']:.0%} |")
    apgr_values = result["apgr"]
    intervals = result["apgr_ci95"]
    assert isinstance(apgr_values, dict) and isinstance(intervals, dict)
    lines += ["", "| sweep | APGR (95% CI) |", "|---|---|"]
    for name, value in apgr_values.items():
        ci = intervals.get(name)
        lines.append(f"| {name} | {value:.3f}" + (f" ({ci[0]:.3f}–{ci[1]:.3f})" if ci else "") + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    result = run(args.data, args.seed)
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
