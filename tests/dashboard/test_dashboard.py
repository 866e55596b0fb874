"""The dashboard in a real browser (headless chromium): each view shows the seeded numbers, the
filters change them, the request explorer opens a request, and sign-in works. Screenshots of
every view are saved to ``artifacts/screenshots/`` (described in ``docs/dashboard.md``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.analytics.support import analytics_config, expected, routed_savings
from tests.helpers import ServedGateway

from .cdp import Browser, Page
from .conftest import KEY, SCREENSHOTS, Dashboard, check_clean, open_page, show


def _text(page: Page, selector: str) -> str:
    return str(page.eval(f"document.querySelector({json.dumps(selector)}).textContent"))


def _value(page: Page, testid: str) -> float:
    return float(page.eval(f"document.querySelector('[data-testid={json.dumps(testid)}]').dataset.value"))


def _cells(page: Page, row_testid: str) -> list[str]:
    return list(page.eval(f"[...document.querySelector('[data-testid={json.dumps(row_testid)}]').cells]"
                          ".map(c => c.textContent)"))  # fmt: skip


def _kpis(page: Page) -> dict[str, Any]:
    return dict(page.eval(
        "Object.fromEntries([...document.querySelectorAll('.kpi')].map(k => [k.dataset.testid, "
        "{value: Number(k.dataset.value), text: k.querySelector('.kpi-value').textContent}]))"
    ))


def test_overview_shows_the_seeded_numbers(page: Page, dashboard: Dashboard) -> None:
    show(page, dashboard.url, "overview?since=24h")
    want = expected(dashboard.records)
    kpis = _kpis(page)
    assert kpis["kpi-requests"] == {"value": 60, "text": "60"}
    assert kpis["kpi-cost"]["value"] == pytest.approx(want.cost) and kpis["kpi-cost"]["text"] == "$0.056"
    assert kpis["kpi-errors"]["text"] == "8.3%"
    assert kpis["kpi-latency"] == {"value": want.p50, "text": f"{want.p50:.0f} ms"}
    assert kpis["kpi-ttft"]["value"] == want.ttft_p50
    actual, baseline = routed_savings(dashboard.records)
    assert kpis["kpi-savings"]["value"] == pytest.approx(baseline - actual)
    assert "75.2% less than all → strong" in _text(page, "[data-testid=kpi-savings] .kpi-sub")
    # The charts draw the seeded series: succeeded + failed bars add up to every request.
    page.wait_for("document.querySelector('svg[data-testid=traffic]')")
    assert page.eval("document.querySelector('svg[data-testid=traffic]').dataset.total") == "55,5"
    cost_total = page.eval("document.querySelector('svg[data-testid=cost]').dataset.total")
    assert float(cost_total) == pytest.approx(want.cost)
    bars = page.eval("[...document.querySelectorAll('svg[data-testid=traffic] rect.bar')]"
                     ".reduce((a, r) => a + Number(r.dataset.value), 0)")  # fmt: skip
    assert bars == 60
    assert page.eval("document.querySelectorAll('svg[data-testid=latency] path.line').length") >= 3
    mix = page.eval("[...document.querySelectorAll('svg[data-testid=mix] rect.bar')].map(r => r.dataset.series)")
    assert set(mix) == {"cheap", "strong"}
    assert _cells(page, "model-row-cheap")[1:3] == ["32", "53.3%"]
    # Hovering a chart shows the bucket's values.
    box = page.eval("(() => { const r = document.querySelector('svg[data-testid=traffic]').getBoundingClientRect();"
                    " return [r.right - 40, r.top + 60]; })()")  # fmt: skip
    page.send("Input.dispatchMouseEvent", type="mouseMoved", x=box[0], y=box[1])
    page.wait_for("document.querySelector('.tooltip.visible')")
    assert "Succeeded" in _text(page, ".tooltip.visible")
    page.screenshot(SCREENSHOTS / "overview.png")


def test_models_view_has_a_row_per_model(page: Page, dashboard: Dashboard) -> None:
    show(page, dashboard.url, "models")
    cheap = [r for r in dashboard.records if r.group == "cheap"]
    want = expected(cheap)
    cells = _cells(page, "model-row-cheap")
    assert cells[0].startswith("cheap") and "$0.15 / $0.60 per Mtok" in cells[0]
    assert cells[1:4] == ["32", "53.3%", f"{100 * want.errors / 32:.1f}%"]
    assert cells[5] == f"{want.p50:.0f} ms" and cells[-1] == "0.60 (8)"
    assert _cells(page, "model-row-strong")[1] == "28"
    assert _cells(page, "model-row-cheap-1")[0].startswith("cheap-1")  # the deployments table
    donut = page.eval("[...document.querySelectorAll('[data-testid=donut-requests] circle[data-label]')]"
                      ".map(c => [c.dataset.label, Number(c.dataset.value)])")  # fmt: skip
    assert donut == [["cheap", 32], ["strong", 28]]
    page.screenshot(SCREENSHOTS / "models.png")


def test_routing_view_shows_cost_quality_and_savings(page: Page, dashboard: Dashboard) -> None:
    show(page, dashboard.url, "routing")
    actual, baseline = routed_savings(dashboard.records)
    assert _value(page, "actual-auto") == pytest.approx(actual)
    assert _value(page, "baseline-auto") == pytest.approx(baseline)
    assert _value(page, "saved-auto") == pytest.approx(baseline - actual)
    assert _text(page, "[data-testid=router-auto] .pill") == "Saved 75.2%"
    page.wait_for("document.querySelector('svg[data-testid=scatter-auto] .point.router')")
    points = page.eval("[...document.querySelectorAll('svg[data-testid=scatter-auto] .point')]"
                       ".map(p => [p.dataset.label, Number(p.dataset.y)])")  # fmt: skip
    assert sorted(points) == [["auto", 0.75], ["cheap", pytest.approx(0.6)], ["strong", pytest.approx(0.9)]]
    assert "−75% cost" in _text(page, "svg[data-testid=scatter-auto] .saving-label")
    shares = page.eval("[...document.querySelectorAll('[data-testid=decisions-auto] .share-seg')]"
                       ".map(s => [s.dataset.label, Number(s.dataset.value)])")  # fmt: skip
    assert shares == [["cheap", 32], ["strong", 8]]
    assert _cells(page, "decision-cheap")[1:3] == ["80.0%", "32"]
    assert "20 requests" in _text(page, "[data-testid=direct-traffic]")
    page.screenshot(SCREENSHOTS / "routing.png")


def test_request_explorer_lists_and_opens_a_request(page: Page, dashboard: Dashboard) -> None:
    show(page, dashboard.url, "requests")
    assert _value(page, "requests-total") == 60
    first = _cells(page, "request-seed-000")
    assert first[1] == "seed-000" and first[4] == "200"
    assert page.eval("document.querySelectorAll('[data-testid=requests-table] tbody tr').length") == 50
    page.eval("document.querySelector('.table-footer button').click()")
    page.wait_for("document.querySelectorAll('[data-testid=requests-table] tbody tr').length === 60")
    page.screenshot(SCREENSHOTS / "requests.png", full_page=False)
    page.eval("document.querySelector('[data-testid=request-seed-004]').click()")
    page.wait_for("document.querySelector('[data-testid=request-detail]')?.dataset.request === 'seed-004'"
                  " && document.body.dataset.state === 'ready'")  # fmt: skip
    page.resize(1440, 1500)  # tall enough for the whole detail panel
    assert "#/requests/seed-004" in page.eval("location.hash")
    detail = _text(page, "[data-testid=request-detail]")
    for fact in ("complexity-threshold", "complexity<0.5", "429 ProviderRateLimited", "0.60"):
        assert fact in detail, fact
    rows = page.eval("[...document.querySelectorAll('[data-testid=decision-candidates] tr.candidate')]"
                     ".map(r => [r.dataset.group, r.dataset.chosen])")  # fmt: skip
    assert rows == [["strong", "false"], ["cheap", "true"]]
    assert page.eval("document.querySelector('[data-testid=decision]').dataset.chosen") == "cheap"
    features = page.eval("[...document.querySelectorAll('[data-testid=features] dt')].map(d => d.textContent)")
    assert {"task_type.label", "complexity", "language.code"} <= set(features)
    assert "writing" in _text(page, "[data-feature=task_type]") and "en" in _text(page, "[data-feature=language]")
    assert page.eval("document.querySelectorAll('[data-testid=shadow-decision]').length") == 0  # seed-004: none
    bars = page.eval("[...document.querySelectorAll('[data-testid=attempts-waterfall] rect')]"
                     ".map(r => r.dataset.status)")  # fmt: skip
    assert bars == ["error", "ok"]
    page.screenshot(SCREENSHOTS / "request-detail.png", full_page=False)


def test_filters_change_every_number(page: Page, dashboard: Dashboard) -> None:
    show(page, dashboard.url, "overview")

    def pick(name: str, value: str) -> None:
        page.eval(f"(() => {{ const s = document.querySelector('select[data-filter={name}]'); s.value = '{value}';"
                  " s.dispatchEvent(new Event('change')); })()")  # fmt: skip

    pick("model", "cheap")
    page.wait_for("location.hash.includes('model=cheap') && document.body.dataset.state === 'ready'")
    assert _kpis(page)["kpi-requests"]["value"] == 32
    pick("tag", "eval")
    page.wait_for("location.hash.includes('tag=eval') && document.body.dataset.state === 'ready'")
    cheap_eval = [r for r in dashboard.records if r.group == "cheap" and "eval" in r.tags]
    assert _kpis(page)["kpi-requests"]["value"] == len(cheap_eval)
    page.screenshot(SCREENSHOTS / "filtered.png")
    pick("key", "key-beta")
    page.wait_for("location.hash.includes('key=key-beta') && document.body.dataset.state === 'ready'")
    want = [r for r in cheap_eval if r.key_id == "key-beta"]
    assert _kpis(page)["kpi-requests"]["value"] == len(want)
    page.eval("document.querySelector('[data-range=\"1h\"]').click()")
    page.wait_for("location.hash.includes('since=1h') && document.body.dataset.state === 'ready'")
    assert _kpis(page)["kpi-requests"]["value"] == sum(r.created > dashboard.records[0].created - 3540 for r in want)
    page.eval("document.querySelector('.link-button').click()")  # clear filters
    page.wait_for("!location.hash.includes('model=') && document.body.dataset.state === 'ready'")
    assert _kpis(page)["kpi-requests"]["value"] == sum(r.created > dashboard.records[0].created - 3540
                                                       for r in dashboard.records)  # fmt: skip


def test_sign_in_with_the_master_key(browser: Browser, dashboard: Dashboard) -> None:
    page = open_page(browser, key=None)
    try:
        page.goto(f"{dashboard.url}/ui/")
        page.wait_for("document.body.dataset.state === 'login'")
        page.screenshot(SCREENSHOTS / "sign-in.png", full_page=False)
        submit = ("document.querySelector('#key-input').value = {!r};"
                  " document.querySelector('form.login').requestSubmit()")
        page.eval(submit.format("sk-wrong"))
        page.wait_for("document.querySelector('.form-error')?.textContent.includes('not accepted')")
        assert page.eval("sessionStorage.getItem('switchpoint.key')") is None
        page.eval(submit.format(KEY))
        page.wait_for("document.body.dataset.state === 'ready'")
        assert _kpis(page)["kpi-requests"]["value"] == 60
        assert page.eval("sessionStorage.getItem('switchpoint.key')") == KEY
        page.eval("document.querySelector('#actions button').click()")  # sign out
        page.wait_for("document.body.dataset.state === 'login'")
        assert page.eval("sessionStorage.getItem('switchpoint.key')") is None
        assert [e for e in page.errors if "401" not in e] == []  # the browser logs the refused fetches
    finally:
        page.close()


def test_phone_layout_does_not_overflow(browser: Browser, dashboard: Dashboard) -> None:
    page = open_page(browser, 390, 844)
    try:
        show(page, dashboard.url, "overview")
        assert page.eval("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.eval("document.querySelector('.topbar').scrollWidth <= window.innerWidth")
        assert page.eval("getComputedStyle(document.querySelector('.kpis')).gridTemplateColumns.split(' ').length") == 2
        page.screenshot(SCREENSHOTS / "overview-phone.png")
        check_clean(page, dashboard.url)
    finally:
        page.close()


def test_without_a_log_store_the_page_says_so(browser: Browser) -> None:
    with ServedGateway(analytics_config()) as gateway:
        page = open_page(browser, key=None)
        try:
            page.goto(f"{gateway.url}/ui/")
            page.wait_for("document.body.dataset.state === 'empty'")
            assert "No request log to show" in _text(page, "main")
            assert "logs.url" in _text(page, "main")
            page.screenshot(SCREENSHOTS / "no-log-store.png", full_page=False)
        finally:
            page.close()
