"""Simulated training on logged feedback (IN-DISTRIBUTION: MMLU rows stand in for a team's own logs).

``switchpoint export`` turns logged requests with user feedback into routing rows. This script asks how
much the mf router gains on MMLU-like traffic when such rows are added to the public training files.
It is an in-distribution k-fold figure (allowed by the data README, "clearly labelled as such"), NOT
the acceptance figure: routellm_mmlu rows are used as the simulated logged traffic.

- Folds: ``zlib.crc32(id) % 5`` over routellm_mmlu (deterministic). For held-out fold k, the training
  rows are the public training files (minus the 10% slice ``common.held_out``, as the shipped artifact)
  plus N simulated logged rows drawn (seeded) from the other folds, with ``dataset: "logged"`` and
  ``meta`` as an export gives (no task key, so all logged rows form one group).
- Modes: ``single`` (A/B split with feedback: each logged prompt keeps the score of ONE model, chosen
  50/50 by a seeded RNG) and ``both`` (replay / shadow A/B: both models' scores).
- Budgets N: e.g. 0 (public only = the shipped router's setting), 1000, 4000, ``all`` (the whole 4 folds).
  Draws are nested (N=1000 is a prefix of N=4000), and a prompt's single-mode model is fixed across N.
- Score: q̂(gpt-4-1106-preview) − q̂(Mixtral-8x7B-Instruct); APGR and CPT(50%) pooled over the held-out
  folds (per-prompt scores of all folds pooled, then the metric once, as ``switchpoint eval --folds``),
  beside the prompt-length baseline on the same rows.

    nice -n 15 python3 scripts/routing/logged_sim.py --cell single:all --cell both:all --cell single:1000 \\
        --cell none:0 [--eval-folds 5] [--results /tmp/logged_sim.json]

Trained options: ``TrainOptions()`` (the shipped defaults; the logged source gets the same total weight
as each public source, the trainer's default). Needs numpy and scipy. Each cell trains one mf router per
fold (about 1 min each on a shared 2-core machine); N=0 trains one router for all folds.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import common
from logo import scores

from switchpoint.routing.evaluation.metrics import PGRCurve, apgr, cpt, percentile_interval, resample_weights
from switchpoint.routing.learned.features import PromptFeatures, PromptFeaturizer
from switchpoint.routing.learned.predictors import FactorPredictor
from switchpoint.routing.learned.profiles import canonical_training_name
from switchpoint.routing.learned.train import TrainOptions, train

FOLDS = 5
EVAL = "routellm_mmlu"
Pair = tuple[dict[str, Any], PromptFeatures]


def fold_of(row: dict[str, Any]) -> int:
    return zlib.crc32(str(row["id"]).encode()) % FOLDS


def logged_row(row: dict[str, Any], models: tuple[str, ...]) -> dict[str, Any]:
    """A routing row as ``switchpoint export`` writes it, keeping only ``models``' outcomes."""
    return {
        "id": f"logged/{row['id']}",
        "dataset": "logged",
        "prompt": row["prompt"],
        "scores": {m: row["scores"][m] for m in models},
        "cost": {m: (row.get("cost") or {}).get(m) for m in models},
        "meta": {"source": "simulated from routellm_mmlu (in-distribution)"},
    }


def simulate(pool: list[Pair], mode: str, budget: int | None, fold: int, seed: int,
             pick_strong: dict[str, bool]) -> list[Pair]:
    order = list(range(len(pool)))
    random.Random(f"{seed}/{fold}").shuffle(order)  # nested draws: N=1000 is a prefix of N=4000
    chosen = order if budget is None else order[:budget]
    out = []
    for i in sorted(chosen):
        row, feat = pool[i]
        if mode == "both":
            models: tuple[str, ...] = (common.STRONG, common.WEAK)
        else:
            models = (common.STRONG,) if pick_strong[row["id"]] else (common.WEAK,)
        out.append((logged_row(row, models), feat))
    return out


def fit(pairs: list[Pair], featurizer: PromptFeaturizer) -> FactorPredictor:
    predictor = train("mf", [r for r, _ in pairs], featurizer=featurizer, features=[f for _, f in pairs],
                      options=TrainOptions())
    assert isinstance(predictor, FactorPredictor) and not predictor.sparse
    return predictor


def parse_cell(spec: str) -> tuple[str, int | None]:
    mode, _, n = spec.partition(":")
    budget = None if n == "all" else int(n)
    if budget == 0:
        return "none", 0
    if mode not in ("single", "both"):
        raise SystemExit(f"unknown mode in {spec!r}: single or both (or none:0)")
    return mode, budget


def check_models(predictor: FactorPredictor) -> None:
    """The eval file's columns must land on the same trained models as the public data's columns."""
    print(f"trained models ({len(predictor.models())}): {', '.join(predictor.models())}", flush=True)
    for eval_col, public_col in ((common.STRONG, "gpt-4-1106-preview"), (common.WEAK, "mistralai/mixtral-8x7b-chat")):
        a, b = canonical_training_name(eval_col, [eval_col]), canonical_training_name(public_col, [public_col])
        resolved = predictor.resolve(eval_col)
        print(f"  {eval_col} -> {a} (public {public_col} -> {b}); served as {resolved.model or resolved.tier}")
        if a != b or resolved.model != a:
            raise SystemExit(f"{eval_col} does not pool with the public column {public_col}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", action="append", required=True, help="MODE:N, e.g. single:all, both:1000, none:0")
    parser.add_argument("--eval-folds", type=int, default=FOLDS, help="evaluate held-out folds 0..K-1 only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=Path("/tmp/logged_sim.json"),
                        help="cells already there with their scores (same fold count and seed) are not re-run")
    args = parser.parse_args(argv)
    started = time.time()
    featurizer = PromptFeaturizer.load()
    public: list[Pair] = [
        (r, f)
        for name in common.TRAIN_FILES
        for r, f in zip(common.rows(name), common.features(name, featurizer), strict=True)
        if not common.held_out(r)
    ]
    mmlu: list[Pair] = list(zip(common.rows(EVAL), common.features(EVAL, featurizer), strict=True))
    rng = random.Random(args.seed)
    pick_strong = {r["id"]: rng.random() < 0.5 for r, _ in mmlu}  # the A/B split, fixed per prompt
    folds = range(args.eval_folds)
    held = {k: [p for p in mmlu if fold_of(p[0]) == k] for k in folds}
    sizes = [sum(fold_of(r) == k for r, _ in mmlu) for k in range(FOLDS)]
    print(f"public training rows {len(public)}; {EVAL} fold sizes {sizes}; evaluating folds {list(folds)}", flush=True)
    # exact-duplicate prompts between a held-out fold and the other folds (leak through logged rows)
    by_prompt: dict[str, set[int]] = {}
    for r, _ in mmlu:
        by_prompt.setdefault(r["prompt"], set()).add(fold_of(r))
    dup = sum(len(by_prompt[r["prompt"]]) > 1 for k in folds for r, _ in held[k])
    print(f"held-out prompts whose exact text also occurs in another fold: {dup}", flush=True)

    pooled_rows = [r for k in folds for r, _ in held[k]]
    strong_q = [r["scores"][common.STRONG] for r in pooled_rows]
    weak_q = [r["scores"][common.WEAK] for r in pooled_rows]
    length = [float(len(r["prompt"])) for r in pooled_rows]
    length_apgr, length_cpt = apgr(length, strong_q, weak_q), cpt(length, strong_q, weak_q)
    print(f"length baseline on the {len(pooled_rows)} pooled rows: APGR {length_apgr:.3f}  CPT50 {length_cpt:.1%}",
          flush=True)

    results: dict[str, Any] = json.loads(args.results.read_text()) if args.results.exists() else {}
    score_file = args.results.with_suffix(".scores.json")  # pooled per-prompt scores, for the intervals
    pooled: dict[str, list[float]] = json.loads(score_file.read_text()) if score_file.exists() else {}
    checked = False
    for spec in args.cell:
        mode, budget = parse_cell(spec)
        key = f"{mode}:{'all' if budget is None else budget}|folds={args.eval_folds}|seed={args.seed}"
        if key in results and key in pooled:
            print(f"{key}: cached {results[key]}", flush=True)
            continue
        out: list[float] = []
        logged_sizes = []
        predictor = None
        for k in folds:
            t0 = time.time()
            if mode == "none":
                logged: list[Pair] = []
                predictor = predictor or fit(public, featurizer)
            else:
                pool = [p for p in mmlu if fold_of(p[0]) != k]
                logged = simulate(pool, mode, budget, k, args.seed, pick_strong)
                predictor = fit(public + logged, featurizer)
            logged_sizes.append(len(logged))
            if not checked:
                check_models(predictor)
                row, _ = held[k][0]  # the fast scorer equals FactorPredictor.predict's q̂ difference
                q = predictor.predict(row["prompt"], [common.STRONG, common.WEAK])
                fast = scores(predictor, [held[k][0][1]], "base", common.STRONG, common.WEAK)[0]
                assert abs(fast - (q[common.STRONG] - q[common.WEAK])) < 1e-9, (fast, q)
                checked = True
            s = scores(predictor, [f for _, f in held[k]], "base", common.STRONG, common.WEAK)
            out += s
            fs = [r["scores"][common.STRONG] for r, _ in held[k]]
            fw = [r["scores"][common.WEAK] for r, _ in held[k]]
            print(f"  {key} fold {k}: {len(logged)} logged rows, fold APGR {apgr(s, fs, fw):.3f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
        a, c = apgr(out, strong_q, weak_q), cpt(out, strong_q, weak_q)
        results[key] = {"mode": mode, "N": "all" if budget is None else budget, "logged_rows": logged_sizes,
                        "apgr": round(a, 6), "cpt50": None if c is None else round(c, 6),
                        "length_apgr": round(length_apgr, 6),
                        "length_cpt50": None if length_cpt is None else round(length_cpt, 6)}
        args.results.write_text(json.dumps(results, indent=1))
        pooled[key] = out
        score_file.write_text(json.dumps(pooled))
        print(f"{key}: APGR {a:.3f}  CPT50 {c:.1%}  (length {length_apgr:.3f} / {length_cpt:.1%})", flush=True)
    intervals(results, pooled, f"|folds={args.eval_folds}|seed={args.seed}", length, strong_q, weak_q)
    print(f"wall time {time.time() - started:.0f} s")
    print("| mode | N | logged rows per fold | APGR | CPT50 | length APGR | length CPT50 |")
    print("|---|---|---|---|---|---|---|")
    for key, v in results.items():
        if key.endswith(f"|folds={args.eval_folds}|seed={args.seed}"):
            print(f"| {v['mode']} | {v['N']} | {min(v['logged_rows'])}-{max(v['logged_rows'])} | {v['apgr']:.3f} | "
                  f"{v['cpt50']:.1%} | {v['length_apgr']:.3f} | {v['length_cpt50']:.1%} |")
    return 0


def intervals(results: dict[str, Any], pooled: dict[str, list[float]], suffix: str, length: list[float],
              strong_q: list[float], weak_q: list[float], reps: int = 200) -> None:
    """Bootstrap 95% intervals over the pooled prompts (200 resamples, seed 0, as ``switchpoint eval``):
    APGR, and paired differences against the length baseline and against N=0 (public only)."""
    draws = resample_weights(len(length), reps, seed=0)

    def samples(values: list[float]) -> list[float]:
        curve = PGRCurve(values, strong_q, weak_q)
        return [curve.apgr(w) for w in draws]

    def interval(values: list[float]) -> str:
        i = percentile_interval(values)
        return "n/a" if i is None else f"[{i.low:+.3f}, {i.high:+.3f}]"

    base = {"length": samples(length)}
    if f"none:0{suffix}" in pooled:
        base["N=0"] = samples(pooled[f"none:0{suffix}"])
    for key in results:
        if not key.endswith(suffix) or key not in pooled:
            continue
        own = samples(pooled[key])
        line = f"{key.removesuffix(suffix)}: APGR {results[key]['apgr']:.3f} {interval(own).replace('+', '')}"
        for name, other in base.items():
            if not key.startswith("none:0") or name == "length":
                line += f"; minus {name} {interval([a - b for a, b in zip(own, other, strict=True)])}"
        print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
