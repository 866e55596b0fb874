"""Print per-feature accuracy of the shipped pipeline on the labelled test set (docs/analysis.md).

    python scripts/analysis/evaluate.py [--errors] [path/to/other_labelled.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import ROOT

sys.path.insert(0, str(ROOT / "tests" / "analysis"))

from accuracy import LABELLED, load, score

from switchpoint.analysis import AnalysisConfig, build_pipeline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", type=Path, default=LABELLED)
    parser.add_argument("--errors", action="store_true")
    args = parser.parse_args()
    # a generous budget: accuracy, not latency, is measured here (a loaded machine may be slow)
    scores = score(build_pipeline(AnalysisConfig(budget_ms=10_000)), load(args.path))
    print(json.dumps(scores.as_dict(), indent=1))
    if args.errors:
        for (kind, want, got), n in scores.errors.most_common():
            print(f"{n:3d}  {kind}: {want} -> {got}")


if __name__ == "__main__":
    main()
