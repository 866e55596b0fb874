"""``switchpoint routes show CONFIG`` and ``switchpoint routes fit CONFIG LABELLED.jsonl``.

``fit`` reads labelled examples, one JSON object a line: ``{"text": "...", "route": "billing"}``
(``prompt`` and ``label`` are accepted too; a null or missing route means "no route should match"),
fits the thresholds of a semantic policy (:func:`switchpoint.routing.semantic.fit_thresholds`) and
prints them with the accuracy before and after, per-route precision and recall, and the YAML to
paste into the config. It changes no file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from switchpoint.errors import ConfigError

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    routes = commands.add_parser("routes", help="inspect routers; fit semantic route thresholds")
    sub = routes.add_subparsers(dest="routes_command", metavar="SUBCOMMAND")
    show = sub.add_parser("show", help="list the routers, their policies and semantic thresholds")
    show.add_argument("config")
    show.add_argument("--json", action="store_true", help="print one JSON document")
    fit = sub.add_parser("fit", help="fit a semantic policy's thresholds from labelled examples")
    fit.add_argument("config")
    fit.add_argument("labelled", help="JSONL: {\"text\": ..., \"route\": name or null} per line")
    fit.add_argument("--router", help="the router (default: the only one with a semantic policy)")
    fit.add_argument("--policy", help="the semantic policy's name (default: the router's only one)")
    fit.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def run(args: argparse.Namespace) -> int:
    from switchpoint.config.build import build_gateway
    from switchpoint.config.load import load_config

    try:
        gateway = build_gateway(load_config(args.config))
    except ConfigError as exc:
        print(f"switchpoint: {exc.message}", file=sys.stderr)
        return 2
    routing = gateway.routing
    if args.routes_command == "show":
        _refit(routing)
        described = routing.describe()
        if args.json:
            print(orjson.dumps(described).decode())
        else:
            for name, router in described.items():
                print(f"router {name}: default {router['default']}; may choose {', '.join(router['targets'])}")
                for policy in router["policies"]:
                    shadow = " (shadow)" if policy["shadow"] else ""
                    print(f"  {policy['kind']} {policy['name']}{shadow}")
                    for route, threshold in (policy.get("thresholds") or {}).items():
                        print(f"    {route}: threshold {threshold:.3f}")
                    if policy.get("levels"):
                        source = policy.get("levels_source") or {}
                        ratings = source.get("ratings") or {}
                        print(f"    levels (from {source.get('from', 'config')}): " + ", ".join(
                            f"{g} {v:+.3f}" + (f" ({ratings[g]} ratings)" if g in ratings else "")
                            for g, v in policy["levels"].items()))
        return 0
    if args.routes_command == "fit":
        return _fit(args, routing)
    print("usage: switchpoint routes {show,fit} ...", file=sys.stderr)
    return 2


def _refit(routing: Any) -> None:
    """Fit adapting policies' levels from the log now, as the gateway would at start (a log that cannot be
    read leaves the configured levels, with a note on stderr)."""
    adapter = routing.adapter
    if adapter is None:
        return

    async def once() -> None:
        try:
            await adapter.refresh()
        finally:
            await adapter.aclose()

    try:
        asyncio.run(once())
    except Exception as exc:  # shown, not fatal: the configured levels are shown instead
        print(f"switchpoint: levels not refitted from the log ({exc}); showing the configured ones", file=sys.stderr)


def _fit(args: argparse.Namespace, routing: Any) -> int:
    from switchpoint.routing.router import Gated
    from switchpoint.routing.semantic import SemanticPolicy, fit_thresholds

    found: list[tuple[str, SemanticPolicy]] = []
    for router in routing.routers.values():
        if args.router and router.name != args.router:
            continue
        for policy in (*router.policies, *router.shadow):
            inner = policy.policy if isinstance(policy, Gated) else policy
            if isinstance(inner, SemanticPolicy) and (not args.policy or inner.name == args.policy):
                found.append((router.name, inner))
    if len(found) != 1:
        what = "no semantic policy matches" if not found else "several semantic policies match"
        print(f"switchpoint: {what}; name one with --router and --policy", file=sys.stderr)
        return 2
    router_name, policy = found[0]
    try:
        examples = _examples(Path(args.labelled))
        routing.analysis.load_sync()  # binds the policy to the embeddings
        result = fit_thresholds(policy, examples)
    except (OSError, ValueError) as exc:
        print(f"switchpoint: {exc}", file=sys.stderr)
        return 2
    finally:
        routing.close()
    print(f"router {router_name}, semantic policy {policy.name}: {result.examples} examples")
    print(f"accuracy {result.accuracy_before:.3f} with the configured thresholds, {result.accuracy:.3f} fitted")
    for route, stats in result.per_route.items():
        print(f"  {route}: threshold {policy.routes[route].threshold:.3f} -> {result.thresholds[route]:.3f}  "
              f"precision {stats['precision']:.3f} recall {stats['recall']:.3f} ({stats['examples']:g} examples)")
    print("config:")
    for route, threshold in result.thresholds.items():
        print(f"  {route}: {{threshold: {threshold:.4f}}}")
    if args.json:
        print(orjson.dumps({"router": router_name, "policy": policy.name, **result.to_dict()}).decode())
    return 0


def _examples(path: Path) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
        text = item.get("text", item.get("prompt")) if isinstance(item, dict) else None
        label = item.get("route", item.get("label")) if isinstance(item, dict) else None
        if not isinstance(text, str) or (label is not None and not isinstance(label, str)):
            raise ValueError(f"{path}:{number}: expected {{\"text\": string, \"route\": string or null}}")
        out.append((text, label or None))
    return out
