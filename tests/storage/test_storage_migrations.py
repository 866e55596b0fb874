"""The migration list itself: named, ordered, append-only, valid for both dialects."""

from __future__ import annotations

import re

from switchpoint.storage import migrations
from switchpoint.storage.rows import POSTGRES, SQLITE


def test_names_are_unique_numbered_and_in_order() -> None:
    names = migrations.names()
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"m\d{3}_[a-z0-9_]+", n) for n in names)
    assert names == sorted(names)


def test_every_migration_has_statements_for_both_dialects() -> None:
    for migration in migrations.MIGRATIONS:
        for dialect in (SQLITE, POSTGRES):
            statements = migration(dialect)
            assert statements and all(s.strip() for s in statements)


def test_pending_keeps_the_declared_order() -> None:
    applied = ["m002_feedback", "unknown_from_a_newer_version"]
    assert migrations.names(migrations.pending(applied)) == [n for n in migrations.names() if n != "m002_feedback"]
