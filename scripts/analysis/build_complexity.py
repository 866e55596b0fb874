"""Build artifacts/complexity.json.gz: P(a small model answers poorly) from routing outcome data.

Label per prompt: "the small models failed" =
- routerbench_train: mean score of mistral-7b-chat, mixtral-8x7b-chat and WizardLM-13B below 0.5;
- routerdc7_train: mean score of its seven ~7B models below 0.5;
- alpacaeval2 (weak, judge-based): mean preference of small models (≤ 8B: Llama-3.2 1B/3B, gemma 2B/7B,
  alpaca-7b, vicuna-7b, OpenHermes-2.5-Mistral-7B, phi-2, minichat-3b, falcon-7b) below its median
  across prompts (a relative label: the judge prefers the GPT-4 reference almost always).
Only these three files are trained on (the folder's protocol). Evaluation on prompts never seen:
- a 20% split of the training files (by prompt), per file;
- routellm_mmlu and routellm_gsm8k (never trained or tuned on): label = Mixtral-8x7B answered wrongly.
AUC is reported with a bootstrap 95% interval, beside the prompt-length baseline (longer → harder).

Model: logistic regression over switchpoint.analysis.analyzers.complexity_features (the shape and
cue-word features of the text features, and size, arithmetic and kind cues of the question), the
same function that serves. The feature set was chosen with explore_complexity.py, on the 20% split
of the training files only. The RouteLLM files are evaluated once, after C is chosen on that split.
"""

from __future__ import annotations

import json
import random
import statistics

import numpy as np
from common import ARTIFACTS, routing_rows
from trainlib import build_vocab, design, export

from switchpoint.analysis.analyzers import complexity_features
from switchpoint.analysis.textfeatures import Lexicon, text_features

ROUTERBENCH_SMALL = ("mistralai/mistral-7b-chat", "mistralai/mixtral-8x7b-chat", "WizardLM/WizardLM-13B-V1.2")
ALPACA_SMALL = ("FuseChat-Llama-3.2-1B-Instruct", "FuseChat-Llama-3.2-3B-Instruct", "gemma-2b-it", "gemma-7b-it",
                "alpaca-7b", "vicuna-7b", "OpenHermes-2.5-Mistral-7B", "phi-2", "minichat-3b", "falcon-7b-instruct")
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"


def _mean(scores: dict, models: tuple[str, ...] | None = None) -> float | None:
    values = [v for k, v in scores.items() if v is not None and (models is None or k in models)]
    return statistics.fmean(values) if values else None


def training_rows() -> list[tuple[str, str, int]]:
    rows: list[tuple[str, str, int]] = []
    for row in routing_rows("routerbench_train"):
        m = _mean(row["scores"], ROUTERBENCH_SMALL)
        if m is not None:
            rows.append(("routerbench:" + row["meta"]["eval_name"].split(".")[0], row["prompt"], int(m < 0.5)))
    for row in routing_rows("routerdc7_train"):
        m = _mean(row["scores"])
        if m is not None:
            rows.append(("routerdc7:" + row["meta"]["task_file"].split("_")[0].split("-")[0], row["prompt"],
                         int(m < 0.5)))
    alpaca = [(row["prompt"], _mean(row["scores"], ALPACA_SMALL)) for row in routing_rows("alpacaeval2")]
    median = statistics.median(m for _, m in alpaca if m is not None)
    rows.extend(("alpacaeval2", p, int(m < median)) for p, m in alpaca if m is not None)
    return rows


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks for ties
    for value in np.unique(scores):
        tie = scores == value
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_ci(labels: np.ndarray, scores: np.ndarray, rounds: int = 300, seed: int = 0) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        idx = rng.integers(0, len(labels), len(labels))
        if 0 < labels[idx].sum() < len(idx):
            values.append(auc(labels[idx], scores[idx]))
    return auc(labels, scores), float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def fit(rows: list[tuple[str, list[str], int]], c: float, word_scale: float | None = None):  # type: ignore[no-untyped-def]
    """Fit with one indicator feature per source dataset ("fixed effects"), then drop those
    indicators: they soak up how hard each benchmark is as a whole, so the remaining weights
    learn what makes a prompt harder than its neighbours, which is what transfers to new prompts.

    ``word_scale`` (exploration only): multiply the columns of word features (those not starting
    with "#") by it, a stronger penalty on them; their weights are multiplied back on export, so
    the model still serves on plain binary features."""
    from sklearn.linear_model import LogisticRegression

    xs = [feats + ["#ds:" + source] for source, feats, _ in rows]
    vocab = build_vocab(xs, 3)
    x = design(xs, vocab, False)
    scale = None
    if word_scale is not None:
        scale = np.array([1.0 if f.startswith("#") else word_scale for f in sorted(vocab, key=vocab.__getitem__)])
        x = x.multiply(scale).tocsr()
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(x, [y for *_, y in rows])
    if scale is not None:
        clf.coef_ = clf.coef_ * scale
    model = export(clf, vocab, name="complexity", keep=20000, meta={})
    for feature in [f for f in model.weights if f.startswith("#ds:")]:
        del model.weights[feature]
    return model


def main() -> None:
    lexicon = Lexicon.load(ARTIFACTS / "lexicon.json")

    def feats(text: str) -> list[str]:
        return sorted(complexity_features(text, text_features(text, lexicon)))

    raw = training_rows()
    rng = random.Random(3)
    rng.shuffle(raw)
    rows = [(source, feats(text), y, len(text)) for source, text, y in raw]
    cut = int(len(rows) * 0.8)
    train, test = rows[:cut], rows[cut:]
    print("rows", len(rows), "positive share", round(sum(r[2] for r in rows) / len(rows), 3))
    # C is chosen on the 20% split of the training files only; the RouteLLM files are read once,
    # after the choice, to evaluate the chosen setting.
    best = None
    for c in (0.3, 1.0, 3.0):
        model = fit([(s, f, y) for s, f, y, _ in train], c)
        report: dict[str, object] = {"C": c}
        for name in ("routerbench", "routerdc7", "alpacaeval2"):
            part = [(f, y, n) for s, f, y, n in test if s.split(":")[0] == name]
            labels = np.array([y for _, y, _ in part])
            scores = np.array([model.predict_proba(f)["1"] for f, _, _ in part])
            lengths = np.array([n for *_, n in part], dtype=float)
            report[name] = (auc_ci(labels, scores), round(auc(labels, lengths), 3), len(part))
        print(json.dumps(report, default=lambda v: [round(x, 3) for x in v] if isinstance(v, tuple) else str(v)))
        mean_heldout = float(np.mean([report[n][0][0] for n in ("routerbench", "routerdc7", "alpacaeval2")]))
        if best is None or mean_heldout > best[0]:
            best = (mean_heldout, c, model, report)
    assert best is not None
    _, c, model, report = best
    print("chosen C", c, "(best mean AUC on the 20% split of the training files)")
    for name in ("routellm_mmlu", "routellm_gsm8k"):  # never trained or tuned on
        data = [(feats(r["prompt"]), 1 - int(r["scores"][MIXTRAL] >= 0.5), len(r["prompt"]))
                for r in routing_rows(name)]
        labels = np.array([y for _, y, _ in data])
        scores = np.array([model.predict_proba(f)["1"] for f, _, _ in data])
        lengths = np.array([n for *_, n in data], dtype=float)
        report[name] = (auc_ci(labels, scores), auc_ci(labels, lengths), len(data))
    print(json.dumps(report, default=lambda v: [round(x, 3) for x in v] if isinstance(v, tuple) else str(v)))
    final = fit([(s, f, y) for s, f, y, _ in rows], c)
    final.meta.update({
        "task": "P(small model answers poorly)", "C": c,
        "evaluation": json.loads(json.dumps(report, default=lambda v: list(v) if isinstance(v, tuple) else v)),
    })
    final.dump(ARTIFACTS / "complexity.json.gz")
    print("wrote complexity.json.gz", len(final.weights), "features")


if __name__ == "__main__":
    main()
