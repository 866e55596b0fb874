"""``switchpoint cascade calibrate``: pick a cascade threshold from the gateway's own request log.

Reads every scored cascade step of ``--group`` (the cheap answer's confidence, logged as the
attempt's ``score``) and the feedback on those requests, then chooses the threshold for one
target: ``--target-escalation R`` (escalate at most R of the answers) or ``--target-quality Q``
(at least Q of the kept cheap answers rated positive). See
:mod:`switchpoint.balancing.calibration` for the method and ``docs/reliability.md`` for an example.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

import orjson

from switchpoint.analytics.filters import Filters
from switchpoint.analytics.readers import open_reader
from switchpoint.balancing.calibration import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_MIN_LABELS,
    DEFAULT_MIN_SAMPLES,
    CalibrationError,
    LoggedSteps,
    ThresholdChoice,
    choose_threshold,
    load_steps,
)
from switchpoint.cli.stats import pct, table
from switchpoint.errors import InvalidRequest
from switchpoint.storage.store import StoreError

__all__ = ["add_parser", "run"]


def _share(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (or 0% and 100%), not {text!r}")
    return value


def add_parser(commands: Any) -> None:
    """Register ``cascade calibrate`` on the CLI's subcommands."""
    cascade = commands.add_parser("cascade", help="work with low-confidence escalation (cascade)")
    sub = cascade.add_subparsers(dest="cascade_command", metavar="SUBCOMMAND")
    calibrate = sub.add_parser(
        "calibrate",
        help="choose a cascade threshold from the request log: scores and feedback",
        description="Choose the cascade threshold of a group from its logged scores and the feedback on them.",
    )
    calibrate.add_argument("--log", required=True, help="log database URL: sqlite:///path or postgresql://...")
    calibrate.add_argument("--schema", help="Postgres schema of the log tables")
    calibrate.add_argument("--group", required=True, help="the cheap group whose cascade to calibrate")
    target = calibrate.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--target-escalation",
        type=_share,
        metavar="RATE",
        help="escalate at most this share of the answers (0.3 or 30%%)",
    )
    target.add_argument(
        "--target-quality",
        type=_share,
        metavar="SHARE",
        help="kept cheap answers must be at least this share positive (0.9 or 90%%)",
    )
    calibrate.add_argument("--since", default="30d", help="start: a time ago (7d), ISO time or epoch (default 30d)")
    calibrate.add_argument("--until", help="end: same forms as --since (default now)")
    calibrate.add_argument(
        "--min-labels",
        type=int,
        default=DEFAULT_MIN_LABELS,
        help=f"rated answers a quality figure needs (default {DEFAULT_MIN_LABELS})",
    )
    calibrate.add_argument(
        "--min-samples",
        type=int,
        default=DEFAULT_MIN_SAMPLES,
        help=f"scored answers needed at all (default {DEFAULT_MIN_SAMPLES})",
    )
    calibrate.add_argument(
        "--positive-min",
        type=float,
        default=0.5,
        help="a feedback score from this value is positive (default 0.5); without a score, "
        "labels such as good/bad, correct/wrong, thumbs_up/thumbs_down decide",
    )
    calibrate.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_BOOTSTRAP,
        help=f"bootstrap resamples for the intervals (default {DEFAULT_BOOTSTRAP})",
    )
    calibrate.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    calibrate.add_argument("--json", action="store_true", help="print one JSON document")


async def _load(args: argparse.Namespace, filters: Filters) -> LoggedSteps:
    reader = open_reader(args.log, schema=args.schema)
    try:
        return await load_steps(reader, args.group, filters, positive_min=args.positive_min)
    finally:
        await reader.close()


def run(args: argparse.Namespace) -> int:
    if getattr(args, "cascade_command", None) != "calibrate":
        print("usage: switchpoint cascade calibrate --log URL --group NAME "
              "(--target-escalation RATE | --target-quality SHARE)", file=sys.stderr)  # fmt: skip
        return 2
    try:
        params = {k: v for k in ("since", "until") if (v := getattr(args, k))}
        filters = Filters.parse(params, time.time())
    except InvalidRequest as exc:
        print(f"switchpoint: --{exc.param}: {exc.message}", file=sys.stderr)
        return 2
    if args.log.startswith("sqlite:///") and not os.path.exists(args.log[len("sqlite:///") :]):
        print(f"switchpoint: no log database at {args.log[len('sqlite:///') :]}", file=sys.stderr)
        return 1
    try:
        logged = asyncio.run(_load(args, filters))
    except StoreError as exc:
        print(f"switchpoint: cannot read the request log: {exc}", file=sys.stderr)
        return 1
    try:
        choice = choose_threshold(
            logged.steps, target_escalation=args.target_escalation, target_quality=args.target_quality,
            min_labels=args.min_labels, min_samples=args.min_samples, bootstrap=args.bootstrap, seed=args.seed,
        )  # fmt: skip
    except CalibrationError as exc:
        print(f"switchpoint: cannot calibrate the cascade of {args.group!r}: {exc}", file=sys.stderr)
        return 1
    report = _report(args.group, filters, logged, choice)
    if args.json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(report))
    return 0


def _most(counts: dict[Any, int]) -> Any:
    return max(counts, key=lambda k: counts[k]) if counts else None


def _report(group: str, filters: Filters, logged: LoggedSteps, choice: ThresholdChoice) -> dict[str, Any]:
    steps = logged.steps
    rated = [s for s in steps if s.positive is not None]
    next_group = _most(logged.next_groups)
    snippet = (f"models:\n  - name: {group}\n    cascade: {{next: {next_group or '<next group>'}, "
               f"threshold: {choice.threshold:g}}}  # keep your other cascade settings")  # fmt: skip
    return {
        "group": group,
        "range": filters.describe(),
        "log": {
            "scored": len(steps),
            "escalated": logged.escalated,
            "escalation_rate": logged.escalated / len(steps) if steps else 0.0,
            "threshold_in_force": _most(logged.thresholds),
            "next_group": next_group,
            "rated_kept": len(rated),
            "positive_rate": sum(bool(s.positive) for s in rated) / len(rated) if rated else None,
        },
        **choice.as_dict(),
        "config": snippet,
    }


def _span(interval: list[float] | None, fmt: Any) -> str:
    return f"95% interval {fmt(interval[0])}–{fmt(interval[1])}" if interval else ""


def _threshold(value: float) -> str:
    return f"{value:g}"


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") + " UTC"


def _unknown(report: dict[str, Any]) -> str:
    """Why the kept quality at the chosen threshold is unknown."""
    floor = report["min_evaluable"]
    if floor is None:
        return "the highest-scoring answers were escalated: no threshold keeps only answers the client saw"
    if report["threshold"] < floor:
        return f"answers scoring under {floor:g} were escalated, so their cheap answers were never rated"
    return "no kept answer at this threshold was rated"


def render(report: dict[str, Any]) -> str:
    log = report["log"]
    since, until = report["range"]["since_iso"], report["range"]["until_iso"]
    goal = (f"escalate at most {pct(report['target_value'])}" if report["target"] == "escalation"
            else f"kept cheap answers at least {pct(report['target_value'])} positive")  # fmt: skip
    in_force = f" at threshold {log['threshold_in_force']:g}" if log["threshold_in_force"] is not None else ""
    positive = f", {pct(log['positive_rate'])} positive" if log["positive_rate"] is not None else ""
    if report["quality"] is not None:
        quality = (pct(report["quality"]), f"{_span(report['quality_interval'], pct)}, "
                                           f"from {report['rated_kept']} rated answers")  # fmt: skip
    else:
        quality = ("unknown", _unknown(report))
    logged = [
        ("Scored cheap answers", f"{log['scored']:,}", f"escalated {log['escalated']:,} "
                                                       f"({pct(log['escalation_rate'])}){in_force}"),
        ("Rated kept answers", f"{log['rated_kept']:,}", positive.lstrip(", ")),
    ]  # fmt: skip
    chosen = [
        ("Threshold", _threshold(report["threshold"]), _span(report["threshold_interval"], _threshold)),
        ("Escalation rate", pct(report["escalation_rate"]), _span(report["escalation_interval"], pct)),
        ("Kept quality", *quality),
    ]
    out = [f"switchpoint cascade calibrate: group {report['group']}, {_when(since)} to {_when(until)}", "",
           "In the log", table(None, logged, "lrl"), "", f"For the target ({goal})", table(None, chosen, "lrl"),
           ""]  # fmt: skip
    if report["bootstrap_unreached"]:
        out.append(f"In {pct(report['bootstrap_unreached'])} of {report['bootstrap']} bootstrap resamples no "
                   "threshold reached the target: it rests on few rated answers.")  # fmt: skip
    interval = report["quality_interval"]
    if report["target"] == "quality" and interval and interval[0] < report["target_value"]:
        out.append(f"The estimate meets the target; its 95% interval reaches down to {pct(interval[0])}. "
                   "More rated answers narrow it.")  # fmt: skip
    if report["target"] == "quality" and report["threshold"] == report["min_evaluable"] and log["escalated"]:
        out.append(f"The target is met at the lowest threshold the log can judge ({report['min_evaluable']:g}); "
                   "it may be met lower too: answers under it were escalated and never rated.")  # fmt: skip
    if out[-1]:
        out.append("")
    out += ["Config:", *("  " + line for line in report["config"].splitlines())]
    return "\n".join(out)
