"""``switchpoint stats`` on the seeded SQLite and Postgres databases: once as a real subprocess,
the rest in-process (``main(argv)``) to keep the tests fast."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from switchpoint.cli.main import main
from tests.storage.support import PG_URL

from .conftest import Seeded, approx
from .support import analytics_config, expected, routed_savings


def _stats(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHPOINT_")}
    return subprocess.run([sys.executable, "-m", "switchpoint", "stats", *args], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["stats", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHPOINT_CONFIG", raising=False)


def _db(seeded: Seeded) -> list[str]:
    if seeded.kind == "sqlite":
        return ["--db", f"sqlite:///{seeded.path}"]
    assert seeded.schema is not None
    return ["--db", PG_URL, "--schema", seeded.schema]


def test_stats_prints_tables(seeded: Seeded) -> None:
    result = _stats(*_db(seeded))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("switchpoint stats: ")
    lines = out.splitlines()
    requests = next(line for line in lines if line.strip().startswith("Requests"))
    assert requests.split()[1] == "60" and "5 (8.3%)" in requests
    cheap = next(line for line in lines if line.strip().startswith("cheap"))
    assert cheap.split()[1:3] == ["32", "53.3%"] and cheap.split()[-2:] == ["0.60", "(8)"]
    router = [line.split() for line in lines if line.strip().startswith(("auto", "(direct)"))]
    assert [row[:4] for row in router[:3]] == [["auto", "cheap", "80.0%", "32"], ["auto", "strong", "20.0%", "8"],
                                               ["(direct)", "strong", "100.0%", "20"]]  # fmt: skip
    assert "Savings" in out and "(no prices)" in out  # no config, so no prices


def test_stats_json_and_filters(seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, *_db(seeded), "--json", "--since", "2d", "--model", "cheap", "--key", "key-alpha")
    assert code == 0, err
    report = orjson.loads(out)
    want = expected([r for r in seeded.records if r.group == "cheap" and r.key_id == "key-alpha"])
    assert report["summary"]["requests"] == want.requests
    assert report["summary"]["cost"] == approx(want.cost)
    assert report["summary"]["range"]["model"] == "cheap"
    assert [m["model_group"] for m in report["models"]] == ["cheap"]
    assert set(report) == {"summary", "models", "routing", "savings"}


def test_stats_errors(
    tmp_path: Path, seeded_sqlite: Seeded, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = _main(capsys, "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert code == 1 and "no log database" in err
    assert not (tmp_path / "none.db").exists()  # never created by reading
    code, _, err = _main(capsys, "--db", f"sqlite:///{seeded_sqlite.path}", "--since", "yesterday")
    assert code == 2 and "--since" in err
    config = tmp_path / "gateway.yaml"
    config.write_text("logs:\n  url: null\nmodels:\n  - name: m\n    provider: openai_compat\n    model: x\n"
                      "    api_base: http://127.0.0.1:9/v1\n")  # fmt: skip
    code, _, err = _main(capsys, "--config", str(config))
    assert code == 2 and "logs.url" in err
    monkeypatch.chdir(tmp_path)
    code, _, err = _main(capsys)  # the default sqlite:///.switchpoint/logs.db is not there
    assert code == 1 and ".switchpoint/logs.db" in err


def test_stats_on_a_database_without_a_log_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(capsys, "--db", PG_URL, "--schema", f"sp_never_logged_{os.getpid()}")
    assert code == 1 and 'relation "requests" does not exist (no request log here' in err
    empty = tmp_path / "other.db"
    sqlite3.connect(empty).close()
    code, _, err = _main(capsys, "--db", f"sqlite:///{empty}")
    assert code == 1 and "no such table: requests" in err


def test_stats_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["stats", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for option in ("--config", "--db", "--schema", "--since", "--until", "--model", "--key", "--tag", "--json"):
        assert option in out


def test_stats_reads_the_config_for_the_database_and_prices(
    seeded_sqlite: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(analytics_config(db=seeded_sqlite.path)))
    code, out, err = _main(capsys, "--config", str(config), "--json")
    assert code == 0, err
    report = orjson.loads(out)
    actual, baseline = routed_savings(seeded_sqlite.records)
    (auto,) = report["savings"]["routers"]
    assert auto["baseline_group"] == "strong" and auto["savings"] == approx(baseline - actual)
    code, out, _ = _main(capsys, "--config", str(config))
    assert code == 0 and "(strong)" in out and "75.2%" in out
