"""The log schema, as ordered, named migrations. One schema for SQLite and Postgres.

Each migration is a plain function ``mNNN_what(dialect) -> list[str]`` returning the SQL
statements to run. A store applies, in order, every migration whose name is not yet in the
``_switchpoint_migrations`` table, each in its own transaction together with the insert of its
name, under the store's migration lock (SQLite ``BEGIN IMMEDIATE``, a Postgres advisory lock).
Running ``migrate()`` twice, or from several worker processes at once, is therefore harmless.

Rules: never edit or reorder a migration that has shipped; add a new one at the end. Migrations
only add (tables, columns, indexes) or replace an index with one that serves the same queries; an
old gateway keeps writing to a newer schema.

Times are epoch seconds (``DOUBLE PRECISION``) and ``day`` is the UTC ``YYYY-MM-DD`` of
``created``, computed by the writer, so that rollups and retention need no date functions that
differ between the two databases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from switchpoint.storage.rows import Dialect

__all__ = ["MIGRATIONS", "MIGRATIONS_TABLE", "Migration", "create_migrations_table_sql", "names", "pending"]

Migration = Callable[[Dialect], list[str]]

MIGRATIONS_TABLE = "_switchpoint_migrations"


def create_migrations_table_sql() -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
        "(name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
    )


def m001_requests_and_attempts(d: Dialect) -> list[str]:
    return [
        f"""CREATE TABLE requests (
            request_id TEXT PRIMARY KEY,
            created DOUBLE PRECISION NOT NULL,
            finished DOUBLE PRECISION NOT NULL,
            day TEXT NOT NULL,
            key_id TEXT,
            team TEXT,
            user_id TEXT,
            tags {d.json_type},
            model TEXT NOT NULL,
            model_group TEXT,
            deployment TEXT,
            upstream_model TEXT,
            routing {d.json_type},
            stream BOOLEAN NOT NULL,
            status INTEGER NOT NULL,
            error_class TEXT,
            finish_reason TEXT,
            client_disconnected BOOLEAN NOT NULL,
            incomplete BOOLEAN NOT NULL,
            latency_ms DOUBLE PRECISION NOT NULL,
            ttft_ms DOUBLE PRECISION,
            prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            cached_tokens BIGINT NOT NULL,
            cost DOUBLE PRECISION NOT NULL,
            attempt_count INTEGER NOT NULL
        )""",
        "CREATE INDEX requests_created ON requests (created)",
        """CREATE TABLE attempts (
            request_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            deployment TEXT NOT NULL,
            provider TEXT NOT NULL,
            start_offset_ms DOUBLE PRECISION NOT NULL,
            latency_ms DOUBLE PRECISION NOT NULL,
            ttft_ms DOUBLE PRECISION,
            status TEXT NOT NULL,
            error_class TEXT,
            reason TEXT NOT NULL,
            PRIMARY KEY (request_id, idx)
        )""",
    ]


def m002_feedback(d: Dialect) -> list[str]:
    return [
        """CREATE TABLE feedback (
            feedback_id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            score DOUBLE PRECISION,
            label TEXT,
            comment TEXT
        )""",
        "CREATE INDEX feedback_request ON feedback (request_id)",
        "CREATE INDEX feedback_created ON feedback (created)",
    ]


def m003_daily_rollups(d: Dialect) -> list[str]:
    return [
        """CREATE TABLE daily_rollups (
            day TEXT NOT NULL,
            model_group TEXT NOT NULL,
            deployment TEXT NOT NULL,
            requests BIGINT NOT NULL,
            errors BIGINT NOT NULL,
            prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            cached_tokens BIGINT NOT NULL,
            cost DOUBLE PRECISION NOT NULL,
            latency_ms_sum DOUBLE PRECISION NOT NULL,
            latency_ms_max DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (day, model_group, deployment)
        )""",
        "CREATE INDEX requests_day ON requests (day)",
    ]


def m004_request_content(d: Dialect) -> list[str]:
    return [f"ALTER TABLE requests ADD COLUMN content {d.json_type}"]


def m005_request_key_team_indexes(d: Dialect) -> list[str]:
    return [
        "CREATE INDEX requests_key_created ON requests (key_id, created)",
        "CREATE INDEX requests_team_created ON requests (team, created)",
    ]


def m006_attempt_details(d: Dialect) -> list[str]:
    """Per-attempt resilience detail: the group it ran in, failure kind, upstream status and
    Retry-After, backoff, half-open probe, what it billed, and a cascade step's confidence score."""
    columns = (
        "model_group TEXT", "error_kind TEXT", "status_code INTEGER", "retry_after DOUBLE PRECISION",
        "backoff_ms DOUBLE PRECISION NOT NULL DEFAULT 0", "probe BOOLEAN NOT NULL DEFAULT FALSE",
        "prompt_tokens BIGINT NOT NULL DEFAULT 0", "completion_tokens BIGINT NOT NULL DEFAULT 0",
        "cached_tokens BIGINT NOT NULL DEFAULT 0", "cost DOUBLE PRECISION NOT NULL DEFAULT 0",
        "usage_estimated BOOLEAN NOT NULL DEFAULT FALSE", "score DOUBLE PRECISION",
    )  # fmt: skip
    return [f"ALTER TABLE attempts ADD COLUMN {column}" for column in columns]


def m007_partial_key_team_indexes(d: Dialect) -> list[str]:
    """Index keys and teams only where they are set. Most gateways run without virtual keys or
    teams, and a full index then costs every insert a B-tree update for NULL; a query by key or team
    (``key_id = ?``) implies ``IS NOT NULL``, so both databases still use these."""
    return [
        "DROP INDEX IF EXISTS requests_key_created",
        "DROP INDEX IF EXISTS requests_team_created",
        "CREATE INDEX requests_key_created_set ON requests (key_id, created) WHERE key_id IS NOT NULL",
        "CREATE INDEX requests_team_created_set ON requests (team, created) WHERE team IS NOT NULL",
    ]


_ATTEMPT_TYPES = (
    ("idx", "INTEGER"), ("deployment", "TEXT"), ("provider", "TEXT"), ("start_offset_ms", "DOUBLE PRECISION"),
    ("latency_ms", "DOUBLE PRECISION"), ("ttft_ms", "DOUBLE PRECISION"), ("status", "TEXT"), ("error_class", "TEXT"),
    ("reason", "TEXT"), ("model_group", "TEXT"), ("error_kind", "TEXT"), ("status_code", "INTEGER"),
    ("retry_after", "DOUBLE PRECISION"), ("backoff_ms", "DOUBLE PRECISION"), ("probe", "BOOLEAN"),
    ("prompt_tokens", "BIGINT"), ("completion_tokens", "BIGINT"), ("cached_tokens", "BIGINT"),
    ("cost", "DOUBLE PRECISION"), ("usage_estimated", "BOOLEAN"), ("score", "DOUBLE PRECISION"),
)  # fmt: skip


def m008_inline_attempt(d: Dialect) -> list[str]:
    """``requests.attempt``: SQLite keeps a request's only attempt here instead of in ``attempts``
    (``rows.inline_attempt``), a JSON array of its ``attempts`` values after ``request_id``. Readers
    take a request's attempts from either place (``rows.attempts_of``); the view ``attempts_all``
    shows both as rows of ``attempts``, for queries across requests."""
    if d.name == "sqlite":
        inline = [f"json_extract(attempt, '$[{i}]') AS {name}" for i, (name, _) in enumerate(_ATTEMPT_TYPES)]
    else:
        inline = [f"(attempt->>{i})::{kind} AS {name}" for i, (name, kind) in enumerate(_ATTEMPT_TYPES)]
    columns = ", ".join(name for name, _ in _ATTEMPT_TYPES)
    return [
        f"ALTER TABLE requests ADD COLUMN attempt {d.json_type}",
        f"CREATE VIEW attempts_all AS SELECT request_id, {columns} FROM attempts UNION ALL "
        f"SELECT request_id, {', '.join(inline)} FROM requests WHERE attempt IS NOT NULL",
    ]


MIGRATIONS: tuple[Migration, ...] = (
    m001_requests_and_attempts,
    m002_feedback,
    m003_daily_rollups,
    m004_request_content,
    m005_request_key_team_indexes,
    m006_attempt_details,
    m007_partial_key_team_indexes,
    m008_inline_attempt,
)


def names(migrations: Iterable[Migration] = MIGRATIONS) -> list[str]:
    return [m.__name__ for m in migrations]


def pending(applied: Iterable[str], migrations: Iterable[Migration] = MIGRATIONS) -> list[Migration]:
    """The migrations not yet applied, in their declared order."""
    done = set(applied)
    return [m for m in migrations if m.__name__ not in done]
