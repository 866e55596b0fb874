"""The learned router's features are frozen with it: retraining an analysis model, or changing the
feature code, must fail loudly instead of silently changing routing (issue 6).

The shipped default router records the SHA-256 of each feature file it was trained with and the
dense features of fixed probe prompts; these tests fail when what the featurizer loads or computes
today differs from that record, and check that loading refuses a drifted featurizer.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
from pathlib import Path

import pytest

from switchpoint.analysis.linear import LinearModel
from switchpoint.routing.learned.artifact import DEFAULT_ARTIFACT, load_predictor
from switchpoint.routing.learned.features import (
    _NUMBER,
    _SENTENCE_END,
    ANALYSIS_ARTIFACTS,
    FEATURE_FILES,
    ROUTER_FEATURES,
    PromptFeaturizer,
    file_digest,
)


def _record() -> dict[str, object]:
    with gzip.open(DEFAULT_ARTIFACT, "rt", encoding="utf-8") as file:
        features: dict[str, object] = json.load(file)["features"]
    return features


def test_default_router_feature_files_unchanged() -> None:
    recorded = _record()["files"]
    assert isinstance(recorded, dict)
    assert sorted(recorded) == sorted(FEATURE_FILES)
    for name, where in FEATURE_FILES.items():
        assert file_digest(where / name) == recorded[name], (
            f"{where / name} is not the file the default router was trained with: restore it, or retrain the "
            "router (scripts/routing/build_default.py)"
        )


def test_default_router_feature_code_unchanged() -> None:
    probes = _record()["probes"]
    assert isinstance(probes, list)
    featurizer = PromptFeaturizer.load()
    assert len(probes) == len(featurizer.probes())
    for old, new in zip(probes, featurizer.probes(), strict=True):
        assert new == pytest.approx(old, abs=1e-4), "the router's feature code computes other values than at training"


def test_router_owns_its_feature_models() -> None:
    # only the (large) embeddings are shared with the analysis pipeline; the linear models and the
    # lexicon are the router's pinned copies, so retraining analysis cannot reach them
    assert {n for n, where in FEATURE_FILES.items() if where == ANALYSIS_ARTIFACTS} == {"static_embeddings.bin.gz"}
    assert load_predictor("default").kind == "mf"  # the load itself checks files and probes


def test_load_refuses_drifted_feature_models(tmp_path: Path) -> None:
    # an analysis-style retrain: another complexity model in place of the pinned one
    for name, where in FEATURE_FILES.items():
        shutil.copy(where / name, tmp_path / name)
    shutil.copy(ANALYSIS_ARTIFACTS / "complexity.json.gz", tmp_path / "complexity.json.gz")
    if file_digest(tmp_path / "complexity.json.gz") == file_digest(ROUTER_FEATURES / "complexity.json.gz"):
        model = LinearModel.load(tmp_path / "complexity.json.gz")
        LinearModel(
            model.classes, [b + 1.0 for b in model.bias], model.weights, quantum=model.quantum, name=model.name
        ).dump(tmp_path / "complexity.json.gz")
    with pytest.raises(ValueError, match=r"other feature model files than loaded \(complexity.json.gz differ"):
        load_predictor("default", featurizer=PromptFeaturizer.load(tmp_path))


def test_load_refuses_drifted_feature_code(monkeypatch: pytest.MonkeyPatch) -> None:
    featurizer = PromptFeaturizer.load()
    original = featurizer.features

    def shifted(text: str):  # type: ignore[no-untyped-def]
        f = original(text)
        f.dense[-1] += 0.01  # the same files, other values: e.g. a changed text-feature function
        return f

    monkeypatch.setattr(featurizer, "features", shifted)
    with pytest.raises(ValueError, match="feature code computes other values"):
        load_predictor("default", featurizer=featurizer)


def test_size_cue_patterns_match_their_original_forms() -> None:
    # router_text_features counts numbers and sentence ends with patterns rewritten for speed
    # (``\d+`` as ``\d\d*``): they must find what the patterns the router was trained with find
    number = re.compile(r"\d+(?:[.,]\d+)?")
    sentence_end = re.compile(r"[.!?。！？]+(?:\s|$)")
    pieces = ["1", "22", "٣", "３", ".", ",", "!", "?", "。", "！", "？", " ", "\n", "\u3000", "a", "é", "中", "..",
              "1.5", "2,3", "?!", "x."]
    rng = random.Random(5)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        assert _NUMBER.findall(text) == number.findall(text), text
        assert _SENTENCE_END.findall(text) == sentence_end.findall(text), text
