"""Saving and loading trained predictors (gzip JSON, ``format: "switchpoint-router/2"``).

Common fields: ``kind``, ``dense_names`` (the featurizer's dense feature names), ``features``
(``files``: the SHA-256 of each feature file the featurizer was loaded from; ``probes``: the dense
features of ``features.PROBES``), ``meta`` (training options, tier members, evaluation figures).
Loading checks all three against the featurizer at hand and refuses an artifact trained on other
features than it computes (another feature model file, or feature code that gives other values):
a router never runs, silently degraded, on features it was not trained on. Then, by kind:

- ``mf`` / ``linear``: ``offset``, ``models`` and ``tiers`` (``{name: {"bias": b, "dense": [w...]}}``,
  the folded per-model weights) and ``sparse`` (``{feature: weight}``); optionally ``tasks`` (the task
  recogniser: ``{group: {"bias": b, "dense": [w...]}}``), ``task_offsets`` (``{model: {group: δ}}``) and
  ``prior_off`` (the groups on which the length prior is taken back off, in proportion to their probability),
  optionally ``prior_head`` (``{"bias": b, "dense": [w...]}``, and ``"floor": f`` when set: a detector of those
  groups' prompts whose probability is used instead, above ``f`` and rescaled to [0, 1] when a floor is set);
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

__all__ = ["DEFAULT_ARTIFACT", "FORMAT", "check_features", "load_predictor", "read_predictor", "save_predictor"]

FORMAT = "switchpoint-router/2"
_PROBE_TOLERANCE = 1e-4
DEFAULT_ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "default_router.json.gz"


def save_predictor(predictor: QualityPredictor, path: str | Path) -> None:
    data: dict[str, Any] = {"format": FORMAT, "kind": predictor.kind}
    if isinstance(predictor, FactorPredictor | KNNPredictor):
        featurizer = predictor.featurizer
        data["features"] = {"files": dict(sorted(featurizer.files.items())), "probes": featurizer.probes()}
    if isinstance(predictor, FactorPredictor):
        data.update({
            "dense_names": list(predictor.featurizer.dense_names),
            "offset": round(predictor.offset, 6),
            "models": {m: {"bias": round(b, 6), "dense": w} for m, (b, w) in predictor._models.items()},
            "tiers": {t: {"bias": round(b, 6), "dense": w} for t, (b, w) in predictor._tiers.items()},
            "sparse": predictor.sparse,
            "meta": predictor.meta,
        })
        if predictor.tasks:
            data["tasks"] = {g: {"bias": round(b, 6), "dense": [round(v, 6) for v in w]}
                             for g, (b, w) in predictor.tasks.items()}
            data["task_offsets"] = {m: {g: round(v, 6) for g, v in per.items()}
                                    for m, per in predictor.task_offsets.items()}
        if predictor.prior_off:
            data["prior_off"] = list(predictor.prior_off)
        if predictor.prior_head is not None:
            bias, weights = predictor.prior_head
            data["prior_head"] = {"bias": round(bias, 6), "dense": [round(v, 6) for v in weights]}
            if predictor.prior_floor:
                data["prior_head"]["floor"] = predictor.prior_floor
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
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("switchpoint-router/"):
        raise ValueError(f"{path}: not a {FORMAT} artifact")
    if data["format"] != FORMAT:
        raise ValueError(f"{path}: a {data['format']} artifact (no record of its feature models); retrain it")
    check_features(data, featurizer, path)
    kind = data.get("kind")
    meta = data.get("meta") or {}
    if kind in ("mf", "linear"):
        models = {m: (float(p["bias"]), p["dense"]) for m, p in data["models"].items()}
        tiers = {t: (float(p["bias"]), p["dense"]) for t, p in data["tiers"].items()}
        tasks = {g: (float(p["bias"]), p["dense"]) for g, p in data.get("tasks", {}).items()}
        head = data.get("prior_head")
        return FactorPredictor(kind, featurizer, offset=float(data["offset"]), models=models, tiers=tiers,
                               sparse=data["sparse"], registry=ProfileRegistry(models, tiers), meta=meta,
                               tasks=tasks, task_offsets=data.get("task_offsets"), prior_off=data.get("prior_off", ()),
                               prior_head=(float(head["bias"]), head["dense"]) if head else None,
                               prior_floor=float(head.get("floor", 0.0)) if head else 0.0)
    if kind == "knn":
        tiers = meta.get("tier_members", {})
        return KNNPredictor(featurizer, vectors=data["vectors"], outcomes=data["outcomes"], k=int(data["k"]),
                            shrink=float(data["shrink"]), registry=ProfileRegistry(data["outcomes"], tiers),
                            meta=meta)
    raise ValueError(f"{path}: unknown predictor kind {kind!r}")


def check_features(data: dict[str, Any], featurizer: PromptFeaturizer, path: Path) -> None:
    """Raise ``ValueError`` unless ``featurizer`` computes the features the artifact was trained on."""
    if list(data.get("dense_names", [])) != list(featurizer.dense_names):
        raise ValueError(f"{path}: trained on other prompt features than this version computes; retrain it")
    recorded = (data.get("features") or {}).get("files") or {}
    changed = sorted(n for n in {*recorded, *featurizer.files} if recorded.get(n) != featurizer.files.get(n))
    if changed:
        raise ValueError(f"{path}: trained with other feature model files than loaded ({', '.join(changed)} "
                         "differ by SHA-256); restore the files it was trained with or retrain the router")
    probes = (data.get("features") or {}).get("probes") or []
    current = featurizer.probes()
    drift = max((abs(a - b) for old, new in zip(probes, current, strict=False) for a, b in zip(old, new, strict=False)),
                default=0.0)
    if [len(v) for v in probes] != [len(v) for v in current] or drift > _PROBE_TOLERANCE:
        raise ValueError(f"{path}: the feature code computes other values than at training time (probe prompts "
                         f"differ by up to {drift:.3g}); restore it or retrain the router")


def load_predictor(ref: str | Path = "default", *, featurizer: PromptFeaturizer | None = None) -> QualityPredictor:
    """``"default"``: the shipped pretrained router; else the path of an artifact written by ``switchpoint train``."""
    path = DEFAULT_ARTIFACT if str(ref) == "default" else Path(ref)
    return read_predictor(path, featurizer or PromptFeaturizer.load())
