"""Routers as the evaluation sees them: something that scores prompts for two models, or predicts each model's
quality for the λ sweep. Two sources:

* ``length``: the prompt-length baseline as a router kind (score = prompt length in characters; no training,
  two models only). It makes ``switchpoint train/eval/calibrate`` work end to end with no learned model.
* the learned quality predictors of :mod:`switchpoint.routing.learned` (kinds ``mf``, ``linear``, ``knn``):
  trained with its ``train(kind, rows)``, saved/loaded as its artifacts (``"default"`` = the shipped one).

For two models a predictor's score is q̂(strong) − q̂(weak): the predicted gain of the strong model.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from switchpoint.routing.evaluation.baselines import length_scores
from switchpoint.routing.evaluation.data import RoutingRow
from switchpoint.routing.levels import shifted

if TYPE_CHECKING:
    from switchpoint.routing.learned.predictors import QualityPredictor
    from switchpoint.routing.learned.train import TrainOptions

__all__ = [
    "DEFAULT_KIND",
    "LENGTH",
    "EvaluationError",
    "EvalRouter",
    "LengthRouter",
    "PredictorRouter",
    "cross_validated",
    "learned_kinds",
    "load_router",
    "save_router",
    "train_router",
]

LENGTH = "length"
DEFAULT_KIND = "mf"  # the recommended learned kind (the shipped artifact's)
_LENGTH_FORMAT = "switchpoint-length-router"

Progress = Callable[[str], None]


class EvaluationError(ValueError):
    """A usage problem: unknown router, missing training data, a router that cannot do what was asked."""


class EvalRouter(Protocol):
    name: str

    def two_model_scores(self, rows: Sequence[RoutingRow], strong: str, weak: str) -> list[float]:
        """One score per row; higher = send to the strong model."""
        ...

    def qualities(self, rows: Sequence[RoutingRow], models: Sequence[str]) -> list[dict[str, float]]:
        """Predicted quality of each model on each row."""
        ...


class LengthRouter:
    """The prompt-length baseline as a router: longer prompts go to the strong model."""

    name = LENGTH

    def two_model_scores(self, rows: Sequence[RoutingRow], strong: str, weak: str) -> list[float]:
        return length_scores(rows)

    def qualities(self, rows: Sequence[RoutingRow], models: Sequence[str]) -> list[dict[str, float]]:
        raise EvaluationError(
            "the length router only ranks prompts for two models; for AIQ over many models use a learned router"
        )


class PredictorRouter:
    """A learned quality predictor (``switchpoint.routing.learned``).

    The data's model names are given to the predictor as they are, or as ``profiles`` maps them (``--profile
    NAME=MODEL|tier:T``). A name the predictor cannot resolve and no profile names is placed without looking at
    any score, and ``note`` says how:

    * by price: ranked as the tier of the model it knows that is nearest in mean cost on the rows (price is what
      a gateway knows of a model before any outcome);
    * with no price, in a two-model comparison: by its role, one tier above the weak model (or below the strong
      one); both unknown, as ``tier:frontier`` vs ``tier:large``;
    * with no price among many models: it cannot be placed; :meth:`unplaceable` names it, so that the caller can
      leave it out (``qualities`` raises :class:`EvaluationError` if it is asked about it).
    """

    def __init__(self, predictor: QualityPredictor, name: str, *, profiles: Mapping[str, str] | None = None,
                 note: Progress | None = None) -> None:  # fmt: skip
        self.predictor = predictor
        self.name = name
        self.profiles = dict(profiles or {})
        self.levels: dict[str, float] = {}  # data model -> logit shift (routing/levels.py)
        self.note = note
        self._resolved: dict[tuple[str, ...], tuple[dict[str, str], list[str]]] = {}
        self._said: set[str] = set()  # models whose placement was noted

    def names(self, rows: Sequence[RoutingRow], models: Sequence[str], *, pair: bool = False) -> dict[str, str]:
        """Data model -> the name the predictor is asked about (``pair``: ``models`` is ``[strong, weak]``)."""
        names, unplaced = self._resolve(rows, models)
        if unplaced and pair:
            names.update(self._by_role(models, names, unplaced))
        elif unplaced:
            model = unplaced[0]
            why = "it has no costs" if _log_cost(rows, model) is None else "no known model with costs to compare"
            raise EvaluationError(
                f"router {self.name}: model {model!r} is unknown to this router and cannot be placed by its price"
                f" ({why}); give --profile {model}=MODEL (a model the router knows) or --profile "
                f"{model}=tier:TIER (frontier, large, medium, small)")
        return names

    def unplaceable(self, rows: Sequence[RoutingRow], models: Sequence[str]) -> list[str]:
        """The models among ``models`` this router cannot rank on these rows: unknown to it, with no profile given
        and no price to place them by."""
        return self._resolve(rows, models)[1]

    def _registry(self) -> Any:
        return getattr(self.predictor, "registry", None)

    def _resolve(self, rows: Sequence[RoutingRow], models: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        """Once per set of models (the notes are said once): data model -> name for those placed, and the others."""
        key = tuple(models)
        if key not in self._resolved:
            self._resolved[key] = self._place(rows, models)
        names, unplaced = self._resolved[key]
        return dict(names), list(unplaced)

    def _place(self, rows: Sequence[RoutingRow], models: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        registry = self._registry()
        if registry is None:
            return {m: self.profiles.get(m, m) for m in models}, []
        out: dict[str, str] = {}
        unknown: list[str] = []
        for model in models:
            name = self.profiles.get(model, model)
            try:
                registry.resolve(name)
            except KeyError as exc:
                if model in self.profiles:
                    raise EvaluationError(f"router {self.name}: --profile {model}={name}: {exc.args[0]}") from None
                unknown.append(model)
                continue
            out[model] = name
        if not unknown:
            return out, []
        anchors = [(cost, tier, model) for model, name in out.items()
                   if (tier := registry.tier_of(name)) in registry.tiers
                   and (cost := _log_cost(rows, model)) is not None]
        unplaced: list[str] = []
        for model in unknown:
            cost = _log_cost(rows, model)
            if cost is None or not anchors:
                unplaced.append(model)
                continue
            _, tier, like = min(anchors, key=lambda a: (abs(a[0] - cost) if math.isfinite(cost) else a[0]))
            out[model] = f"tier:{tier}"
            why = "nearest in mean cost" if math.isfinite(cost) else "it is free: the cheapest known model"
            self._say(f"{model!r} is unknown to it; ranked as tier:{tier}, the tier of {like} ({why})", model)
        return out, unplaced

    def _by_role(self, pair: Sequence[str], known: Mapping[str, str], unplaced: Sequence[str]) -> dict[str, str]:
        """Two models, unknown ones without prices: the strong one a tier above the weak one (or the weak one a tier
        below the strong one); both unknown, frontier vs large (the pair the public training data knows best)."""
        registry = self._registry()
        order = [t for t in ("frontier", "large", "medium", "small") if t in registry.tiers]
        strong, weak = pair
        out: dict[str, str] = {}
        if len(unplaced) == 2 or not order:
            if len(order) < 2:
                raise EvaluationError(f"router {self.name}: {strong!r} and {weak!r} are unknown to it; give --profile")
            out = {strong: f"tier:{order[0]}", weak: f"tier:{order[1]}"}
            how = {strong: "the strong model of an unknown pair", weak: "the weak model of an unknown pair"}
        else:
            (model,) = unplaced
            other = weak if model == strong else strong
            tier = registry.tier_of(known[other])
            at = order.index(tier) if tier in order else (len(order) - 1 if model == strong else 0)
            step = -1 if model == strong else 1
            out = {model: f"tier:{order[min(max(at + step, 0), len(order) - 1)]}"}
            how = {model: f"a tier {'above' if model == strong else 'below'} {other}"
                          f"{f' ({tier})' if tier else ''}, as the {'strong' if model == strong else 'weak'} model"}
        for model, name in out.items():
            self._say(f"{model!r} is unknown to it and has no costs; ranked as {name}, {how[model]}", model)
        return out

    def _say(self, message: str, model: str) -> None:
        if self.note and model not in self._said:
            self._said.add(model)
            self.note(f"router {self.name}: {message}; --profile {model}=... chooses")

    def qualities(self, rows: Sequence[RoutingRow], models: Sequence[str]) -> list[dict[str, float]]:
        return self._qualities(rows, models, self.names(rows, models))

    def _qualities(self, rows: Sequence[RoutingRow], models: Sequence[str],
                   names: Mapping[str, str]) -> list[dict[str, float]]:  # fmt: skip
        asked = list(dict.fromkeys(names[m] for m in models))
        try:
            predicted = [self.predictor.predict(row.prompt, asked) for row in rows]
        except KeyError as exc:
            message = exc.args[0] if exc.args else str(exc)
            raise EvaluationError(f"router {self.name}: {message}") from None
        levels = self.levels
        return [{m: shifted(q[names[m]], levels.get(m, 0.0)) for m in models} for q in predicted]

    def two_model_scores(self, rows: Sequence[RoutingRow], strong: str, weak: str) -> list[float]:
        pair = [strong, weak]
        return [q[strong] - q[weak] for q in self._qualities(rows, pair, self.names(rows, pair, pair=True))]


def _log_cost(rows: Sequence[RoutingRow], model: str) -> float | None:
    """The log of a model's mean cost on the rows (``-inf`` when it is free: every cost 0); None when it has none."""
    costs = [c for row in rows if (c := row.cost.get(model)) is not None and c >= 0]
    mean = sum(costs) / len(costs) if costs else None
    return None if mean is None else math.log(mean) if mean > 0 else -math.inf


def learned_kinds() -> tuple[str, ...]:
    """The learned router kinds (``switchpoint.routing.learned.train.KINDS``)."""
    from switchpoint.routing.learned.train import KINDS

    return tuple(KINDS)


def train_router(
    kind: str, rows: Sequence[RoutingRow], progress: Progress | None = None, *, options: TrainOptions | None = None
) -> EvalRouter:
    """Train a router of ``kind`` (``length`` or a learned kind) on ``rows``; ``options`` are the learned
    trainer's (its defaults are the shipped router's)."""
    if kind == LENGTH:
        if options is not None:
            raise EvaluationError("training options apply to learned router kinds, not to length")
        return LengthRouter()
    kinds = learned_kinds()
    if kind not in kinds:
        known = ", ".join((LENGTH, *kinds))
        raise EvaluationError(f"unknown router kind {kind!r}: expected one of {known}")
    if not rows:
        raise EvaluationError("no training rows")
    from switchpoint.routing.learned.train import train

    try:
        predictor = train(kind, [row.as_dict() for row in rows], progress=progress, options=options)
    except ImportError as exc:  # numpy for training lives in an optional extra
        raise EvaluationError(f"training a {kind} router needs the training extra: {exc}") from None
    except ValueError as exc:
        raise EvaluationError(f"cannot train a {kind} router on these rows: {exc}") from None
    return PredictorRouter(predictor, kind)


def save_router(router: EvalRouter, path: str | Path) -> None:
    """Write the router's artifact: a small JSON file for ``length``, the learned artifact otherwise."""
    target = Path(path)
    try:
        if isinstance(router, LengthRouter):
            target.write_text(json.dumps({"format": _LENGTH_FORMAT, "kind": LENGTH}) + "\n")
            return
        if not isinstance(router, PredictorRouter):
            raise EvaluationError(f"cannot save router {router.name}")
        from switchpoint.routing.learned.artifact import save_predictor

        save_predictor(router.predictor, target)
    except OSError as exc:
        raise EvaluationError(f"cannot write {target}: {exc.strerror or exc}") from None


def _is_length_artifact(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(200)
        data = json.loads(head) if len(head) < 200 else None
    except (OSError, ValueError):
        return False
    return isinstance(data, Mapping) and data.get("format") == _LENGTH_FORMAT


def load_router(ref: str) -> EvalRouter:
    """``length``, ``default`` (the shipped learned artifact) or a path written by ``switchpoint train``."""
    if ref == LENGTH:
        return LengthRouter()
    if ref != "default":
        path = Path(ref)
        if not path.exists():
            kinds = learned_kinds()
            if ref in kinds:
                raise EvaluationError(
                    f"router kind {ref!r} must be trained first: give --train DATA.jsonl or --folds K"
                )
            raise EvaluationError(f"no router {ref!r}: not a router kind ({', '.join((LENGTH, *kinds))}) nor a file")
        if _is_length_artifact(path):
            return LengthRouter()
    from switchpoint.routing.learned.artifact import load_predictor

    try:
        predictor = load_predictor(ref)
    except (OSError, ValueError, KeyError) as exc:
        raise EvaluationError(f"cannot load router {ref!r}: {exc}") from None
    return PredictorRouter(predictor, predictor.kind if ref == "default" else Path(ref).name)


def cross_validated(
    kind: str,
    rows: Sequence[RoutingRow],
    folds: int,
    predict: Callable[[EvalRouter, Sequence[RoutingRow]], Sequence[Any]],
    *,
    extra_train: Sequence[RoutingRow] = (),
    seed: int = 0,
    progress: Progress | None = None,
    options: TrainOptions | None = None,
) -> list[Any]:
    """K-fold cross-validation: for each fold, train ``kind`` on the other folds (plus ``extra_train``) and
    ``predict`` the held-out rows; the outputs are pooled back in row order."""
    if folds < 2:
        raise EvaluationError("--folds needs at least 2 folds")
    if folds > len(rows):
        raise EvaluationError(f"{folds} folds for {len(rows)} rows")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    fold_of = [0] * len(rows)
    for position, index in enumerate(order):
        fold_of[index] = position % folds
    out: list[Any] = [None] * len(rows)
    for fold in range(folds):
        held = [i for i in range(len(rows)) if fold_of[i] == fold]
        train_rows = [*extra_train, *(rows[i] for i in range(len(rows)) if fold_of[i] != fold)]
        if progress:
            progress(f"fold {fold + 1}/{folds}: training {kind} on {len(train_rows)} rows, predicting {len(held)}")
        router = train_router(kind, train_rows, progress, options=options)
        for i, value in zip(held, predict(router, [rows[i] for i in held]), strict=True):
            out[i] = value
    return out
