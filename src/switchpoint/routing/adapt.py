"""Learned policies whose levels follow the feedback in the request log (``adapt:`` on a learned policy).

Every ``refresh_s`` seconds (and once at start), a :class:`LevelAdapter` reads, from the log the
gateway writes, the requests each adapting policy decided in the last ``window_days`` that were served
by one of its candidates, succeeded, and were rated (``POST /v1/feedback`` scores in 0..1; other
scores are counted and left out). The decision record holds every candidate's predicted quality and
the levels applied to it (``detail.levels``), so the served candidate's *raw* prediction is known
without running the predictor again. Each candidate's level is then fitted as ``switchpoint calibrate
--levels`` does (``routing/levels.py``), its prior centred on the configured ``level``, and swapped
into the policy in one assignment. A candidate with no ratings keeps its configured level.

The log is only read; a log that cannot be read leaves the levels as they are (a warning is logged)
and is tried again at the next refresh. Replicas sharing one log database fit the same levels.
Only the served answer is rated, so a candidate is levelled on the prompts it was chosen for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from switchpoint.analytics.readers import LogReader
from switchpoint.analytics.sql import ERROR
from switchpoint.routing.learned_policy import LearnedPolicy
from switchpoint.routing.levels import DEFAULT_PRIOR, fit_level, shifted

__all__ = ["AdaptOptions", "AdaptTarget", "LevelAdapter", "rated_answers"]

_LOG = logging.getLogger("switchpoint.routing")
DAY = 86_400.0
_EARLY_TRIES = 3  # failures before the first success that are retried soon and logged quietly
_EARLY_RETRY = 5.0


@dataclass(frozen=True)
class AdaptOptions:
    window_days: float = 30.0  # ratings older than this are not used
    refresh_s: float = 600.0  # how often the levels are refitted
    max_requests: int = 50_000  # the newest rated requests read per refresh
    prior: float = DEFAULT_PRIOR  # weight of the configured level, about this many ratings × 5


@dataclass(frozen=True)
class AdaptTarget:
    """A learned policy of a router that adapts its levels."""

    router: str
    policy: LearnedPolicy
    options: AdaptOptions


@dataclass
class Rated:
    """The served candidates' raw predictions and their ratings, and what was left out."""

    by_group: dict[str, tuple[list[float], list[float]]]
    out_of_range: int = 0  # rated outside 0..1
    not_a_candidate: int = 0  # served by a group the policy did not rank (a fallback)


def _decision(routing: Any) -> Mapping[str, Any] | None:
    if isinstance(routing, (bytes, str)):
        try:
            routing = orjson.loads(routing)
        except orjson.JSONDecodeError:
            return None
    return routing if isinstance(routing, Mapping) else None


async def rated_answers(reader: LogReader, router: str, policy: str, since: float, limit: int) -> Rated:
    """The rated requests ``policy`` of ``router`` decided since ``since`` (newest first, at most ``limit``)."""
    d = reader.dialect
    rated = ("EXISTS (SELECT 1 FROM feedback f WHERE f.request_id = r.request_id AND f.score IS NOT NULL)")
    _, rows = await reader.query(
        f"SELECT r.model_group, r.routing, (SELECT AVG(f.score) FROM feedback f WHERE f.request_id = r.request_id "
        f"AND f.score IS NOT NULL) FROM requests r WHERE r.created >= ? AND {d.json_text('r.routing', 'router')} = ? "
        f"AND {d.json_text('r.routing', 'policy')} = ? AND ({ERROR}) = 0 AND {rated} "
        f"ORDER BY r.created DESC LIMIT {int(limit)}",
        [since, router, policy],
    )
    out = Rated({})
    for group, routing, score in rows:
        if score is None or not 0.0 <= float(score) <= 1.0:
            out.out_of_range += 1
            continue
        decision = _decision(routing)
        candidates = decision.get("candidates") if decision is not None else None
        served = next((c for c in candidates or () if isinstance(c, Mapping) and c.get("group") == group), None)
        quality = served.get("predicted_quality") if served is not None else None
        if not isinstance(quality, int | float) or isinstance(quality, bool):
            out.not_a_candidate += 1
            continue
        detail = decision.get("detail") if decision is not None else None
        levels = detail.get("levels") if isinstance(detail, Mapping) else None
        level = levels.get(group, 0.0) if isinstance(levels, Mapping) else 0.0
        raw = shifted(float(quality), -float(level)) if level else float(quality)  # what the predictor said
        predicted, observed = out.by_group.setdefault(str(group), ([], []))
        predicted.append(raw)
        observed.append(float(score))
    return out


class LevelAdapter:
    """Refits the levels of adapting learned policies from the request log, in the background."""

    def __init__(self, open_reader: Callable[[], LogReader], targets: Sequence[AdaptTarget], *,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:  # fmt: skip
        self._open_reader = open_reader
        self.targets = list(targets)
        self._wall = wall
        self._sleep = sleep
        self._reader: LogReader | None = None
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0
        self.failures = 0

    async def refresh(self) -> dict[str, Any]:
        """Refit every target's levels now; what was fitted, by ``router/policy``."""
        if self._reader is None:
            self._reader = self._open_reader()
        now = self._wall()
        summary: dict[str, Any] = {}
        for target in self.targets:
            policy, options = target.policy, target.options
            rated = await rated_answers(self._reader, target.router, policy.name, now - options.window_days * DAY,
                                        options.max_requests)  # fmt: skip
            configured = {c.group: c.level for c in policy.candidates}
            levels: dict[str, float] = {}
            ratings: dict[str, int] = {}
            for group, (predicted, observed) in rated.by_group.items():
                if group in configured:
                    fit = fit_level(predicted, observed, prior=options.prior, center=configured[group])
                    levels[group] = fit.shift
                    ratings[group] = fit.n
            source = {"from": "feedback", "at": now, "window_days": options.window_days, "ratings": ratings,
                      "left_out": {"out_of_range": rated.out_of_range, "not_a_candidate": rated.not_a_candidate}}
            policy.set_levels({**configured, **levels}, source)
            summary[f"{target.router}/{policy.name}"] = {"levels": dict(policy.levels), **source}
        self.refreshes += 1
        return summary

    async def _run(self) -> None:
        interval = min(t.options.refresh_s for t in self.targets)
        while True:
            try:
                summary = await self.refresh()
                _LOG.info("switchpoint: learned policy levels refitted from feedback: %s",
                          {k: {g: round(v, 3) for g, v in s["levels"].items()} for k, s in summary.items()})
            except Exception as exc:  # the log may be down: keep the levels, try again later
                self.failures += 1
                if self.refreshes == 0 and self.failures <= _EARLY_TRIES:
                    # at a first start the log is created by the writer's first tick, just after this one
                    _LOG.info("switchpoint: no request log to refit levels from yet (%s); retrying", exc)
                    await self._sleep(min(interval, _EARLY_RETRY))
                    continue
                _LOG.warning("switchpoint: could not refit learned policy levels from the log: %s", exc)
            await self._sleep(interval)

    def start(self) -> None:
        if self._task is None and self.targets:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
