"""``switchpoint stats``: the analytics summary, per-model table, routing mix and savings, read
straight from the log database, as text tables or JSON (``--json``).

The database is ``--db URL``, else the ``logs.url`` of ``--config FILE`` (or ``$SWITCHPOINT_CONFIG``;
its default is ``sqlite:///.switchpoint/logs.db``), else that default. Prices for savings come from the config's
deployments; without a config, savings are reported without a baseline.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from switchpoint.analytics import Filters, Prices, model_table, open_reader, prices_from_groups, routing_mix
from switchpoint.analytics import savings as savings_of
from switchpoint.analytics import summary as summary_of
from switchpoint.cli.logsource import CommandFailed, add_source_arguments, read_log, resolve

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    """Register ``stats`` on the CLI's subcommands."""
    stats = commands.add_parser("stats", help="summarise the request log: traffic, cost, latency, routing, savings")
    add_source_arguments(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON document instead of tables")


async def _collect(url: str, schema: str | None, filters: Filters, prices: Prices) -> dict[str, Any]:
    reader = open_reader(url, schema=schema)
    try:
        return {
            "summary": await summary_of(reader, filters),
            "models": (await model_table(reader, filters, prices=prices))["models"],
            "routing": await routing_mix(reader, filters),
            "savings": await savings_of(reader, filters, prices),
        }
    finally:
        await reader.close()


def run(args: argparse.Namespace) -> int:
    try:
        url, schema, config, filters = resolve(args)
        prices: Prices = {}
        if config is not None:
            from switchpoint.config.build import build_groups

            prices = prices_from_groups(build_groups(config))
        report = read_log(_collect(url, schema, filters, prices))
    except CommandFailed as exc:
        print(f"switchpoint: {exc}", file=sys.stderr)
        return exc.status
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(report))
    return 0


# -- text ------------------------------------------------------------------------------------


def cost(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}" if abs(value) >= 0.0001 else f"${value:.2g}"


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def score(feedback: dict[str, Any]) -> str:
    return f"{feedback['avg_score']:.2f} ({feedback['scored']})" if feedback["scored"] else "-"


def table(headers: Sequence[str] | None, rows: Sequence[Sequence[str]], align: str = "l") -> str:
    """Columns padded to width, aligned by ``align`` (``l``/``r`` per column; the last letter repeats)."""
    lines_in = [*([headers] if headers else []), *rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(*lines_in, strict=True)]
    sides = (align + (align[-1] if len(align) > 1 else "r") * len(widths))[: len(widths)]
    lines = []
    for row in lines_in:
        cells = [str(c).ljust(w) if side == "l" else str(c).rjust(w)
                 for c, w, side in zip(row, widths, sides, strict=True)]  # fmt: skip
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _section(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], align: str, empty: str) -> list[str]:
    return [title, table(headers, rows, align) if rows else f"  ({empty})", ""]


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(report: dict[str, Any]) -> str:
    s = report["summary"]
    r = s["range"]
    filters = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("since", "until", "since_iso", "until_iso"))
    out = [f"switchpoint stats: {_when(r['since'])} to {_when(r['until'])}" + (f" ({filters})" if filters else ""), ""]
    latency, ttft, tokens = s["latency_ms"], s["ttft_ms"], s["tokens"]
    out += _section("Summary", (), [
        ("Requests", f"{s['requests']:,}", "Errors", f"{s['errors']:,} ({pct(s['error_rate'])})"),
        ("Cost", cost(s["cost"]), "Fallbacks", f"{s['fallbacks']:,} ({pct(s['fallback_rate'])})"),
        ("Per request", cost(s["cost_per_request"]), "Tokens in / out",
         f"{tokens['prompt']:,} / {tokens['completion']:,}"),
        ("Latency p50", ms(latency["p50"]), "p90 / p99", f"{ms(latency['p90'])} / {ms(latency['p99'])}"),
        ("TTFT p50", ms(ttft["p50"]), "p90 / p99", f"{ms(ttft['p90'])} / {ms(ttft['p99'])}"),
        ("Feedback", f"{s['feedback']['count']:,}", "Mean score", score(s["feedback"])),
    ], "lrlr", "no requests")  # fmt: skip
    models = [(m["model_group"] or "(none)", f"{m['requests']:,}", pct(m["share"]), pct(m["error_rate"]),
               pct(m["fallback_rate"]), ms(m["latency_ms"]["p50"]), ms(m["latency_ms"]["p90"]),
               ms(m["latency_ms"]["p99"]), f"{m['tokens']['prompt']:,}", f"{m['tokens']['completion']:,}",
               cost(m["cost"]), score(m["feedback"])) for m in report["models"]]  # fmt: skip
    out += _section("Models", ("MODEL GROUP", "REQUESTS", "SHARE", "ERRORS", "FALLBACK", "P50", "P90", "P99",
                               "TOKENS IN", "TOKENS OUT", "COST", "QUALITY"), models, "lr", "no requests")  # fmt: skip
    mix = [(router["router"] or "(direct)", d["model_group"] or "(none)", pct(d["share"]), f"{d['requests']:,}",
            cost(d["cost_per_request"]), pct(d["error_rate"]), score(d["feedback"]))
           for router in report["routing"]["routers"] for d in router["decisions"]]  # fmt: skip
    out += _section("Routing mix", ("ROUTER", "MODEL GROUP", "SHARE", "REQUESTS", "PER REQUEST", "ERRORS", "QUALITY"),
                    mix, "llr", "no requests")  # fmt: skip
    policies = [(router["router"], p["policy"] or "-", p["kind"] or "-", pct(p["share"]), f"{p['requests']:,}",
                 ", ".join(f"{d['model_group']} {d['requests']:,}" for d in p["decisions"]))
                for router in report["routing"]["routers"] for p in router.get("policies", [])]  # fmt: skip
    if policies:
        out += _section("Decided by", ("ROUTER", "POLICY", "KIND", "SHARE", "REQUESTS", "CHOSE"), policies, "lllrrl",
                        "no routed requests")
    shadows = [(router["router"], s["policy"] or "-", s["kind"] or "-", f"{s['requests']:,}", pct(s["agreement"]),
                ", ".join(f"{d['model_group']} {pct(d['share'])}" for d in s["decisions"]))
               for router in report["routing"]["routers"] for s in router.get("shadow", [])]  # fmt: skip
    if shadows:
        out += _section("Shadow policies (decided, never served)",
                        ("ROUTER", "POLICY", "KIND", "REQUESTS", "AGREES", "WOULD CHOOSE"), shadows, "lllrrl", "none")
    saved = [(x["router"], f"{x['requests']:,}", cost(x["actual_cost"]),
              f"{cost(x['baseline_cost'])} ({x['baseline_group']})" if x["baseline_group"] else "- (no prices)",
              cost(x["savings"]), pct(x["savings_rate"])) for x in report["savings"]["routers"]]  # fmt: skip
    out += _section("Savings (against each router's most expensive candidate)",
                    ("ROUTER", "REQUESTS", "SPENT", "BASELINE", "SAVED", "RATE"), saved, "lr", "no routed requests")
    return "\n".join(out).rstrip()
