"""The command line, run as a real subprocess: ``python -m switchpoint ...``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from switchpoint._version import __version__
from switchpoint.providers.registry import PROVIDER_KINDS

SECRET = "sk-cli-TOPSECRET-0123456789"

KNOWN = "(known: " + ", ".join(sorted(PROVIDER_KINDS)) + ")"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SWITCHPOINT_"))}
    env.update(extra)
    return env


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switchpoint", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else _env(),
        cwd=cwd,
        timeout=60,
    )


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"switchpoint {__version__}"


def test_config_check_ok(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(
        """\
server:
  port: 9000
models:
  - name: chat
    provider: openai_compat
    api_base: http://127.0.0.1:9/v1
    api_key: ${MY_KEY}
  - name: pair
    deployments:
      - {provider: openai_compat, api_base: "http://127.0.0.1:9"}
      - {provider: openai, api_key: "${MY_KEY}"}
""",
        encoding="utf-8",
    )
    result = _run("config", "check", str(path), env=_env(MY_KEY=SECRET))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: ok (2 model groups, 3 deployments)"
    assert result.stderr == ""
    assert SECRET not in result.stdout


def test_config_check_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        f"""\
servr: {{}}
models:
  - name: a
    provider: nope
    api_key: {SECRET}
  - name: b
    provider: openai_compat
    api_base: ftp://x
    weight: 0
    api_key: ${{UNSET_FOR_TEST:-{SECRET}}}
""",
        encoding="utf-8",
    )
    result = _run("config", "check", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: 4 problems"
    assert sorted(lines[1:]) == sorted(
        [
            f"  {path}:1:8: servr: unknown key",
            f"  {path}:4:15: models[0].deployments[0].provider: unknown provider type 'nope' " + KNOWN,
            f"  {path}:8:15: models[1].deployments[0].api_base: api_base must start with http:// or https://",
            f"  {path}:9:13: models[1].deployments[0].weight: Input should be greater than 0",
        ]
    )
    assert SECRET not in result.stderr


def test_config_check_single_problem_is_singular(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(
        "models:\n  - name: a\n    provider: openai_compat\n    api_base: ${NOT_SET_HERE}\n", encoding="utf-8"
    )
    result = _run("config", "check", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}: 1 problem",
        f"  {path}:4:15: models[0].api_base: environment variable NOT_SET_HERE is not set",
    ]


def test_config_check_reports_build_problems(tmp_path: Path) -> None:
    path = tmp_path / "nokey.yaml"
    path.write_text("models:\n  - name: gpt-4o\n    provider: openai\n", encoding="utf-8")
    result = _run("config", "check", str(path))  # OPENAI_API_KEY is dropped from the environment
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}: 1 problem",
        "  models[0].deployments[0].api_key: provider 'openai' needs an API key (use ${ENV_VAR})",
    ]
    ok = _run("config", "check", str(path), env=_env(OPENAI_API_KEY=SECRET))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"{path}: ok (1 model groups, 1 deployments)"


def test_config_check_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("models:\n  - name: a\n    provider: [openai\n", encoding="utf-8")
    result = _run("config", "check", str(path))
    assert result.returncode == 1
    first, second = result.stderr.splitlines()
    assert first == f"{path}: 1 problem"
    assert second.startswith(f"  {path}:4:")
    assert "invalid YAML" in second


def test_config_check_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    result = _run("config", "check", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}: 1 problem",
        f"  cannot read config file {path}: No such file or directory",
    ]


def test_no_command_prints_help() -> None:
    result = _run()
    assert result.returncode == 2
    assert "usage: switchpoint" in result.stdout
    assert "serve" in result.stdout and "config" in result.stdout


def test_serve_without_anything_to_serve(tmp_path: Path) -> None:
    result = _run("serve", env=_env(SWITCHPOINT_NO_LOCAL="1"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("switchpoint: no models to serve.")
    assert "pip install 'switchpoint[local]'" in result.stderr
    assert "OPENAI_API_KEY" in result.stderr


LEARNED = """models:
  - {name: smart, provider: openai_compat, model: gpt-4.1, api_base: "http://127.0.0.1:9/v1"}
  - {name: fast, provider: openai_compat, model: gpt-4.1-nano, api_base: "http://127.0.0.1:9/v1"}
routers:
  auto:
    default: fast
    policies:
      - kind: learned
        ARTIFACT
        candidates: {smart: {profile: SMART}, fast: {profile: gpt-4.1-nano}}
        objective: {threshold: 0.1}
"""


def test_config_check_loads_what_the_routers_load(tmp_path: Path) -> None:
    """What start-up would refuse, config check reports too: a learned candidate the router cannot place, and an
    artifact that is missing or is no artifact (before, check said ok and serve then failed to start)."""
    path = tmp_path / "learned.yaml"
    path.write_text(LEARNED.replace("ARTIFACT", "artifact: default").replace("SMART", "acme-chat-v2"), encoding="utf-8")
    result = _run("config", "check", str(path))
    assert result.returncode == 1
    first, second = result.stderr.splitlines()
    assert first == f"{path}: 1 problem"
    assert second.startswith("  routers.auto.policies[0]: model 'acme-chat-v2' is unknown to this router")
    garbage = tmp_path / "garbage.json.gz"
    garbage.write_bytes(b"not gzip")
    for artifact, message in ((tmp_path / "absent.json.gz", "router artifact not found"),
                              (garbage, "not a router artifact")):
        path.write_text(LEARNED.replace("ARTIFACT", f"artifact: {artifact}").replace("SMART", "gpt-4.1"),
                        encoding="utf-8")
        result = _run("config", "check", str(path))
        assert result.returncode == 1
        line = result.stderr.splitlines()[1]
        assert line.startswith("  routers.auto.policies[0].artifact: ") and message in line, result.stderr
    path.write_text(LEARNED.replace("ARTIFACT", "artifact: default").replace("SMART", "gpt-4.1"), encoding="utf-8")
    ok = _run("config", "check", str(path))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"{path}: ok (2 model groups, 2 deployments)"


def test_serve_refused_at_start_up_says_why_without_a_traceback(tmp_path: Path) -> None:
    """A config problem found while loading (here an unplaceable learned candidate) stops serve with the problem in
    one log line and a non-zero exit, not a Python traceback."""
    path = tmp_path / "learned.yaml"
    path.write_text(LEARNED.replace("ARTIFACT", "artifact: default").replace("SMART", "acme-chat-v2")
                    + "server: {port: 0}\n", encoding="utf-8")
    result = _run("serve", "--config", str(path))
    assert result.returncode != 0
    assert "startup failed: routers.auto.policies[0]: model 'acme-chat-v2' is unknown to this router" in result.stderr
    assert "Traceback" not in result.stderr
