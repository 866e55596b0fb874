"""The dashboard on REAL routed traffic, end to end: a gateway with a SQLite request log and a
router (rules on the analysed features, a learned policy, a shadow policy) serves requests sent
with the real ``openai`` client, feedback is posted, and headless chromium checks what the
routing view and the request explorer show against what the engine recorded and what the
analytics API answers. Screenshots: ``artifacts/screenshots/live-*.png`` (``docs/dashboard.md``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from switchpoint.testing import FakeOpenAIUpstream

from .cdp import Browser, Page
from .conftest import SCREENSHOTS, check_clean, open_page, show
from .live import CALLS, LIVE_KEY, PRICES, LiveTraffic, live_traffic


@pytest.fixture(scope="module")
def live(upstream: FakeOpenAIUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTraffic]:
    with live_traffic(upstream, tmp_path_factory.mktemp("live") / "logs.db") as traffic:
        yield traffic


@pytest.fixture
def page(browser: Browser, live: LiveTraffic) -> Iterator[Page]:
    tab = open_page(browser, key=LIVE_KEY)
    try:
        yield tab
        check_clean(tab, live.url)
    finally:
        tab.close()


def _text(page: Page, selector: str) -> str:
    return str(page.eval(f"document.querySelector({json.dumps(selector)}).textContent"))


def _value(page: Page, testid: str) -> float:
    return float(page.eval(f"document.querySelector('[data-testid={json.dumps(testid)}]').dataset.value"))


def _attrs(page: Page, selector: str, *names: str) -> list[list[Any]]:
    picks = ", ".join(f"e.dataset.{name}" for name in names)
    return list(page.eval(f"[...document.querySelectorAll({json.dumps(selector)})].map(e => [{picks}])"))


def test_routing_view_shows_the_routers_mix_policies_shadow_and_savings(page: Page, live: LiveTraffic) -> None:
    show(page, live.url, "routing?since=1h")
    routed = live.routed()
    served = Counter(r.group for r in routed)
    assert served == Counter(c.group for c in CALLS if c.model == "auto")  # what the router chose, per group
    segments = _attrs(page, "[data-testid=decisions-auto] .share-seg", "label", "value")
    assert {label: int(value) for label, value in segments} == dict(served)
    assert f"{len(routed)} requests" in _text(page, "[data-testid=router-auto] .card-sub")
    # Which policy decided: the rules for coding and personal data, the learned policy for the rest.
    policies = {p: int(v) for p, v in _attrs(page, "[data-testid=policies-auto] li", "policy", "value")}
    by_policy = Counter(str(r.routing["policy"]) for r in routed if r.routing)
    assert policies == dict(by_policy) == {"guardrails": 5, "quality": 6}
    # The shadow policy decided for every vip request, agreed once (the hard prompt went to premium anyway).
    shadow = page.eval("(() => { const b = document.querySelector('[data-testid=shadow-auto-premium-tag]');"
                       " return [Number(b.dataset.requests), Number(b.dataset.agreement)]; })()")  # fmt: skip
    vip = [c for c in CALLS if c.vip and c.model == "auto"]
    assert shadow == [len(vip), pytest.approx(sum(c.group == "premium" for c in vip) / len(vip))]
    assert "not served" in _text(page, "[data-testid=shadow-auto-premium-tag]")
    # Savings: the page shows what the analytics API computed, and that is the recorded cost against
    # every routed request's recorded tokens priced at the router's priciest candidate (premium).
    api = live.api("analytics/savings", since="1h")
    (auto,) = api["routers"]
    actual = sum(r.cost for r in routed)
    baseline = sum(r.prompt_tokens * PRICES["premium"][0] + r.completion_tokens * PRICES["premium"][1]
                   for r in routed) / 1_000_000  # fmt: skip
    assert auto["baseline_group"] == "premium"
    assert auto["actual_cost"] == pytest.approx(actual) and auto["baseline_cost"] == pytest.approx(baseline)
    assert _value(page, "actual-auto") == pytest.approx(auto["actual_cost"])
    assert _value(page, "baseline-auto") == pytest.approx(auto["baseline_cost"])
    assert _value(page, "saved-auto") == pytest.approx(auto["savings"]) == pytest.approx(baseline - actual)
    assert _value(page, "total-saved") == pytest.approx(api["total"]["savings"])
    assert _text(page, "[data-testid=router-auto] .card-actions .pill") == f"Saved {100 * auto['savings_rate']:.1f}%"
    # Feedback quality per chosen group in the decisions table (coder: 0.9 and 0.8).
    page.wait_for("document.querySelector('svg[data-testid=scatter-auto] .point.router')")
    points = dict(page.eval("[...document.querySelectorAll('svg[data-testid=scatter-auto] .point')]"
                            ".map(p => [p.dataset.label, Number(p.dataset.y)])"))  # fmt: skip
    assert points["coder"] == pytest.approx(0.85) and points["premium"] == pytest.approx(1.0)
    page.screenshot(SCREENSHOTS / "live-routing.png")


def _open(page: Page, live: LiveTraffic, request_id: str) -> str:
    show(page, live.url, f"requests/{request_id}?since=1h")
    page.wait_for(f"document.querySelector('[data-testid=request-detail]')?.dataset.request === {request_id!r}")
    return _text(page, "[data-testid=request-detail]")


def test_explorer_shows_a_learned_decision_with_features_shadow_and_attempts(page: Page, live: LiveTraffic) -> None:
    page.resize(1440, 2000)  # tall enough for the whole detail panel
    detail = _open(page, live, "live-chat-2")
    record = live.records["live-chat-2"]
    routing = record.routing
    assert routing is not None
    features = routing["features"]
    # Features: the analysis of this very prompt.
    assert _text(page, "[data-feature=task_type] b").startswith(features["task_type"]["label"])
    assert _text(page, "[data-feature=language] b").startswith("en")
    assert _text(page, "[data-feature=complexity] b") == f"{features['complexity']:.2f}"
    assert _text(page, "[data-feature=pii] b") == "none"
    assert f"{features['prompt_tokens']} tokens" in _text(page, "[data-feature=prompt_tokens] b")
    assert "task_type.label" in page.eval("[...document.querySelectorAll('[data-testid=features] dt')]"
                                          ".map(d => d.textContent)")  # fmt: skip
    # The decision: the learned policy chose general; premium lost on the threshold; both priced.
    main = "[data-testid=decision]"
    assert page.eval(f"document.querySelector('{main}').dataset.chosen") == "general"
    assert page.eval(f"document.querySelector('{main}').dataset.policy") == "quality"
    assert _text(page, "[data-testid=decision-reason]") == routing["reason"]
    rows = _attrs(page, "[data-testid=decision-candidates] tr.candidate", "group", "chosen")
    assert rows == [[c["group"], "true" if c["chosen"] else "false"] for c in routing["candidates"]]
    assert rows == [["premium", "false"], ["general", "true"]]
    cells = page.eval("[...document.querySelectorAll('[data-testid=decision-candidates] tr.candidate')]"
                      ".map(r => [...r.cells].slice(1).map(c => c.textContent))")  # fmt: skip
    assert [c[1] for c in cells] == ["0.90", "0.85"]  # predicted quality
    assert "< threshold" in _text(page, "[data-testid=decision-candidates]")  # the losing candidate says why
    assert "threshold 0.1" in detail and "guardrails" in detail  # objective, and the policy with no opinion
    # The shadow decision is there, marked as never served.
    shadow = _attrs(page, "[data-testid=shadow-decision]", "chosen", "policy")
    assert shadow == [["premium", "premium-tag"]] and "not served" in _text(page, "[data-testid=shadow-decision]")
    # Attempts and feedback.
    attempts = page.eval("[...document.querySelectorAll('[data-testid=attempts-table] tbody tr')]"
                         ".map(r => r.cells[1].textContent)")  # fmt: skip
    assert len(attempts) == len(record.attempts) == 1 and attempts[0].startswith(record.attempts[0].deployment)
    assert "0.70" in _text(page, "[data-testid=feedback-list]")
    page.screenshot(SCREENSHOTS / "live-request-learned.png", full_page=False)


def test_explorer_shows_a_rules_decision_on_personal_data(page: Page, live: LiveTraffic) -> None:
    page.resize(1440, 1600)
    _open(page, live, "live-pii-1")
    routing = live.records["live-pii-1"].routing
    assert routing is not None
    assert _text(page, "[data-feature=pii] b") == ", ".join(routing["features"]["pii"]["kinds"])
    assert "email" in _text(page, "[data-feature=pii] b")
    assert page.eval("document.querySelector('[data-testid=decision]').dataset.chosen") == "private"
    assert _text(page, "[data-testid=decision-reason]") == "personal data stays local"
    rows = _attrs(page, "[data-testid=decision-candidates] tr.candidate", "group", "chosen")
    assert rows == [["private", "true"], ["coder", "false"]]
    assert "rule 2 not evaluated" in _text(page, "[data-testid=decision-candidates]")
    assert page.eval("document.querySelectorAll('[data-testid=shadow-decision]').length") == 0  # not vip
    page.screenshot(SCREENSHOTS / "live-request-rules.png", full_page=False)


def test_request_list_shows_every_live_request_with_its_route(page: Page, live: LiveTraffic) -> None:
    show(page, live.url, "requests?since=1h")
    assert _value(page, "requests-total") == len(CALLS)
    for call in CALLS:
        cells = page.eval(f"[...document.querySelector('[data-testid=request-{call.request_id}]').cells]"
                          ".map(c => c.textContent)")  # fmt: skip
        assert cells[1] == call.request_id
        assert cells[3].startswith("auto" if call.model == "auto" else "direct"), cells
        assert cells[2].endswith(call.group)

