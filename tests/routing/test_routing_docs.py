"""Every YAML example in docs/routing.md is a config that loads, validates and builds, with the real
shipped predictor (so every profile a learned example names resolves)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson
import pytest

from switchpoint.config.build import build_gateway
from switchpoint.config.load import load_config
from switchpoint.validation import parse_chat_request

DOC = Path(__file__).resolve().parents[2] / "docs" / "routing.md"
EXAMPLES = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
KEYS = {name: "sk-doc-example-0123456789" for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")}


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_doc_example_loads(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "calibration.jsonl").write_text(
        "".join(f'{{"prompt": "question {i}: ' + "why " * i + '"}\n' for i in range(40)), encoding="utf-8")
    path = tmp_path / "routing.yaml"
    path.write_text(EXAMPLES[index], encoding="utf-8")
    config = load_config(path, KEYS)
    assert config.routers, "every example declares a router"
    gateway = build_gateway(config, environ=KEYS)
    for router in gateway.routing.routers.values():
        for target in router.targets:
            gateway.resolve(target)  # every group a router may choose is served
    request = parse_chat_request(orjson.dumps({"model": "auto", "messages": [
        {"role": "user", "content": "Write a Python function that sums a list; my email is a@b.example"}]}))

    async def decide_each() -> None:
        await gateway.routing.start()
        for router in gateway.routing.routers.values():
            decision, _ = await gateway.routing.decide(router, request, {"x-team": "search"})
            assert decision.to_dict().get("detail", {}).get("failed") in (None, []), decision.to_dict()
            gateway.resolve(decision.to_dict()["chosen"])

    asyncio.run(decide_each())
    gateway.routing.close()


def test_an_unknown_learned_profile_stops_the_start(tmp_path: Path) -> None:
    from switchpoint.errors import ConfigError

    path = tmp_path / "routing.yaml"
    path.write_text(EXAMPLES[0].split("routers:")[0] + """
routers:
  auto:
    default: general
    policies:
      - kind: learned
        candidates: {general: {profile: no-such-model-anywhere}, coder: {profile: "tier:frontier"}}
        objective: {lambda: 100}
""", encoding="utf-8")
    gateway = build_gateway(load_config(path, KEYS), environ=KEYS)
    with pytest.raises(ConfigError, match="no-such-model-anywhere.*tier:frontier"):
        asyncio.run(gateway.routing.start())
