"""Training the learned routers (build time; needs the ``train`` extra: numpy and scipy).

Entry point used by ``switchpoint train`` and ``scripts/routing``::

    train(kind: str, rows: Iterable[Mapping[str, Any]], *,
          featurizer: PromptFeaturizer | None = None, features: Sequence[PromptFeatures] | None = None,
          options: TrainOptions | None = None, progress: Callable[[str], None] | None = None)
        -> FactorPredictor | KNNPredictor          # then save_predictor(predictor, path)

``kind`` is ``"mf"`` (default artifact), ``"linear"`` or ``"knn"``. ``rows`` are routing outcome
rows in the format of ``../shared/data/routing`` (``prompt``, ``scores: {model: 0..1 | None}``,
optionally ``dataset`` and ``meta.task_file`` / ``meta.eval_name`` / ``meta.subset``, which form
the row's *group*). ``features`` may pass precomputed ``featurizer.features(prompt)`` values, in
row order, to save time when fitting several models on the same rows.

Data handling: model columns are pooled under canonical names (``profiles.canonical_training_name``:
``mistralai/mixtral-8x7b-chat`` and ``Mixtral-8x7B-Instruct-v0.1_concise`` are one model). A
column constant within a dataset at a value strictly between 0 and 1 is a judge's reference, not an
outcome, and is dropped (AlpacaEval's reference model, gpt-4-1106, is always 0.5) unless
``keep_reference`` keeps it as that model's outcome (not shipped: RESEARCH.md, session 5). Each
*source* (``dataset``) gets the same total weight.

Objective (``mf``, ``linear``): soft-label logistic loss over every (prompt, model) outcome with

    logit = b_m + x·(u + Pᵀz_m) + v·s/sqrt(|s|) + c_g + c_{g,m}

where ``c_g`` and ``c_{g,m}`` are per-group effects ("how hard is this benchmark", "how good is this
model at this benchmark") fitted with the rest and, without ``task_levels``, replaced by their mean when serving:
they soak up what distinguishes whole benchmarks (formats, few-shot prefixes), so the remaining
weights learn what makes one prompt harder than its neighbours, which is what transfers to new
prompt sets. Full-batch Adam with L2 on everything but the biases.

With ``task_levels`` (the default since session 6) the group effects are also served, through a task
recogniser: a softmax over the groups on the dense features, fitted after the factor model, and each model's
level on each group it was measured on, kept as an offset from its served bias. A prompt gets the levels of
the benchmarks it resembles (``FactorPredictor``); measured in ``scripts/routing/RESEARCH.md``, session 6.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from switchpoint.routing.learned.features import PromptFeatures, PromptFeaturizer
from switchpoint.routing.learned.predictors import FactorPredictor, KNNPredictor, add_length_prior
from switchpoint.routing.learned.profiles import ProfileRegistry, builtin_tier, canonical_training_name

__all__ = ["KINDS", "TrainOptions", "TrainingData", "prepare", "train"]

KINDS = ("mf", "linear", "knn")


def _default_source_weights() -> dict[str, float]:
    # AlpacaEval's labels are a length-biased judge's preferences (weak labels, per the data README)
    # the synthetic trivial messages (routing/learned/synthetic.py) are weak labels too
    return {"alpacaeval2": 0.25, "synthetic_trivial": 0.25}


@dataclass(frozen=True)
class TrainOptions:
    """Training options; the defaults are those of the shipped artifact (chosen in scripts/routing/RESEARCH.md)."""

    rank: int = 8
    l2: float = 1e-3
    l2_sparse: float = 3e-4
    iterations: int = 150
    learning_rate: float = 0.05
    group_effects: str = "model"  # "none" | "group" | "model"
    embedding_l2: float = 10.0  # L2 multiplier on the embedding dimensions (they transfer less than the cues)
    sparse: bool = False  # fit shared sparse text-feature weights (they overfit the benchmarks' formats)
    length_prior: float = 0.1  # logits per doubling of prompt length per tier step (see predictors.add_length_prior)
    min_sparse_count: int = 5
    max_sparse: int = 20000
    source_weights: Mapping[str, float] = field(default_factory=_default_source_weights)
    anchor_source: str = "routerbench_slices"  # the dataset whose scale the others are aligned to
    prefer_anchor: bool = False  # a model measured on the anchor takes its bias from there alone
    keep_reference: bool = False  # keep a judge's reference column (constant score) as that model's outcome
    task_levels: bool = True  # serve each model's level on the training tasks a prompt resembles (see _task_levels)
    task_l2: float = 1e-2  # L2 of the task recogniser (a softmax over the training groups)
    task_source_weights: bool = True  # the recogniser weighs sources by source_weights (else each source 1)
    # sources whose groups take the length prior back off, in proportion to p(group | prompt) (task levels only):
    # AlpacaEval's chat prompts, where length is an anti-signal (RESEARCH.md, sessions 5 and 6)
    prior_off_sources: tuple[str, ...] = ("alpacaeval2",)
    # take the prior off by a binary detector (those sources' prompts vs the rest, the two classes weighted alike)
    # instead of by the recogniser's probability of their groups
    prior_off_head: bool = True
    # with the detector: a probability up to this floor takes nothing off; above it, the prior comes off linearly,
    # all of it at p = 1 (0: in proportion to p)
    prior_off_floor: float = 0.5
    # add the synthetic trivial messages (greetings, thanks, "ok": every model scores 1; synthetic.py)
    trivial_prompts: bool = True
    knn_k: int = 32
    knn_shrink: float = 1.0
    knn_max_prototypes: int = 4000
    seed: int = 0


@dataclass
class TrainingData:
    """Prompts × canonical models, ready for fitting."""

    texts: list[str]
    features: list[PromptFeatures]
    groups: list[str]
    sources: list[str]
    models: list[str]
    pairs: list[tuple[int, int, float]]  # (prompt index, model index, outcome)


def group_of(row: Mapping[str, Any]) -> tuple[str, str]:
    source = str(row.get("dataset") or "data")
    meta = row.get("meta") or {}
    sub = meta.get("task_file") or meta.get("eval_name") or meta.get("subset") or ""
    return source, f"{source}:{sub}"


def prepare(rows: Iterable[Mapping[str, Any]], featurizer: PromptFeaturizer,
            features: Sequence[PromptFeatures] | None = None, *, keep_reference: bool = False) -> TrainingData:
    rows = list(rows)
    if features is not None and len(features) != len(rows):
        raise ValueError(f"{len(features)} feature sets for {len(rows)} rows")
    per_source: dict[tuple[str, str], list[float]] = {}
    canon: list[dict[str, float]] = []
    for row in rows:
        scores = row.get("scores") or {}
        pooled: dict[str, list[float]] = {}
        for column, value in scores.items():
            if value is None:
                continue
            name = canonical_training_name(column, scores)
            if name is not None:
                pooled.setdefault(name, []).append(float(value))
        merged = {k: sum(v) / len(v) for k, v in pooled.items()}
        canon.append(merged)
        source = group_of(row)[0]
        for name, value in merged.items():
            per_source.setdefault((source, name), []).append(value)
    constant = set() if keep_reference else {
        key for key, values in per_source.items() if max(values) - min(values) < 1e-9 and 0.0 < values[0] < 1.0
    }
    models = sorted({name for (source, name) in per_source if (source, name) not in constant})
    index = {m: i for i, m in enumerate(models)}
    data = TrainingData([], [], [], [], models, [])
    for r, (row, merged) in enumerate(zip(rows, canon, strict=True)):
        source, group = group_of(row)
        kept = [(index[m], v) for m, v in merged.items() if (source, m) not in constant]
        if not kept:
            continue
        i = len(data.texts)
        text = str(row["prompt"])
        data.texts.append(text)
        data.features.append(features[r] if features is not None else featurizer.features(text))
        data.groups.append(group)
        data.sources.append(source)
        data.pairs.extend((i, m, v) for m, v in kept)
    if not data.pairs:
        raise ValueError("no usable outcomes: every row lacks scores")
    return data


def train(kind: str, rows: Iterable[Mapping[str, Any]], *, featurizer: PromptFeaturizer | None = None,
          features: Sequence[PromptFeatures] | None = None, options: TrainOptions | None = None,
          progress: Callable[[str], None] | None = None) -> FactorPredictor | KNNPredictor:
    """Fit a predictor of ``kind`` on outcome ``rows`` (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"unknown predictor kind {kind!r}: expected one of {', '.join(KINDS)}")
    options = options or TrainOptions()
    featurizer = featurizer or PromptFeaturizer.load()
    if options.trivial_prompts:
        from switchpoint.routing.learned.synthetic import TRIVIAL_MODELS, trivial_rows

        rows = list(rows)
        present = {canonical_training_name(column, row["scores"]) for row in rows for column in row.get("scores") or {}}
        extra = trivial_rows([m for m in TRIVIAL_MODELS if m in present])
        rows = [*rows, *extra]
        if features is not None:
            features = [*features, *(featurizer.features(str(row["prompt"])) for row in extra)]
    data = prepare(rows, featurizer, features, keep_reference=options.keep_reference)
    if progress:
        progress(f"{len(data.texts)} prompts, {len(data.models)} models, {len(data.pairs)} outcomes")
    if kind == "knn":
        return _train_knn(data, featurizer, options)
    return _train_factor(kind, data, featurizer, options, progress)


def _tiers(models: Sequence[str]) -> dict[str, list[str]]:
    tiers: dict[str, list[str]] = {}
    for m in models:
        tier = builtin_tier(m)
        if tier is not None:
            tiers.setdefault(tier, []).append(m)
    return tiers


def _train_knn(data: TrainingData, featurizer: PromptFeaturizer, options: TrainOptions) -> KNNPredictor:
    order = list(range(len(data.texts)))
    random.Random(options.seed).shuffle(order)
    keep = sorted(order[: options.knn_max_prototypes])
    position = {i: p for p, i in enumerate(keep)}
    dims = featurizer.embedder.dims
    outcomes: dict[str, list[float | None]] = {m: [None] * len(keep) for m in data.models}
    for i, m, v in data.pairs:
        p = position.get(i)
        if p is not None:
            outcomes[data.models[m]][p] = v
    tiers = _tiers(data.models)
    return KNNPredictor(
        featurizer, vectors=[[round(x, 4) for x in data.features[i].dense[:dims]] for i in keep],
        outcomes=outcomes, k=options.knn_k, shrink=options.knn_shrink,
        registry=ProfileRegistry(data.models, tiers), meta={"tier_members": tiers, "prototypes": len(keep)})


def _levels(data: TrainingData, params: Mapping[str, Any], dense: Mapping[int, Any], x: Any, pw: Any,
            pairs: tuple[Any, Any, Any], sources: Sequence[str]) -> tuple[dict[str, dict[str, float]],
                                                                         dict[str, dict[str, float]]]:
    """Per model and source: the bias with the source's group effects folded in (``parts``), and the
    model's mean logit over the source's prompts (``levels``: ``parts`` plus the mean dense term)."""
    import numpy as np

    pi, pm, pg = pairs
    source_of_pair = np.asarray(data.sources)[pi]
    parts: dict[str, dict[str, float]] = {}
    levels: dict[str, dict[str, float]] = {}
    for m, name in enumerate(data.models):
        for source in sources:
            mask = (pm == m) & (source_of_pair == source)
            if not mask.any():
                continue
            total = pw[mask].sum()
            weight = pw[mask] / total if total > 0 else np.full(int(mask.sum()), 1.0 / mask.sum())
            part = float(params["b"][m] + np.sum(weight * (params["cg"][pg[mask]] + params["cgm"][pg[mask], m])))
            parts.setdefault(name, {})[source] = part
            levels.setdefault(name, {})[source] = part + float(np.sum(weight * (x[pi[mask]] @ dense[m])))
    return parts, levels


def _common_scale(levels: Mapping[str, Mapping[str, float]], anchor: str) -> dict[str, float]:
    """The shift that puts each source's logit levels on the anchor source's scale.

    Sources with disjoint model sets (RouterDC's 7B models appear nowhere else) have levels that are
    not comparable: each dataset has its own difficulty and label scale. A source is shifted by the
    mean level difference of the models it shares with the anchor; a source sharing none is placed by
    its models' tiers (shifted so that each of its models sits, on average, at its tier's mean on the
    anchor scale). Without this, tier means would mix scales (a "small" tier above "frontier").
    The anchor is ``anchor`` when present, else the source with the most models."""
    sources = {s for per in levels.values() for s in per}
    if anchor not in sources:
        anchor = max(sorted(sources), key=lambda s: sum(s in per for per in levels.values()))
    shift = {anchor: 0.0}
    base = {m: per[anchor] for m, per in levels.items() if anchor in per}
    tier_level: dict[str, list[float]] = {}
    for m, level in base.items():
        tier = builtin_tier(m)
        if tier is not None:
            tier_level.setdefault(tier, []).append(level)
    for source in sorted(sources - {anchor}):
        shared = [base[m] - per[source] for m, per in levels.items() if source in per and m in base]
        if shared:
            shift[source] = sum(shared) / len(shared)
            continue
        placed = [sum(tier_level[t]) / len(tier_level[t]) - per[source] for m, per in levels.items()
                  if source in per and (t := builtin_tier(m)) is not None and t in tier_level]
        shift[source] = sum(placed) / len(placed) if placed else 0.0
    return shift




def _task_levels(data: TrainingData, x: Any, gid: Any, group_names: Sequence[str], params: Mapping[str, Any],
                 pairs: tuple[Any, Any], shift: Mapping[str, float], folded: Mapping[str, float],
                 tier_members: Mapping[str, Sequence[str]],
                 options: TrainOptions) -> tuple[dict[str, tuple[float, list[float]]], dict[str, dict[str, float]],
                                                 list[str]]:
    """With ``options.task_levels`` (and more than one group): the task recogniser; per model, its level on
    each group it was measured on (on the common scale) minus its served bias; per tier (``"tier:<name>"``), the
    mean of its members' offsets on each group (over the members measured there); and the groups of
    ``options.prior_off_sources``. Else three empty collections."""
    if not options.task_levels or len(group_names) < 2:
        return {}, {}, []
    import numpy as np

    pm, pg = pairs
    source_of = dict(zip(data.groups, data.sources, strict=True))
    offsets = {
        name: {group_names[g]: round(float(params["b"][m] + params["cg"][g] + params["cgm"][g, m]
                                           + shift[source_of[group_names[g]]] - folded[name]), 6)
               for g in sorted(set(pg[pm == m].tolist()))}
        for m, name in enumerate(data.models)}
    for tier, members in tier_members.items():
        measured = sorted({g for m in members for g in offsets[m]})
        offsets["tier:" + tier] = {g: round(float(np.mean([offsets[m][g] for m in members if g in offsets[m]])), 6)
                                   for g in measured}
    prior_off = [g for g in group_names if source_of[g] in options.prior_off_sources]
    return _task_recogniser(x, gid, group_names, data, options), offsets, prior_off


def _task_recogniser(x: Any, gid: Any, group_names: Sequence[str], data: TrainingData,
                     options: TrainOptions) -> dict[str, tuple[float, list[float]]]:
    """A softmax over the training groups on the dense features (weighted so each source counts the same,
    L2 ``task_l2`` on the weights), for :class:`FactorPredictor`'s task levels: a prompt like a training
    benchmark's gets the models' levels on that benchmark, one like none of them a mix."""
    import numpy as np

    sources = np.asarray(data.sources)
    weight = np.zeros(len(sources))
    for source in set(data.sources):
        mask = sources == source
        weight[mask] = (options.source_weights.get(source, 1.0) if options.task_source_weights else 1.0) / mask.sum()
    w, b = _fit_softmax(x, gid, len(group_names), weight, options.task_l2)
    return {group: (round(float(b[j]), 6), [round(float(v), 6) for v in w[:, j]])
            for j, group in enumerate(group_names)}


def _prior_off_head(x: Any, data: TrainingData, options: TrainOptions) -> tuple[float, list[float]] | None:
    """With ``options.prior_off_head``: a logistic detector of the ``prior_off_sources`` prompts against all the
    others (each class the same total weight, the recogniser's recipe), as (bias, dense weights); else None."""
    import numpy as np

    if not options.prior_off_head:
        return None
    off = np.asarray([s in options.prior_off_sources for s in data.sources])
    if off.all() or not off.any():
        return None
    weight = np.where(off, 1.0 / off.sum(), 1.0 / (~off).sum())
    w, b = _fit_softmax(x, off.astype(int), 2, weight, options.task_l2)
    return round(float(b[1] - b[0]), 6), [round(float(v), 6) for v in w[:, 1] - w[:, 0]]


def _fit_softmax(x: Any, label: Any, k: int, weight: Any, l2: float) -> tuple[Any, Any]:
    """A weighted softmax regression (``k`` classes, ``label`` per row), full-batch Adam, 300 steps, L2 ``l2``."""
    import numpy as np

    n, d = x.shape
    weight = weight / weight.sum()
    target = np.zeros((n, k))
    target[np.arange(n), label] = 1.0
    w, b = np.zeros((d, k)), np.zeros(k)
    m1w, m2w, m1b, m2b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    for step in range(1, 301):
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = weight[:, None] * (p - target)
        gw, gb = x.T @ g + l2 * w, g.sum(axis=0)
        lr = 0.05 * np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
        m1w, m2w = 0.9 * m1w + 0.1 * gw, 0.999 * m2w + 0.001 * gw * gw
        m1b, m2b = 0.9 * m1b + 0.1 * gb, 0.999 * m2b + 0.001 * gb * gb
        w -= lr * m1w / (np.sqrt(m2w) + 1e-8)
        b -= lr * m1b / (np.sqrt(m2b) + 1e-8)
    return w, b


def _design(data: TrainingData, options: TrainOptions) -> tuple[Any, Any, list[str]]:
    import numpy as np
    from scipy import sparse

    counts: dict[str, int] = {}
    for f in data.features:
        for name in f.sparse:
            counts[name] = counts.get(name, 0) + 1
    vocab = sorted(n for n, c in counts.items() if c >= options.min_sparse_count)
    col = {n: j for j, n in enumerate(vocab)}
    indptr, indices, values = [0], [], []
    for f in data.features:
        js = [col[n] for n in f.sparse if n in col]
        scale = 1.0 / np.sqrt(len(f.sparse)) if f.sparse else 0.0
        indices.extend(js)
        values.extend([scale] * len(js))
        indptr.append(len(indices))
    h = sparse.csr_matrix((values, indices, indptr), shape=(len(data.features), len(vocab)))
    x = np.asarray([f.dense for f in data.features], dtype=np.float64)
    return x, h, vocab


def _train_factor(kind: str, data: TrainingData, featurizer: PromptFeaturizer, options: TrainOptions,
                  progress: Callable[[str], None] | None) -> FactorPredictor:
    import numpy as np

    rng = np.random.default_rng(options.seed)
    x, h, vocab = _design(data, options)
    n, d = x.shape
    n_models = len(data.models)
    group_names = sorted(set(data.groups))
    gid = np.asarray([group_names.index(g) for g in data.groups])
    pi = np.asarray([p[0] for p in data.pairs])
    pm = np.asarray([p[1] for p in data.pairs])
    py = np.asarray([p[2] for p in data.pairs], dtype=np.float64)
    pg = gid[pi]
    # each source the same total weight (or as given), spread over its outcomes
    sources = np.asarray(data.sources)[pi]
    pw = np.zeros(len(py))
    names = sorted(set(data.sources))
    for s in names:
        mask = sources == s
        pw[mask] = options.source_weights.get(s, 1.0) / mask.sum()
    pw /= pw.sum()
    rank = d if kind == "linear" else options.rank
    params: dict[str, Any] = {
        "b": np.zeros(n_models), "u": np.zeros(d), "v": np.zeros(h.shape[1]),
        "P": rng.normal(0, 0.1, (rank, d)) if kind == "mf" else np.eye(d),
        "Z": rng.normal(0, 0.1, (n_models, rank)) if kind == "mf" else np.zeros((n_models, d)),
        "cg": np.zeros(len(group_names)), "cgm": np.zeros((len(group_names), n_models)),
    }
    frozen = {"P"} if kind == "linear" else set()
    if not options.sparse:
        frozen.add("v")
    # per-dimension L2 scale: embedding dimensions (the first featurizer.embedder.dims) get embedding_l2
    dim_scale = np.ones(d)
    dim_scale[: featurizer.embedder.dims] = options.embedding_l2
    if options.group_effects in ("none", "group"):
        frozen.add("cgm")
    if options.group_effects == "none":
        frozen.add("cg")
    l2 = {"u": options.l2, "v": options.l2_sparse, "P": options.l2, "Z": options.l2, "cgm": options.l2,
          "b": 0.0, "cg": 0.0}
    m1 = {k: np.zeros_like(v) for k, v in params.items()}
    m2 = {k: np.zeros_like(v) for k, v in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    from scipy import sparse

    to_prompt = sparse.csr_matrix((np.ones(len(pi)), (pi, np.arange(len(pi)))), shape=(n, len(pi)))
    to_model = sparse.csr_matrix((np.ones(len(pm)), (pm, np.arange(len(pm)))), shape=(n_models, len(pm)))
    cell = pg * n_models + pm
    for step in range(1, options.iterations + 1):
        q = x @ params["P"].T  # n × rank
        e = x @ params["u"] + h @ params["v"]
        qp, zp = q[pi], params["Z"][pm]
        logit = (params["b"][pm] + e[pi] + np.einsum("ij,ij->i", qp, zp)
                 + params["cg"][pg] + params["cgm"][pg, pm])
        prob = 1.0 / (1.0 + np.exp(-logit))
        g = pw * (prob - py)
        gi = np.bincount(pi, g, minlength=n)
        dq = to_prompt @ (g[:, None] * zp)
        grads = {
            "b": np.bincount(pm, g, minlength=n_models), "u": x.T @ gi, "v": h.T @ gi,
            "P": dq.T @ x, "Z": to_model @ (g[:, None] * qp), "cg": np.bincount(pg, g, minlength=len(group_names)),
            "cgm": np.bincount(cell, g, minlength=len(group_names) * n_models).reshape(len(group_names), n_models),
        }
        for k, grad in grads.items():
            if k in frozen:
                continue
            if k == "u":
                grad = grad + l2[k] * dim_scale * params[k]
            elif k == "P":
                grad = grad + l2[k] * dim_scale[None, :] * params[k]
            elif k == "Z" and kind == "linear":
                grad = grad + l2[k] * dim_scale[None, :] * params[k]
            else:
                grad = grad + l2[k] * params[k]
            m1[k] = beta1 * m1[k] + (1 - beta1) * grad
            m2[k] = beta2 * m2[k] + (1 - beta2) * grad * grad
            lr = options.learning_rate * np.sqrt(1 - beta2**step) / (1 - beta1**step)
            params[k] -= lr * m1[k] / (np.sqrt(m2[k]) + eps)
        if progress and step % 100 == 0:
            loss = -np.sum(pw * (py * np.log(prob + 1e-12) + (1 - py) * np.log(1 - prob + 1e-12)))
            progress(f"step {step}: loss {loss:.4f}")
    # serving: one bias per model on a common scale (see _common_scale), group effects folded in
    dense = {m: params["u"] + params["P"].T @ params["Z"][m] for m in range(len(data.models))}
    parts, levels = _levels(data, params, dense, x, pw, (pi, pm, pg), names)
    shift = _common_scale(levels, options.anchor_source)
    offset = 0.0
    models: dict[str, tuple[float, list[float]]] = {}
    for m, name in enumerate(data.models):
        per = parts[name]
        if options.prefer_anchor and options.anchor_source in per:  # the best-measured scale, when there
            per = {options.anchor_source: per[options.anchor_source]}
        bias = sum(level + shift[source] for source, level in per.items()) / len(per)
        models[name] = (bias, [round(float(v), 6) for v in dense[m]])
    folded = {name: bias for name, (bias, _) in models.items()}  # before any prior: the task offsets' base
    if options.length_prior:  # a fixed prior, not learned: see add_length_prior and RESEARCH.md
        models = add_length_prior(models, featurizer, options.length_prior)
    # a tier's parameters: the mean of its members measured on the anchor source (accuracy labels on
    # a common task set) where it has any, else of all its members
    anchored = {m for m, per in levels.items() if options.anchor_source in per}
    tier_members = {tier: [m for m in members if m in anchored] or members
                    for tier, members in _tiers(data.models).items()}
    tiers = {
        tier: (float(np.mean([models[m][0] for m in members])),
               [round(float(v), 6) for v in np.mean([models[m][1] for m in members], axis=0)])
        for tier, members in tier_members.items()
    }
    keep = np.argsort(-np.abs(params["v"]))[: options.max_sparse]
    sparse_weights = {vocab[j]: round(float(params["v"][j]), 5) for j in keep if abs(params["v"][j]) >= 1e-5}
    tasks, offsets, prior_off = _task_levels(data, x, gid, group_names, params, (pm, pg), shift, folded,
                                             tier_members, options)
    head = _prior_off_head(x, data, options) if prior_off else None
    return FactorPredictor(kind, featurizer, offset=offset, models=models, tiers=tiers, sparse=sparse_weights,
                           tasks=tasks, task_offsets=offsets, prior_off=prior_off,
                           prior_head=head, prior_floor=options.prior_off_floor if head is not None else 0.0,
                           registry=ProfileRegistry(data.models, tiers),
                           meta={"tier_members": tier_members, "rank": rank, "l2": options.l2,
                                 "length_prior": options.length_prior,
                                 "group_effects": options.group_effects, "iterations": options.iterations})
