"""Rebuild src/switchpoint/routing/learned/artifacts/default_router.json.gz from ../shared/data/routing.

Trains on the training files only (routerbench_train, routerdc7_train, alpacaeval2; the folder's
protocol) minus a 10% slice (crc32 of the row id; ``common.held_out``) kept for the artifact's test,
with the options chosen in RESEARCH.md (``TrainOptions``' defaults). Then evaluate it with

    python3 scripts/routing/build_default.py [--out PATH]          # ~40 s on 2 cores
    switchpoint eval --router default ../shared/data/routing/routellm_mmlu.jsonl
    switchpoint eval --router default ../shared/data/routing/routellm_gsm8k.jsonl

Needs numpy and scipy (the ``train`` extra). Deterministic (fixed seed, gzip mtime 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import common

from switchpoint.routing.learned.artifact import DEFAULT_ARTIFACT, save_predictor
from switchpoint.routing.learned.train import TrainOptions, train


def default_options() -> TrainOptions:
    return TrainOptions()  # the defaults are the shipped options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_ARTIFACT)
    args = parser.parse_args(argv)
    featurizer = common.PromptFeaturizer.load()
    rows, feats = [], []
    for name in common.TRAIN_FILES:  # minus the held-out slice the tests check the artifact on
        kept = [(r, f) for r, f in zip(common.rows(name), common.features(name, featurizer), strict=True)
                if not common.held_out(r)]
        rows += [r for r, _ in kept]
        feats += [f for _, f in kept]
    predictor = train("mf", rows, featurizer=featurizer, features=feats, options=default_options(),
                      progress=lambda m: print(m, file=sys.stderr))
    predictor.meta["trained_on"] = [*common.TRAIN_FILES, "minus rows with crc32(id) % 10 == 0"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_predictor(predictor, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
