"""Training helpers: sparse design matrices from feature lists, logistic regression, pruning, export.

Build-time only (numpy, scipy, scikit-learn); the trained weights are exported as a
switchpoint.analysis.linear.LinearModel, which serves in pure Python.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import common  # noqa: F401  (puts src/ on sys.path)
import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from switchpoint.analysis.linear import LinearModel

QUANTUM = 0.001


def design(xs: Sequence[Sequence[str]], vocab: dict[str, int], counts: bool) -> sparse.csr_matrix:
    rows, cols, vals = [], [], []
    for i, feats in enumerate(xs):
        items = Counter(feats) if counts else Counter(set(feats))
        total = sum(items.values()) if counts else len(set(feats))
        scale = 1.0 / math.sqrt(total) if total else 0.0
        for feat, n in items.items():
            j = vocab.get(feat)
            if j is not None:
                rows.append(i)
                cols.append(j)
                vals.append(n * scale)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(xs), len(vocab)), dtype=np.float64)


def build_vocab(xs: Sequence[Sequence[str]], min_count: int) -> dict[str, int]:
    df: Counter[str] = Counter()
    for feats in xs:
        df.update(set(feats))
    return {f: i for i, f in enumerate(sorted(f for f, n in df.items() if n >= min_count))}


def _fit(x: sparse.csr_matrix, ys: Sequence[str], c: float, weights: Sequence[float] | None) -> LogisticRegression:
    clf = LogisticRegression(C=c, max_iter=400, tol=1e-4)
    clf.fit(x, ys, sample_weight=None if weights is None else np.asarray(weights))
    return clf


def export(clf: LogisticRegression, vocab: dict[str, int], *, name: str, keep: int, meta: dict) -> LinearModel:
    coef = clf.coef_  # (n_classes, n_features), or (1, n_features) for two classes
    strength = np.abs(coef).max(axis=0)
    order = np.argsort(-strength)[:keep]
    inverse = {i: f for f, i in vocab.items()}
    weights: dict[str, tuple[int, ...]] = {}
    for j in order:
        row = tuple(int(round(v / QUANTUM)) for v in coef[:, j])
        if any(row):
            weights[inverse[int(j)]] = row
    classes = [str(c) for c in clf.classes_]
    return LinearModel(classes, [float(b) for b in clf.intercept_], weights, quantum=QUANTUM, name=name, meta=meta)


def fit_linear(
    xs: Sequence[Sequence[str]],
    ys: Sequence[str],
    *,
    name: str,
    c: float = 1.0,
    min_count: int = 2,
    keep: int = 30000,
    counts: bool = False,
    sample_weights: Sequence[float] | None = None,
    meta: dict | None = None,
    holdout: float = 0.1,
    seed: int = 0,
) -> tuple[LinearModel, dict]:
    """Fit on 90% to report held-out accuracy, then refit on everything for the shipped model."""
    idx = np.arange(len(xs))
    train_idx, test_idx = train_test_split(idx, test_size=holdout, random_state=seed, stratify=list(ys))
    sub_x = [xs[i] for i in train_idx]
    vocab = build_vocab(sub_x, min_count)
    w = None if sample_weights is None else [sample_weights[i] for i in train_idx]
    clf = _fit(design(sub_x, vocab, counts), [ys[i] for i in train_idx], c, w)
    pruned = export(clf, vocab, name=name, keep=keep, meta={})
    test_x = [xs[i] for i in test_idx]
    test_y = [ys[i] for i in test_idx]
    predictions = [max(pruned.predict_proba(f).items(), key=lambda kv: kv[1])[0] for f in test_x]
    result = {"n_train": len(train_idx), "n_holdout": len(test_idx), "y": test_y, "pred": predictions}

    vocab = build_vocab(xs, min_count)
    clf = _fit(design(xs, vocab, counts), ys, c, sample_weights)
    model = export(clf, vocab, name=name, keep=keep, meta=dict(meta or {}, vocabulary=len(vocab)))
    return model, result


def report(result: dict) -> float:
    y, pred = result["y"], result["pred"]
    accuracy = sum(a == b for a, b in zip(y, pred, strict=True)) / max(1, len(y))
    print(f"held-out accuracy {accuracy:.4f} on {len(y)} (trained on {result['n_train']})")
    errors = Counter((a, b) for a, b in zip(y, pred, strict=True) if a != b)
    for (a, b), n in errors.most_common(8):
        print(f"  {a} -> {b}: {n}")
    return accuracy
