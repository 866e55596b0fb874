"""The routing mix, quality from feedback, and what routing saved.

What is read from a request's ``routing`` JSON, the decision the engine records
(:meth:`switchpoint.routing.decision.RouteDecision.to_dict` plus ``features``):

- ``router``: the name of the router that decided. Requests without one are direct traffic.
- ``chosen``: the model group it chose (else the request's ``model_group``).
- ``policy`` and ``kind``: the policy that decided (``kind`` is ``rules``, ``semantic``,
  ``learned``, ``cascade``, or ``default`` when no policy had an opinion).
- ``candidates``: the groups it weighed, objects with a ``group`` (plain names are accepted too).
- ``reason``: the decision's human explanation. Rules give a fixed text; semantic and learned
  reasons carry the scores, so they are grouped by policy rather than by text.
- ``shadow``: the shadow policies' decisions (same shape), recorded but never served.

**Savings.** For each router, the cost had every one of its requests gone to its most expensive
candidate group: the router's recorded prompt and completion tokens priced at each candidate's
per-million prices (:data:`~switchpoint.analytics.queries.Prices`), the highest of these being the
baseline. The candidate groups are every group any of its recorded decisions weighed (shadow
decisions excluded: they never serve). ``savings = baseline - actual`` where ``actual`` is the
recorded cost. Cached-token discounts are not applied to the baseline, and the baseline assumes
the same token counts on every model, so read it as an estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switchpoint.analytics.filters import Filters
from switchpoint.analytics.queries import AGGREGATES, Prices, feedback_by, totals
from switchpoint.analytics.readers import LogReader
from switchpoint.analytics.sql import SqlDialect, as_float, as_int
from switchpoint.types import ModelGroup

__all__ = ["prices_from_groups", "routing_mix", "savings"]

_MAX_REASONS = 8
_NO_FEEDBACK: dict[str, Any] = {"count": 0, "scored": 0, "avg_score": None}


def _router(d: SqlDialect) -> str:
    return f"COALESCE({d.json_text('r.routing', 'router')}, '')"


def _chosen(d: SqlDialect) -> str:
    return f"COALESCE({d.json_text('r.routing', 'chosen')}, r.model_group, '')"


def _routed(d: SqlDialect, where: str) -> str:
    return f"{where} AND {d.json_text('r.routing', 'router')} IS NOT NULL"


def prices_from_groups(groups: Sequence[ModelGroup]) -> dict[str, tuple[float, float]]:
    """Each group's price: the mean over its priced deployments (a group balances across them).
    Groups with no priced deployment are left out."""
    out: dict[str, tuple[float, float]] = {}
    for group in groups:
        priced = [d.price for d in group.deployments if d.price.input or d.price.output]
        if priced:
            out[group.name] = (sum(p.input for p in priced) / len(priced), sum(p.output for p in priced) / len(priced))
    return out


async def routing_mix(reader: LogReader, f: Filters) -> dict[str, Any]:
    """Share of requests per model group overall, and per router: its decisions (share, cost,
    errors, feedback quality per chosen group) and its most frequent reasons."""
    d = reader.dialect
    where, params = f.where(d)
    router, chosen = _router(d), _chosen(d)
    _, rows = await reader.query(
        f"SELECT {router}, {chosen}, {AGGREGATES} FROM requests r WHERE {where} GROUP BY {router}, {chosen}", params
    )
    feedback = await feedback_by(reader, f, [router, chosen])
    group_feedback = await feedback_by(reader, f, [chosen])
    reason = f"COALESCE({d.json_text('r.routing', 'reason')}, '')"
    _, reason_rows = await reader.query(
        f"SELECT {router}, {reason}, COUNT(*) FROM requests r WHERE {where} AND r.routing IS NOT NULL "
        f"GROUP BY {router}, {reason}",
        params,
    )
    router_feedback = await feedback_by(reader, f, [router])
    policy, kind = (f"COALESCE({d.json_text('r.routing', key)}, '')" for key in ("policy", "kind"))
    _, policy_rows = await reader.query(
        f"SELECT {router}, {policy}, {kind}, {chosen}, COUNT(*) FROM requests r WHERE {_routed(d, where)} "
        f"GROUP BY {router}, {policy}, {kind}, {chosen}",
        params,
    )
    s_policy, s_kind, s_chosen = (f"COALESCE({d.item_text('s', key)}, '')" for key in ("policy", "kind", "chosen"))
    _, shadow_rows = await reader.query(
        f"SELECT {router}, {s_policy}, {s_kind}, {s_chosen}, COUNT(*), "
        f"SUM(CASE WHEN {s_chosen} = {chosen} THEN 1 ELSE 0 END) "
        f"FROM requests r, {d.each_item('r.routing', 'shadow', 's')} WHERE {_routed(d, where)} "
        f"GROUP BY {router}, {s_policy}, {s_kind}, {s_chosen}",
        params,
    )

    total = sum(as_int(row[2]) for row in rows)
    groups: dict[str, dict[str, Any]] = {}
    routers: dict[str, dict[str, Any]] = {}
    for row in rows:
        name, group = str(row[0]), str(row[1])
        stats = totals(row[2:])
        summed = groups.setdefault(group, {"model_group": group, "requests": 0, "cost": 0.0})
        summed["requests"] += stats["requests"]
        summed["cost"] += stats["cost"]
        entry = routers.setdefault(name, {"router": name or None, "requests": 0, "cost": 0.0, "errors": 0,
                                          "decisions": [], "reasons": [], "policies": [], "shadow": []})  # fmt: skip
        entry["requests"] += stats["requests"]
        entry["cost"] += stats["cost"]
        entry["errors"] += stats["errors"]
        entry["decisions"].append({
            "model_group": group, "requests": stats["requests"], "cost": stats["cost"],
            "cost_per_request": stats["cost_per_request"], "error_rate": stats["error_rate"],
            "fallback_rate": stats["fallback_rate"], "feedback": feedback.get((name, group), _NO_FEEDBACK),
        })  # fmt: skip
    for row in sorted(reason_rows, key=lambda r: -as_int(r[2])):
        found = routers.get(str(row[0]))
        if found is not None and len(found["reasons"]) < _MAX_REASONS:
            found["reasons"].append({"reason": str(row[1]), "requests": as_int(row[2])})
    _policy_mix(routers, policy_rows)
    _shadow_mix(routers, shadow_rows)
    for name, entry in routers.items():
        n = entry["requests"]
        entry["cost_per_request"] = entry["cost"] / n if n else 0.0
        entry["error_rate"] = entry["errors"] / n if n else 0.0
        entry["feedback"] = router_feedback.get((name,), _NO_FEEDBACK)
        for decision in entry["decisions"]:
            decision["share"] = decision["requests"] / n if n else 0.0
        entry["decisions"].sort(key=lambda e: (-e["requests"], e["model_group"]))
    group_list = []
    for group, summed in groups.items():
        summed["share"] = summed["requests"] / total if total else 0.0
        summed["feedback"] = group_feedback.get((group,), _NO_FEEDBACK)
        group_list.append(summed)
    group_list.sort(key=lambda e: (-e["requests"], e["model_group"]))
    router_list = sorted(routers.values(), key=lambda e: (e["router"] is None, -e["requests"], e["router"] or ""))
    return {"range": f.describe(), "requests": total, "groups": group_list, "routers": router_list}


def _policy_mix(routers: dict[str, dict[str, Any]], rows: Sequence[Sequence[Any]]) -> None:
    """Which policy decided how many of each router's requests, and what it chose."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name, policy, kind, group, count in rows:
        entry = found.setdefault((str(name), str(policy), str(kind)), {
            "policy": str(policy) or None, "kind": str(kind) or None, "requests": 0, "decisions": {}})  # fmt: skip
        entry["requests"] += as_int(count)
        entry["decisions"][str(group)] = entry["decisions"].get(str(group), 0) + as_int(count)
    for (name, _, _), entry in sorted(found.items(), key=lambda item: (-item[1]["requests"], item[0])):
        router = routers.get(name)
        if router is not None:
            entry["share"] = entry["requests"] / router["requests"] if router["requests"] else 0.0
            entry["decisions"] = [{"model_group": g, "requests": n}
                                  for g, n in sorted(entry["decisions"].items(), key=lambda i: (-i[1], i[0]))]
            router["policies"].append(entry)


def _shadow_mix(routers: dict[str, dict[str, Any]], rows: Sequence[Sequence[Any]]) -> None:
    """Per shadow policy of each router: how often it decided, what it would have chosen, and how
    often that was the group actually chosen (``agreement``)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name, policy, kind, group, count, same in rows:
        entry = found.setdefault((str(name), str(policy)), {
            "policy": str(policy) or None, "kind": str(kind) or None, "requests": 0, "agree": 0, "decisions": {}})
        entry["requests"] += as_int(count)
        entry["agree"] += as_int(same)
        entry["decisions"][str(group)] = entry["decisions"].get(str(group), 0) + as_int(count)
    for (name, _), entry in sorted(found.items()):
        router = routers.get(name)
        if router is None:
            continue
        n = entry["requests"]
        entry["agreement"] = entry["agree"] / n if n else None
        entry["share"] = n / router["requests"] if router["requests"] else 0.0
        entry["decisions"] = [{"model_group": g, "requests": k, "share": k / n if n else 0.0}
                              for g, k in sorted(entry["decisions"].items(), key=lambda i: (-i[1], i[0]))]
        router["shadow"].append(entry)


async def savings(reader: LogReader, f: Filters, prices: Prices) -> dict[str, Any]:
    """Per router: recorded cost against the cost of sending all its traffic to its most
    expensive candidate group, with each candidate's counterfactual cost and feedback quality."""
    d = reader.dialect
    where, params = f.where(d)
    router, chosen = _router(d), _chosen(d)
    routed = _routed(d, where)
    _, rows = await reader.query(
        f"SELECT {router}, {chosen}, COUNT(*), SUM(r.prompt_tokens), SUM(r.completion_tokens), SUM(r.cost) "
        f"FROM requests r WHERE {routed} GROUP BY {router}, {chosen}",
        params,
    )
    candidate = d.item_text("c", "group")
    _, candidate_rows = await reader.query(
        f"SELECT DISTINCT {router}, {candidate} FROM requests r, {d.each_item('r.routing', 'candidates', 'c')} "
        f"WHERE {routed} AND {candidate} IS NOT NULL",
        params,
    )
    quality = await feedback_by(reader, f, [chosen])
    router_quality = await feedback_by(reader, f, [router])
    routers: dict[str, dict[str, Any]] = {}
    for name, group, count, prompt, completion, cost in rows:
        entry = routers.setdefault(str(name), {"requests": 0, "prompt": 0, "completion": 0, "cost": 0.0,
                                               "candidates": {}, "chosen": {}})  # fmt: skip
        entry["requests"] += as_int(count)
        entry["prompt"] += as_int(prompt)
        entry["completion"] += as_int(completion)
        entry["cost"] += as_float(cost) or 0.0
        entry["candidates"][str(group)] = None
        entry["chosen"][str(group)] = as_int(count)
    for name, group in sorted(candidate_rows, key=lambda row: (str(row[0]), str(row[1]))):
        found = routers.get(str(name))
        if found is not None:
            found["candidates"].setdefault(str(group), None)
    out = []
    for name, entry in sorted(routers.items()):
        item = _router_savings(name, entry, prices, quality)
        item["quality"] = router_quality.get((name,), _NO_FEEDBACK)
        out.append(item)
    actual = sum(r["actual_cost"] for r in out)
    baseline = sum(r["baseline_cost"] for r in out if r["baseline_cost"] is not None)
    comparable = sum(r["actual_cost"] for r in out if r["baseline_cost"] is not None)
    return {
        "range": f.describe(),
        "routers": out,
        "total": {
            "requests": sum(r["requests"] for r in out),
            "actual_cost": actual,
            "baseline_cost": baseline,
            "savings": baseline - comparable,
            "savings_rate": (baseline - comparable) / baseline if baseline > 0 else None,
        },
    }


def _router_savings(
    name: str, entry: dict[str, Any], prices: Prices, quality: dict[tuple[Any, ...], dict[str, Any]]
) -> dict[str, Any]:
    n, prompt, completion, actual = entry["requests"], entry["prompt"], entry["completion"], entry["cost"]
    candidates = []
    for group in entry["candidates"]:
        price = prices.get(group)
        cost = (prompt * price[0] + completion * price[1]) / 1_000_000 if price else None
        candidates.append({
            "model_group": group, "priced": price is not None, "counterfactual_cost": cost,
            "cost_per_request": cost / n if cost is not None and n else None,
            "chosen_requests": entry["chosen"].get(group, 0),
            "chosen_share": entry["chosen"].get(group, 0) / n if n else 0.0,
            "quality": quality.get((group,), _NO_FEEDBACK),
        })  # fmt: skip
    candidates.sort(key=lambda c: (c["counterfactual_cost"] is None, -(c["counterfactual_cost"] or 0),
                                   c["model_group"]))  # fmt: skip
    top = candidates[0] if candidates and candidates[0]["counterfactual_cost"] is not None else None
    baseline = top["counterfactual_cost"] if top else None
    return {
        "router": name,
        "requests": n,
        "tokens": {"prompt": prompt, "completion": completion},
        "actual_cost": actual,
        "actual_cost_per_request": actual / n if n else 0.0,
        "baseline_group": top["model_group"] if top else None,
        "baseline_cost": baseline,
        "savings": baseline - actual if baseline is not None else None,
        "savings_rate": (baseline - actual) / baseline if baseline else None,
        "candidates": candidates,
    }
