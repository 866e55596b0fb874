"""Known traffic for the analytics, admin API and dashboard tests, and a plain-Python reference
for what the SQL should compute from it.

Sixty requests over the last ~23 hours: a router ``auto`` choosing between ``cheap`` and
``strong`` (with its decision, candidates, reason and features in ``routing``), plus direct
traffic to ``strong``; two keys, two teams, tags, streamed requests with TTFT, failures and
fallbacks, and feedback on some routed requests.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchpoint.analysis.features import LanguageResult, RequestFeatures, TaskTypeResult
from switchpoint.routing.decision import Candidate, RouteDecision
from switchpoint.storage.records import AttemptRecord, RequestRecord
from switchpoint.storage.store import LogStore

PRICES: dict[str, tuple[float, float]] = {"cheap": (0.15, 0.60), "strong": (2.50, 10.00)}
SEED_COUNT = 60
SPACING = 23 * 60.0  # seconds between seeded requests


def _routing(i: int, chosen: str) -> dict[str, Any]:
    """What the engine records for a routed request: the router's decision (``RouteDecision.to_dict``)
    plus the analysis ``features``. A rules policy on complexity decides; every other request also
    carries a shadow ``learned`` decision (recorded, never served)."""
    complexity = round((i % 10) / 10 + 0.05, 2)
    prompt = 200 + 10 * i
    costs = {g: (prompt * PRICES[g][0] + 256 * PRICES[g][1]) / 1_000_000 for g in PRICES}
    strong = chosen == "strong"
    decision = RouteDecision(
        chosen, "complexity-threshold", "rules", "complexity>=0.5" if strong else "complexity<0.5",
        [Candidate("strong", strong, "rule 1 matched" if strong else "rule 1 did not match", 1.0 if strong else 0.0,
                   costs["strong"]),
         Candidate("cheap", not strong, "rule 2 not evaluated: rule 1 matched first" if strong else "rule 2 matched",
                   None if strong else 1.0, costs["cheap"])],
        router="auto", detail={"rule": 1 if strong else 2, "when": "features.complexity >= 0.5"},
        analysis_ms=1.5, decision_ms=0.02)  # fmt: skip
    if i % 2:
        hard = complexity >= 0.65
        decision.shadow.append(RouteDecision(
            "strong" if hard else "cheap", "quality-model", "learned", f"learned (threshold=0.3): q={complexity}",
            [Candidate("strong", hard, "gap >= threshold" if hard else "gap < threshold", complexity, costs["strong"],
                       0.9),
             Candidate("cheap", not hard, "cheaper and good enough" if not hard else "lost on the threshold",
                       -complexity, costs["cheap"], round(0.9 - complexity / 2, 4))],
            router="auto"))  # fmt: skip
    features = RequestFeatures(
        task_type=TaskTypeResult("coding" if i % 2 else "writing",
                                 {"coding": 0.8, "writing": 0.2} if i % 2 else {"coding": 0.2, "writing": 0.8}),
        language=LanguageResult("en", 0.98), complexity=complexity, prompt_tokens=prompt, messages=1, turns=1,
        model="auto", tags=("prod",))  # fmt: skip
    return {**decision.to_dict(), "features": features.to_dict()}


def seed_records(now: float) -> list[RequestRecord]:
    records = []
    for i in range(SEED_COUNT):
        created = now - 60.0 - i * SPACING
        routed = i % 3 != 0
        group = ("strong" if i % 5 == 0 else "cheap") if routed else "strong"
        price = PRICES[group]
        failed = i % 13 == 7
        prompt, completion = (0, 0) if failed else (200 + 10 * i, 50 + i)
        latency = (300.0 + 7 * i) if group == "cheap" else (900.0 + 11 * i)
        stream = i % 2 == 0
        ttft = latency / 4 if stream and not failed else None
        attempts = [AttemptRecord(f"{group}-1", "openai", started=created, latency_ms=latency, ttft_ms=ttft,
                                  status="error" if failed else "ok",
                                  error_class="ProviderHTTPError" if failed else None)]  # fmt: skip
        if i % 11 == 4:  # a fallback: the first deployment was rate limited
            attempts.insert(0, AttemptRecord(f"{group}-0", "openai", started=created, latency_ms=40.0, status="error",
                                             error_class="ProviderRateLimited", status_code=429))  # fmt: skip
            attempts[1].reason = "fallback"
            attempts[1].started = created + 0.05
        records.append(RequestRecord(
            request_id=f"seed-{i:03d}", created=created, model="auto" if routed else "strong", stream=stream,
            group=group, deployment=f"{group}-1", upstream_model=f"up-{group}", status=502 if failed else 200,
            error_class="ProviderHTTPError" if failed else None, latency_ms=latency, ttft_ms=ttft,
            prompt_tokens=prompt, completion_tokens=completion, cached_tokens=20 if i % 4 == 1 and not failed else 0,
            cost=(prompt * price[0] + completion * price[1]) / 1_000_000, finish_reason=None if failed else "stop",
            tags=("prod", "eval") if i % 4 == 0 else ("prod",), user=f"user-{i % 5}", attempts=attempts,
            key_id="key-alpha" if i % 2 else "key-beta", team="search" if i % 3 == 1 else "support",
            routing=_routing(i, group) if routed else None,
        ))  # fmt: skip
    return records


def seed_feedback() -> list[tuple[str, float | None, str | None, str | None]]:
    """(request id, score, label, comment): every routed request whose index is a multiple of 4 or 5."""
    out: list[tuple[str, float | None, str | None, str | None]] = []
    for i in range(SEED_COUNT):
        if i % 3 != 0 and (i % 4 == 0 or i % 5 == 0):
            strong = i % 5 == 0
            out.append((f"seed-{i:03d}", 0.9 if strong else 0.6, "good" if strong else "ok", None))
    return out


async def seed(store: LogStore, now: float) -> list[RequestRecord]:
    records = seed_records(now)
    await store.migrate()
    await store.write(records)
    for request_id, score, label, comment in seed_feedback():
        await store.add_feedback(request_id, score, label, comment)
    return records


def seed_sync(store: LogStore, now: float) -> list[RequestRecord]:
    async def main() -> list[RequestRecord]:
        try:
            return await seed(store, now)
        finally:
            await store.close()

    return asyncio.run(main())


# -- reference computations ------------------------------------------------------------------


def nearest_rank(values: Iterable[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(q * len(ordered) - 1e-9)) - 1]


def is_error(r: RequestRecord) -> bool:
    return r.status >= 400 or r.error_class is not None


@dataclass(frozen=True)
class Expected:
    requests: int
    errors: int
    fallbacks: int
    prompt: int
    completion: int
    cost: float
    p50: float | None
    p90: float | None
    p99: float | None
    ttft_p50: float | None


def expected(records: Sequence[RequestRecord]) -> Expected:
    latencies = [r.latency_ms for r in records]
    ttfts = [r.ttft_ms for r in records if r.ttft_ms is not None]
    return Expected(
        requests=len(records),
        errors=sum(is_error(r) for r in records),
        fallbacks=sum(len(r.attempts) > 1 for r in records),
        prompt=sum(r.prompt_tokens for r in records),
        completion=sum(r.completion_tokens for r in records),
        cost=sum(r.cost for r in records),
        p50=nearest_rank(latencies, 0.5),
        p90=nearest_rank(latencies, 0.9),
        p99=nearest_rank(latencies, 0.99),
        ttft_p50=nearest_rank(ttfts, 0.5),
    )


def routed_savings(records: Sequence[RequestRecord]) -> tuple[float, float]:
    """(actual, baseline) for router ``auto``: the baseline prices its tokens at ``strong``."""
    routed = [r for r in records if r.routing is not None]
    actual = sum(r.cost for r in routed)
    prompt = sum(r.prompt_tokens for r in routed)
    completion = sum(r.completion_tokens for r in routed)
    return actual, (prompt * PRICES["strong"][0] + completion * PRICES["strong"][1]) / 1_000_000


# -- gateway configs ---------------------------------------------------------------------------


def analytics_config(
    api_base: str = "http://127.0.0.1:9/v1", *, master_key: str | None = None, db: Path | None = None
) -> dict[str, Any]:
    """Groups ``cheap`` and ``strong`` at :data:`PRICES` (the routed traffic's candidates), and the
    request log in the SQLite file ``db`` (none without it). Serve it with ``ServedGateway``."""
    return {
        "server": {"master_key": master_key} if master_key else {},
        "logs": {"url": f"sqlite:///{db}", "spool_dir": None, "flush_ms": 20} if db else {"url": None},
        "models": [
            {"name": name, "provider": "openai_compat", "model": f"up-{name}", "api_base": api_base,
             "api_key": "sk-upstream-secret-0123456789", "input_cost_per_mtok": price[0],
             "output_cost_per_mtok": price[1]}
            for name, price in PRICES.items()
        ],
    }  # fmt: skip
