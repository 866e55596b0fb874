"""Where the CLI commands that read the request log (``stats``, ``export``) find it, and which requests they take.

The database is ``--db URL``, else the ``logs.url`` of ``--config FILE`` (or ``$SWITCHPOINT_CONFIG``;
its default is ``sqlite:///.switchpoint/logs.db``), else that default.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from switchpoint.analytics import Filters
from switchpoint.errors import ConfigError, InvalidRequest
from switchpoint.storage.store import StoreError

if TYPE_CHECKING:
    from switchpoint.config.schema import GatewayConfig

__all__ = ["DEFAULT_URL", "CommandFailed", "add_source_arguments", "read_log", "resolve"]

T = TypeVar("T")

DEFAULT_URL = "sqlite:///.switchpoint/logs.db"
_FILTERS = ("since", "until", "model", "key", "tag", "team", "router")


def add_source_arguments(parser: argparse.ArgumentParser, *, since: str = "24h") -> None:
    """``--config``/``--db``/``--schema``, the time range and the equality filters."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", "-c", help="config file whose logs.url to read (default: $SWITCHPOINT_CONFIG)")
    where.add_argument("--db", help=f"log database URL: sqlite:///path or postgresql://... (default {DEFAULT_URL})")
    parser.add_argument("--schema", help="Postgres schema of the log tables")
    parser.add_argument(
        "--since", default=since, help=f"start: a time ago (24h, 7d), ISO time or epoch (default {since})"
    )
    parser.add_argument("--until", help="end: same forms as --since (default now)")
    parser.add_argument("--model", help="only this model group or requested model (router)")
    parser.add_argument("--key", help="only this key id")
    parser.add_argument("--tag", help="only requests with this tag")
    parser.add_argument("--team", help="only this team")
    parser.add_argument("--router", help="only requests this router decided")


def log_source(args: argparse.Namespace) -> tuple[str, str | None, GatewayConfig | None]:
    """The database URL, its schema, and the config it came from (None without one)."""
    config_path = args.config or (None if args.db else os.environ.get("SWITCHPOINT_CONFIG"))
    if config_path is None:
        return args.db or DEFAULT_URL, args.schema, None
    from switchpoint.config.load import load_config

    config = load_config(config_path)
    if config.logs.url is None:
        raise ConfigError(f"{config_path}: request logging is off (logs.url is null); pass --db URL")
    return config.logs.url, args.schema or config.logs.pg_schema, config


def filters_of(args: argparse.Namespace) -> Filters:
    """The filters the options give (raises InvalidRequest naming the bad option in ``param``)."""
    params = {k: v for k in _FILTERS if (v := getattr(args, k))}
    return Filters.parse(params, time.time())


def missing_sqlite(url: str) -> str | None:
    """The path of a SQLite log database that does not exist, else None."""
    if url.startswith("sqlite:///") and not os.path.exists(url[len("sqlite:///") :]):
        return url[len("sqlite:///") :]
    return None


class CommandFailed(Exception):
    """What to print (after ``switchpoint: ``) and the exit status: 2 for a usage problem, 1 for a log
    that cannot be read."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def resolve(args: argparse.Namespace) -> tuple[str, str | None, GatewayConfig | None, Filters]:
    """The database URL, its schema, the config and the filters; raises :class:`CommandFailed`."""
    try:
        url, schema, config = log_source(args)
        filters = filters_of(args)
    except ConfigError as exc:
        raise CommandFailed(exc.message, 2) from None
    except InvalidRequest as exc:
        raise CommandFailed(f"--{exc.param}: {exc.message}", 2) from None
    if (path := missing_sqlite(url)) is not None:
        raise CommandFailed(f"no log database at {path} (pass --db or --config)", 1)
    return url, schema, config, filters


def read_log(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` (queries on the log); a store that cannot be read raises :class:`CommandFailed`."""
    try:
        return asyncio.run(work)
    except StoreError as exc:
        raise CommandFailed(f"cannot read the request log: {exc}", 1) from None
