"""Shared fixtures: one fake upstream for the session, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from switchpoint.testing import FakeOpenAIUpstream


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeOpenAIUpstream]:
    """One fake OpenAI-compatible upstream for the session; scripts are reset per test."""
    with FakeOpenAIUpstream() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _reset_upstream(request: pytest.FixtureRequest) -> None:
    if "upstream" in request.fixturenames:
        fake: FakeOpenAIUpstream = request.getfixturevalue("upstream")
        fake.reset()
