"""Quality predictors: q̂(prompt, model) in [0, 1], served in pure Python.

Two families share the :class:`QualityPredictor` protocol:

- :class:`FactorPredictor` (kinds ``"mf"`` and ``"linear"``): a logistic model per candidate,
  ``q̂ = σ(b_m + w_m · x + v · s / sqrt(|s|))`` over the dense features ``x`` and a shared weight
  ``v`` on the sparse text features ``s`` (see ``features.py``). For ``"mf"`` the dense weight is
  factored, ``w_m = u + Pᵀ z_m``: a shared difficulty direction ``u`` plus a low-rank model
  vector ``z_m`` (matrix factorisation), so a model with few labels borrows strength from the
  others. ``"linear"`` fits ``w_m`` per model with no factorisation. The weights are folded into
  one vector per model at load time, so a prediction is one dot product per candidate.
- :class:`KNNPredictor` (kind ``"knn"``): the similarity-weighted mean outcome of the nearest
  training prompts (embedding cosine), shrunk towards the model's mean.

Task levels (optional, ``TrainOptions.task_levels``): a factor predictor may also hold a *task recogniser*, a
softmax over the training groups (benchmarks) on the dense features, and each model's level on each group it
was measured on, as an offset from its average level. A prompt then gets each model's level of the tasks it
resembles, ``Σ_g p(g | x)·δ_{g,m}``, instead of the average over all of them (groups a model has no data on
count 0: its average). A tier's offsets are its members' mean.

A name unknown to training is resolved through :class:`~.profiles.ProfileRegistry` to a trained
model (alias) or to a tier, whose parameters are the mean of its trained members.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import mul
from typing import Any, Protocol, runtime_checkable

from switchpoint.routing.learned.features import PromptFeaturizer
from switchpoint.routing.learned.profiles import TIER_RANK, ProfileRegistry, Resolution, builtin_tier

__all__ = ["FactorPredictor", "KNNPredictor", "QualityPredictor", "add_length_prior", "length_prior_shift"]

_LENGTH_SCALE = 14.0  # the "len" feature is log2(chars + 1) / 14
_LENGTH_CENTRE = 10.0  # log2 of 1 KB: the prior changes nothing for a prompt of that length


def add_length_prior(models: Mapping[str, tuple[float, list[float]]], featurizer: PromptFeaturizer,
                     beta: float) -> dict[str, tuple[float, list[float]]]:
    """Each model's (bias, dense weights) with ``beta`` of length prior added (:func:`length_prior_shift`);
    models of no known tier (``builtin_tier``) are left as they are.

    The prior says stronger models lose less on longer prompts. The training data cannot teach this for
    strong-vs-weak pairs (length barely ranks the gains within its tasks), but prompt length is the known
    strong baseline of routing benchmarks; training adds it to the learned weights with a fixed, untuned
    strength (``TrainOptions.length_prior``)."""
    index = featurizer.dense_names.index("len")
    out = {}
    for name, params in models.items():
        tier = builtin_tier(name)
        out[name] = params if tier is None else length_prior_shift(params, tier, beta, index)
    return out


def length_prior_shift(params: tuple[float, list[float]], tier: str, beta: float,
                       index: int) -> tuple[float, list[float]]:
    """A model's (bias, dense weights) with the length prior added: ``beta`` logits per doubling of the
    prompt's length per tier step, centred at 1 KB and between the medium and large tiers
    (``index``: the ``len`` feature's position). Additive, so a prior can be taken off or changed later."""
    bias, weights = params
    step = _prior_step(tier)
    shifted = list(weights)
    shifted[index] = round(shifted[index] + beta * step * _LENGTH_SCALE, 6)
    return bias - beta * step * _LENGTH_CENTRE, shifted


def _prior_step(tier: str | None) -> float:
    """A tier's step in the length prior: tiers from the medium/large midpoint (0 for no known tier)."""
    return TIER_RANK[tier] - 1.5 if tier in TIER_RANK else 0.0


@runtime_checkable
class QualityPredictor(Protocol):
    kind: str

    def models(self) -> Sequence[str]:
        """The trained models (canonical names) it knows."""
        ...

    def predict(self, text: str, models: Sequence[str]) -> dict[str, float]:
        """q̂ in [0, 1] for each named model (names as given); unknown and unresolvable → KeyError."""
        ...


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class FactorPredictor:
    """Logistic quality model per candidate (kinds ``mf`` and ``linear``; see the module docstring)."""

    def __init__(self, kind: str, featurizer: PromptFeaturizer, *, offset: float,
                 models: Mapping[str, tuple[float, Sequence[float]]],
                 tiers: Mapping[str, tuple[float, Sequence[float]]],
                 sparse: Mapping[str, float], registry: ProfileRegistry,
                 meta: Mapping[str, Any] | None = None,
                 tasks: Mapping[str, tuple[float, Sequence[float]]] | None = None,
                 task_offsets: Mapping[str, Mapping[str, float]] | None = None,
                 prior_off: Sequence[str] = (),
                 prior_head: tuple[float, Sequence[float]] | None = None, prior_floor: float = 0.0) -> None:
        dims = featurizer.dims
        for name, (_, w) in {**models, **tiers, **(tasks or {})}.items():
            if len(w) != dims:
                raise ValueError(f"{name}: {len(w)} dense weights, the featurizer gives {dims}")
        self.tasks = {g: (float(b), [float(v) for v in w]) for g, (b, w) in (tasks or {}).items()}
        self.task_offsets = {m: {g: float(v) for g, v in per.items()} for m, per in (task_offsets or {}).items()}
        for model, per in self.task_offsets.items():  # trained models, and tiers as "tier:<name>"
            unknown = set(per) - set(self.tasks)
            if (model not in models and model.removeprefix("tier:") not in tiers) or unknown:
                raise ValueError(f"task offsets of {model!r}: unknown model or task(s) {sorted(unknown)}")
        names = self._task_names = list(self.tasks)
        self._offset_rows = {m: [per.get(g, 0.0) for g in names] for m, per in self.task_offsets.items()}
        if set(prior_off) - set(names):
            raise ValueError(f"prior_off names unknown tasks: {sorted(set(prior_off) - set(names))}")
        self.prior_off = tuple(prior_off)  # tasks on which the length prior is taken back off (chat)
        self._prior_off_index = [names.index(g) for g in self.prior_off]
        if prior_head is not None and (not self.prior_off or len(prior_head[1]) != dims):
            raise ValueError("prior_head needs prior_off tasks and one weight per dense feature")
        # a detector of those tasks' prompts (bias, dense weights); without one, their recogniser probability
        self.prior_head = None if prior_head is None else (float(prior_head[0]), [float(v) for v in prior_head[1]])
        if not 0.0 <= prior_floor < 1.0 or (prior_floor and prior_head is None):
            raise ValueError(f"prior_floor must be in [0, 1) and needs a prior_head, got {prior_floor!r}")
        self.prior_floor = float(prior_floor)  # the detector's probability that takes nothing off
        self._len_index = featurizer.dense_names.index("len") if self.prior_off else -1
        self.kind = kind
        self.featurizer = featurizer
        self.offset = offset
        self._models = {k: (float(b), [float(v) for v in w]) for k, (b, w) in models.items()}
        self._tiers = {k: (float(b), [float(v) for v in w]) for k, (b, w) in tiers.items()}
        self.sparse = dict(sparse)
        self.registry = registry
        self.meta = dict(meta or {})
        self._beta = float(self.meta.get("length_prior") or 0.0)  # the prior folded into the weights
        self._resolved: dict[str, tuple[float, list[float], list[float] | None, float]] = {}

    def models(self) -> Sequence[str]:
        return tuple(self._models)

    def resolve(self, name: str) -> Resolution:
        return self.registry.resolve(name)

    def with_length_prior(self, beta: float) -> FactorPredictor:
        """This predictor with its length prior set to ``beta`` (see :func:`length_prior_shift`) instead of
        the one it was trained with, as if trained with ``beta``: the prior is added after fitting. Models
        of no known tier have none. Raises ValueError when the artifact does not record its prior."""
        trained = self.meta.get("length_prior")
        if not isinstance(trained, (int, float)):
            raise ValueError("this router does not record the length prior it was trained with; retrain it")
        delta = beta - float(trained)
        models = add_length_prior(self._models, self.featurizer, delta)
        index = self.featurizer.dense_names.index("len")
        tiers = {t: length_prior_shift(p, t, delta, index) if t in TIER_RANK else p for t, p in self._tiers.items()}
        return FactorPredictor(self.kind, self.featurizer, offset=self.offset, models=models, tiers=tiers,
                               sparse=self.sparse, registry=self.registry, meta={**self.meta, "length_prior": beta},
                               tasks=self.tasks, task_offsets=self.task_offsets, prior_off=self.prior_off,
                               prior_head=self.prior_head, prior_floor=self.prior_floor)

    def _params(self, name: str) -> tuple[float, list[float], list[float] | None, float]:
        """(bias, dense weights, task offsets or None, tier step of the length prior: 0 for no known tier)."""
        found = self._resolved.get(name)
        if found is None:
            how = self.registry.resolve(name)
            if how.model is not None:
                step = _prior_step(builtin_tier(how.model))
                found = (*self._models[how.model], self._offset_rows.get(how.model), step)
            else:  # a tier: its members' mean parameters and task offsets
                tier = str(how.tier)
                found = (*self._tiers[tier], self._offset_rows.get(f"tier:{tier}"), _prior_step(tier))
            if len(self._resolved) < 4096:
                self._resolved[name] = found
        return found

    def task_probabilities(self, dense: Sequence[float]) -> list[float]:
        """p(task | prompt) over the training groups (in ``self.tasks`` order); empty without a recogniser."""
        if not self.tasks:
            return []
        scores = [b + sum(map(mul, w, dense)) for b, w in self.tasks.values()]
        top = max(scores)
        exps = [math.exp(v - top) for v in scores]
        total = sum(exps)
        return [e / total for e in exps]

    def logits(self, dense: Sequence[float], models: Sequence[str], shared: float = 0.0) -> list[float]:
        """Each named model's logit of q̂ for a prompt's dense features (``shared``: its sparse term)."""
        return self._logits(dense, [self._params(m) for m in models], shared, self.task_probabilities(dense))

    def _logits(self, dense: Sequence[float], params: Sequence[tuple[float, list[float], list[float] | None, float]],
                shared: float, probs: Sequence[float]) -> list[float]:
        base = self.offset + shared
        # the length prior (folded into the weights), taken back off in proportion to p(chat-like task)
        off = self._prior_off(dense, probs)
        unprior = off * self._beta * (_LENGTH_SCALE * dense[self._len_index] - _LENGTH_CENTRE) if off else 0.0
        return [base + b + sum(map(mul, w, dense)) + (sum(map(mul, offs, probs)) if offs else 0.0) - unprior * step
                for b, w, offs, step in params]

    def _prior_off(self, dense: Sequence[float], probs: Sequence[float]) -> float:
        """How much of the length prior a prompt takes back off: p(prior-off task), by the detector (above its floor,
        rescaled to [0, 1]) or else by the recogniser."""
        if not self._prior_off_index or not probs or not self._beta:  # no prior to take off: skip the detector
            return 0.0
        if self.prior_head is not None:
            bias, weights = self.prior_head
            floor = self.prior_floor  # 0: in proportion to p
            return max(0.0, (_sigmoid(bias + sum(map(mul, weights, dense))) - floor) / (1.0 - floor))
        return sum(probs[i] for i in self._prior_off_index)

    def predict(self, text: str, models: Sequence[str]) -> dict[str, float]:
        return self.predict_with_task(text, models)[0]

    def predict_with_task(self, text: str, models: Sequence[str]) -> tuple[dict[str, float], tuple[str, float] | None]:
        """:meth:`predict`, plus the training task the prompt is most like and its probability (None without
        task levels), for the decision's explanation."""
        params = [self._params(m) for m in models]  # unresolvable names fail before any work
        features = self.featurizer.features(text)
        shared = 0.0
        if self.sparse and features.sparse:  # a router trained without sparse weights has none to add
            shared = sum(map(self.sparse.get, features.sparse, repeat(0.0))) / math.sqrt(len(features.sparse))
        dense = features.dense
        probs = self.task_probabilities(dense)
        q = dict(zip(models, map(_sigmoid, self._logits(dense, params, shared, probs)), strict=True))
        if not probs:
            return q, None
        best = max(range(len(probs)), key=probs.__getitem__)
        return q, (self._task_names[best], probs[best])


class KNNPredictor:
    """Nearest training prompts by embedding cosine; q̂ = shrunk similarity-weighted mean outcome."""

    kind = "knn"

    def __init__(self, featurizer: PromptFeaturizer, *, vectors: Sequence[Sequence[float]],
                 outcomes: Mapping[str, Sequence[float | None]], k: int, shrink: float,
                 registry: ProfileRegistry, meta: Mapping[str, Any] | None = None) -> None:
        n = len(vectors)
        for name, column in outcomes.items():
            if len(column) != n:
                raise ValueError(f"{name}: {len(column)} outcomes for {n} prototypes")
        self.featurizer = featurizer
        self.vectors = [list(map(float, v)) for v in vectors]
        self.outcomes = {k: list(v) for k, v in outcomes.items()}
        self.k = k
        self.shrink = shrink
        self.registry = registry
        self.meta = dict(meta or {})
        self._means = {m: _mean([v for v in col if v is not None]) for m, col in self.outcomes.items()}
        self._tiers = dict(self.meta.get("tier_members", {}))

    def models(self) -> Sequence[str]:
        return tuple(self.outcomes)

    def _columns(self, name: str) -> list[str]:
        how = self.registry.resolve(name)
        if how.model is not None:
            return [how.model]
        members = [m for m in self._tiers.get(str(how.tier), []) if m in self.outcomes]
        if not members:
            raise KeyError(f"tier {how.tier!r} of {name!r} has no trained member in this kNN router")
        return members

    def predict(self, text: str, models: Sequence[str]) -> dict[str, float]:
        columns = [self._columns(m) for m in models]
        features = self.featurizer.features(text)
        query = features.dense[: self.featurizer.embedder.dims]
        sims = [sum(map(mul, v, query)) for v in self.vectors]
        top = heapq.nlargest(self.k, range(len(sims)), key=sims.__getitem__)
        result: dict[str, float] = {}
        for name, cols in zip(models, columns, strict=True):
            values = []
            for col in cols:
                outcome = self.outcomes[col]
                total = weight = 0.0
                for i in top:
                    v = outcome[i]
                    if v is not None:
                        w = max(sims[i], 0.0)
                        total += w * v
                        weight += w
                values.append((total + self.shrink * self._means[col]) / (weight + self.shrink))
            result[name] = _mean(values)
        return result


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
