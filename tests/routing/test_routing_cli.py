"""``switchpoint routes show`` and ``switchpoint routes fit``."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from switchpoint.cli.main import main
from tests.routing.test_routing_policies import LABELLED

CONFIG = """models:
  - {name: cheap, provider: openai_compat, api_base: "http://127.0.0.1:9/v1"}
  - {name: expert, provider: openai_compat, api_base: "http://127.0.0.1:9/v1"}
routers:
  support:
    default: cheap
    policies:
      - kind: semantic
        name: topics
        routes:
          billing:
            to: cheap
            threshold: 1.0
            examples: ["I was charged twice this month", "refund my last payment", "why is my invoice so high"]
          troubleshooting:
            to: expert
            threshold: 1.0
            examples: ["the app crashes when I open it", "I get an error 500 when I log in"]
"""


def write(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "switchpoint.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_bytes(b"\n".join(orjson.dumps({"text": t, "route": r}) for t, r in LABELLED))
    return config, labelled


def test_fit_prints_thresholds_and_accuracy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, labelled = write(tmp_path)
    assert main(["routes", "fit", str(config), str(labelled), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"router support, semantic policy topics: {len(LABELLED)} examples"
    result = orjson.loads(out[-1])
    assert result["accuracy"] > result["accuracy_before"]
    assert set(result["thresholds"]) == {"billing", "troubleshooting"}
    assert any(line.strip().startswith("billing: {threshold: ") for line in out)


def test_show_lists_routers_and_thresholds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = write(tmp_path)
    assert main(["routes", "show", str(config)]) == 0
    out = capsys.readouterr().out
    assert "router support: default cheap; may choose cheap, expert" in out
    assert "billing: threshold 1.000" in out


def test_fit_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, labelled = write(tmp_path)
    labelled.write_text('{"text": "hi", "route": "sales"}\n', encoding="utf-8")
    assert main(["routes", "fit", str(config), str(labelled)]) == 2
    assert "not a route" in capsys.readouterr().err
    labelled.write_text("{nope\n", encoding="utf-8")
    assert main(["routes", "fit", str(config), str(labelled)]) == 2
    assert "labelled.jsonl:1: not JSON" in capsys.readouterr().err
    assert main(["routes", "fit", str(config), str(labelled), "--policy", "other"]) == 2
    assert "no semantic policy matches" in capsys.readouterr().err
