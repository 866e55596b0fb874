"""The shipped default router on real data it was not trained on: a held-out slice of a training file.

``scripts/routing/build_default.py`` leaves out the rows of the training files whose
``crc32(id) % 10 == 0``; on that slice of ``routerbench_train`` (gpt-4-1106-preview vs
Mixtral-8x7B, the evaluation pair) the default router must rank prompts better than the
prompt-length baseline. Skipped when the shared data folder is absent.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from switchpoint.routing.evaluation.metrics import apgr
from switchpoint.routing.learned.artifact import load_predictor

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "routing" / "routerbench_train.jsonl"
STRONG, WEAK = "gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data/routing is not present")
def test_default_beats_length_on_held_out_rows() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    held = [r for r in rows if zlib.crc32(r["id"].encode()) % 10 == 0
            and r["scores"].get(STRONG) is not None and r["scores"].get(WEAK) is not None]
    assert len(held) > 150
    predictor = load_predictor("default")
    assert predictor.kind == "mf"
    scores = []
    for r in held:
        q = predictor.predict(r["prompt"], [STRONG, WEAK])
        assert 0.0 <= q[STRONG] <= 1.0 and 0.0 <= q[WEAK] <= 1.0
        scores.append(q[STRONG] - q[WEAK])
    strong = [r["scores"][STRONG] for r in held]
    weak = [r["scores"][WEAK] for r in held]
    router = apgr(scores, strong, weak)
    length = apgr([float(len(r["prompt"])) for r in held], strong, weak)
    print(f"held-out routerbench rows: {len(held)}, APGR default {router:.3f}, length {length:.3f}")
    assert router > length


RouterDC = DATA.parent / "routerdc7_train.jsonl"


@pytest.mark.skipif(not RouterDC.exists(), reason="../shared/data/routing is not present")
def test_default_picks_per_prompt_among_models_without_costs() -> None:
    """RouterDC's 7 open models (no costs) on the held-out slice: the model the default predicts best scores at
    least as well as the best single model (measured 0.578 vs 0.569; the old artifact without task levels
    0.570), far above a random pick, and the picks follow the prompts (several models chosen)."""
    from switchpoint.routing.evaluation.data import load_rows, models_in, rows_with
    from switchpoint.routing.evaluation.report import quality_report
    from switchpoint.routing.evaluation.routers import load_router

    rows = load_rows(RouterDC)
    models = models_in(rows)
    held = rows_with([r for r in rows if zlib.crc32(r.id.encode()) % 10 == 0], models)
    assert len(held) > 500
    report = quality_report(held, models, load_router("default").qualities(held, models), resamples=0)
    assert report.router is not None
    print(f"held-out routerdc rows: {len(held)}, default {report.router.quality:.3f}, "
          f"best single {report.baselines['best_single'].quality:.3f}")
    assert report.router.quality >= report.baselines["best_single"].quality
    assert report.router.quality > report.baselines["random"].quality + 0.05
    assert sum(share >= 0.1 for share in report.picks.values()) >= 3


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data/routing is not present")
def test_placement_profiles_are_no_training_column() -> None:
    """The profiles kept for placing unknown models must not pool or tier any training column: the shipped router's
    training would silently change with them."""
    from switchpoint.routing.learned.profiles import PLACEMENT_PROFILES, normalize

    columns: set[str] = set()
    for name in ("routerbench_train", "routerdc7_train", "alpacaeval2"):
        for line in (DATA.parent / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            columns.update(normalize(c) for c in json.loads(line)["scores"])
    assert len(columns) > 60
    spellings = {normalize(s) for p in PLACEMENT_PROFILES for s in (p.name, *p.aliases)}
    assert not spellings & columns
