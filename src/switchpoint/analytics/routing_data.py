"""Logged traffic as routing-quality data: requests with their stored conversation and feedback, as
rows of the format ``switchpoint train`` and ``switchpoint eval`` read (``routing/evaluation/data.py``).

A row needs the prompt and a quality score per model, so a request is exported when its record
kept its messages (``logs.store_content: true``), it succeeded, and it has feedback with a score
(or a label that ``labels`` maps to one). Scores are put on 0..1 from ``score_range``; a score
outside it is an error (:class:`ExportError`), never clipped or dropped in silence.

The prompt is the request's last user message, the text the learned router reads when it decides
(``RouteContext.text``). Requests with the same prompt become one row with one score per model
(the mean of its requests' scores): traffic that sent one prompt to several models (an A/B split,
a replayed evaluation set) gives the strong-versus-weak comparisons a learned router learns most
from. The model of a score is the request's model group, or the
upstream model (``models="upstream"``), renamed by ``aliases`` (a learned router's candidate
profiles), so the names are those the router will be asked to rank.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from switchpoint.analysis.view import RequestView
from switchpoint.analytics.filters import Filters
from switchpoint.analytics.readers import LogReader
from switchpoint.analytics.sql import ERROR
from switchpoint.types import ChatRequest

__all__ = ["ExportError", "ExportOptions", "ExportReport", "export_routing_rows"]

PAGE = 1000
MAX_IDS_PER_ROW = 20
MODEL_COLUMNS = {"group": "r.model_group", "upstream": "r.upstream_model"}


class ExportError(ValueError):
    """The log holds feedback the options cannot turn into a 0..1 score; the message says which and how to fix it."""


@dataclass(frozen=True)
class ExportOptions:
    score_range: tuple[float, float] = (0.0, 1.0)  # feedback scores from..to, mapped onto 0..1
    labels: Mapping[str, float] = field(default_factory=dict)  # feedback label -> 0..1 score
    models: str = "group"  # name a score's model by its "group" or its "upstream" model
    aliases: Mapping[str, str] = field(default_factory=dict)  # model name -> name written
    dataset: str = "logged"

    def __post_init__(self) -> None:
        low, high = self.score_range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"score range must be two finite numbers, low < high; got {low:g}, {high:g}")
        if self.models not in MODEL_COLUMNS:
            raise ValueError(f"models must be one of {', '.join(MODEL_COLUMNS)}, not {self.models!r}")
        for label, value in self.labels.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"the score of label {label!r} must be between 0 and 1, not {value:g}")


@dataclass
class ExportReport:
    """What was read and why requests were left out."""

    with_feedback: int = 0  # requests in the range that have feedback
    exported: int = 0  # of those, requests that became (part of) a row
    rows: int = 0
    no_content: int = 0  # the record kept no messages (logs.store_content was off)
    no_prompt: int = 0  # no user text in the messages
    failed: int = 0  # the request failed: there is no answer to score
    no_score: int = 0  # feedback without a score or a mapped label
    no_model: int = 0  # the record names no model (group or upstream)
    models: dict[str, int] = field(default_factory=dict)  # requests exported per model

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _score(request_id: str, scores: Sequence[float], labels: Sequence[str], options: ExportOptions) -> float | None:
    low, high = options.score_range
    values = []
    for value in scores:
        if not low <= value <= high:
            raise ExportError(
                f"request {request_id}: feedback score {value:g} is outside the score range {low:g}..{high:g}; "
                f"give the range your scores use (e.g. --score-range 1,5)")
        values.append((value - low) / (high - low))
    values += [options.labels[label] for label in labels if label in options.labels]
    return math.fsum(values) / len(values) if values else None


def _prompt(content: Any) -> str | None:
    if isinstance(content, (bytes, str)):
        content = orjson.loads(content)
    if not isinstance(content, dict) or not isinstance(content.get("messages"), list):
        return None
    text = RequestView(ChatRequest({"messages": content["messages"]}, "")).last_user_text
    return text if text.strip() else None


async def _feedback(reader: LogReader, ids: Sequence[str]) -> dict[str, tuple[list[float], list[str]]]:
    marks = ", ".join("?" for _ in ids)
    _, rows = await reader.query(
        f"SELECT request_id, score, label FROM feedback WHERE request_id IN ({marks}) ORDER BY created, feedback_id",
        list(ids),
    )
    out: dict[str, tuple[list[float], list[str]]] = {}
    for request_id, score, label in rows:
        scores, labels = out.setdefault(str(request_id), ([], []))
        if score is not None:
            scores.append(float(score))
        if label is not None:
            labels.append(str(label))
    return out


class _Row:
    __slots__ = ("costs", "first", "ids", "out_tokens", "prompt", "prompt_tokens", "scores")

    def __init__(self, prompt: str, created: float) -> None:
        self.prompt = prompt
        self.first = created
        self.ids: list[str] = []
        self.scores: dict[str, list[float]] = {}
        self.costs: dict[str, list[float]] = {}
        self.out_tokens: dict[str, list[int]] = {}
        self.prompt_tokens = 0

    def as_dict(self, dataset: str) -> dict[str, Any]:
        def mean(values: Sequence[float]) -> float:
            return math.fsum(values) / len(values)

        return {
            "id": f"{dataset}/{self.ids[0]}",
            "dataset": dataset,
            "prompt": self.prompt,
            "scores": {m: mean(v) for m, v in self.scores.items()},
            "cost": {m: mean(v) for m, v in self.costs.items()},
            "tokens": {"in": self.prompt_tokens, **{f"out/{m}": round(mean(v)) for m, v in self.out_tokens.items()}},
            "meta": {"source": "switchpoint log", "requests": len(self.ids), "request_ids": self.ids[:MAX_IDS_PER_ROW],
                     "first_seen": datetime.fromtimestamp(self.first, UTC).isoformat(timespec="seconds")},
        }


async def export_routing_rows(
    reader: LogReader, filters: Filters, options: ExportOptions | None = None
) -> tuple[list[dict[str, Any]], ExportReport]:
    """The rows (oldest prompt first) and a report of what was left out and why."""
    options = options or ExportOptions()
    report = ExportReport()
    rows: dict[str, _Row] = {}
    where, params = filters.where(reader.dialect)
    model_column = MODEL_COLUMNS[options.models]
    after: tuple[float, str] | None = None
    while True:
        page_where, page_params = where, list(params)
        if after is not None:
            page_where += " AND (r.created > ? OR (r.created = ? AND r.request_id > ?))"
            page_params += [after[0], after[0], after[1]]
        _, page = await reader.query(
            f"SELECT r.request_id, r.created, {model_column}, r.content, r.cost, r.prompt_tokens, "
            f"r.completion_tokens, {ERROR} FROM requests r WHERE {page_where} "
            f"AND EXISTS (SELECT 1 FROM feedback f WHERE f.request_id = r.request_id) "
            f"ORDER BY r.created, r.request_id LIMIT {PAGE}",
            page_params,
        )
        if not page:
            break
        after = (float(page[-1][1]), str(page[-1][0]))
        feedback = await _feedback(reader, [str(r[0]) for r in page])
        for request_id, created, model, content, cost, prompt_tokens, completion_tokens, failed in page:
            report.with_feedback += 1
            if failed:
                report.failed += 1
                continue
            if content is None:
                report.no_content += 1
                continue
            if not model:
                report.no_model += 1
                continue
            scores, labels = feedback.get(str(request_id), ([], []))
            score = _score(str(request_id), scores, labels, options)
            if score is None:
                report.no_score += 1
                continue
            prompt = _prompt(content)
            if prompt is None:
                report.no_prompt += 1
                continue
            name = options.aliases.get(str(model), str(model))
            row = rows.get(prompt)
            if row is None:
                row = rows[prompt] = _Row(prompt, float(created))
                row.prompt_tokens = int(prompt_tokens or 0)
            row.ids.append(str(request_id))
            row.scores.setdefault(name, []).append(score)
            row.costs.setdefault(name, []).append(float(cost or 0.0))
            row.out_tokens.setdefault(name, []).append(int(completion_tokens or 0))
            report.exported += 1
            report.models[name] = report.models.get(name, 0) + 1
        if len(page) < PAGE:
            break
    out = [row.as_dict(options.dataset) for row in rows.values()]
    report.rows = len(out)
    return out, report
