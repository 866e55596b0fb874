"""The per-test log store fixture (``target``: real SQLite, in both writer modes, and real Postgres)."""

from tests.storage.conftest import target  # noqa: F401
