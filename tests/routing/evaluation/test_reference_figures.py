"""The metric code reproduces the reference figures of the shared data README on the real files.

README: length router APGR 0.584 (MMLU) and 0.599 (GSM8K); oracle APGR 1.285 and 1.121; RouterBench slices zero
router AIQ 0.820, oracle 0.974. We compute the exact sweep (every distinct score), the reference evaluator a finite
one, so the figures agree to within 0.005 (the README puts MMLU figures at about +/-0.02).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from switchpoint.routing.evaluation.baselines import (
    length_scores,
    oracle_scores,
    oracle_sweep,
    random_scores,
    single_model_points,
)
from switchpoint.routing.evaluation.data import load_rows, models_in, rows_with
from switchpoint.routing.evaluation.metrics import PGRCurve, aiq

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"


@pytest.mark.parametrize(
    ("name", "length_apgr", "oracle_apgr"),
    [("routellm_mmlu", 0.584, 1.285), ("routellm_gsm8k", 0.599, 1.121)],
)
def test_two_model_baselines(data_dir: Path, name: str, length_apgr: float, oracle_apgr: float) -> None:
    rows = load_rows(data_dir / f"{name}.jsonl")
    assert models_in(rows) == [STRONG, WEAK]
    strong = [r.scores[STRONG] for r in rows]
    weak = [r.scores[WEAK] for r in rows]
    assert PGRCurve(length_scores(rows), strong, weak).apgr() == pytest.approx(length_apgr, abs=0.005)
    assert PGRCurve(oracle_scores(rows, STRONG, WEAK), strong, weak).apgr() == pytest.approx(oracle_apgr, abs=0.0005)
    random = PGRCurve(random_scores(rows), strong, weak)
    assert random.apgr() == pytest.approx(0.5)
    assert random.cpt(0.5) == pytest.approx(0.5) and random.cpt(0.8) == pytest.approx(0.8)


def test_routerbench_zero_router_and_oracle_aiq(data_dir: Path) -> None:
    rows = load_rows(data_dir / "routerbench_train.jsonl")
    models = models_in(rows)
    assert len(models) == 11
    rows = rows_with(rows, models, need_cost=True)  # 7 rows lack a score for some model
    singles = list(single_model_points(rows, models).values())
    assert aiq(singles, singles) == pytest.approx(0.820, abs=0.005)
    assert aiq(oracle_sweep(rows, models).points(), singles) == pytest.approx(0.974, abs=0.0005)
