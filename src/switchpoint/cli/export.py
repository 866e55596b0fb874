"""``switchpoint export``: logged requests with feedback, as routing-quality data (JSONL) to train or
evaluate a router on your own traffic (``analytics/routing_data.py``; docs/routing.md, "Training on
your own traffic").

The rows go to ``--out FILE`` (or stdout); a summary of what was exported and what was left out,
and why, goes to stderr. Usage problems print ``switchpoint: <message>`` and exit with 2; an
unreadable log exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from switchpoint.analytics import Filters, open_reader
from switchpoint.analytics.routing_data import ExportError, ExportOptions, ExportReport, export_routing_rows
from switchpoint.cli.logsource import CommandFailed, add_source_arguments, read_log, resolve

if TYPE_CHECKING:
    from switchpoint.config.schema import GatewayConfig

__all__ = ["add_parser", "profile_aliases", "run"]


def add_parser(commands: Any) -> None:
    """Register ``export`` on the CLI's subcommands."""
    export = commands.add_parser(
        "export", help="export logged requests with feedback as routing-quality data (JSONL) for train/eval"
    )
    add_source_arguments(export, since="30d")
    export.add_argument("--out", "-o", default="-", metavar="FILE.jsonl", help="where to write the rows (- : stdout)")
    export.add_argument(
        "--score-range", default="0,1", metavar="LOW,HIGH",
        help="the range your feedback scores use, mapped onto 0..1 (default 0,1; e.g. 1,5 or -1,1)",
    )
    export.add_argument(
        "--label", action="append", default=[], metavar="LABEL=SCORE",
        help="count feedback with this label as this 0..1 score (repeatable: --label good=1 --label bad=0)",
    )
    export.add_argument(
        "--models", choices=("group", "upstream"), default="group",
        help="name each score's model by its model group (default) or the upstream model that answered",
    )
    export.add_argument("--dataset", default="logged", help="the rows' dataset name (default logged)")


def _options(args: argparse.Namespace, aliases: dict[str, str]) -> ExportOptions:
    try:
        low, high = (float(x) for x in args.score_range.split(","))
    except ValueError:
        raise ValueError(f"--score-range must be LOW,HIGH (two numbers), not {args.score_range!r}") from None
    labels: dict[str, float] = {}
    for item in args.label:
        label, sep, value = item.partition("=")
        try:
            labels[label] = float(value)
        except ValueError:
            sep = ""
        if not sep or not label:
            raise ValueError(f"--label must be LABEL=SCORE (a number 0..1), not {item!r}")
    return ExportOptions((low, high), labels, args.models, aliases, args.dataset)


def profile_aliases(config: GatewayConfig) -> dict[str, str]:
    """Model group -> the profile a learned policy of the config ranks it under, where one is set."""
    aliases: dict[str, str] = {}
    for router in config.routers.values():
        for policy in (*router.policies, *router.shadow):
            for group, candidate in (policy.candidates or {}).items():
                if candidate.profile:
                    aliases.setdefault(group, candidate.profile)
    return aliases


async def _export(url: str, schema: str | None, filters: Filters, options: ExportOptions
                  ) -> tuple[list[dict[str, Any]], ExportReport]:  # fmt: skip
    reader = open_reader(url, schema=schema)
    try:
        return await export_routing_rows(reader, filters, options)
    finally:
        await reader.close()


def _write(rows: list[dict[str, Any]], out: IO[bytes]) -> None:
    for row in rows:
        out.write(orjson.dumps(row) + b"\n")


def _summary(report: ExportReport, where: str) -> str:
    lines = [f"exported {report.rows:,} rows from {report.exported:,} of {report.with_feedback:,} requests "
             f"with feedback to {where}"]  # fmt: skip
    if report.models:
        lines.append("  per model: " + ", ".join(f"{m} {n:,}" for m, n in sorted(report.models.items())))
    left = [(report.no_content, "kept no messages (logs.store_content was off)"),
            (report.failed, "failed (no answer to score)"),
            (report.no_score, "had feedback without a score or a --label mapping"),
            (report.no_prompt, "had no user text"), (report.no_model, "name no model")]  # fmt: skip
    lines += [f"  left out: {n:,} {why}" for n, why in left if n]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        url, schema, config, filters = resolve(args)
        try:
            options = _options(args, profile_aliases(config) if config is not None else {})
        except ValueError as exc:
            raise CommandFailed(str(exc), 2) from None
        try:
            rows, report = read_log(_export(url, schema, filters, options))
        except ExportError as exc:
            raise CommandFailed(str(exc), 2) from None
        where = "stdout" if args.out == "-" else args.out
        try:
            if args.out == "-":
                _write(rows, sys.stdout.buffer)
                sys.stdout.flush()
            else:
                with Path(args.out).open("wb") as out:
                    _write(rows, out)
        except OSError as exc:
            raise CommandFailed(f"cannot write {args.out}: {exc.strerror or exc}", 1) from None
    except CommandFailed as exc:
        print(f"switchpoint: {exc}", file=sys.stderr)
        return exc.status
    print(_summary(report, where), file=sys.stderr)
    return 0
