"""Where the CLI commands that read the request log (``stats``, ``export``) find it, and which requests they take.

The database is ``--db URL``, else the ``logs.url`` of ``--config FILE`` (or ``$SWITCHPOINT_CONFIG``;
its default is ``sqlite:///.switchpoint/logs.db``), else that default.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import TYPE_CHECKING

from switchpoint.analytics import Filters
from switchpoint.errors import ConfigError

if TYPE_CHECKING:
    from switchpoint.config.schema import GatewayConfig

__all__ = ["DEFAULT_URL", "add_source_arguments", "filters_of", "log_source", "missing_sqlite"]

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
