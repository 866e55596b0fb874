"""Saving and loading trained predictors (gzip JSON, ``format: "switchpoint-router/1"``).

Common fields: ``kind``, ``dense_names`` (the featurizer's dense feature names, checked on load so
an artifact never runs against features it was not trained on), ``meta`` (training options,
tier members, evaluation figures). Then, by kind:

- ``mf`` / ``linear``: ``offset``, ``models`` and ``tiers`` (``{name: {"bias": b, "dense": [w...]}}``,
  the folded per-model weights) and ``sparse`` (``{feature: weight}``);
- ``knn``: ``k``, ``shrink``, ``vectors`` (prototype embeddings) and ``outcomes``
  (``{model: [score or null per prototype]}``).

Files are written with gzip ``mtime=0`` and sorted keys, so a rebuild with the same inputs is
byte-identical.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from switchpoint.routing.learned.features import PromptFeaturizer
from switchpoint.routing.learned.predictors import FactorPredictor, KNNPredictor, QualityPredictor
from switchpoint.routing.learned.profiles import ProfileRegistry

__all__ = ["DEFAULT_ARTIFACT", "FORMAT", "load_predictor", "read_predictor", "save_predictor"]

FORMAT = "switchpoint-router/1"
DEFAULT_ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "default_router.json.gz"


def save_predictor(predictor: QualityPredictor, path: str | Path) -> None:
    data: dict[str, Any] = {"format": FORMAT, "kind": predictor.kind}
    if isinstance(predictor, FactorPredictor):
        data.update({
            "dense_names": list(predictor.featurizer.dense_names),
            "offset": round(predictor.offset, 6),
            "models": {m: {"bias": round(b, 6), "dense": w} for m, (b, w) in predictor._models.items()},
            "tiers": {t: {"bias": round(b, 6), "dense": w} for t, (b, w) in predictor._tiers.items()},
            "sparse": predictor.sparse,
            "meta": predictor.meta,
        })
    elif isinstance(predictor, KNNPredictor):
        data.update({
            "dense_names": list(predictor.featurizer.dense_names),
            "k": predictor.k, "shrink": predictor.shrink, "vectors": predictor.vectors,
            "outcomes": predictor.outcomes, "meta": predictor.meta,
        })
    else:
        raise TypeError(f"cannot save a predictor of type {type(predictor).__name__}")
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")
    Path(path).write_bytes(gzip.compress(payload, mtime=0))  # no file name or time in the header


def read_predictor(path: str | Path, featurizer: PromptFeaturizer) -> QualityPredictor:
    path = Path(path)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError:
        raise FileNotFoundError(f"router artifact not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a router artifact ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} artifact")
    if list(data.get("dense_names", [])) != list(featurizer.dense_names):
        raise ValueError(f"{path}: trained on other prompt features than this version computes; retrain it")
    kind = data.get("kind")
    meta = data.get("meta") or {}
    if kind in ("mf", "linear"):
        models = {m: (float(p["bias"]), p["dense"]) for m, p in data["models"].items()}
        tiers = {t: (float(p["bias"]), p["dense"]) for t, p in data["tiers"].items()}
        return FactorPredictor(kind, featurizer, offset=float(data["offset"]), models=models, tiers=tiers,
                               sparse=data["sparse"], registry=ProfileRegistry(models, tiers), meta=meta)
    if kind == "knn":
        tiers = meta.get("tier_members", {})
        return KNNPredictor(featurizer, vectors=data["vectors"], outcomes=data["outcomes"], k=int(data["k"]),
                            shrink=float(data["shrink"]), registry=ProfileRegistry(data["outcomes"], tiers),
                            meta=meta)
    raise ValueError(f"{path}: unknown predictor kind {kind!r}")


def load_predictor(ref: str | Path = "default", *, featurizer: PromptFeaturizer | None = None) -> QualityPredictor:
    """``"default"``: the shipped pretrained router; else the path of an artifact written by ``switchpoint train``."""
    path = DEFAULT_ARTIFACT if str(ref) == "default" else Path(ref)
    return read_predictor(path, featurizer or PromptFeaturizer.load())
