"""The public surface is deliberate, and the base install stays light."""

from __future__ import annotations

import subprocess
import sys

import switchpoint


def test_all_is_sorted_and_complete() -> None:
    assert switchpoint.__all__ == sorted(switchpoint.__all__)
    public = {name for name in dir(switchpoint) if not name.startswith("_")}
    exported = set(switchpoint.__all__) - {"__version__"}
    modules = {
        "typing", "metrics", "streaming", "analysis", "analytics", "dashboard", "balancing", "cli", "clock",
        "config", "engine", "errors", "protocols", "providers", "sdk", "server", "storage", "testing", "types",
        "validation", "local", "routing", "tracing",
    }
    assert public - modules == exported


def test_base_import_pulls_no_heavy_dependencies() -> None:
    code = (
        "import sys, switchpoint, switchpoint.server.run, switchpoint.testing; "
        "heavy = [m for m in ('torch', 'numpy', 'openai', 'anthropic', 'xllamacpp', 'httpx') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
