"""The request explorer: a filtered, paged list of requests, and one request in full."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from switchpoint.analytics.filters import Filters
from switchpoint.analytics.readers import LogReader
from switchpoint.analytics.sql import as_float, as_int
from switchpoint.errors import InvalidRequest
from switchpoint.storage.rows import attempts_of, row_to_request

__all__ = ["MAX_PAGE", "dimensions", "get_request", "list_requests"]

MAX_PAGE = 500
_LIST_COLUMNS = (
    "r.request_id, r.created, r.model, r.model_group, r.deployment, r.status, r.error_class, r.stream, "
    "r.finish_reason, r.client_disconnected, r.incomplete, r.latency_ms, r.ttft_ms, r.prompt_tokens, "
    "r.completion_tokens, r.cached_tokens, r.cost, r.attempt_count, r.key_id, r.team, r.user_id, r.tags"
)
_ATTEMPT_BOOLS = ("probe", "usage_estimated")
_MAX_VALUES = 200


def _encode_cursor(created: float, request_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([created, request_id])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created, request_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return float(created), str(request_id)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidRequest("'cursor' is not a cursor this API returned.", param="cursor") from None


async def list_requests(reader: LogReader, f: Filters, *, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """Newest first. ``next_cursor`` (when more rows match) fetches the following page; ``total``
    counts every matching request. Each row carries its router, chosen group, reason and feedback."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"'limit' must be between 1 and {MAX_PAGE}.", param="limit")
    d = reader.dialect
    where, params = f.where(d)
    _, count_rows = await reader.query(f"SELECT COUNT(*) FROM requests r WHERE {where}", params)
    page_where, page_params = where, list(params)
    if cursor:
        created, request_id = _decode_cursor(cursor)
        page_where += " AND (r.created < ? OR (r.created = ? AND r.request_id < ?))"
        page_params += [created, created, request_id]
    routing = (f"{d.json_text('r.routing', 'router')} AS router, {d.json_text('r.routing', 'chosen')} AS chosen, "
               f"{d.json_text('r.routing', 'reason')} AS reason")  # fmt: skip
    columns, rows = await reader.query(
        f"SELECT {_LIST_COLUMNS}, {routing} FROM requests r WHERE {page_where} "
        f"ORDER BY r.created DESC, r.request_id DESC LIMIT {limit + 1}",
        page_params,
    )
    items = [row_to_request(columns, row) for row in rows[:limit]]
    if items:
        marks = ", ".join("?" for _ in items)
        _, feedback_rows = await reader.query(
            f"SELECT request_id, COUNT(*), AVG(score) FROM feedback WHERE request_id IN ({marks}) GROUP BY request_id",
            [item["request_id"] for item in items],
        )
        feedback = {row[0]: {"count": as_int(row[1]), "avg_score": as_float(row[2])} for row in feedback_rows}
        for item in items:
            item["feedback"] = feedback.get(item["request_id"], {"count": 0, "avg_score": None})
    last = items[-1] if items else None
    more = len(rows) > limit and last is not None
    return {
        "object": "list",
        "range": f.describe(),
        "total": as_int(count_rows[0][0]),
        "data": items,
        "next_cursor": _encode_cursor(last["created"], last["request_id"]) if more and last else None,
    }


async def get_request(reader: LogReader, request_id: str) -> dict[str, Any] | None:
    """The whole record: every column (JSON decoded), its ``attempts`` and its ``feedback``."""
    columns, rows = await reader.query("SELECT * FROM requests r WHERE r.request_id = ?", [request_id])
    if not rows:
        return None
    out = row_to_request(columns, rows[0])
    columns, rows = await reader.query("SELECT * FROM attempts WHERE request_id = ? ORDER BY idx", [request_id])
    attempts = attempts_of(out, [dict(zip(columns, row, strict=True)) for row in rows])
    for attempt in attempts:
        for name in _ATTEMPT_BOOLS:
            if attempt.get(name) is not None:
                attempt[name] = bool(attempt[name])
    out["attempts"] = attempts
    columns, rows = await reader.query(
        "SELECT * FROM feedback WHERE request_id = ? ORDER BY created, feedback_id", [request_id]
    )
    out["feedback"] = [dict(zip(columns, row, strict=True)) for row in rows]
    return out


async def dimensions(reader: LogReader, f: Filters) -> dict[str, Any]:
    """The values seen in the range, for filter pickers: model groups, requested models,
    deployments, key ids, teams, routers and tags (each sorted, at most 200)."""
    d = reader.dialect
    where, params = f.where(d)
    out: dict[str, Any] = {"range": f.describe()}
    for name, expr in (("model_groups", "r.model_group"), ("models", "r.model"), ("deployments", "r.deployment"),
                       ("keys", "r.key_id"), ("teams", "r.team"), ("routers", d.json_text("r.routing", "router"))):
        _, rows = await reader.query(
            f"SELECT DISTINCT {expr} AS v FROM requests r WHERE {where} AND {expr} IS NOT NULL "
            f"ORDER BY v LIMIT {_MAX_VALUES}",
            params,
        )
        out[name] = [str(row[0]) for row in rows]
    _, rows = await reader.query(
        f"SELECT DISTINCT t.value AS v FROM requests r, {d.each_tag('r.tags')} WHERE {where} "
        f"ORDER BY v LIMIT {_MAX_VALUES}",
        params,
    )
    out["tags"] = [str(row[0]) for row in rows]
    return out
