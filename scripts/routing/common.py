"""Shared helpers of the routing build scripts: data loading, a feature cache, quick scoring.

The routing outcome data is read in place from ../shared/data/routing (never copied). Features
are cached under /tmp (keyed by file name, the feature files' SHA-256 and features.py's mtime)
since computing them for ~24k prompts takes a few tens of seconds.
"""

from __future__ import annotations

import json
import pickle
import sys
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
ROUTING = Path(__import__("os").environ.get("SWITCHPOINT_ROUTING_DATA", ROOT.parent / "shared" / "data" / "routing"))
TRAIN_FILES = ("routerbench_train", "routerdc7_train", "alpacaeval2")
EVAL_FILES = ("routellm_mmlu", "routellm_gsm8k")
STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
CACHE = Path("/tmp/switchpoint-routing-cache")

from switchpoint.routing.learned.features import PromptFeaturizer  # noqa: E402


def held_out(row: dict[str, Any]) -> bool:
    """The slice of the training files kept out of the shipped artifact (1 row in 10, by id), on
    which tests/routing/learned/test_default_artifact.py checks it against the length baseline."""
    return zlib.crc32(str(row["id"]).encode()) % 10 == 0


def rows(name: str) -> list[dict[str, Any]]:
    with open(ROUTING / f"{name}.jsonl", encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def features(name: str, featurizer: PromptFeaturizer) -> list[Any]:
    key = "-".join(f"{n}={d}" for n, d in sorted(featurizer.files.items()))
    stamp = (ROOT / "src/switchpoint/routing/learned/features.py").stat().st_mtime_ns
    path = CACHE / f"{name}-{zlib.crc32(key.encode())}-{stamp}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    values = [featurizer.features(r["prompt"]) for r in rows(name)]
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(values))
    return values
