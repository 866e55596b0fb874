"""Compare candidate feature sets for the complexity model on the 20% split of the training files only.

    python scripts/analysis/explore_complexity.py

Reads only routerbench_train, routerdc7_train and alpacaeval2 (the protocol's training files);
routellm_mmlu and routellm_gsm8k are never opened here, so the choice it informs is not tuned on
them. Prints the split AUC per source and per benchmark inside the sources (e.g. routerdc7's
gsm8k-train rows) for every candidate and C. The chosen candidate is then implemented in
switchpoint.analysis.analyzers.complexity_features and built by build_complexity.py.
"""

from __future__ import annotations

import random
import re
import statistics
import sys

import numpy as np
from build_complexity import auc, fit, training_rows
from common import ARTIFACTS

from switchpoint.analysis.analyzers import complexity_features
from switchpoint.analysis.textfeatures import Lexicon, text_features

_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_MATH_WORDS = re.compile(
    r"\b(?:each|per|total|times|twice|half|third|quarter|percent|remaining|left|altogether|combined|more than|"
    r"less than|fewer|how many|how much|average|ratio|profit|costs?|spent|spends?|earns?|saves?|pays?|"
    r"sells?|sold|buys?|bought|every|rate|hours?|minutes?|days?|weeks?|dollars?)\b", re.IGNORECASE)
_CHOICE = re.compile(r"^\s*\(?[A-Da-d][.)]\s", re.MULTILINE)


def _bucket(n: float, edges: tuple[float, ...]) -> str:
    for edge in edges:
        if n <= edge:
            return str(edge)
    return str(edges[-1]) + "+"


def question_of(text: str) -> str:
    return text[-3000:].rstrip().rsplit("\n\n", 1)[-1]


def numeric_cues(text: str) -> set[str]:
    q = question_of(text)
    nums = _NUM.findall(q)
    out = {"#dnums:" + _bucket(len(set(nums)), (0, 1, 2, 3, 4, 5, 6, 8)),
           "#mwords:" + _bucket(len(_MATH_WORDS.findall(q)), (0, 1, 2, 3, 5, 8)),
           "#qwords:" + _bucket(len(q.split()), (8, 16, 24, 32, 48, 64, 96, 128, 256))}
    if any(len(n.replace(",", "").split(".")[0]) >= 4 for n in nums):
        out.add("#bignum")
    if any("." in n or "," in n for n in nums):
        out.add("#decimal")
    if "%" in q:
        out.add("#percent")
    if re.search(r"\d\s*/\s*\d", q):
        out.add("#fraction")
    return out


def interactions(text: str) -> set[str]:
    """Length and numbers read separately for word problems, multiple choice, and the rest."""
    q = question_of(text)
    nums = len(_NUM.findall(q))
    choices = len(_CHOICE.findall(q)) >= 3
    kind = "mc" if choices else "wp" if nums >= 2 else "other"
    qchars = str(min(13, int(np.log2(len(q) + 1))))
    out = {f"#{kind}", f"#{kind}_qchars:{qchars}", f"#{kind}_nums:" + _bucket(nums, (0, 1, 2, 3, 4, 5, 6, 8, 12)),
           f"#{kind}_sents:" + _bucket(len(re.findall(r"[.!?](?:\s|$)", q)), (1, 2, 3, 4, 5, 6, 8))}
    if choices:
        options = [line for line in q.splitlines() if _CHOICE.match(line)]
        mean = statistics.fmean(len(o) for o in options) if options else 0
        out.add("#mc_optlen:" + _bucket(mean, (4, 8, 16, 32, 64, 128)))
    return out


def fit_scaled(rows: list[tuple[str, list[str], int]], c: float, alpha: float):  # type: ignore[no-untyped-def]
    """As build_complexity.fit, with the word features' columns multiplied by ``alpha`` (a stronger
    penalty on them than on the shape features); their exported weights are multiplied back, so the
    model serves on unscaled binary features."""
    from sklearn.linear_model import LogisticRegression
    from trainlib import build_vocab, design, export

    xs = [feats + ["#ds:" + source] for source, feats, _ in rows]
    vocab = build_vocab(xs, 3)
    x = design(xs, vocab, False)
    scale = np.array([1.0 if f.startswith("#") else alpha for f in sorted(vocab, key=vocab.__getitem__)])
    x = x.multiply(scale).tocsr()
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(x, [y for *_, y in rows])
    clf.coef_ = clf.coef_ * scale
    model = export(clf, vocab, name="complexity", keep=20000, meta={})
    for feature in [f for f in model.weights if f.startswith("#ds:")]:
        del model.weights[feature]
    return model


def main() -> None:
    lexicon = Lexicon.load(ARTIFACTS / "lexicon.json")
    raw = training_rows()
    rng = random.Random(3)
    rng.shuffle(raw)
    cut = int(len(raw) * 0.8)
    base = [sorted(complexity_features(t, text_features(t, lexicon))) for _, t, _ in raw]
    variants = {
        "A current": lambda i, t: base[i],
        "B + numeric cues": lambda i, t: base[i] + sorted(numeric_cues(t)),
        "C + numeric cues + interactions": lambda i, t: base[i] + sorted(numeric_cues(t) | interactions(t)),
        "D shape only (no words) + cues + interactions": lambda i, t: [f for f in base[i] if f.startswith("#")]
        + sorted(numeric_cues(t) | interactions(t)),
        "E all, word features scaled (alpha 0.3)": lambda i, t: base[i] + sorted(numeric_cues(t) | interactions(t)),
        "E all, word features scaled (alpha 0.1)": lambda i, t: base[i] + sorted(numeric_cues(t) | interactions(t)),
    }
    groups = sorted({s for s, _, _ in raw[cut:]})
    only = set(sys.argv[1:])  # names' first letters, to rerun some candidates
    for name, make in variants.items():
        if only and name[0] not in only:
            continue
        rows = [(s, make(i, t), y) for i, (s, t, y) in enumerate(raw)]
        train, test = rows[:cut], rows[cut:]
        for c in (0.3, 1.0, 3.0):
            if name.startswith("E"):
                alpha = float(name.split("alpha ")[1].split(")")[0])
                model = fit_scaled(train, c, alpha)
            else:
                model = fit(train, c)
            scores = np.array([model.predict_proba(f)["1"] for _, f, _ in test])
            labels = np.array([y for *_, y in test])
            sources = [s for s, _, _ in test]
            per_source = {}
            for src in ("routerbench", "routerdc7", "alpacaeval2"):
                idx = [i for i, s in enumerate(sources) if s.split(":")[0] == src]
                per_source[src] = auc(labels[idx], scores[idx])
            per_group = {}
            for g in groups:
                idx = [i for i, s in enumerate(sources) if s == g]
                if 0 < labels[idx].sum() < len(idx):
                    per_group[g] = round(auc(labels[idx], scores[idx]), 3)
            mean = float(np.mean(list(per_source.values())))
            print(f"{name:48s} C={c:<4} mean {mean:.3f} "
                  + " ".join(f"{k} {v:.3f}" for k, v in per_source.items()) + " | " + str(per_group), flush=True)


if __name__ == "__main__":
    main()
