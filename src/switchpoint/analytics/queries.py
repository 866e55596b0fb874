"""Read-only aggregates over the request log: totals, time series and the per-model table.

Each function takes a :class:`~switchpoint.analytics.readers.LogReader` and
:class:`~switchpoint.analytics.filters.Filters` and returns plain JSON-ready data. Counts, sums
and percentiles are computed in SQL (the same statements on SQLite and Postgres); Python only
reshapes the few rows that come back. Numbers cover the raw rows still kept (``retention_days``);
per-day totals of older, pruned days live in the daily rollups (``LogStore.daily_stats``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from switchpoint.analytics.filters import DAY, Filters
from switchpoint.analytics.readers import LogReader
from switchpoint.analytics.sql import ERROR, FALLBACK, as_float, as_int, percentiles_sql
from switchpoint.errors import InvalidRequest

__all__ = [
    "BUCKETS",
    "MAX_BUCKETS",
    "Prices",
    "choose_bucket",
    "feedback_by",
    "model_table",
    "summary",
    "timeseries",
    "totals",
]

#: Model group → (USD per million input tokens, USD per million output tokens).
Prices = Mapping[str, tuple[float, float]]

BUCKETS: dict[str, int] = {"minute": 60, "hour": 3_600, "day": 86_400}
MAX_BUCKETS = 2_000
QUANTILES = (0.5, 0.9, 0.99)

#: The totals every breakdown reports; :func:`totals` reads these eight columns.
AGGREGATES = (
    f"COUNT(*), SUM({ERROR}), SUM({FALLBACK}), SUM(r.prompt_tokens), SUM(r.completion_tokens), "
    "SUM(r.cached_tokens), SUM(r.cost), AVG(r.latency_ms)"
)


def totals(row: Sequence[Any]) -> dict[str, Any]:
    """The :data:`AGGREGATES` columns as a dict, with the rates derived from them."""
    requests, errors, fallbacks, prompt, completion, cached, cost, latency = row
    n = as_int(requests)
    spent = as_float(cost) or 0.0
    return {
        "requests": n,
        "errors": as_int(errors),
        "error_rate": as_int(errors) / n if n else 0.0,
        "fallbacks": as_int(fallbacks),
        "fallback_rate": as_int(fallbacks) / n if n else 0.0,
        "tokens": {"prompt": as_int(prompt), "completion": as_int(completion), "cached": as_int(cached),
                   "total": as_int(prompt) + as_int(completion)},  # fmt: skip
        "cost": spent,
        "cost_per_request": spent / n if n else 0.0,
        "latency_ms_avg": as_float(latency),
    }


def _quantiles(values: Sequence[Any]) -> dict[str, float | None]:
    return {f"p{round(q * 100)}": as_float(v) for q, v in zip(QUANTILES, values, strict=True)}


async def _percentiles(
    reader: LogReader, value: str, where: str, params: list[object], keys: Sequence[str] = ()
) -> dict[tuple[Any, ...], dict[str, float | None]]:
    """Key tuple → ``{p50, p90, p99}`` of ``value``."""
    _, rows = await reader.query(percentiles_sql(value, where, QUANTILES, keys), params)
    width = len(keys)
    return {tuple(row[:width]): _quantiles(row[width:]) for row in rows}


async def feedback_by(reader: LogReader, f: Filters, keys: Sequence[str] = ()) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Key tuple → ``{count, scored, avg_score}`` of the feedback on the matching requests."""
    where, params = f.where(reader.dialect)
    select = "".join(f"{k}, " for k in keys)
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    _, rows = await reader.query(
        f"SELECT {select}COUNT(*), COUNT(fb.score), AVG(fb.score) "
        f"FROM feedback fb JOIN requests r ON r.request_id = fb.request_id WHERE {where}{group}",
        params,
    )
    width = len(keys)
    return {
        tuple(row[:width]): {"count": as_int(row[width]), "scored": as_int(row[width + 1]),
                             "avg_score": as_float(row[width + 2])}  # fmt: skip
        for row in rows
    }


async def summary(reader: LogReader, f: Filters) -> dict[str, Any]:
    """Requests, errors, fallbacks, tokens, cost, latency and TTFT percentiles, feedback."""
    where, params = f.where(reader.dialect)
    _, rows = await reader.query(
        f"SELECT {AGGREGATES}, SUM(CASE WHEN r.stream THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN r.client_disconnected THEN 1 ELSE 0 END), COUNT(DISTINCT r.key_id), "
        f"COUNT(DISTINCT r.model_group) FROM requests r WHERE {where}",
        params,
    )
    row = rows[0]
    out: dict[str, Any] = {"range": f.describe(), **totals(row[:8])}
    out.update(streamed=as_int(row[8]), client_disconnects=as_int(row[9]), keys=as_int(row[10]),
               model_groups=as_int(row[11]))  # fmt: skip
    empty = dict.fromkeys(("p50", "p90", "p99"))
    latency = (await _percentiles(reader, "r.latency_ms", where, params)).get((), empty)
    out["latency_ms"] = {"avg": out.pop("latency_ms_avg"), **latency}
    out["ttft_ms"] = (await _percentiles(reader, "r.ttft_ms", where, params)).get((), empty)
    out["feedback"] = (await feedback_by(reader, f)).get((), {"count": 0, "scored": 0, "avg_score": None})
    return out


def choose_bucket(f: Filters, bucket: str | None) -> tuple[str, int]:
    """The bucket name and width: as asked, or by the range (minutes up to 2 h, hours up to 3 days)."""
    span = f.until - f.since
    if not bucket or bucket == "auto":
        bucket = "minute" if span <= 2 * 3_600 else "hour" if span <= 3 * DAY else "day"
    if bucket not in BUCKETS:
        raise InvalidRequest(f"'bucket' must be one of {', '.join(BUCKETS)} or auto.", param="bucket")
    seconds = BUCKETS[bucket]
    if span / seconds > MAX_BUCKETS:
        raise InvalidRequest(
            f"The range holds more than {MAX_BUCKETS} {bucket} buckets; use a larger bucket.", param="bucket"
        )
    return bucket, seconds


async def timeseries(reader: LogReader, f: Filters, bucket: str | None = None) -> dict[str, Any]:
    """Traffic, errors, cost, tokens, latency percentiles and the model-group mix per time bucket.

    Every bucket of the range is present (empty ones with zeros), oldest first; ``t`` is its start.
    """
    name, seconds = choose_bucket(f, bucket)
    d = reader.dialect
    where, params = f.where(d)
    key = d.bucket(seconds)
    _, rows = await reader.query(
        f"SELECT {key} AS t, {AGGREGATES} FROM requests r WHERE {where} GROUP BY {key} ORDER BY t", params
    )
    by_bucket = {as_int(row[0]): totals(row[1:]) for row in rows}
    latency = await _percentiles(reader, "r.latency_ms", where, params, [key])
    ttft = await _percentiles(reader, "r.ttft_ms", where, params, [key])
    _, mix_rows = await reader.query(
        f"SELECT {key} AS t, COALESCE(r.model_group, ''), COUNT(*), SUM(r.cost) FROM requests r "
        f"WHERE {where} GROUP BY {key}, COALESCE(r.model_group, '')",
        params,
    )
    mix: dict[int, dict[str, dict[str, float]]] = {}
    groups: dict[str, int] = {}
    for t, group, count, cost in mix_rows:
        mix.setdefault(as_int(t), {})[group] = {"requests": as_int(count), "cost": as_float(cost) or 0.0}
        groups[group] = groups.get(group, 0) + as_int(count)
    latency_by = {as_int(k[0]): v for k, v in latency.items()}
    ttft_by = {as_int(k[0]): v for k, v in ttft.items()}
    empty = dict.fromkeys(("p50", "p90", "p99"))
    points = []
    start = int(f.since // seconds) * seconds
    for t in range(start, int(f.until), seconds):
        point = by_bucket.get(t) or totals((0, 0, 0, 0, 0, 0, 0.0, None))
        points.append({
            "t": t,
            "requests": point["requests"], "errors": point["errors"], "error_rate": point["error_rate"],
            "fallbacks": point["fallbacks"], "cost": point["cost"],
            "prompt_tokens": point["tokens"]["prompt"], "completion_tokens": point["tokens"]["completion"],
            "latency_ms": {"avg": point["latency_ms_avg"], **latency_by.get(t, empty)},
            "ttft_ms": ttft_by.get(t, empty),
            "by_group": {g: v["requests"] for g, v in sorted(mix.get(t, {}).items())},
        })  # fmt: skip
    return {
        "range": f.describe(),
        "bucket": name,
        "bucket_seconds": seconds,
        "groups": [g for g, _ in sorted(groups.items(), key=lambda item: (-item[1], item[0]))],
        "points": points,
    }


async def model_table(
    reader: LogReader, f: Filters, *, by: str = "group", prices: Prices | None = None
) -> dict[str, Any]:
    """One row per model group (``by=group``) or per group and deployment (``by=deployment``),
    busiest first: traffic share, errors, fallbacks, tokens, cost, latency, TTFT and feedback."""
    if by not in ("group", "deployment"):
        raise InvalidRequest("'by' must be 'group' or 'deployment'.", param="by")
    keys = ["COALESCE(r.model_group, '')"]
    if by == "deployment":
        keys.append("COALESCE(r.deployment, '')")
    where, params = f.where(reader.dialect)
    key_list = ", ".join(keys)
    _, rows = await reader.query(
        f"SELECT {key_list}, {AGGREGATES}, COUNT(DISTINCT r.deployment) FROM requests r "
        f"WHERE {where} GROUP BY {key_list}",
        params,
    )
    width = len(keys)
    latency = await _percentiles(reader, "r.latency_ms", where, params, keys)
    ttft = await _percentiles(reader, "r.ttft_ms", where, params, keys)
    feedback = await feedback_by(reader, f, keys)
    total = sum(as_int(row[width]) for row in rows)
    empty = dict.fromkeys(("p50", "p90", "p99"))
    table = []
    for row in rows:
        key = tuple(row[:width])
        stats = totals(row[width : width + 8])
        entry: dict[str, Any] = {"model_group": key[0]}
        if by == "deployment":
            entry["deployment"] = key[1]
        else:
            entry["deployments"] = as_int(row[width + 8])
        entry.update(stats)
        entry["share"] = stats["requests"] / total if total else 0.0
        entry["latency_ms"] = {"avg": entry.pop("latency_ms_avg"), **latency.get(key, empty)}
        entry["ttft_ms"] = ttft.get(key, empty)
        entry["feedback"] = feedback.get(key, {"count": 0, "scored": 0, "avg_score": None})
        price = (prices or {}).get(key[0])
        entry["price"] = {"input_per_mtok": price[0], "output_per_mtok": price[1]} if price else None
        table.append(entry)
    table.sort(key=lambda e: (-e["requests"], e["model_group"], e.get("deployment", "")))
    return {"range": f.describe(), "by": by, "models": table}
