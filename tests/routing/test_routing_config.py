"""The ``routers:`` config section: validation with file:line:col, and what the build wires."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from switchpoint.config import build as build_module
from switchpoint.config.build import build_gateway
from switchpoint.config.defaults import default_config_data
from switchpoint.config.load import load_config, parse_config
from switchpoint.errors import ConfigError
from switchpoint.routing.protocol import RouteContext
from switchpoint.validation import validate_chat_body
from tests.routing.fakes import FakePredictor, fake_learned_api

HEAD = """models:
  - name: general
    provider: openai_compat
    api_base: http://127.0.0.1:9/v1
    input_cost_per_mtok: 1
    output_cost_per_mtok: 2
  - name: coder
    provider: openai_compat
    api_base: http://127.0.0.1:9/v1
    input_cost_per_mtok: 3
    output_cost_per_mtok: 6
"""


def problems(tmp_path: Path, routers: str) -> list[str]:
    path = tmp_path / "switchpoint.yaml"
    path.write_text(HEAD + routers, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    return [p.replace(str(path), "FILE") for p in info.value.problems]


def test_bad_expression_is_reported_with_file_line_and_column(tmp_path: Path) -> None:
    found = problems(tmp_path, """routers:
  auto:
    default: general
    policies:
      - kind: rules
        rules:
          - when: "features.task_type.label == 'coding'"
            to: coder
          - when: "features.pii.found and and"
            to: general
""")
    assert len(found) == 1
    assert found[0] == ("FILE:20:19: routers.auto.policies[0].rules[1].when: invalid condition: "
                        "expected an operand, got 'and' at column 24: features.pii.found and and")


def test_unknown_root_name_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, """routers:
  auto:
    default: general
    policies:
      - {kind: rules, rules: [{when: "secrets.key == 1", to: coder}]}
""")
    assert "unknown name 'secrets.key'" in found[0] and found[0].startswith("FILE:16:38: ")


def test_rule_pointing_to_an_unknown_group(tmp_path: Path) -> None:
    found = problems(tmp_path, """routers:
  auto:
    default: general
    policies:
      - kind: rules
        rules:
          - when: "'x' in tags"
            to: codr
""")
    assert found == ["FILE:19:17: routers.auto.policies[0].rules[0].to: unknown model group 'codr' "
                     "(known: coder, general)"]


def test_semantic_route_without_utterances(tmp_path: Path) -> None:
    found = problems(tmp_path, """routers:
  auto:
    default: general
    policies:
      - kind: semantic
        routes:
          billing: {to: general, examples: []}
""")
    assert len(found) == 1 and found[0].startswith("FILE:18:")
    assert "routers.auto.policies[0].routes.billing.examples" in found[0]
    assert "at least one example utterance" in found[0]


@pytest.mark.parametrize(("router", "message"), [
    ({"default": "nope"}, "routers.auto.default: unknown model group 'nope'"),
    ({"default": "auto"}, "'auto' is a router"),
    ({"default": "general", "policies": [{"kind": "rules"}]}, "a rules policy needs rules"),
    ({"default": "general", "policies": [{"kind": "rules", "rules": [{"when": "true", "to": "coder"}],
                                          "start": "coder"}]}, "not for a rules policy: start"),
    ({"default": "general", "policies": [{"kind": "cascade", "start": "coder"}]}, "has no cascade"),
    ({"default": "general", "policies": [{"kind": "learned", "candidates": {"coder": {}},
                                          "objective": {"lambda": 1}}]}, "at least two candidates"),
    ({"default": "general", "policies": [{"kind": "learned", "candidates": {"coder": {}, "general": {}},
                                          "objective": {"lambda": 1, "quality_floor": 0.5}}]}, "exactly one of"),
    ({"default": "general", "policies": [{"kind": "learned", "candidates": {"coder": {}, "general": {}},
                                          "objective": {"strong_share": 0.3}}]}, "strong_share needs calibration"),
    ({"default": "general", "policies": [{"kind": "cascade", "start": "coder", "when": "(("}]}, "invalid condition"),
    ({"default": "general", "policies": [{"kind": "rules", "rules": [{"when": "true", "to": "coder"}]},
                                         {"kind": "rules", "rules": [{"when": "true", "to": "coder"}]}]},
     "two policies named 'rules'"),
])
def test_router_config_problems(router: dict[str, Any], message: str) -> None:
    config = {"models": [{"name": "general", "provider": "openai_compat", "api_base": "http://127.0.0.1:9/v1"},
                         {"name": "coder", "provider": "openai_compat", "api_base": "http://127.0.0.1:9/v1"}],
              "routers": {"auto": router}}
    with pytest.raises(ConfigError) as info:
        parse_config(config, {})
    assert any(message in p for p in info.value.problems), info.value.problems


def test_router_may_not_take_a_group_name() -> None:
    with pytest.raises(ConfigError, match="has the name of a model group"):
        parse_config({"models": [{"name": "general", "provider": "openai_compat", "api_base": "http://x/v1"}],
                      "routers": {"general": {"default": "general"}}}, {})


def test_targets_may_be_served_by_a_wildcard_group() -> None:
    config = parse_config({"models": [{"name": "openai/*", "provider": "openai_compat", "model": "*",
                                       "api_base": "http://x/v1"}],
                           "routers": {"auto": {"default": "openai/gpt-4o-mini"}}}, {})
    gateway = build_gateway(config)
    assert gateway.deployments_for("auto")[0].model == "*"


def cascade_config() -> dict[str, Any]:
    return {"models": [
        {"name": "small", "provider": "openai_compat", "api_base": "http://x/v1", "cascade": {"next": "big",
                                                                                          "threshold": 0.7}},
        {"name": "big", "provider": "openai_compat", "api_base": "http://x/v1"}],
        "routers": {"auto": {"default": "big", "policies": [{"kind": "cascade", "start": "small"}]}}}


def test_cascade_policy_uses_the_groups_cascade_chain() -> None:
    gateway = build_gateway(parse_config(cascade_config(), {}))
    router = gateway.routing.routers["auto"]
    assert router.targets == ["big", "small"] and not router.needs_artifacts

    async def decide() -> Any:
        request = validate_chat_body({"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
                                     request_id="r")
        return await gateway.routing.decide(router, request)

    decision, features = asyncio.run(decide())
    assert features is None and not gateway.routing.analysis.loaded  # nothing needed the analysis
    assert decision.group == "small" and decision.detail["chain"][0] == {"group": "small", "threshold": 0.7}


def learned_config(tmp_path: Path, objective: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"models": [
        {"name": "strong", "provider": "openai_compat", "api_base": "http://x/v1", "input_cost_per_mtok": 5,
         "output_cost_per_mtok": 15},
        {"name": "weak", "deployments": [
            {"provider": "openai_compat", "api_base": "http://x/v1", "input_cost_per_mtok": 0.6,
             "output_cost_per_mtok": 0.6},
            {"provider": "openai_compat", "id": "cheaper", "api_base": "http://y/v1", "input_cost_per_mtok": 0.2,
             "output_cost_per_mtok": 0.2}]}],
        "routers": {"auto": {"default": "weak", "policies": [{
            "kind": "learned", "candidates": {"strong": {"profile": "gpt-4o"}, "weak": {"profile": "mixtral"}},
            "objective": objective, **extra}]}}}


def test_learned_policy_from_config_with_calibrated_strong_share(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = FakePredictor({"gpt-4o": 0.9, "mixtral": 0.5}, bonus={"mixtral": 0.35})
    monkeypatch.setattr(build_module, "learned_api", lambda: fake_learned_api(predictor))
    prompts = tmp_path / "calibration.jsonl"
    lines = [{"prompt": f"a proof of lemma {i}"} for i in range(7)] + [{"prompt": f"hello {i}"} for i in range(3)]
    prompts.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
    config = parse_config(learned_config(tmp_path, {"strong_share": 0.3}, calibration=str(prompts)), {})
    gateway = build_gateway(config)

    async def run() -> list[Any]:
        await gateway.start()  # loads the predictor and calibrates, in a worker thread
        out = []
        for text in ("hello there", "a proof of the lemma"):
            request = validate_chat_body({"model": "auto", "messages": [{"role": "user", "content": text}]},
                                         request_id="r")
            out.append(await gateway.routing.decide(gateway.routing.routers["auto"], request))
        gateway.routing.close()
        return out

    (easy, easy_features), (hard, _) = asyncio.run(run())
    # 3 of 10 calibration prompts have a gap of 0.4, 7 a gap of 0.05: a 30% share puts the threshold at 0.4
    policy = gateway.routing.routers["auto"].policies[0]
    assert policy.objective["threshold"] == pytest.approx(0.4)
    assert easy.group == "strong" and hard.group == "weak"
    assert easy.predicted_quality == pytest.approx(0.9)
    weak = next(c for c in easy.candidates if c.group == "weak")
    assert easy_features is not None
    assert weak.cost == pytest.approx((easy_features.prompt_tokens * 0.2 + 256 * 0.2) / 1e6)  # cheapest deployment
    # new levels (adapt) keep the share: the 3 "hello" prompts (now the gap of 0.9 levelled -1 vs 0.5)
    # still top the calibration set, so the threshold follows them, and "hello there" still goes strong
    policy.set_levels({"strong": -1.0}, {"from": "test"})
    levelled = 1 / (1 + math.exp(-(math.log(9) - 1)))
    assert policy.objective["threshold"] == pytest.approx(levelled - 0.5, abs=1e-6)
    ctx = RouteContext(validate_chat_body({"model": "auto", "messages": [{"role": "user", "content": "hello there"}]},
                                          request_id="r"), easy_features)  # fmt: skip
    again = policy.route(ctx)
    assert again is not None and again.group == "strong"


def test_learned_candidate_levels_shift_the_calibration_and_the_decisions(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = FakePredictor({"gpt-4o": 0.9, "mixtral": 0.5}, bonus={"mixtral": 0.35})
    monkeypatch.setattr(build_module, "learned_api", lambda: fake_learned_api(predictor))
    prompts = tmp_path / "calibration.jsonl"
    prompts.write_bytes(b"\n".join(orjson.dumps({"prompt": f"hello {i}"}) for i in range(4)))
    data = learned_config(tmp_path, {"strong_share": 0.5}, calibration=str(prompts))
    data["routers"]["auto"]["policies"][0]["candidates"]["strong"]["level"] = -1.0
    gateway = build_gateway(parse_config(data, {}))
    asyncio.run(gateway.start())
    gateway.routing.close()
    policy = gateway.routing.routers["auto"].policies[0]
    # every calibration gap is q(strong) - q(weak) with the strong level applied: sigmoid(logit(0.9) - 1) - 0.5
    assert policy.objective["threshold"] == pytest.approx(1 / (1 + math.exp(-(math.log(9) - 1))) - 0.5, abs=1e-6)
    # levels changed later (by adapt) recalibrate the held share: 2 of the 4 prompts still go to strong
    policy.set_levels({"strong": -3.0, "weak": 1.0}, {"from": "test"})
    assert policy.objective["threshold"] == pytest.approx(
        1 / (1 + math.exp(-(math.log(9) - 3))) - 1 / (1 + math.exp(-1.0)), abs=1e-6)
    for level in ("inf", 25, "high"):
        data["routers"]["auto"]["policies"][0]["candidates"]["strong"]["level"] = level
        with pytest.raises(ConfigError, match="level"):
            parse_config(data, {})


def test_learned_policy_reports_when_the_learned_package_is_missing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise ValueError("the learned policy needs switchpoint.routing.learned, which cannot be imported: x")

    monkeypatch.setattr(build_module, "learned_api", missing)
    with pytest.raises(ConfigError, match=r"routers.auto.policies\[0\]: the learned policy needs"):
        build_gateway(parse_config(learned_config(tmp_path, {"lambda": 10}), {}))


def test_zero_config_default_exposes_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("switchpoint.config.defaults.missing_local_modules", list)
    both = parse_config(default_config_data({"OPENAI_API_KEY": "sk-test-1234567890"}), {"OPENAI_API_KEY": "sk-x"})
    auto = both.routers["auto"]
    assert auto.default == "gpt-4o-mini" and auto.policies[0].rules is not None
    assert auto.policies[0].rules[0].to == "local"
    local_only = parse_config(default_config_data({}), {})
    assert local_only.routers["auto"].default == "local" and local_only.routers["auto"].policies == []
    monkeypatch.setattr("switchpoint.config.defaults.missing_local_modules", lambda: ["xllamacpp"])
    hosted = parse_config(default_config_data({"OPENAI_API_KEY": "k"}), {"OPENAI_API_KEY": "sk-x"})
    assert hosted.routers["auto"].default == "gpt-4o-mini"
    custom = default_config_data({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"})
    assert "routers" not in custom


def test_learned_length_prior_replaces_the_artifacts(tmp_path: Path) -> None:
    """``length_prior:`` on a learned policy: the shipped router served with the prior it was trained with
    replaced (0 for chat traffic); a knn artifact has no prior to replace (a config error at start);
    out-of-range values and the key on another policy kind are refused when the config is parsed."""
    from switchpoint.routing.learned import load_predictor

    real = {"strong": {"profile": "gpt-4o"}, "weak": {"profile": "mixtral-8x7b"}}
    gateway = build_gateway(parse_config(learned_config(tmp_path, {"lambda": 10}, candidates=real, length_prior=0), {}))

    async def start(gw: Any) -> None:
        try:
            await gw.start()
        finally:
            gw.routing.close()

    asyncio.run(start(gateway))
    served = gateway.routing.routers["auto"].policies[0].predictor
    shipped = load_predictor("default")
    assert served.meta["length_prior"] == 0 and shipped.meta["length_prior"] == 0.1
    long_text = "Please review the following contract clause by clause. " * 60
    names = ["gpt-4o", "mixtral-8x7b"]
    assert served.predict(long_text, names) == pytest.approx(shipped.with_length_prior(0).predict(long_text, names))
    gaps = [(q := p.predict(long_text, names))["gpt-4o"] - q["mixtral-8x7b"] for p in (served, shipped)]
    assert gaps[0] < gaps[1]  # without the prior, a long prompt favours the strong model less
    request = validate_chat_body({"model": "auto", "messages": [{"role": "user", "content": long_text}]},
                                 request_id="r")
    decision, _ = asyncio.run(gateway.routing.decide(gateway.routing.routers["auto"], request))
    assert decision.detail["length_prior"] == 0  # the decision says which prior it was made with
    # and which training task the prompt is most like (the default router serves per-task levels)
    task = decision.detail["task"]
    assert set(task) == {"like", "p"} and task["like"] in served.tasks and 0 < task["p"] <= 1
    code = "def merge(a, b):\n    return sorted(a + b)\n\nWrite a Python function that merges two sorted lists."
    assert served.predict_with_task(code, names)[1][0] == "routerbench_slices:mbpp"

    pytest.importorskip("numpy")
    from switchpoint.routing.learned import save_predictor
    from switchpoint.routing.learned.train import train

    rows = [{"id": str(i), "prompt": f"question {i}", "scores": {"gpt-4o": 1.0, "mixtral-8x7b": float(i % 2)}}
            for i in range(8)]
    knn = tmp_path / "knn.json.gz"
    save_predictor(train("knn", rows), knn)
    gateway = build_gateway(parse_config(learned_config(tmp_path, {"lambda": 10}, artifact=str(knn),
                                                        candidates=real, length_prior=0), {}))
    with pytest.raises(ConfigError, match=r"policies\[0\]: length_prior applies to mf and linear routers, not to knn"):
        asyncio.run(start(gateway))

    for bad in (1.5, float("nan")):
        with pytest.raises(ConfigError, match="length_prior"):
            parse_config(learned_config(tmp_path, {"lambda": 10}, length_prior=bad), {})
    rules = {"models": [{"name": "a", "provider": "openai_compat", "api_base": "http://x/v1"}],
             "routers": {"auto": {"default": "a", "policies": [
                 {"kind": "rules", "rules": [{"when": "true", "to": "a"}], "length_prior": 0}]}}}
    with pytest.raises(ConfigError, match="length_prior"):
        parse_config(rules, {})
