"""The shared routing-quality data lives outside the repo (../shared/data/routing from the repo root); it is read in
place, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "routing"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "routellm_mmlu.jsonl").is_file():
        pytest.skip(f"routing data not found at {DATA}")
    return DATA
