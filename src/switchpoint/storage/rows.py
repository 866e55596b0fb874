"""Records as rows, and the SQL both stores share. Pure functions: no connection here.

SQL is written once, with ``?`` placeholders; :meth:`Dialect.sql` turns them into the driver's
style. The differences between SQLite and Postgres are all in :class:`Dialect`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from switchpoint.storage.records import RequestRecord

__all__ = [
    "ATTEMPT_COLUMNS",
    "POSTGRES",
    "REQUEST_COLUMNS",
    "SQLITE",
    "Dialect",
    "attempt_rows",
    "attempts_of",
    "inline_attempt",
    "day_of",
    "dumps_json",
    "insert_attempts_sql",
    "insert_requests_sql",
    "row_to_request",
    "sqlite_request_row",
    "without_nul",
]

REQUEST_COLUMNS: tuple[str, ...] = (
    "request_id", "created", "finished", "day", "key_id", "team", "user_id", "tags", "model", "model_group",
    "deployment", "upstream_model", "routing", "stream", "status", "error_class", "finish_reason",
    "client_disconnected", "incomplete", "latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens",
    "cached_tokens", "cost", "attempt_count", "content", "attempt",
)  # fmt: skip
JSON_COLUMNS = frozenset({"tags", "routing", "content", "attempt"})
BOOL_COLUMNS = frozenset({"stream", "client_disconnected", "incomplete"})

ATTEMPT_COLUMNS: tuple[str, ...] = (
    "request_id", "idx", "deployment", "provider", "start_offset_ms", "latency_ms", "ttft_ms", "status",
    "error_class", "reason", "model_group", "error_kind", "status_code", "retry_after", "backoff_ms", "probe",
    "prompt_tokens", "completion_tokens", "cached_tokens", "cost", "usage_estimated", "score",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    param: str  # the driver's placeholder
    json_type: str  # column type for JSON documents
    json_cast: str  # appended to a JSON parameter
    greatest: str  # two-argument maximum
    strip_nul: bool  # Postgres text cannot hold U+0000

    def sql(self, text: str) -> str:
        return text if self.param == "?" else text.replace("?", self.param)


SQLITE = Dialect("sqlite", "?", "TEXT", "", "MAX", strip_nul=False)
POSTGRES = Dialect("postgres", "%s", "JSONB", "::jsonb", "GREATEST", strip_nul=True)


def insert_requests_sql(d: Dialect) -> str:
    values = ", ".join(d.param + (d.json_cast if c in JSON_COLUMNS else "") for c in REQUEST_COLUMNS)
    return (
        f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) VALUES ({values}) "
        "ON CONFLICT (request_id) DO NOTHING"
    )


def insert_attempts_sql(d: Dialect) -> str:
    values = ", ".join(d.param for _ in ATTEMPT_COLUMNS)
    return (
        f"INSERT INTO attempts ({', '.join(ATTEMPT_COLUMNS)}) VALUES ({values}) "
        "ON CONFLICT (request_id, idx) DO NOTHING"
    )


def day_of(epoch: float) -> str:
    """The UTC calendar day of an epoch time, ``YYYY-MM-DD``."""
    return _day(int(epoch // 86_400))


@functools.lru_cache(maxsize=64)
def _day(number: int) -> str:
    """A pure memo: almost every record of a batch falls on the same day or two."""
    return time.strftime("%Y-%m-%d", time.gmtime(number * 86_400))


def dumps_json(value: object, strip_nul: bool = False) -> str | None:
    if value is None:
        return None
    text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    if strip_nul and "\\u0000" in text:
        text = orjson.dumps(without_nul(value), default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    return text


def without_nul(value: object) -> object:
    """A copy of a JSON-like value with U+0000 replaced in every string (Postgres cannot store it)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k) if isinstance(k, str) else k: without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


def _text(value: str | None, strip_nul: bool) -> str | None:
    if strip_nul and value is not None and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


_EMPTY_TAGS = "[]"


def inline_attempt(r: RequestRecord) -> bool:
    """Whether SQLite keeps the record's attempt in its ``requests`` row (column ``attempt``) instead of
    a row of ``attempts``: when it has exactly one, without a cascade score (the cascade calibration
    reads scored attempts from ``attempts``). Most requests are answered at the first attempt, and
    the second table's row and primary key cost SQLite about 45% of its work per record."""
    attempts = r.attempts
    return len(attempts) == 1 and attempts[0].score is None


def sqlite_request_row(r: RequestRecord) -> tuple[object, ...]:
    """One SQLite ``requests`` row, in :data:`REQUEST_COLUMNS` order (SQLite stores U+0000 as it is;
    this runs once per request on the event loop). ``attempt`` holds the only attempt's ``attempts``
    values after ``request_id``, as a JSON array, when :func:`inline_attempt`."""
    created = r.created
    tags = r.tags
    routing = r.routing
    content = r.content
    attempt = _dumps(next(iter(attempt_rows(r, SQLITE)))[1:]) if inline_attempt(r) else None
    return (
        r.request_id, created, created + r.latency_ms / 1000.0, _day(int(created // 86_400)), r.key_id, r.team,
        r.user, _dumps(list(tags)) if tags else _EMPTY_TAGS, r.model, r.group, r.deployment, r.upstream_model,
        None if routing is None else _dumps(routing), bool(r.stream), r.status, r.error_class, r.finish_reason,
        bool(r.client_disconnected), bool(r.incomplete), r.latency_ms, r.ttft_ms, r.prompt_tokens,
        r.completion_tokens, r.cached_tokens, r.cost, len(r.attempts), None if content is None else _dumps(content),
        attempt,
    )  # fmt: skip


def _dumps(value: object) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def attempt_rows(r: RequestRecord, d: Dialect) -> Iterable[tuple[object, ...]]:
    """The ``attempts`` rows of one record; ``start_offset_ms`` is relative to the first attempt."""
    nul = d.strip_nul
    first = r.attempts[0].started if r.attempts else 0.0
    for idx, a in enumerate(r.attempts):
        yield (
            _text(r.request_id, nul), idx, _text(a.deployment, nul), _text(a.provider, nul),
            (a.started - first) * 1000.0, a.latency_ms, a.ttft_ms, _text(a.status, nul),
            _text(a.error_class, nul), _text(a.reason, nul), _text(a.group, nul), _text(a.error_kind, nul),
            a.status_code, a.retry_after, a.backoff_ms, bool(a.probe), a.prompt_tokens, a.completion_tokens,
            a.cached_tokens, a.cost, bool(a.usage_estimated), a.score,
        )  # fmt: skip


def attempts_of(request: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A request's attempts as ``attempts`` rows (dicts): ``rows`` read from that table, or its inline
    ``attempt`` (see :func:`inline_attempt`), which is taken out of ``request``. An inline array
    shorter than today's columns (written before a column was added) leaves the rest None."""
    inline = request.pop("attempt", None)
    if rows or not isinstance(inline, list):
        return rows
    values = [request["request_id"], *inline]
    values += [None] * (len(ATTEMPT_COLUMNS) - len(values))
    return [dict(zip(ATTEMPT_COLUMNS, values, strict=False))]


def row_to_request(columns: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """A ``requests`` row as a dict with JSON decoded and booleans as ``bool``, whatever the driver."""
    out: dict[str, Any] = {}
    for column, value in zip(columns, values, strict=True):
        if column in JSON_COLUMNS and isinstance(value, str | bytes):
            value = orjson.loads(value)
        elif column in BOOL_COLUMNS and value is not None:
            value = bool(value)
        out[column] = value
    return out
