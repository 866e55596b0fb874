"""Browser fixtures: one headless chromium per session, a gateway with a master key and seeded
traffic per module, and a page per test that must not log errors or reach any other origin.

Chromium is required, not optional: ``apt-get install -y chromium`` (after ``apt-get update``).
Screenshots go to ``artifacts/screenshots/`` (kept by CI as artifacts).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from switchpoint.storage.records import RequestRecord
from switchpoint.storage.sqlite import SQLiteStore
from tests.analytics.support import analytics_config, seed_sync
from tests.helpers import ServedGateway

from .cdp import Browser, Page, find_chromium

KEY = "sk-dashboard-master-0123456789"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.fail("the dashboard tests need chromium: apt-get update && apt-get install -y chromium")
    chromium = Browser(executable)
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class Dashboard:
    gateway: ServedGateway
    records: list[RequestRecord]

    @property
    def url(self) -> str:
        return self.gateway.url


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    path = tmp_path_factory.mktemp("dashboard") / "logs.db"
    records = seed_sync(SQLiteStore(path), time.time())
    with ServedGateway(analytics_config(master_key=KEY, db=path)) as gateway:
        yield Dashboard(gateway, records)


def open_page(browser: Browser, width: int = 1440, height: int = 900, key: str | None = KEY) -> Page:
    page = browser.page(width, height)
    if key:  # signed in: the key is in sessionStorage before the app's scripts run
        page.send("Page.addScriptToEvaluateOnNewDocument",
                  source=f"sessionStorage.setItem('switchpoint.key', {key!r})")  # fmt: skip
    return page


def check_clean(page: Page, origin: str) -> None:
    """No script error, and nothing fetched from anywhere but the gateway: the page works offline."""
    assert page.errors == []
    outside = [u for u in page.requests if not u.startswith((origin + "/", "data:", "about:"))]
    assert outside == []


@pytest.fixture
def page(browser: Browser, dashboard: Dashboard) -> Iterator[Page]:
    tab = open_page(browser)
    try:
        yield tab
        check_clean(tab, dashboard.url)
    finally:
        tab.close()


def show(page: Page, url: str, route: str) -> None:
    """Load ``/ui/#/<route>`` and wait until the view has rendered its data."""
    page.goto(f"{url}/ui/#/{route}")
    view = route.split("/")[0].split("?")[0]
    page.wait_for(f"document.body.dataset.state === 'ready' && document.body.dataset.view === '{view}'")
