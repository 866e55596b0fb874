"""Routing-quality data: per-prompt outcomes of several models, one JSON object per line.

Format (see ``data/routing/README.md`` of the shared data set)::

    {"id": "...", "dataset": "...", "prompt": "...",
     "scores": {"<model>": 0.0..1.0, ...},     # quality of that model's answer
     "cost":   {"<model>": USD or null, ...},  # cost of that answer, where known
     "tokens": {...}, "meta": {...}}

Only ``prompt`` and ``scores`` are required; ``cost`` may be missing or hold nulls. Scores lie in 0..1.

A multi-turn prompt may be given as a list: of chat messages (``{"role": "user", "content": ...}``, the
OpenAI shape) or of strings (the user's turns, as MT-Bench stores them). A row's prompt is then its last user
message, the text the gateway's learned router reads when it decides (``RouteContext.text``) and the text
``switchpoint export`` writes, so a router is trained and evaluated on what it will see when it serves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "DataError",
    "RoutingRow",
    "common_models",
    "costed_models",
    "load_rows",
    "mean_cost",
    "mean_score",
    "models_in",
    "resolve_model",
    "rows_with",
]


class DataError(ValueError):
    """A routing data file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class RoutingRow:
    """One prompt with the observed quality (and cost, where known) of each model's answer."""

    id: str
    dataset: str
    prompt: str
    scores: Mapping[str, float]
    cost: Mapping[str, float | None] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def cost_of(self, model: str) -> float | None:
        return self.cost.get(model)

    def as_dict(self) -> dict[str, Any]:
        """The row in the JSONL shape (what ``switchpoint.routing.learned``'s training reads)."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "prompt": self.prompt,
            "scores": dict(self.scores),
            "cost": dict(self.cost),
            "meta": dict(self.meta),
        }


def _number(value: Any, what: str, where: str, *, nullable: bool) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(f"{where}: {what} must be a finite number{' or null' if nullable else ''}, got {value!r}")
    return float(value)


def _prompt_text(value: Any, where: str) -> str:
    """A row's prompt: the string, or a conversation's last user message (see the module docstring)."""
    if isinstance(value, str):
        return value
    what = "'prompt' must be a string, a list of chat messages or a list of the user's turns (strings)"
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: {what}")
    if all(isinstance(turn, str) for turn in value):
        return str(value[-1])
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value):
        raise DataError(f"{where}: {what}; a message is an object with a 'role' and a 'content'")
    from switchpoint.analysis.view import RequestView  # the gateway's own reading of a conversation
    from switchpoint.types import ChatRequest

    text = RequestView(ChatRequest({"messages": value}, "")).last_user_text
    if not any(m["role"] == "user" for m in value) or not text:
        raise DataError(f"{where}: the conversation in 'prompt' has no user message with text")
    return text


def _row(obj: Any, where: str, default_dataset: str) -> RoutingRow:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    prompt = _prompt_text(obj.get("prompt"), where)
    raw_scores = obj.get("scores")
    if not isinstance(raw_scores, dict) or not raw_scores:
        raise DataError(f"{where}: 'scores' must be a non-empty object of model -> score")
    scores: dict[str, float] = {}
    for model, value in raw_scores.items():
        number = _number(value, f"score of {model!r}", where, nullable=True)
        if number is not None and not 0.0 <= number <= 1.0:
            raise DataError(f"{where}: score of {model!r} must be between 0 and 1 (a quality), got {number:g}; "
                            "rescale scores of another range (switchpoint export --score-range does)")
        if number is not None:  # a null score means "not evaluated": the model is absent for this prompt
            scores[model] = number
    raw_cost = obj.get("cost") or {}
    if not isinstance(raw_cost, dict):
        raise DataError(f"{where}: 'cost' must be an object of model -> USD or null")
    cost = {model: _number(value, f"cost of {model!r}", where, nullable=True) for model, value in raw_cost.items()}
    meta = obj.get("meta") or {}
    return RoutingRow(
        id=str(obj.get("id", where)),
        dataset=str(obj.get("dataset", default_dataset)),
        prompt=prompt,
        scores=scores,
        cost=cost,
        meta=meta if isinstance(meta, dict) else {},
    )


def load_rows(*paths: str | Path) -> list[RoutingRow]:
    """Read one or more JSONL files, in order. Blank lines are skipped; anything else malformed raises DataError."""
    rows: list[RoutingRow] = []
    for path in paths:
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{p}: no such file") from None
        except OSError as exc:
            raise DataError(f"{p}: cannot read ({exc.strerror or exc})") from None
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{p}:{number}"
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataError(f"{where}: not valid JSON ({exc})") from None
            rows.append(_row(obj, where, p.stem))
    return rows


def models_in(rows: Iterable[RoutingRow]) -> list[str]:
    """Every model scored on at least one row, in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        for model in row.scores:
            seen.setdefault(model, None)
    return list(seen)


def common_models(rows: Sequence[RoutingRow]) -> list[str]:
    """The models scored on every row (order of the first row)."""
    if not rows:
        return []
    common = [m for m in rows[0].scores]
    for row in rows[1:]:
        common = [m for m in common if m in row.scores]
    return common


def costed_models(rows: Sequence[RoutingRow], models: Sequence[str]) -> list[str]:
    """The subset of ``models`` with a known cost on every row."""
    return [m for m in models if all(row.cost.get(m) is not None for row in rows)]


def rows_with(rows: Iterable[RoutingRow], models: Sequence[str], *, need_cost: bool = False) -> list[RoutingRow]:
    """The rows on which every named model has a score (and a cost, if ``need_cost``)."""
    out = []
    for row in rows:
        if all(m in row.scores for m in models) and (not need_cost or all(row.cost.get(m) is not None for m in models)):
            out.append(row)
    return out


def mean_score(rows: Sequence[RoutingRow], model: str) -> float:
    if not rows:
        raise ValueError("no rows")
    return math.fsum(row.scores[model] for row in rows) / len(rows)


def mean_cost(rows: Sequence[RoutingRow], model: str) -> float | None:
    """Mean cost per request of ``model``, or None when any row lacks its cost."""
    costs = [row.cost.get(model) for row in rows]
    if not costs or any(c is None for c in costs):
        return None
    return math.fsum(c for c in costs if c is not None) / len(costs)


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def resolve_model(name: str, models: Sequence[str]) -> str:
    """Find ``name`` among ``models``: exact, then case-insensitive, then a unique prefix of the part after the
    last ``/`` (so ``Mixtral-8x7B-Instruct`` finds ``mistralai/Mixtral-8x7B-Instruct-v0.1``).

    Raises KeyError with the known names when nothing or more than one model matches.
    """
    if name in models:
        return name
    wanted = _norm(name)
    exact = [m for m in models if _norm(m) == wanted or _norm(m.rsplit("/", 1)[-1]) == wanted]
    if len(exact) == 1:
        return exact[0]
    prefix = [m for m in models if _norm(m.rsplit("/", 1)[-1]).startswith(wanted) or _norm(m).startswith(wanted)]
    if len(prefix) == 1:
        return prefix[0]
    known = ", ".join(models)
    if len(prefix) > 1:
        raise KeyError(f"model {name!r} is ambiguous: it matches {', '.join(prefix)}")
    raise KeyError(f"unknown model {name!r}; the data has: {known}")
