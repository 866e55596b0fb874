"""The analytics queries against the seeded traffic, on SQLite and Postgres, checked against a
plain-Python computation over the same records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from switchpoint.analytics import explorer, queries, routing
from switchpoint.analytics.filters import DAY, Filters
from switchpoint.errors import InvalidRequest
from switchpoint.storage.records import RequestRecord

from .conftest import Seeded, approx
from .support import PRICES, SPACING, expected, is_error, nearest_rank, routed_savings


def _range(seeded: Seeded, **filters: Any) -> Filters:
    return Filters(seeded.now - DAY, seeded.now, **filters)


def test_summary_matches_the_records(seeded: Seeded) -> None:
    out = seeded.run(lambda r: queries.summary(r, _range(seeded)))
    want = expected(seeded.records)
    assert (out["requests"], out["errors"], out["fallbacks"]) == (60, want.errors, want.fallbacks) == (60, 5, 6)
    assert out["error_rate"] == approx(5 / 60) and out["fallback_rate"] == approx(0.1)
    assert out["tokens"] == {"prompt": want.prompt, "completion": want.completion,
                             "cached": sum(r.cached_tokens for r in seeded.records),
                             "total": want.prompt + want.completion}  # fmt: skip
    assert out["cost"] == approx(want.cost) and out["cost_per_request"] == approx(want.cost / 60)
    assert out["latency_ms"]["p50"] == want.p50 and out["latency_ms"]["p90"] == want.p90
    assert out["latency_ms"]["p99"] == want.p99
    assert out["latency_ms"]["avg"] == approx(sum(r.latency_ms for r in seeded.records) / 60)
    assert out["ttft_ms"]["p50"] == want.ttft_p50
    assert (out["streamed"], out["keys"], out["model_groups"], out["client_disconnects"]) == (30, 2, 2, 0)
    assert out["feedback"] == {"count": 16, "scored": 16, "avg_score": approx(0.75)}
    assert out["range"]["since"] == seeded.now - DAY


FILTERS: list[tuple[dict[str, Any], Callable[[RequestRecord], bool]]] = [
    ({"model": "cheap"}, lambda r: r.group == "cheap"),
    ({"model": "auto"}, lambda r: r.model == "auto"),
    ({"key": "key-alpha"}, lambda r: r.key_id == "key-alpha"),
    ({"team": "search"}, lambda r: r.team == "search"),
    ({"tag": "eval"}, lambda r: "eval" in r.tags),
    ({"router": "auto"}, lambda r: r.routing is not None),
    ({"deployment": "strong-1"}, lambda r: r.deployment == "strong-1"),
    ({"status": "error"}, is_error),
    ({"status": "ok"}, lambda r: not is_error(r)),
    ({"model": "strong", "key": "key-beta", "tag": "eval"},
     lambda r: r.group == "strong" and r.key_id == "key-beta" and "eval" in r.tags),
    ({"tag": "nope"}, lambda r: False),
]  # fmt: skip


@pytest.mark.parametrize(("filters", "keep"), FILTERS, ids=[str(f) for f, _ in FILTERS])
def test_filters_select_the_same_requests_as_python(
    seeded: Seeded, filters: dict[str, Any], keep: Callable[[RequestRecord], bool]
) -> None:
    out = seeded.run(lambda r: queries.summary(r, _range(seeded, **filters)))
    want = expected([r for r in seeded.records if keep(r)])
    assert out["requests"] == want.requests
    assert out["errors"] == want.errors
    assert out["cost"] == approx(want.cost)
    assert out["latency_ms"]["p50"] == want.p50 and out["latency_ms"]["p99"] == want.p99


def test_the_time_range_is_half_open(seeded: Seeded) -> None:
    newest = max(r.created for r in seeded.records)
    at = seeded.run(lambda r: queries.summary(r, Filters(newest, newest + 1)))
    before = seeded.run(lambda r: queries.summary(r, Filters(newest - 1, newest)))
    assert (at["requests"], before["requests"]) == (1, 0)
    six_hours = seeded.run(lambda r: queries.summary(r, Filters(seeded.now - 6 * 3600, seeded.now)))
    assert six_hours["requests"] == sum(r.created >= seeded.now - 6 * 3600 for r in seeded.records)


def test_timeseries_buckets_hold_the_records(seeded: Seeded) -> None:
    out = seeded.run(lambda r: queries.timeseries(r, _range(seeded), "hour"))
    assert out["bucket"] == "hour" and out["bucket_seconds"] == 3600
    points = out["points"]
    assert [p["t"] for p in points] == list(range(points[0]["t"], points[-1]["t"] + 1, 3600))
    assert points[0]["t"] <= seeded.now - DAY < points[0]["t"] + 3600 and points[-1]["t"] <= seeded.now
    by_hour: dict[int, list[RequestRecord]] = {}
    for record in seeded.records:
        by_hour.setdefault(int(record.created // 3600) * 3600, []).append(record)
    for point in points:
        records = by_hour.get(point["t"], [])
        want = expected(records)
        assert (point["requests"], point["errors"]) == (want.requests, want.errors)
        assert point["cost"] == approx(want.cost)
        assert point["latency_ms"]["p50"] == want.p50 and point["ttft_ms"]["p50"] == want.ttft_p50
        assert point["by_group"] == {g: sum(r.group == g for r in records) for g in ("cheap", "strong")
                                     if any(r.group == g for r in records)}  # fmt: skip
    assert sum(p["requests"] for p in points) == 60
    assert out["groups"] == ["cheap", "strong"]


def test_timeseries_bucket_choice_and_limits(seeded: Seeded) -> None:
    week = Filters(seeded.now - 7 * DAY, seeded.now)
    day = seeded.run(lambda r: queries.timeseries(r, week, None))
    assert day["bucket"] == "day" and len(day["points"]) in (7, 8)
    assert sum(p["requests"] for p in day["points"]) == 60
    assert queries.choose_bucket(Filters(0, 3600), None) == ("minute", 60)
    assert queries.choose_bucket(Filters(0, DAY), "auto") == ("hour", 3600)
    with pytest.raises(InvalidRequest) as error:
        queries.choose_bucket(Filters(0, 30 * DAY), "minute")
    assert error.value.param == "bucket"
    with pytest.raises(InvalidRequest):
        queries.choose_bucket(Filters(0, DAY), "week")


def test_model_table_per_group_and_deployment(seeded: Seeded) -> None:
    out = seeded.run(lambda r: queries.model_table(r, _range(seeded), prices=PRICES))
    rows = {row["model_group"]: row for row in out["models"]}
    assert [row["model_group"] for row in out["models"]] == ["cheap", "strong"]  # busiest first
    for group in ("cheap", "strong"):
        records = [r for r in seeded.records if r.group == group]
        want = expected(records)
        row = rows[group]
        assert (row["requests"], row["errors"], row["fallbacks"]) == (want.requests, want.errors, want.fallbacks)
        assert row["cost"] == approx(want.cost) and row["share"] == approx(want.requests / 60)
        assert (row["latency_ms"]["p50"], row["latency_ms"]["p90"]) == (want.p50, want.p90)
        assert row["ttft_ms"]["p50"] == want.ttft_p50
        assert row["price"] == {"input_per_mtok": PRICES[group][0], "output_per_mtok": PRICES[group][1]}
        assert row["deployments"] == 1
    assert rows["cheap"]["feedback"]["avg_score"] == approx(0.6) and rows["strong"]["feedback"]["count"] == 8
    by_deployment = seeded.run(lambda r: queries.model_table(r, _range(seeded), by="deployment"))
    assert {(m["model_group"], m["deployment"], m["requests"]) for m in by_deployment["models"]} == {
        ("cheap", "cheap-1", 32), ("strong", "strong-1", 28)}
    assert by_deployment["models"][0]["price"] is None  # no prices given
    with pytest.raises(InvalidRequest):
        seeded.run(lambda r: queries.model_table(r, _range(seeded), by="team"))


def test_routing_mix_and_quality(seeded: Seeded) -> None:
    out = seeded.run(lambda r: routing.routing_mix(r, _range(seeded)))
    assert out["requests"] == 60
    assert [(g["model_group"], g["requests"]) for g in out["groups"]] == [("cheap", 32), ("strong", 28)]
    assert out["groups"][1]["feedback"]["avg_score"] == approx(0.9)
    auto, direct = out["routers"]
    assert (auto["router"], auto["requests"], direct["router"], direct["requests"]) == ("auto", 40, None, 20)
    decisions = {d["model_group"]: d for d in auto["decisions"]}
    assert decisions["cheap"]["requests"] == 32 and decisions["strong"]["share"] == approx(0.2)
    assert decisions["cheap"]["feedback"]["avg_score"] == approx(0.6)
    assert auto["feedback"]["avg_score"] == approx(0.75)
    assert auto["reasons"] == [{"reason": "complexity<0.5", "requests": 32},
                               {"reason": "complexity>=0.5", "requests": 8}]  # fmt: skip
    routed = [r for r in seeded.records if r.routing]
    assert auto["cost"] == approx(sum(r.cost for r in routed))
    assert direct["reasons"] == [] and direct["decisions"][0]["model_group"] == "strong"


def test_savings_against_the_most_expensive_candidate(seeded: Seeded) -> None:
    out = seeded.run(lambda r: routing.savings(r, _range(seeded), PRICES))
    actual, baseline = routed_savings(seeded.records)
    (auto,) = out["routers"]
    assert auto["router"] == "auto" and auto["requests"] == 40
    assert auto["baseline_group"] == "strong"
    assert auto["actual_cost"] == approx(actual) and auto["baseline_cost"] == approx(baseline)
    assert auto["savings"] == approx(baseline - actual) and auto["savings_rate"] == approx(1 - actual / baseline)
    candidates = {c["model_group"]: c for c in auto["candidates"]}
    assert candidates["strong"]["chosen_requests"] == 8 and candidates["cheap"]["chosen_share"] == approx(0.8)
    assert candidates["cheap"]["counterfactual_cost"] < candidates["strong"]["counterfactual_cost"]
    assert candidates["strong"]["quality"]["avg_score"] == approx(0.9) and auto["quality"]["avg_score"] == approx(0.75)
    assert out["total"]["savings"] == approx(baseline - actual)
    unpriced = seeded.run(lambda r: routing.savings(r, _range(seeded), {}))
    assert unpriced["routers"][0]["baseline_cost"] is None and unpriced["total"]["savings_rate"] is None
    only_cheap = seeded.run(lambda r: routing.savings(r, _range(seeded), {"cheap": PRICES["cheap"]}))
    assert only_cheap["routers"][0]["baseline_group"] == "cheap"  # the only priced candidate


def test_routing_mix_reads_policies_and_shadow_decisions(seeded: Seeded) -> None:
    out = seeded.run(lambda r: routing.routing_mix(r, _range(seeded)))
    auto = out["routers"][0]
    routed = [r.routing for r in seeded.records if r.routing]
    assert auto["policies"] == [{"policy": "complexity-threshold", "kind": "rules", "requests": 40, "share": 1.0,
                                 "decisions": [{"model_group": "cheap", "requests": 32},
                                               {"model_group": "strong", "requests": 8}]}]  # fmt: skip
    shadows = [(s["chosen"], r["chosen"]) for r in routed for s in r.get("shadow", [])]
    (shadow,) = auto["shadow"]
    assert (shadow["policy"], shadow["kind"], shadow["requests"]) == ("quality-model", "learned", len(shadows))
    assert shadow["agree"] == sum(a == b for a, b in shadows) and 0 < shadow["agree"] < len(shadows)
    assert shadow["agreement"] == approx(shadow["agree"] / len(shadows))
    want = {g: sum(a == g for a, _ in shadows) for g in ("cheap", "strong")}
    assert {d["model_group"]: d["requests"] for d in shadow["decisions"]} == want
    direct = out["routers"][1]
    assert direct["policies"] == [] and direct["shadow"] == []


def test_request_pages_walk_every_request_once(seeded: Seeded) -> None:
    async def pages(reader: Any) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await explorer.list_requests(reader, _range(seeded), limit=25, cursor=cursor)
            assert page["total"] == 60
            seen += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    rows = seeded.run(pages)
    assert [r["request_id"] for r in rows] == [r.request_id for r in sorted(seeded.records, key=lambda r: -r.created)]
    first = rows[0]
    assert first["tags"] == ["prod", "eval"] and first["stream"] is True and first["router"] is None
    routed = next(r for r in rows if r["request_id"] == "seed-004")
    assert (routed["router"], routed["chosen"], routed["reason"]) == ("auto", "cheap", "complexity<0.5")
    assert routed["feedback"] == {"count": 1, "avg_score": approx(0.6)}
    errors = seeded.run(lambda r: explorer.list_requests(r, _range(seeded, status="error", key="key-alpha")))
    assert {r["request_id"] for r in errors["data"]} == {
        r.request_id for r in seeded.records if is_error(r) and r.key_id == "key-alpha"}
    assert errors["next_cursor"] is None
    with pytest.raises(InvalidRequest):
        seeded.run(lambda r: explorer.list_requests(r, _range(seeded), limit=0))
    with pytest.raises(InvalidRequest) as error:
        seeded.run(lambda r: explorer.list_requests(r, _range(seeded), cursor="nonsense!"))
    assert error.value.param == "cursor"


def test_one_request_in_full(seeded: Seeded) -> None:
    out = seeded.run(lambda r: explorer.get_request(r, "seed-004"))
    assert out is not None
    assert out["routing"]["chosen"] == "cheap" and out["routing"]["features"]["complexity"] == 0.45
    assert [(a["deployment"], a["status"], a["status_code"]) for a in out["attempts"]] == [
        ("cheap-0", "error", 429), ("cheap-1", "ok", None)]
    assert out["attempts"][1]["start_offset_ms"] == pytest.approx(50, abs=0.01)
    assert out["attempts"][0]["probe"] is False
    assert [(f["score"], f["label"]) for f in out["feedback"]] == [(0.6, "ok")]
    assert out["tags"] == ["prod", "eval"] and out["stream"] is True
    assert seeded.run(lambda r: explorer.get_request(r, "nope")) is None


def test_dimensions_list_what_was_seen(seeded: Seeded) -> None:
    out = seeded.run(lambda r: explorer.dimensions(r, _range(seeded)))
    assert out["model_groups"] == ["cheap", "strong"] and out["models"] == ["auto", "strong"]
    assert out["keys"] == ["key-alpha", "key-beta"] and out["teams"] == ["search", "support"]
    assert out["routers"] == ["auto"] and out["tags"] == ["eval", "prod"]
    assert out["deployments"] == ["cheap-1", "strong-1"]


def test_an_empty_range_answers_zeros(seeded: Seeded) -> None:
    empty = Filters(seeded.now + DAY, seeded.now + 2 * DAY)
    summary = seeded.run(lambda r: queries.summary(r, empty))
    assert summary["requests"] == 0 and summary["cost"] == 0 and summary["error_rate"] == 0
    assert summary["latency_ms"] == {"avg": None, "p50": None, "p90": None, "p99": None}
    series = seeded.run(lambda r: queries.timeseries(r, empty, "hour"))
    hours = range(int(empty.since // 3600) * 3600, int(empty.until), 3600)  # 25 when not on the hour
    assert len(series["points"]) == len(hours) and not any(p["requests"] for p in series["points"])
    assert seeded.run(lambda r: queries.model_table(r, empty))["models"] == []
    assert seeded.run(lambda r: routing.savings(r, empty, PRICES))["routers"] == []


def test_percentiles_are_nearest_rank() -> None:
    assert nearest_rank([1, 2, 3, 4], 0.5) == 2 and nearest_rank([1, 2, 3, 4], 0.9) == 4
    assert nearest_rank(range(1, 101), 0.99) == 99 and nearest_rank([], 0.5) is None
    assert SPACING * 59 < DAY  # every seeded request is inside the default 24 h range
