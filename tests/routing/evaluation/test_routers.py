"""Routers as the evaluation uses them: the length kind, artifacts, and pooled k-fold predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from switchpoint.routing.evaluation.data import RoutingRow
from switchpoint.routing.evaluation.routers import (
    EvalRouter,
    EvaluationError,
    LengthRouter,
    PredictorRouter,
    cross_validated,
    load_router,
    save_router,
    train_router,
)

ROWS = [RoutingRow(id=str(i), dataset="t", prompt="x" * (i + 1), scores={"a": 1.0, "b": 0.0}) for i in range(10)]


def test_length_router_scores_and_artifact(tmp_path: Path) -> None:
    router = train_router("length", ROWS)
    assert router.two_model_scores(ROWS, "a", "b") == [float(i + 1) for i in range(10)]
    with pytest.raises(EvaluationError, match="only ranks prompts for two models"):
        router.qualities(ROWS, ["a", "b", "c"])
    path = tmp_path / "length.json"
    save_router(router, path)
    assert isinstance(load_router(str(path)), LengthRouter)
    assert isinstance(load_router("length"), LengthRouter)


def test_unknown_router_and_kind() -> None:
    with pytest.raises(EvaluationError, match="unknown router kind 'x'"):
        train_router("x", ROWS)
    with pytest.raises(EvaluationError, match="no router 'missing.json'"):
        load_router("missing.json")


class _Fake:
    """A predictor that knows only 'a' and 'b' (q̂ = prompt length / 10 for a, 0.3 for b)."""

    kind = "fake"

    def models(self) -> Sequence[str]:
        return ["a", "b"]

    def predict(self, text: str, models: Sequence[str]) -> dict[str, float]:
        table = {"a": len(text) / 10, "b": 0.3}
        for m in models:
            if m not in table:
                raise KeyError(f"unknown model {m!r}")
        return {m: table[m] for m in models}


def test_predictor_router_score_is_the_predicted_gain() -> None:
    router = PredictorRouter(_Fake(), "fake")
    assert router.two_model_scores(ROWS[:2], "a", "b") == pytest.approx([0.1 - 0.3, 0.2 - 0.3])
    with pytest.raises(EvaluationError, match="router fake: unknown model 'c'"):
        router.qualities(ROWS[:1], ["a", "c"])


def test_cross_validation_predicts_each_row_once_from_the_other_folds() -> None:
    seen: list[list[str]] = []

    def predict(router: EvalRouter, rows: Sequence[RoutingRow]) -> list[str]:
        seen.append([r.id for r in rows])
        return [f"p{r.id}" for r in rows]

    out = cross_validated("length", ROWS, 3, predict, seed=1)
    assert out == [f"p{i}" for i in range(10)]
    assert sorted(i for fold in seen for i in fold) == sorted(r.id for r in ROWS)
    assert sorted(len(fold) for fold in seen) == [3, 3, 4]
    with pytest.raises(EvaluationError, match="at least 2"):
        cross_validated("length", ROWS, 1, predict)
