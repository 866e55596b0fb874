"""The routing analytics read the decision shape the router records, on SQLite and Postgres:
candidates as objects (and, leniently, as plain names), shadow decisions kept apart from the
savings baseline, and semantic/learned decisions (whose reasons carry scores) grouped by policy."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from switchpoint.analytics import routing
from switchpoint.analytics.filters import Filters
from switchpoint.analytics.readers import PostgresReader, SQLiteReader
from switchpoint.routing.decision import Candidate, RouteDecision
from switchpoint.storage.records import AttemptRecord, RequestRecord
from tests.storage.support import PG_URL, StoreTarget

from .conftest import approx

PRICES = {"small": (0.1, 0.2), "large": (3.0, 6.0), "premium": (30.0, 60.0)}


def _record(i: int, now: float, routing_: dict[str, Any] | None, group: str) -> RequestRecord:
    price = PRICES.get(group, (0.0, 0.0))
    return RequestRecord(
        request_id=f"shape-{i:02d}", created=now - 10 - i, model="smart", stream=False, group=group,
        deployment=f"{group}-1", status=200, latency_ms=100.0, prompt_tokens=1000, completion_tokens=100,
        cost=(1000 * price[0] + 100 * price[1]) / 1_000_000, finish_reason="stop",
        attempts=[AttemptRecord(f"{group}-1", "openai", started=now - 10 - i, latency_ms=100.0)], routing=routing_,
    )  # fmt: skip


def _semantic(i: int, group: str) -> dict[str, Any]:
    score = 0.5 + i / 100
    decision = RouteDecision(group, "topics", "semantic", f"semantic route '{group}-talk' ({score:.2f} >= 0.40)",
                             [Candidate(group, True, "best route", score), Candidate("small", False, "lower", 0.1)],
                             router="smart")  # fmt: skip
    # A shadow policy that would have sent everything to 'premium': never served, so never the baseline.
    decision.shadow.append(RouteDecision("premium", "try-premium", "rules", "rule 1: true",
                                         [Candidate("premium", True, "rule 1 matched", 1.0)], router="smart"))
    return decision.to_dict()


def _records(now: float) -> list[RequestRecord]:
    out = [_record(i, now, _semantic(i, "large" if i % 3 == 0 else "small"), "large" if i % 3 == 0 else "small")
           for i in range(9)]  # fmt: skip
    legacy = {"router": "smart", "chosen": "small", "reason": "old", "candidates": ["small", "large"]}
    out.append(_record(9, now, legacy, "small"))  # candidates as plain names, as older records had them
    default = RouteDecision("small", "default", "default", "no policy matched: default",
                            [Candidate("small", True, "the router's default")], router="smart").to_dict()
    out.append(_record(10, now, default, "small"))
    return out


def _run(target: StoreTarget, records: list[RequestRecord], query: Any) -> Any:
    async def main() -> Any:
        store = target.make()
        try:
            await store.migrate()
            await store.write(records)
        finally:
            await store.close()
        reader = SQLiteReader(target.path) if target.kind == "sqlite" else PostgresReader(PG_URL, schema=target.schema)
        try:
            return await query(reader)
        finally:
            await reader.close()

    return asyncio.run(main())


def test_policies_shadow_and_savings_from_recorded_decisions(target: StoreTarget) -> None:
    now = time.time()
    records = _records(now)
    f = Filters.parse({"since": "1h"}, now)

    async def both(reader: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return await routing.routing_mix(reader, f), await routing.savings(reader, f, PRICES)

    mix, saved = _run(target, records, both)
    (smart,) = mix["routers"]
    policies = {(p["policy"], p["kind"]): p for p in smart["policies"]}
    # Nine semantic decisions with nine different reasons are one policy row; the legacy record has none.
    assert policies[("topics", "semantic")]["requests"] == 9
    assert {d["model_group"]: d["requests"] for d in policies[("topics", "semantic")]["decisions"]} == {
        "small": 6, "large": 3}
    assert policies[("default", "default")]["requests"] == 1 and policies[(None, None)]["requests"] == 1
    (shadow,) = smart["shadow"]
    assert (shadow["policy"], shadow["requests"], shadow["agree"], shadow["agreement"]) == ("try-premium", 9, 0, 0.0)
    assert shadow["decisions"] == [{"model_group": "premium", "requests": 9, "share": 1.0}]

    (router,) = saved["routers"]
    assert sorted(c["model_group"] for c in router["candidates"]) == ["large", "small"]  # not the shadow's premium
    assert router["baseline_group"] == "large"
    actual = sum(r.cost for r in records)
    baseline = len(records) * (1000 * 3.0 + 100 * 6.0) / 1_000_000
    assert router["actual_cost"] == approx(actual) and router["baseline_cost"] == approx(baseline)
    assert router["savings"] == approx(baseline - actual)
