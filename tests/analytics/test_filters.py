"""Time ranges and filters: parsing and their SQL, without a database."""

from __future__ import annotations

import pytest

from switchpoint.analytics.filters import DAY, Filters, parse_time
from switchpoint.analytics.sql import POSTGRES, SQLITE, percentiles_sql
from switchpoint.errors import InvalidRequest

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("now", NOW),
        ("24h", NOW - DAY),
        ("90s", NOW - 90),
        ("30m", NOW - 1800),
        ("7d", NOW - 7 * DAY),
        ("2w", NOW - 14 * DAY),
        ("1.5h", NOW - 5400),
        ("1700000000", 1_700_000_000.0),
        ("1700000000123", 1_700_000_000.123),  # milliseconds
        ("2023-11-14", 1_699_920_000.0),  # a date is midnight UTC
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
        ("2023-11-14T22:13:20", 1_700_000_000.0),  # naive means UTC
    ],
)
def test_parse_time(text: str, epoch: float) -> None:
    assert parse_time(text, NOW) == pytest.approx(epoch)


@pytest.mark.parametrize("text", ["yesterday", "-5", "inf", "24x", "2023-13-01"])
def test_parse_time_refuses_nonsense(text: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_time(text, NOW, param="until")
    assert error.value.param == "until"


def test_filters_defaults_and_errors() -> None:
    f = Filters.parse({}, NOW)
    assert (f.since, f.until, f.model) == (NOW - DAY, NOW, None)
    assert Filters.parse({"until": "1h"}, NOW).since == NOW - 3600 - DAY
    f = Filters.parse({"since": "7d", "model": "cheap", "tag": "", "status": "error"}, NOW)
    assert (f.since, f.model, f.tag, f.status) == (NOW - 7 * DAY, "cheap", None, "error")
    for params, param in (({"since": "1h", "until": "2h"}, "since"), ({"status": "bad"}, "status"),
                          ({"key": "k" * 300}, "key")):  # fmt: skip
        with pytest.raises(InvalidRequest) as error:
            Filters.parse(params, NOW)
        assert error.value.param == param
    assert Filters.parse({"model": "x"}, NOW).describe()["model"] == "x"
    assert Filters(0, DAY).describe()["until_iso"] == "1970-01-02T00:00:00Z"


def test_where_clauses_bind_every_value() -> None:
    f = Filters(1.0, 2.0, model="m", deployment="d", key="k", team="t", tag="g", router="r", status="ok")
    for dialect in (SQLITE, POSTGRES):
        where, params = f.where(dialect)
        assert where.count("?") == len(params) == 9
        assert params == [1.0, 2.0, "m", "m", "d", "k", "t", "g", "r"]
        for value in ("'m'", "'k'", "'g'"):
            assert value not in where  # values are parameters, never spliced into the SQL
    assert "json_each" in Filters(0, 1, tag="x").where(SQLITE)[0]
    assert "@>" in Filters(0, 1, tag="x").where(POSTGRES)[0]
    assert POSTGRES.sql("a = ? AND b = ?") == "a = %s AND b = %s"


def test_percentile_sql_rejects_bad_quantiles() -> None:
    with pytest.raises(ValueError):
        percentiles_sql("r.latency_ms", "1 = 1", (0.5, 1.5))
    assert "PARTITION BY k0" in percentiles_sql("r.latency_ms", "1 = 1", (0.5,), ["r.model_group"])
