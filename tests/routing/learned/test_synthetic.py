"""The synthetic trivial messages: their shape, and that the behaviour checks' messages stay held out."""

from __future__ import annotations

import re

import pytest

from switchpoint.routing.learned.features import PromptFeaturizer
from switchpoint.routing.learned.synthetic import TRIVIAL_DATASET, TRIVIAL_MODELS, trivial_rows


@pytest.fixture(scope="module")
def featurizer() -> PromptFeaturizer:
    return PromptFeaturizer.load()


def _plain(text: str) -> str:
    return re.sub(r"[^\w ]+", "", text.lower()).strip()


def test_trivial_rows_are_deterministic_and_score_every_model_one() -> None:
    rows = trivial_rows()
    assert rows == trivial_rows()
    assert len(rows) == 270 and len({r["id"] for r in rows}) == 270
    assert all(r["dataset"] == TRIVIAL_DATASET and r["scores"] == dict.fromkeys(TRIVIAL_MODELS, 1.0) for r in rows)
    assert {"Good morning!", "good morning :)", "こんにちは"} <= {r["prompt"] for r in rows}


def test_the_behaviour_checks_messages_are_not_among_them() -> None:
    plain = {_plain(r["prompt"]) for r in trivial_rows()}
    assert not {"hi there", "hello", "thanks"} & plain


def test_trivial_models_are_trained_names_of_every_tier() -> None:
    from switchpoint.routing.learned.profiles import builtin_tier, canonical_training_name

    assert all(canonical_training_name(m, TRIVIAL_MODELS) == m for m in TRIVIAL_MODELS)
    assert {builtin_tier(m) for m in TRIVIAL_MODELS} == {"frontier", "large", "medium", "small"}


def test_training_adds_them_with_or_without_precomputed_features(featurizer: PromptFeaturizer) -> None:
    pytest.importorskip("numpy")
    from switchpoint.routing.learned.predictors import FactorPredictor
    from switchpoint.routing.learned.train import TrainOptions, train

    rows = [{"id": str(i), "dataset": "exam", "prompt": f"What is {i} * 13? Show the steps.",
             "scores": {"gpt-4-1106-preview": 1.0, "mistral-7b-chat": float(i % 3 == 0)}} for i in range(30)]
    options = TrainOptions(iterations=30, rank=2, trivial_prompts=True)
    features = [featurizer.features(str(r["prompt"])) for r in rows]
    with_features = train("mf", rows, featurizer=featurizer, features=features, options=options)
    without = train("mf", rows, featurizer=featurizer, options=options)
    assert isinstance(with_features, FactorPredictor) and isinstance(without, FactorPredictor)
    assert sorted(with_features.tasks) == ["exam:", f"{TRIVIAL_DATASET}:"]
    assert sorted(with_features.models()) == ["gpt-4-1106-preview", "mistral-7b-chat"]  # no model enters by them
    for text in ("good evening", "What is 7 * 13? Show the steps."):
        assert with_features.predict(text, ["gpt-4-1106-preview"]) == without.predict(text, ["gpt-4-1106-preview"])


def test_rows_of_other_models_get_no_synthetic_rows(featurizer: PromptFeaturizer) -> None:
    pytest.importorskip("numpy")
    from switchpoint.routing.learned.predictors import FactorPredictor
    from switchpoint.routing.learned.train import TrainOptions, train

    assert trivial_rows([]) == []
    rows = [{"id": str(i), "dataset": "house", "meta": {"subset": f"s{i % 2}"}, "prompt": f"Summarise report {i}.",
             "scores": {"house-big": 1.0, "house-small": float(i % 2)}} for i in range(20)]
    predictor = train("mf", rows, featurizer=featurizer, options=TrainOptions(iterations=20, rank=2))
    assert isinstance(predictor, FactorPredictor)
    assert sorted(predictor.models()) == ["house-big", "house-small"] and TRIVIAL_DATASET + ":" not in predictor.tasks
