"""Leave-one-task-out (LOGO) validation of learned-router variants, on the training files only.

For each RouterBench task (arc-challenge, mbpp, winogrande): train on the other two tasks plus
routerdc7_train and alpacaeval2, then rank the held-out task's prompts for gpt-4-1106-preview vs
Mixtral-8x7B by the variant's two-model score and compute APGR. The mean over the three tasks is the
selection criterion of scripts/routing/RESEARCH.md. ``--report-eval`` also trains on all training files
and prints APGR on routellm_mmlu / routellm_gsm8k (reported, never used to choose).

``--aiq`` instead scores the many-model setting on the same folds: AIQ of the λ sweep over RouterBench's 11
models with their real costs on the held-out task (``many_model_report``, as ``switchpoint eval --models all``),
next to the zero router and the oracle, with bootstrap intervals, per task, their mean, and the three held-out
tasks' predictions pooled (one report over all RouterBench rows); the score prefix only picks the trainer
(``base`` = ``logit``: the same mf predictor, its q̂ are used).

``--chat`` adds a chat criterion (training data only): 5 folds of alpacaeval2, gpt-4-1106 vs Mixtral-8x7B,
where the judge compared every answer with gpt-4-1106's (its reference, 0.5), so the strong outcome is 0.5
and the weak one Mixtral's preference; APGR of the pooled held-out scores next to the length baseline
(``--save FILE`` appends the scores for paired bootstraps). ``--aiq --cv`` adds the in-distribution
5-fold report on routerbench_train (each fold trained on the other folds plus the other training files).
``--quality`` scores RouterDC's 7 models (no costs) in 5 folds of routerdc7_train: the mean quality of the model
the router predicts best, next to the best single model, random and the oracle, pooled and per task.

    nice -n 15 python3 scripts/routing/logo.py --variant base --variant logit [--report-eval] [--chat]
    nice -n 15 python3 scripts/routing/logo.py --aiq [--cv] --variant base --variant base:length_prior=0

Scores (``--variant``): ``base`` (q̂_s − q̂_w, the shipped score), ``logit`` (logit q̂_s − logit q̂_w),
``pair`` (a pairwise win model, ``train_pairwise``: its logit difference);
``key=value`` suffixes override TrainOptions fields, e.g. ``base:length_prior=0`` or
``logit:length_prior=0.2`` or ``base:source_weights=alpacaeval2/0.25+routerdc_7model/0.5``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import fields, replace
from typing import Any

import common

from switchpoint.routing.evaluation.data import RoutingRow, load_rows, models_in, rows_with
from switchpoint.routing.evaluation.metrics import apgr
from switchpoint.routing.evaluation.report import ManyModelReport, QualityReport, many_model_report, quality_report
from switchpoint.routing.evaluation.routers import PredictorRouter
from switchpoint.routing.learned.features import PromptFeatures, PromptFeaturizer
from switchpoint.routing.learned.predictors import FactorPredictor
from switchpoint.routing.learned.train import TrainOptions, train

TASKS = ("arc-challenge", "mbpp", "winogrande")
RB_STRONG, RB_WEAK = "gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"


def parse_variant(spec: str) -> tuple[str, str, TrainOptions]:
    score, *overrides = spec.split(":")
    options = TrainOptions()
    types = {f.name: f.type for f in fields(TrainOptions)}
    changes: dict[str, Any] = {}
    for item in overrides:
        key, value = item.split("=", 1)
        kind = types[key]
        if key == "prior_off_sources":  # prior_off_sources=alpacaeval2
            changes[key] = tuple(value.split("+"))
            continue
        if key == "source_weights":  # source_weights=alpacaeval2/0.25+routerdc_7model/0.5
            changes[key] = {k: float(v) for k, v in (p.split("/") for p in value.split("+"))}
            continue
        changes[key] = (
            (value.lower() in ("1", "true", "yes"))
            if kind in (bool, "bool")
            else (int(value) if kind in (int, "int") else float(value) if kind in (float, "float") else value)
        )
    return spec, score, replace(options, **changes)


def _logit(q: float) -> float:
    q = min(max(q, 1e-9), 1 - 1e-9)
    return math.log(q / (1 - q))


def scores(
    predictor: FactorPredictor, feats: Sequence[PromptFeatures], score: str, strong: str, weak: str
) -> list[float]:
    out = []
    for f in feats:
        ls, lw = predictor.logits(f.dense, (strong, weak))
        if score in ("logit", "pair"):
            out.append(ls - lw)
        elif score == "base":
            out.append(1 / (1 + math.exp(-ls)) - 1 / (1 + math.exp(-lw)))
        else:
            raise SystemExit(f"unknown score {score!r}")
    return out


def load(featurizer: PromptFeaturizer) -> dict[str, list[tuple[dict[str, Any], PromptFeatures]]]:
    return {
        name: list(zip(common.rows(name), common.features(name, featurizer), strict=True))
        for name in (*common.TRAIN_FILES, *common.EVAL_FILES)
    }


def fit(
    score: str,
    pairs: Sequence[tuple[dict[str, Any], PromptFeatures]],
    featurizer: PromptFeaturizer,
    options: TrainOptions,
) -> FactorPredictor:
    if score == "pair":
        return train_pairwise([r for r, _ in pairs], [f for _, f in pairs], featurizer, options)
    predictor = train(
        "mf", [r for r, _ in pairs], featurizer=featurizer, features=[f for _, f in pairs], options=options
    )
    assert isinstance(predictor, FactorPredictor)
    return predictor


def without_task(
    data: dict[str, list[tuple[dict[str, Any], PromptFeatures]]], task: str
) -> list[tuple[dict[str, Any], PromptFeatures]]:
    """All training files minus the RouterBench rows of ``task``."""
    return [
        p
        for name in common.TRAIN_FILES
        for p in data[name]
        if (p[0].get("meta") or {}).get("eval_name") != task or name != "routerbench_train"
    ]


def logo(
    variant: str, data: dict[str, list[tuple[dict[str, Any], PromptFeatures]]], featurizer: PromptFeaturizer
) -> list[float]:
    _, score, options = parse_variant(variant)
    results = []
    for task in TASKS:
        train_pairs = without_task(data, task)
        held = [
            p
            for p in data["routerbench_train"]
            if p[0]["meta"].get("eval_name") == task
            and p[0]["scores"].get(RB_STRONG) is not None
            and p[0]["scores"].get(RB_WEAK) is not None
        ]
        predictor = fit(score, train_pairs, featurizer, options)
        s = scores(predictor, [f for _, f in held], score, RB_STRONG, RB_WEAK)
        results.append(apgr(s, [r["scores"][RB_STRONG] for r, _ in held], [r["scores"][RB_WEAK] for r, _ in held]))
    return results


def _aiq_setup(variant: str) -> tuple[str, TrainOptions, list[RoutingRow], list[str]]:
    """The variant's score and options, RouterBench's rows and its models with costs (as ``--models all``)."""
    _, score, options = parse_variant(variant)
    if score == "pair":
        raise SystemExit("--aiq needs absolute q̂: the pairwise model's are meaningless")
    rows = load_rows(common.ROUTING / "routerbench_train.jsonl")
    return score, options, rows, [m for m in models_in(rows) if any(r.cost.get(m) is not None for r in rows)]


def logo_aiq(
    variant: str,
    data: dict[str, list[tuple[dict[str, Any], PromptFeatures]]],
    featurizer: PromptFeaturizer,
    resamples: int,
) -> list[ManyModelReport]:
    """Per held-out RouterBench task: the many-model report (AIQ, zero router, oracle) of the variant's q̂."""
    score, options, rows, models = _aiq_setup(variant)
    reports, pooled_rows, pooled_q = [], [], []
    for task in TASKS:
        held = rows_with([r for r in rows if r.meta.get("eval_name") == task], models, need_cost=True)
        router = PredictorRouter(fit(score, without_task(data, task), featurizer, options), variant)
        q = router.qualities(held, models)
        reports.append(many_model_report(held, models, q, router_name=variant, data=task, resamples=resamples))
        pooled_rows += held
        pooled_q += q
    # all three held-out tasks' predictions together: here the zero router no longer knows each task's levels
    reports.append(
        many_model_report(pooled_rows, models, pooled_q, router_name=variant, data="pooled", resamples=resamples)
    )
    return reports


def _file_folds(
    data: dict[str, list[tuple[dict[str, Any], PromptFeatures]]], name: str, folds: int
) -> Iterator[tuple[list[tuple[dict[str, Any], PromptFeatures]], set[str]]]:
    """K folds of training file ``name`` by crc32(id): per fold, the training pairs (the other folds plus every
    other training file) and the held-out ids."""
    import zlib

    others = [p for other in common.TRAIN_FILES if other != name for p in data[other]]
    for k in range(folds):
        inside = {str(r["id"]) for r, _ in data[name] if zlib.crc32(str(r["id"]).encode()) % folds == k}
        yield others + [p for p in data[name] if str(p[0]["id"]) not in inside], inside


def cv_aiq(
    variant: str,
    data: dict[str, list[tuple[dict[str, Any], PromptFeatures]]],
    featurizer: PromptFeaturizer,
    resamples: int,
    folds: int = 5,
) -> ManyModelReport:
    """In-distribution: 5 folds of routerbench_train by crc32(id); each fold's router is trained on the
    other folds plus routerdc7_train and alpacaeval2; the held-out predictions pooled into one report."""
    score, options, rows, models = _aiq_setup(variant)
    held_rows, held_q = [], []
    for train_pairs, inside in _file_folds(data, "routerbench_train", folds):
        held = rows_with([r for r in rows if r.id in inside], models, need_cost=True)
        router = PredictorRouter(fit(score, train_pairs, featurizer, options), variant)
        held_rows += held
        held_q += router.qualities(held, models)
    return many_model_report(held_rows, models, held_q, router_name=variant, data="5-fold", resamples=resamples)


def cv_quality(
    variant: str,
    data: dict[str, list[tuple[dict[str, Any], PromptFeatures]]],
    featurizer: PromptFeaturizer,
    resamples: int,
    folds: int = 5,
    save: str | None = None,
) -> list[QualityReport]:
    """In-distribution, models without costs: 5 folds of routerdc7_train by crc32(id); each fold's router is
    trained on the other folds plus routerbench_train and alpacaeval2; the quality of the model it predicts best
    on the pooled held-out prompts (as ``switchpoint eval --models all`` on data without costs), then per task."""
    _, score, options = parse_variant(variant)
    rows = load_rows(common.ROUTING / "routerdc7_train.jsonl")
    models = models_in(rows)
    held_rows: list[RoutingRow] = []
    held_q: list[dict[str, float]] = []
    for train_pairs, inside in _file_folds(data, "routerdc7_train", folds):
        held = rows_with([r for r in rows if r.id in inside], models)
        router = PredictorRouter(fit(score, train_pairs, featurizer, options), variant)
        held_rows += held
        held_q += router.qualities(held, models)
    reports = [quality_report(held_rows, models, held_q, router_name=variant, data="5-fold", resamples=resamples)]
    if save:  # the score of each held-out prompt's pick, for paired comparisons of variants
        import json

        picked = [r.scores[max(models, key=q.__getitem__)] for r, q in zip(held_rows, held_q, strict=True)]
        with open(save, "a", encoding="utf-8") as file:
            file.write(json.dumps({"variant": variant, "ids": [r.id for r in held_rows], "picked": picked}) + "\n")
    for task in sorted({r.id.split("/")[1] for r in held_rows}):
        pick = [i for i, r in enumerate(held_rows) if r.id.split("/")[1] == task]
        reports.append(quality_report([held_rows[i] for i in pick], models, [held_q[i] for i in pick],
                                      router_name=variant, data=task, resamples=resamples))
    return reports


def print_quality(variant: str, reports: Sequence[QualityReport]) -> None:
    print(f"{variant}: quality of the predicted-best model over {len(reports[0].models)} RouterDC models (5-fold)")
    print(f"{'set':22s} {'n':>5s} {'router':>7s} {'best single':>30s} {'random':>7s} {'oracle':>7s} "
          f"{'router - best':>25s}")
    for r in reports:
        assert r.router is not None
        best, diff = r.baselines["best_single"], r.vs_best_single()
        d = f"{diff['diff']:+.3f}" + ("" if diff["ci"] is None else " [{:+.3f}, {:+.3f}]".format(*diff["ci"]))
        name = f"{best.quality:.3f} ({str(best.model).rsplit('/', 1)[-1][:20]})"
        print(f"{r.data:22s} {r.prompts:5d} {r.router.quality:7.3f} {name:>30s} {r.baselines['random'].quality:7.3f} "
              f"{r.baselines['oracle'].quality:7.3f} {d:>25s}")


def print_aiq(variant: str, reports: Sequence[ManyModelReport]) -> None:
    def ci(value: float, interval: Any) -> str:
        return f"{value:.3f}" + ("" if interval is None else f" [{interval.low:.3f}, {interval.high:.3f}]")

    print(f"{variant}: AIQ over {len(reports[0].models)} models, held-out RouterBench task")
    print(f"{'task':14s} {'n':>5s} {'router':>21s} {'zero router':>21s} {'oracle':>7s} {'router - zero':>25s}")
    for r in reports:  # the three tasks, the pooled report, then (--cv) the in-distribution 5-fold one
        assert r.router is not None
        zero, diff = r.baselines["zero_router"], r.vs_zero_router()
        d = f"{diff['diff']:+.3f}" + ("" if diff["ci"] is None else " [{:+.3f}, {:+.3f}]".format(*diff["ci"]))
        print(
            f"{r.data:14s} {r.prompts:5d} {ci(r.router.aiq, r.router.aiq_ci):>21s} {ci(zero.aiq, zero.aiq_ci):>21s} "
            f"{r.baselines['oracle'].aiq:7.3f} {d:>25s}"
        )
    tasks = reports[: len(TASKS)]
    routers = [r.router.aiq for r in tasks if r.router is not None]
    zeros = [r.baselines["zero_router"].aiq for r in tasks]
    oracles = [r.baselines["oracle"].aiq for r in tasks]
    mean = [sum(v) / len(v) for v in (routers, zeros, oracles)]
    print(f"{'mean of tasks':20s} {mean[0]:21.3f} {mean[1]:21.3f} {mean[2]:7.3f} {mean[0] - mean[1]:+25.3f}")


def chat_folds(
    variant: str, data: dict[str, list[tuple[dict[str, Any], PromptFeatures]]], featurizer: PromptFeaturizer,
    folds: int = 5,
    save: str | None = None,
) -> tuple[float, float]:
    """Chat criterion: k-fold over alpacaeval2 prompts (train on the other folds plus all other training
    files), gpt-4-1106 vs Mixtral-8x7B. The judge compares every answer with gpt-4-1106's (its reference,
    0.5 on every prompt), so the strong model's outcome is 0.5 and the weak one's is Mixtral's score.
    Returns (router APGR, length APGR) on the pooled held-out predictions."""
    import zlib

    _, score, options = parse_variant(variant)
    alpaca = data["alpacaeval2"]
    mixtral = "Mixtral-8x7B-Instruct-v0.1_concise"
    s_all: list[float] = []
    strong: list[float] = []
    weak: list[float] = []
    lengths: list[float] = []
    for k in range(folds):
        inside = [zlib.crc32(str(r["id"]).encode()) % folds == k for r, _ in alpaca]
        train_pairs = [p for name in common.TRAIN_FILES if name != "alpacaeval2" for p in data[name]]
        train_pairs += [p for p, held_out in zip(alpaca, inside, strict=True) if not held_out]
        held = [
            p for p, held_out in zip(alpaca, inside, strict=True)
            if held_out and p[0]["scores"].get(mixtral) is not None
        ]
        predictor = fit(score, train_pairs, featurizer, options)
        s_all += scores(predictor, [f for _, f in held], score, RB_STRONG, RB_WEAK)
        strong += [0.5] * len(held)
        weak += [float(r["scores"][mixtral]) for r, _ in held]
        lengths += [float(len(r["prompt"])) for r, _ in held]
    if save:
        import json

        with open(save, "a", encoding="utf-8") as file:
            file.write(json.dumps({"variant": variant, "scores": s_all, "strong": strong, "weak": weak}) + "\n")
    return apgr(s_all, strong, weak), apgr(lengths, strong, weak)


def report_eval(
    variant: str, data: dict[str, list[tuple[dict[str, Any], PromptFeatures]]], featurizer: PromptFeaturizer
) -> list[float]:
    _, score, options = parse_variant(variant)
    train_pairs = [p for name in common.TRAIN_FILES for p in data[name] if not common.held_out(p[0])]
    predictor = fit(score, train_pairs, featurizer, options)
    out = []
    for name in common.EVAL_FILES:
        rows = data[name]
        s = scores(predictor, [f for _, f in rows], score, common.STRONG, common.WEAK)
        out.append(apgr(s, [r["scores"][common.STRONG] for r, _ in rows], [r["scores"][common.WEAK] for r, _ in rows]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--report-eval", action="store_true")
    parser.add_argument("--aiq", action="store_true", help="many-model AIQ on the held-out task instead of APGR")
    parser.add_argument("--chat", action="store_true", help="also the 5-fold alpacaeval2 gpt-4 vs Mixtral APGR")
    parser.add_argument("--cv", action="store_true", help="with --aiq: also the in-distribution 5-fold report")
    parser.add_argument("--quality", action="store_true",
                        help="RouterDC's 7 models (no costs), 5-fold: quality of the predicted-best model")
    parser.add_argument("--save", help="append the --chat scores or --quality picks to this file (JSON lines)")
    parser.add_argument("--bootstrap", type=int, default=200, help="resamples for the --aiq intervals")
    args = parser.parse_args(argv)
    featurizer = PromptFeaturizer.load()
    data = load(featurizer)
    for variant in args.variant:
        if args.quality:
            print_quality(variant, cv_quality(variant, data, featurizer, args.bootstrap, save=args.save))
            sys.stdout.flush()
            continue
        if args.aiq:
            reports = logo_aiq(variant, data, featurizer, args.bootstrap)
            if args.cv:
                reports.append(cv_aiq(variant, data, featurizer, args.bootstrap))
            print_aiq(variant, reports)
            sys.stdout.flush()
            continue
        folds = logo(variant, data, featurizer)
        line = f"{variant:40s} LOGO " + " / ".join(f"{v:.3f}" for v in folds) + f" ({sum(folds) / 3:.3f})"
        if args.chat:
            chat, length = chat_folds(variant, data, featurizer, save=args.save)
            line += f"   chat {chat:.3f} (length {length:.3f})"
        if args.report_eval:
            mmlu, gsm = report_eval(variant, data, featurizer)
            line += f"   eval {mmlu:.3f} / {gsm:.3f}"
        print(line, flush=True)
    return 0


def train_pairwise(
    rows: Sequence[dict[str, Any]],
    feats: Sequence[PromptFeatures],
    featurizer: PromptFeaturizer,
    options: TrainOptions,
    max_pairs_per_prompt: int = 60,
) -> FactorPredictor:
    """Research variant: a pairwise win model. For two models i, j on the same prompt with different
    outcomes, P(i better) = σ(b_i − b_j + x·Pᵀ(z_i − z_j) + c_{g,i} − c_{g,j}), soft target (1 + y_i − y_j) / 2;
    the per-(group, model) effects c are dropped when serving. Served as a FactorPredictor whose
    logit difference is the pairwise score (its absolute q̂ is meaningless)."""
    import random as _random

    import numpy as np

    from switchpoint.routing.learned.train import _design, prepare

    data = prepare(rows, featurizer, feats)
    x, _, _ = _design(data, options)
    n, d = x.shape
    n_models = len(data.models)
    groups = sorted(set(data.groups))
    gid = np.asarray([groups.index(g) for g in data.groups])
    by_prompt: dict[int, list[tuple[int, float]]] = {}
    for i, m, v in data.pairs:
        by_prompt.setdefault(i, []).append((m, v))
    rng = _random.Random(options.seed)
    pa, pb, pi, pt, pw_src = [], [], [], [], []
    for i, outcomes in by_prompt.items():
        cand = [
            (a, b, va - vb)
            for k, (a, va) in enumerate(outcomes)
            for (b, vb) in outcomes[k + 1 :]
            if abs(va - vb) > 1e-6
        ]
        if len(cand) > max_pairs_per_prompt:
            cand = rng.sample(cand, max_pairs_per_prompt)
        for a, b, diff in cand:
            pa.append(a)
            pb.append(b)
            pi.append(i)
            pt.append((1 + diff) / 2)
            pw_src.append(data.sources[i])
    pa_, pb_, pi_ = np.asarray(pa), np.asarray(pb), np.asarray(pi)
    pt_ = np.asarray(pt)
    src = np.asarray(pw_src)
    w = np.zeros(len(pt_))
    for s in set(pw_src):
        mask = src == s
        w[mask] = options.source_weights.get(s, 1.0) / mask.sum()
    w /= w.sum()
    pg = gid[pi_]
    nrng = np.random.default_rng(options.seed)
    r = options.rank
    params = {
        "b": np.zeros(n_models),
        "P": nrng.normal(0, 0.1, (r, d)),
        "Z": nrng.normal(0, 0.1, (n_models, r)),
        "c": np.zeros((len(groups), n_models)),
    }
    dim_scale = np.ones(d)
    dim_scale[: featurizer.embedder.dims] = options.embedding_l2
    m1 = {k: np.zeros_like(v) for k, v in params.items()}
    m2 = {k: np.zeros_like(v) for k, v in params.items()}
    for step in range(1, options.iterations + 1):
        q = x @ params["P"].T
        dz = params["Z"][pa_] - params["Z"][pb_]
        qp = q[pi_]
        logit = (
            params["b"][pa_]
            - params["b"][pb_]
            + np.einsum("ij,ij->i", qp, dz)
            + params["c"][pg, pa_]
            - params["c"][pg, pb_]
        )
        g = w * (1 / (1 + np.exp(-logit)) - pt_)
        gb = np.bincount(pa_, g, minlength=n_models) - np.bincount(pb_, g, minlength=n_models)
        gz_rows = g[:, None] * qp
        gz = np.zeros_like(params["Z"])
        np.add.at(gz, pa_, gz_rows)
        np.add.at(gz, pb_, -gz_rows)
        gq = np.zeros((n, r))
        np.add.at(gq, pi_, g[:, None] * dz)
        gc = np.zeros_like(params["c"])
        np.add.at(gc, (pg, pa_), g)
        np.add.at(gc, (pg, pb_), -g)
        grads = {
            "b": gb,
            "P": gq.T @ x + options.l2 * dim_scale[None, :] * params["P"],
            "Z": gz + options.l2 * params["Z"],
            "c": gc + options.l2 * params["c"],
        }
        for k, grad in grads.items():
            m1[k] = 0.9 * m1[k] + 0.1 * grad
            m2[k] = 0.999 * m2[k] + 0.001 * grad * grad
            lr = options.learning_rate * np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
            params[k] -= lr * m1[k] / (np.sqrt(m2[k]) + 1e-8)
    from switchpoint.routing.learned.profiles import ProfileRegistry

    models = {
        name: (float(params["b"][m] + params["c"][:, m].mean()), [float(v) for v in params["P"].T @ params["Z"][m]])
        for m, name in enumerate(data.models)
    }
    if options.length_prior:
        from switchpoint.routing.learned.train import _length_prior

        models = _length_prior(models, featurizer, options.length_prior)
    return FactorPredictor(
        "mf", featurizer, offset=0.0, models=models, tiers={}, sparse={}, registry=ProfileRegistry(models, [])
    )


if __name__ == "__main__":
    sys.exit(main())
