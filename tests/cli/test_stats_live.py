"""``switchpoint stats --config`` on a log written by REAL routed traffic (the traffic of
``tests/dashboard/live.py``): the routing mix, the policies that decided, the shadow policy and
the savings match what the engine recorded and what the gateway's analytics API answers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from switchpoint.cli.main import main
from switchpoint.cli.stats import cost, pct
from switchpoint.testing import FakeOpenAIUpstream
from tests.dashboard.live import CALLS, LiveTraffic, live_traffic


@pytest.fixture(scope="module")
def live(upstream: FakeOpenAIUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveTraffic, Path]]:
    folder = tmp_path_factory.mktemp("stats-live")
    with live_traffic(upstream, folder / "logs.db") as traffic:
        config = folder / "switchpoint.yaml"
        config.write_text(yaml.safe_dump(traffic.config))
        yield traffic, config


def _rows(out: str, title: str) -> list[list[str]]:
    """The rows (split on whitespace) of the section ``title`` of the text report, without its header."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_stats_text_shows_the_routing_mix_policies_shadow_and_savings(live: tuple[LiveTraffic, Path]) -> None:
    traffic, config = live
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHPOINT_")}
    result = subprocess.run([sys.executable, "-m", "switchpoint", "stats", "--config", str(config), "--since", "1h"],
                            capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    routed = traffic.routed()
    chosen = Counter(r.group for r in routed)
    mix = {row[1]: row for row in _rows(out, "Routing mix") if row[0] == "auto"}
    assert {group: int(row[3]) for group, row in mix.items()} == dict(chosen) == {
        "general": 4, "coder": 3, "premium": 2, "private": 2}  # fmt: skip
    assert mix["coder"][2] == pct(3 / len(routed)) and mix["coder"][-2:] == ["0.85", "(2)"]
    decided = {row[1]: row for row in _rows(out, "Decided by")}
    assert decided["guardrails"][2:5] == ["rules", pct(5 / 11), "5"]
    assert decided["quality"][2:5] == ["learned", pct(6 / 11), "6"]
    assert " ".join(decided["quality"][5:]) == "general 4, premium 2"
    (shadow,) = _rows(out, "Shadow policies")
    assert shadow == ["auto", "premium-tag", "rules", "4", "25.0%", "premium", "100.0%"]
    savings = traffic.api("analytics/savings", since="1h")["routers"][0]
    (saved,) = _rows(out, "Savings")
    assert saved == ["auto", "11", cost(savings["actual_cost"]), cost(savings["baseline_cost"]), "(premium)",
                     cost(savings["savings"]), pct(savings["savings_rate"])]  # fmt: skip


def test_stats_json_equals_the_analytics_api(live: tuple[LiveTraffic, Path], capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    traffic, config = live
    monkeypatch.delenv("SWITCHPOINT_CONFIG", raising=False)
    assert main(["stats", "--config", str(config), "--since", "1h", "--json"]) == 0
    report: dict[str, Any] = orjson.loads(capsys.readouterr().out)
    api = traffic.api("analytics/savings", since="1h")
    assert report["savings"]["routers"] == api["routers"] and report["savings"]["total"] == api["total"]
    routing = traffic.api("analytics/routing", since="1h")
    assert report["routing"]["routers"] == routing["routers"]
    assert report["summary"]["requests"] == len(CALLS)
    assert report["summary"]["feedback"]["count"] == sum(c.score is not None for c in CALLS)
