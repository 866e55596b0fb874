"""Every YAML example in docs/routing.md is a config that loads, validates and builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from switchpoint.config import build as build_module
from switchpoint.config.build import build_gateway
from switchpoint.config.load import load_config
from tests.routing.fakes import FakePredictor, fake_learned_api

DOC = Path(__file__).resolve().parents[2] / "docs" / "routing.md"
EXAMPLES = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
KEYS = {name: "sk-doc-example-0123456789" for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")}


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_doc_example_loads(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = FakePredictor({"gpt-4-1106-preview": 0.9, "mixtral-8x7b-instruct": 0.7, "llama-3-8b-instruct": 0.5,
                               "strong": 0.9, "weak": 0.5})
    monkeypatch.setattr(build_module, "learned_api", lambda: fake_learned_api(predictor))
    path = tmp_path / "routing.yaml"
    path.write_text(EXAMPLES[index], encoding="utf-8")
    config = load_config(path, KEYS)
    assert config.routers, "every example declares a router"
    gateway = build_gateway(config, environ=KEYS)
    for router in gateway.routing.routers.values():
        for target in router.targets:
            gateway.resolve(target)  # every group a router may choose is served
