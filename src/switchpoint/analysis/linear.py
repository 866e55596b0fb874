"""Linear classifiers over sparse binary features, in pure Python.

A model is a weight row per known feature (one integer weight per class) and a bias. Each row
is also packed into one Python integer, a 32-bit field per class with an offset that keeps every
field positive ("SIMD within a register"): adding the packed rows of the features present is a
single C-level ``sum`` over big integers, and the class sums are read back with shifts. The sums
are scaled by ``1/sqrt(n_features)`` as in training, then a softmax (several classes) or a
sigmoid (one column). A few hundred features cost a few microseconds, so no numpy is needed.

Artifact format (gzip-compressed JSON, ``format: "switchpoint-linear/1"``)::

    {"format": ..., "name": ..., "classes": [...], "bias": [...], "quantum": q,
     "weights": {"<feature>": [int, ...]}, "meta": {...}}

where a weight is ``int * quantum``.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["LinearModel"]

FORMAT = "switchpoint-linear/1"


class LinearModel:
    """A trained linear head: ``classes``, ``bias`` and sparse ``weights``."""

    __slots__ = ("_packed", "bias", "classes", "meta", "name", "quantum", "weights")

    def __init__(
        self,
        classes: Iterable[str],
        bias: Iterable[float],
        weights: Mapping[str, tuple[int, ...] | tuple[float, ...]],
        *,
        quantum: float = 1.0,
        name: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.classes = tuple(classes)
        self.bias = tuple(float(b) for b in bias)
        width = len(self.bias)
        if width not in (len(self.classes), 1) or (width == 1 and len(self.classes) != 2):
            raise ValueError(f"{width} bias values for classes {self.classes}")
        for feature, row in weights.items():
            if len(row) != width:
                raise ValueError(f"feature {feature!r} has {len(row)} weights, expected {width}")
        self.weights = dict(weights)
        self._packed = {feature: _pack(row) for feature, row in self.weights.items()}
        self.quantum = quantum
        self.name = name
        self.meta = dict(meta or {})

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            data = json.load(file)
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} artifact")
        weights = {feature: tuple(row) for feature, row in data["weights"].items()}
        return cls(data["classes"], data["bias"], weights, quantum=float(data["quantum"]),
                   name=data.get("name", path.stem), meta=data.get("meta"))

    def dump(self, path: Path) -> None:
        data = {
            "format": FORMAT,
            "name": self.name,
            "classes": list(self.classes),
            "bias": [round(b, 5) for b in self.bias],
            "quantum": self.quantum,
            "meta": self.meta,
            "weights": {feature: list(row) for feature, row in sorted(self.weights.items())},
        }
        with gzip.GzipFile(path, "wb", mtime=0) as file:  # mtime=0: rebuilds are byte-identical
            file.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

    def logits(self, features: Iterable[str], n_features: int | None = None) -> list[float]:
        """Raw class scores; ``n_features`` (default: the number given) sets the 1/sqrt scaling."""
        packed = self._packed
        feats = features if isinstance(features, set | frozenset | list | tuple) else list(features)
        rows = [row for f in feats if (row := packed.get(f)) is not None]
        total = n_features if n_features is not None else len(feats)
        if not rows or total <= 0:
            return list(self.bias)
        scale = self.quantum / math.sqrt(total)
        if len(rows) > _MAX_PACKED_ROWS:  # the fields could overflow: sum column by column
            columns = [sum(column) for column in zip(*(self.weights[f] for f in feats if f in packed), strict=True)]
        else:
            columns = _unpack(sum(rows), len(rows), len(self.bias))
        return [b + scale * c for b, c in zip(self.bias, columns, strict=True)]

    def predict_proba(self, features: Iterable[str], n_features: int | None = None) -> dict[str, float]:
        """Class probabilities (softmax, or a sigmoid for a one-column binary model)."""
        logits = self.logits(features, n_features)
        if len(logits) == 1:
            p = _sigmoid(logits[0])
            return {self.classes[0]: 1.0 - p, self.classes[1]: p}
        top = max(logits)
        exps = [math.exp(v - top) for v in logits]
        total = sum(exps)
        return {c: e / total for c, e in zip(self.classes, exps, strict=True)}


_FIELD = 32
_MASK = (1 << _FIELD) - 1
_OFFSET = 1 << 20  # weights are quantised integers with |w| < 2**20
_MAX_PACKED_ROWS = (1 << _FIELD) // (2 * _OFFSET) - 1


def _pack(row: tuple[int, ...] | tuple[float, ...]) -> int:
    packed = 0
    for i, weight in enumerate(row):
        value = int(weight) + _OFFSET
        if not 0 <= value < 2 * _OFFSET:
            raise ValueError(f"weight {weight} is out of the packable range")
        packed |= value << (_FIELD * i)
    return packed


def _unpack(total: int, n_rows: int, width: int) -> list[int]:
    offset = n_rows * _OFFSET
    return [((total >> (_FIELD * i)) & _MASK) - offset for i in range(width)]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
