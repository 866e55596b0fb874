"""What an analytics question is about: a time range and optional filters, parsed from query
parameters (the HTTP API) or options (the CLI), and turned into one SQL ``WHERE`` clause."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

from switchpoint.analytics.sql import ERROR, SqlDialect
from switchpoint.errors import InvalidRequest

__all__ = ["DAY", "FILTER_PARAMS", "Filters", "parse_time"]

DAY = 86_400.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3_600.0, "d": DAY, "w": 7 * DAY}
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_MAX_TEXT = 256
#: The query parameters every analytics endpoint accepts besides ``since`` and ``until``.
FILTER_PARAMS = ("model", "deployment", "key", "team", "tag", "router", "status")


def parse_time(text: str, now: float, *, param: str = "since") -> float:
    """Epoch seconds from ``now``, a duration ago (``90s 30m 24h 7d 2w``), epoch seconds
    (milliseconds above 1e12), or an ISO 8601 date or time (UTC unless it has an offset)."""
    value = text.strip()
    if value.lower() == "now":
        return now
    relative = _RELATIVE.fullmatch(value.lower())
    if relative:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(number) or number < 0:
            raise InvalidRequest(f"'{param}' must be a time, not {text!r}.", param=param)
        return number / 1000 if number > 1e12 else number
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"'{param}' must be ISO 8601 (2024-05-01T12:00:00Z), epoch seconds, or a duration ago "
            f"such as 24h or 7d; got {text!r}.",
            param=param,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class Filters:
    """A time range ``[since, until)`` in epoch seconds, and optional equality filters.

    ``model`` matches the model group or the requested model (a router's name), ``key`` the key
    id, ``tag`` one of the request's tags, ``router`` the routing decision's ``router``;
    ``status`` is ``ok`` or ``error``.
    """

    since: float
    until: float
    model: str | None = None
    deployment: str | None = None
    key: str | None = None
    team: str | None = None
    tag: str | None = None
    router: str | None = None
    status: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str], now: float, *, default_range: float = DAY) -> Filters:
        """From query parameters; a missing ``until`` is now, a missing ``since`` ``default_range`` before it."""
        until = parse_time(params["until"], now, param="until") if params.get("until") else now
        since = parse_time(params["since"], now, param="since") if params.get("since") else until - default_range
        if since >= until:
            raise InvalidRequest("'since' must be before 'until'.", param="since")
        values: dict[str, str | None] = {}
        for name in FILTER_PARAMS:
            value = params.get(name) or None
            if value is not None and len(value) > _MAX_TEXT:
                raise InvalidRequest(f"'{name}' is longer than {_MAX_TEXT} characters.", param=name)
            values[name] = value
        if values["status"] not in (None, "ok", "error"):
            raise InvalidRequest("'status' must be 'ok' or 'error'.", param="status")
        return cls(since, until, **values)

    def with_model(self, model: str | None) -> Filters:
        return replace(self, model=model)

    def where(self, d: SqlDialect) -> tuple[str, list[object]]:
        """The ``WHERE`` condition over ``requests r`` (``?`` placeholders) and its parameters."""
        conditions = ["r.created >= ?", "r.created < ?"]
        params: list[object] = [self.since, self.until]
        if self.model is not None:
            conditions.append("(r.model_group = ? OR r.model = ?)")
            params += [self.model, self.model]
        for column, value in (("r.deployment", self.deployment), ("r.key_id", self.key), ("r.team", self.team)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if self.tag is not None:
            conditions.append(d.has_tag("r.tags"))
            params.append(self.tag)
        if self.router is not None:
            conditions.append(f"{d.json_text('r.routing', 'router')} = ?")
            params.append(self.router)
        if self.status is not None:
            conditions.append(f"({ERROR}) = {1 if self.status == 'error' else 0}")
        return " AND ".join(conditions), params

    def describe(self) -> dict[str, object]:
        """The filters as JSON: the range in epoch seconds and ISO, and the filters that are set."""
        out: dict[str, object] = {
            "since": self.since,
            "until": self.until,
            "since_iso": _iso(self.since),
            "until_iso": _iso(self.until),
        }
        for f in fields(self):
            if f.name not in ("since", "until") and getattr(self, f.name) is not None:
                out[f.name] = getattr(self, f.name)
        return out


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
