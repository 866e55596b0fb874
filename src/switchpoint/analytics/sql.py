"""The SQL the analytics queries share, written once for SQLite and Postgres.

Queries are written with ``?`` placeholders; :meth:`SqlDialect.sql` turns them into the driver's
style. Everything that differs between the two databases is a method of :class:`SqlDialect`:
time buckets, reading a key of a JSON column, and testing a JSON array for a tag. Percentiles are
computed in SQL with window functions that both databases run the same way (nearest rank), so
the two stores give the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "ERROR",
    "FALLBACK",
    "POSTGRES",
    "SQLITE",
    "SqlDialect",
    "as_float",
    "as_int",
    "percentiles_sql",
]

#: A request counts as an error when its status is 4xx/5xx or it carries an error class (as in the rollups).
ERROR = "CASE WHEN r.status >= 400 OR r.error_class IS NOT NULL THEN 1 ELSE 0 END"
#: A request "fell back" when it took more than one attempt.
FALLBACK = "CASE WHEN r.attempt_count > 1 THEN 1 ELSE 0 END"

_EPSILON = "0.000000001"  # p * n computed in floating point may land a hair above an integer rank


@dataclass(frozen=True, slots=True)
class SqlDialect:
    name: str  # "sqlite" or "postgres"

    def sql(self, text: str) -> str:
        return text if self.name == "sqlite" else text.replace("?", "%s")

    def bucket(self, seconds: int) -> str:
        """The start (epoch seconds, UTC) of the ``seconds``-long bucket holding ``r.created``."""
        if self.name == "sqlite":  # CAST truncates towards zero; times are positive
            return f"(CAST(r.created / {int(seconds)} AS INTEGER) * {int(seconds)})"
        return f"(floor(r.created / {int(seconds)}) * {int(seconds)})"  # a Postgres CAST would round

    def json_text(self, column: str, key: str) -> str:
        """A top-level key of a JSON column as text (NULL when missing). ``key`` is a fixed name."""
        assert key.isidentifier(), key
        if self.name == "sqlite":
            return f"json_extract({column}, '$.{key}')"
        return f"({column} ->> '{key}')"

    def json_value(self, column: str, key: str) -> str:
        """A top-level key of a JSON column as JSON text (arrays and objects stay JSON)."""
        assert key.isidentifier(), key
        if self.name == "sqlite":
            return f"json_extract({column}, '$.{key}')"
        return f"({column} -> '{key}')::text"

    def each_item(self, column: str, key: str, alias: str) -> str:
        """A FROM item ``alias`` with one row per element of the JSON array at top-level ``key`` of
        ``column`` (no row when the key is missing or not an array). Read elements with :meth:`item_text`."""
        assert key.isidentifier() and alias.isidentifier(), (key, alias)
        if self.name == "sqlite":
            return f"json_each({column}, '$.{key}') AS {alias}"
        return (f"jsonb_array_elements(CASE WHEN jsonb_typeof({column} -> '{key}') = 'array' "
                f"THEN {column} -> '{key}' END) AS {alias}(value)")

    def item_text(self, alias: str, key: str) -> str:
        """The text of ``key`` of an :meth:`each_item` element that is an object; a string element is
        its own text (older records listed candidates by name); anything else is NULL."""
        assert key.isidentifier() and alias.isidentifier(), (key, alias)
        if self.name == "sqlite":
            return (f"(CASE {alias}.type WHEN 'object' THEN json_extract({alias}.value, '$.{key}') "
                    f"WHEN 'text' THEN {alias}.value END)")
        return (f"(CASE jsonb_typeof({alias}.value) WHEN 'object' THEN {alias}.value ->> '{key}' "
                f"WHEN 'string' THEN {alias}.value #>> '{{}}' END)")

    def has_tag(self, column: str) -> str:
        """The JSON array ``column`` contains the string parameter."""
        if self.name == "sqlite":
            return f"EXISTS (SELECT 1 FROM json_each({column}) AS t WHERE t.value = ?)"
        return f"{column} @> jsonb_build_array(?::text)"

    def each_tag(self, column: str) -> str:
        """A FROM item ``t`` with one row per element of the JSON array ``column`` (``t.value``)."""
        if self.name == "sqlite":
            return f"json_each({column}) AS t"
        return f"jsonb_array_elements_text({column}) AS t(value)"


SQLITE = SqlDialect("sqlite")
POSTGRES = SqlDialect("postgres")


def percentiles_sql(value: str, where: str, quantiles: Sequence[float], keys: Sequence[str] = ()) -> str:
    """Nearest-rank percentiles of ``value`` over the rows of ``requests r`` matching ``where``.

    Returns one row per key (``keys`` are SQL expressions, selected first), then one column per
    quantile. The rank of quantile ``p`` over ``n`` values is the smallest integer ``>= p * n``.
    """
    for q in quantiles:
        if not 0 < q <= 1:
            raise ValueError(f"quantile {q} is not in (0, 1]")
    key_cols = [f"k{i}" for i in range(len(keys))]
    inner_keys = "".join(f"{expr} AS {name}, " for expr, name in zip(keys, key_cols, strict=True))
    partition = f"PARTITION BY {', '.join(key_cols)} " if keys else ""
    picks = ", ".join(
        f"MIN(CASE WHEN rn >= {q!r} * n - {_EPSILON} AND rn < {q!r} * n + 1 - {_EPSILON} THEN v END)"
        for q in quantiles
    )
    outer_keys = "".join(f"{k}, " for k in key_cols)
    group = f" GROUP BY {', '.join(key_cols)}" if keys else ""
    return (
        f"SELECT {outer_keys}{picks} FROM ("
        f"SELECT {outer_keys}v, ROW_NUMBER() OVER ({partition}ORDER BY v) AS rn, COUNT(*) OVER ({partition}) AS n "
        f"FROM (SELECT {inner_keys}{value} AS v FROM requests r WHERE {where}) AS picked WHERE v IS NOT NULL"
        f") AS ranked{group}"
    )


def as_int(value: object) -> int:
    """A driver's count or sum (int, float, Decimal or None) as an int."""
    if value is None:
        return 0
    if isinstance(value, int | float | Decimal | str):
        return int(value)
    raise TypeError(f"not a number: {value!r}")


def as_float(value: object) -> float | None:
    """A driver's number (int, float, Decimal) as a float; None stays None."""
    if value is None:
        return None
    if isinstance(value, int | float | Decimal | str):
        return float(value)
    raise TypeError(f"not a number: {value!r}")
