"""Each policy on its own, and their composition in a Router (first opinion wins, default, shadow)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

from switchpoint.analysis import ARTIFACTS_DIR, PIIResult, RequestFeatures, TaskTypeResult
from switchpoint.analysis.embeddings import StaticEmbedder
from switchpoint.routing.cascade import CascadePolicy
from switchpoint.routing.decision import RouteDecision
from switchpoint.routing.learned_policy import LearnedCandidate, LearnedPolicy, decision_rule, estimate_cost
from switchpoint.routing.protocol import RouteContext
from switchpoint.routing.router import Gated, Router
from switchpoint.routing.rules import RulesPolicy, compile_rule
from switchpoint.routing.semantic import SemanticPolicy, SemanticRoute, fit_thresholds
from switchpoint.types import ChatRequest, Price
from switchpoint.validation import validate_chat_body
from tests.routing.fakes import FakePredictor, fake_learned_api


def request(text: str, *, tags: tuple[str, ...] = (), **body: Any) -> ChatRequest:
    return validate_chat_body({"model": "auto", "messages": [{"role": "user", "content": text}], **body},
                              request_id="r1", tags=tags)


def features(*, pii: bool = False, task: str = "conversation", tokens: int = 1000) -> RequestFeatures:
    return RequestFeatures(pii=PIIResult(pii, ("email",) if pii else ()), task_type=TaskTypeResult(task, {task: 0.9}),
                           prompt_tokens=tokens)


def ctx(text: str = "hello", feats: RequestFeatures | None = None, headers: dict[str, str] | None = None,
        **kwargs: Any) -> RouteContext:
    return RouteContext(request(text, **kwargs), feats, headers)


# -- rules ------------------------------------------------------------------------------------


def rules() -> RulesPolicy:
    return RulesPolicy("guard", [
        compile_rule("features.pii.found", "private", "personal data stays local"),
        compile_rule("features.task_type.label == 'coding'", "coder"),
        compile_rule("'premium' in tags or metadata.tier == 'gold'", "best"),
        compile_rule("request.temperature != null and request.temperature > 1", "creative"),
        compile_rule("headers.x-team == 'search' and model == 'auto'", "search"),
    ])


def test_rules_first_match_wins_with_reason_and_candidates() -> None:
    decision = rules().route(ctx(feats=features(pii=True, task="coding")))
    assert decision is not None and decision.group == "private" and decision.reason == "personal data stays local"
    assert [(c.group, c.chosen) for c in decision.candidates] == [
        ("private", True), ("coder", False), ("best", False), ("creative", False), ("search", False)]
    assert "not evaluated" in decision.candidates[1].why
    coding = rules().route(ctx(feats=features(task="coding")))
    assert coding is not None and coding.group == "coder"
    assert coding.reason == "rule 2: features.task_type.label == 'coding'"
    assert [c.why for c in coding.candidates[:2]] == ["rule 1 did not match", "rule 2 matched"]


@pytest.mark.parametrize(("kwargs", "group"), [
    ({"tags": ("premium",)}, "best"),
    ({"metadata": {"tier": "gold"}}, "best"),
    ({"temperature": 1.5}, "creative"),
    ({"temperature": 0.5}, None),
    ({"headers": {"X-Team": "search"}}, "search"),
    ({}, None),
])
def test_rules_read_request_fields_metadata_tags_and_headers(kwargs: dict[str, Any], group: str | None) -> None:
    headers = kwargs.pop("headers", None)
    decision = rules().route(ctx(feats=features(), headers=headers, **kwargs))
    assert (decision.group if decision else None) == group


def test_rules_that_read_no_features_do_not_need_analysis() -> None:
    assert rules().needs_features
    assert not RulesPolicy("tags", [compile_rule("'premium' in tags", "best")]).needs_features
    # without features a features condition is simply false: missing data is None
    assert RulesPolicy("pii", [compile_rule("features.pii.found", "x")]).route(ctx()) is None


def test_context_hides_credentials_and_exposes_the_last_user_message() -> None:
    context = RouteContext(validate_chat_body({"model": "auto", "metadata": {"tier": "gold"}, "messages": [
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second question"}]}, request_id="r"),
        None, {"Authorization": "Bearer sk-secret", "X-Api-Key": "k", "Cookie": "c", "X-Team": "a"})
    env = context.env()
    assert env["headers"] == {"x-team": "a"}
    assert env["last_user_message"] == "second question"
    assert "messages" not in env["request"] and env["metadata"] == {"tier": "gold"} and env["model"] == "auto"


# -- semantic -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder.load(ARTIFACTS_DIR / "static_embeddings.bin.gz")


BILLING = ("I was charged twice this month", "refund my last payment", "why is my invoice so high")
TROUBLE = ("the app crashes when I open it", "I get an error 500 when I log in", "the page does not load")


def semantic(embedder: StaticEmbedder, billing: float = 0.5, trouble: float = 0.5) -> SemanticPolicy:
    return SemanticPolicy("support", [SemanticRoute("billing", "cheap", BILLING, billing),
                                      SemanticRoute("troubleshooting", "expert", TROUBLE, trouble)], embedder)


def test_semantic_routes_by_similarity_with_thresholds(embedder: StaticEmbedder) -> None:
    policy = semantic(embedder)
    billing = policy.route(ctx("I think you billed my card twice, can I get a refund?"))
    assert billing is not None and billing.group == "cheap" and billing.detail["route"] == "billing"
    assert billing.detail["thresholds"] == {"billing": 0.5, "troubleshooting": 0.5}
    chosen = [c for c in billing.candidates if c.chosen]
    assert len(chosen) == 1 and chosen[0].score is not None and chosen[0].score >= 0.5
    trouble = policy.route(ctx("The app keeps crashing with an error when I log in"))
    assert trouble is not None and trouble.group == "expert"
    strict = semantic(embedder, billing=0.99, trouble=0.99)
    assert strict.route(ctx("I think you billed my card twice, can I get a refund?")) is None


def test_semantic_policy_without_embedder_has_no_opinion() -> None:
    policy = SemanticPolicy("support", [SemanticRoute("billing", "cheap", BILLING)])
    assert not policy.ready and policy.route(ctx("refund please")) is None


LABELLED = [
    ("you charged me twice for the same order", "billing"), ("please refund my payment", "billing"),
    ("my invoice shows the wrong amount", "billing"), ("how much is my bill this month", "billing"),
    ("the app crashes on start", "troubleshooting"), ("error 500 when logging in", "troubleshooting"),
    ("the website will not load for me", "troubleshooting"),
    ("the button does nothing when I click", "troubleshooting"),
    ("what is the capital of France", None), ("write me a poem about the sea", None),
    ("tell me a joke", None), ("translate good morning to German", None),
]


def test_fit_thresholds_is_at_least_as_accurate_as_the_start(embedder: StaticEmbedder) -> None:
    policy = semantic(embedder, billing=1.0, trouble=1.0)  # too strict: nothing matches
    result = fit_thresholds(policy, LABELLED)
    assert result.examples == len(LABELLED)
    assert result.accuracy_before == pytest.approx(4 / 12)  # only the "no route" examples are right
    assert result.accuracy > result.accuracy_before and result.accuracy >= 0.75
    assert set(result.thresholds) == {"billing", "troubleshooting"}
    assert all(0 < t <= 1 for t in result.thresholds.values())
    fitted = policy.with_thresholds(result.thresholds)
    right = sum((d.detail["route"] if (d := fitted.route(ctx(text))) else None) == label for text, label in LABELLED)
    assert right / len(LABELLED) == pytest.approx(result.accuracy)


def test_fit_rejects_labels_that_are_not_routes(embedder: StaticEmbedder) -> None:
    with pytest.raises(ValueError, match="not a route"):
        fit_thresholds(semantic(embedder), [("hi", "sales")])


# -- learned --------------------------------------------------------------------------------------


def learned(objective: dict[str, float], predictor: FakePredictor | None = None) -> LearnedPolicy:
    predictor = predictor or FakePredictor({"gpt-4o": 0.9, "mixtral": 0.6, "llama-8b": 0.4},
                                           bonus={"mixtral": 0.3, "llama-8b": 0.1})
    _, choose, _ = fake_learned_api(predictor)
    candidates = [LearnedCandidate("strong", "gpt-4o", Price(5.0, 15.0)),
                  LearnedCandidate("medium", "mixtral", Price(0.5, 1.5)),
                  LearnedCandidate("weak", "llama-8b", Price(0.1, 0.2))]
    if "threshold" in objective:
        candidates = candidates[:2]
    return LearnedPolicy("learned", candidates, decision_rule(objective, choose), objective=objective,
                         predictor=predictor, output_tokens=100)


def test_learned_quality_floor_picks_the_cheapest_good_enough() -> None:
    decision = learned({"quality_floor": 0.55}).route(ctx("hi", features(tokens=2000)))
    assert decision is not None and decision.group == "medium" and decision.kind == "learned"
    by_group = {c.group: c for c in decision.candidates}
    assert by_group["medium"].quality == pytest.approx(0.6)
    assert by_group["strong"].cost == pytest.approx(estimate_cost(Price(5.0, 15.0), 2000, 100))
    assert decision.predicted_quality == pytest.approx(0.6) and decision.predicted_cost == by_group["medium"].cost
    assert "q=0.60" in decision.reason and decision.detail["prompt_tokens"] == 2000
    hard = learned({"quality_floor": 0.85}).route(ctx("a proof please", features(tokens=2000)))
    assert hard is not None and hard.group == "medium"  # mixtral gains 0.3 on "proof" prompts: 0.9


def test_learned_uses_max_tokens_as_expected_output() -> None:
    decision = learned({"quality_floor": 0.3}).route(ctx("hi", features(tokens=10), max_tokens=5000))
    assert decision is not None and decision.detail["output_tokens"] == 5000
    strong = next(c for c in decision.candidates if c.group == "strong")
    assert strong.cost == pytest.approx(estimate_cost(Price(5.0, 15.0), 10, 5000))


def test_learned_lambda_trades_quality_for_cost() -> None:
    cheap = learned({"lambda": 1000.0}).route(ctx("hi", features(tokens=2000)))
    rich = learned({"lambda": 0.0}).route(ctx("hi", features(tokens=2000)))
    assert cheap is not None and rich is not None
    assert cheap.group == "weak" and rich.group == "strong"


def test_learned_threshold_strong_first() -> None:
    policy = learned({"threshold": 0.2})
    assert (d := policy.route(ctx("hi", features()))) is not None and d.group == "strong"  # gap 0.3
    assert (d := policy.route(ctx("a proof", features()))) is not None and d.group == "medium"  # gap 0.0


def test_learned_level_shifts_a_candidates_predicted_quality() -> None:
    base = learned({"quality_floor": 0.55})
    candidates = [base.candidates[0], dataclasses.replace(base.candidates[1], level=-1.0), base.candidates[2]]
    policy = LearnedPolicy("learned", candidates, base.rule, objective=base.objective, predictor=base.predictor,
                           output_tokens=100)  # fmt: skip
    assert policy.levels == {"strong": 0.0, "medium": -1.0, "weak": 0.0}
    decision = policy.route(ctx("hi", features(tokens=2000)))
    assert decision is not None and decision.group == "strong"  # mixtral 0.6 -> sigmoid(logit(0.6) - 1) = 0.356
    medium = next(c for c in decision.candidates if c.group == "medium")
    assert medium.quality == pytest.approx(1 / (1 + math.exp(-(math.log(0.6 / 0.4) - 1.0))), abs=1e-4)
    assert decision.detail["levels"] == {"strong": 0.0, "medium": -1.0, "weak": 0.0}
    base.set_levels({"medium": -1.0, "unknown": 3.0}, {"from": "test"})  # unknown groups are ignored
    assert base.levels == policy.levels and base.levels_source == {"from": "test"}
    again = base.route(ctx("hi", features(tokens=2000)))
    assert again is not None and again.group == "strong"
    assert "levels" not in learned({"quality_floor": 0.55}).route(ctx("hi", features())).detail  # type: ignore[union-attr]


def test_learned_without_predictor_has_no_opinion() -> None:
    policy = learned({"lambda": 1.0})
    policy.predictor = None
    assert policy.route(ctx("hi", features())) is None


# -- cascade and composition -------------------------------------------------------------------------


def test_cascade_starts_on_the_cheap_group_and_names_the_chain() -> None:
    decision = CascadePolicy("cheap-first", [("small", 0.6), ("big", None)]).route(ctx())
    assert decision is not None and decision.group == "small"
    assert [(c.group, c.chosen) for c in decision.candidates] == [("small", True), ("big", False)]
    assert "confidence < 0.6" in decision.candidates[1].why
    assert decision.detail["chain"] == [{"group": "small", "threshold": 0.6}, {"group": "big", "threshold": None}]


class Exploding:
    name, kind, needs_features = "boom", "rules", False

    def route(self, ctx: RouteContext) -> RouteDecision | None:
        raise RuntimeError("bug")


def test_router_first_opinion_wins_then_default_and_shadow_never_serves() -> None:
    router = Router("auto", [Exploding(), rules()], "general",
                    shadow=[RulesPolicy("vip", [compile_rule("'vip' in tags", "premium")]), Exploding()],
                    prices={"general": Price(1, 2), "coder": Price(3, 6), "private": Price(), "premium": Price(9, 9)})
    coding = router.decide(ctx(feats=features(task="coding"), tags=("vip",)))
    assert coding.group == "coder" and coding.router == "auto"
    assert coding.detail["failed"] == ["boom: RuntimeError", "boom: RuntimeError"]
    assert [s.group for s in coding.shadow] == ["premium"] and coding.shadow[0].router == "auto"
    costs = {c.group: c.cost for c in coding.candidates}  # priced from the groups' prices, when known
    assert costs["coder"] == pytest.approx(estimate_cost(Price(3, 6), 1000, 256)) and costs["private"] == 0.0
    assert costs["best"] is None
    plain = router.decide(ctx(feats=features()))
    assert plain.group == "general" and plain.kind == "default" and plain.shadow == []
    assert plain.reason == "no policy matched: default"
    assert plain.candidates[0].cost == pytest.approx(estimate_cost(Price(1, 2), 1000, 256))


def test_gated_policy_is_consulted_only_when_its_condition_holds() -> None:
    gated = Gated(CascadePolicy("c", [("small", 0.5), ("big", None)]),
                  compile_rule("features.complexity != null and features.complexity < 0.3", "-").condition, True)
    assert gated.needs_features and gated.kind == "cascade"
    easy = RequestFeatures(complexity=0.1)
    assert gated.route(ctx(feats=easy)) is not None
    assert gated.route(ctx(feats=RequestFeatures(complexity=0.9))) is None
    assert gated.route(ctx(feats=RequestFeatures())) is None


def test_router_without_feature_policies_skips_analysis() -> None:
    assert not Router("auto", [RulesPolicy("t", [compile_rule("'x' in tags", "a")])], "b").needs_features
    assert Router("auto", [rules()], "b").needs_features


def test_fake_api_covers_the_contract(tmp_path: Path) -> None:
    # keeps the stand-in honest: the budget rule and calibration behave as the contract says
    learned_mod, choose, calibrate = fake_learned_api(FakePredictor({"a": 0.5}))
    assert learned_mod.load_predictor("default").models() == ["a"]
    options = [choose.Option("a", 0.9, 1.0), choose.Option("b", 0.5, 0.1)]
    assert choose.choose_budget(options, 0.5, None).winner == "b"
    assert calibrate.calibrate_threshold([0.1, 0.5, 0.3, 0.2], 0.5) == 0.3
