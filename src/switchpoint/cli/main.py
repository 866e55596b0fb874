"""``switchpoint serve | config check | stats | export | routes | cascade | train | eval | calibrate | --version``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from switchpoint._version import __version__
from switchpoint.errors import ConfigError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchpoint", description="A fast, smart LLM router and gateway.")
    parser.add_argument("--version", action="version", version=f"switchpoint {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway (OpenAI-compatible HTTP API)")
    serve.add_argument(
        "--config", "-c", help="YAML config file (default: $SWITCHPOINT_CONFIG, else from the environment)"
    )
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8400)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")

    config = commands.add_parser("config", help="work with config files")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    check = config_commands.add_parser("check", help="validate a config file and report every problem; starts nothing")
    check.add_argument("file")

    from switchpoint.cli import stats

    stats.add_parser(commands)
    from switchpoint.cli import export

    export.add_parser(commands)
    from switchpoint.cli import routes

    routes.add_parser(commands)
    from switchpoint.cli import cascade

    cascade.add_parser(commands)
    from switchpoint.cli import routing

    routing.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "config" and args.config_command == "check":
        return _check(args.file)
    if args.command == "stats":
        from switchpoint.cli import stats

        return stats.run(args)
    if args.command == "export":
        from switchpoint.cli import export

        return export.run(args)
    if args.command == "routes":
        from switchpoint.cli import routes

        return routes.run(args)
    if args.command == "cascade":
        from switchpoint.cli import cascade

        return cascade.run(args)
    if args.command in ("train", "eval", "calibrate"):
        from switchpoint.cli import routing

        return routing.run(args)
    parser.print_help()
    return 2


def _serve(args: argparse.Namespace) -> int:
    from switchpoint.config.resolve import resolve_config
    from switchpoint.server.run import serve

    try:
        config = resolve_config(
            args.config or os.environ.get("SWITCHPOINT_CONFIG"),
            os.environ,
            host=args.host,
            port=args.port,
            workers=args.workers,
        )
    except ConfigError as exc:
        print(f"switchpoint: {exc.message}", file=sys.stderr)
        return 2
    names = ", ".join(g.name for g in config.models)
    print(
        f"switchpoint {__version__}: serving {names} on http://{config.server.host}:{config.server.port}",
        file=sys.stderr,
    )
    try:
        serve(config)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once its graceful shutdown has finished
        return 130
    return 0


def _check(path: str) -> int:
    """Everything start-up would refuse, without starting anything: the file, the deployments, the routers, and
    what the routers load (learned artifacts and their candidates' profiles, calibration files)."""
    from switchpoint.config.build import build_groups, build_routing
    from switchpoint.config.load import load_config

    try:
        config = load_config(path)
        groups = build_groups(config)
        routing = build_routing(config, groups)
        problems = routing.analysis.check() if routing.needs_analysis else []
        if problems:
            raise ConfigError("\n".join(problems), problems)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    deployments = sum(len(g.deployments) for g in groups)
    print(f"{path}: ok ({len(groups)} model groups, {deployments} deployments)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
