"""Compare candidate feature sets for the complexity model on the 20% split of the training files only.

    python scripts/analysis/explore_complexity.py

Reads only routerbench_train, routerdc7_train and alpacaeval2 (the protocol's training files);
routellm_mmlu and routellm_gsm8k are never opened here, so the choice it informs is not tuned on
them. Prints the split AUC per source and per benchmark inside the sources (e.g. routerdc7's
gsm8k-train rows) for every candidate and C. The chosen candidate is then implemented in
switchpoint.analysis.analyzers.complexity_features and built by build_complexity.py.
"""

from __future__ import annotations

import random
import sys

import numpy as np
from build_complexity import auc, fit, training_rows
from common import ARTIFACTS

from switchpoint.analysis.analyzers import complexity_features, kind_cues, numeric_cues, question_of, size_cues
from switchpoint.analysis.textfeatures import Lexicon, text_features


def main() -> None:
    lexicon = Lexicon.load(ARTIFACTS / "lexicon.json")
    raw = training_rows()
    rng = random.Random(3)
    rng.shuffle(raw)
    cut = int(len(raw) * 0.8)
    texts = [t for _, t, _ in raw]
    base = [text_features(t, lexicon) for t in texts]
    questions = [question_of(t) for t in texts]

    def words_and_sizes(i: int) -> set[str]:  # session 1's features
        return base[i] | size_cues(texts[i], questions[i])

    def cues(i: int) -> set[str]:
        return numeric_cues(questions[i]) | kind_cues(questions[i])

    variants = {
        "A words + size cues (session 1)": lambda i: sorted(words_and_sizes(i)),
        "B A + numeric cues": lambda i: sorted(words_and_sizes(i) | numeric_cues(questions[i])),
        "C A + numeric and kind cues": lambda i: sorted(words_and_sizes(i) | cues(i)),
        "D shape only (no words) + size, numeric and kind cues (now)": lambda i: sorted(
            complexity_features(texts[i], base[i])),
        "E C, word features scaled (alpha 0.3)": lambda i: sorted(words_and_sizes(i) | cues(i)),
        "E C, word features scaled (alpha 0.1)": lambda i: sorted(words_and_sizes(i) | cues(i)),
    }
    groups = sorted({s for s, _, _ in raw[cut:]})
    only = set(sys.argv[1:])  # names' first letters, to rerun some candidates
    for name, make in variants.items():
        if only and name[0] not in only:
            continue
        rows = [(s, make(i), y) for i, (s, _, y) in enumerate(raw)]
        train, test = rows[:cut], rows[cut:]
        for c in (0.3, 1.0, 3.0):
            alpha = float(name.split("alpha ")[1].split(")")[0]) if name.startswith("E") else None
            model = fit(train, c, word_scale=alpha)
            scores = np.array([model.predict_proba(f)["1"] for _, f, _ in test])
            labels = np.array([y for *_, y in test])
            sources = [s for s, _, _ in test]
            per_source = {}
            for src in ("routerbench", "routerdc7", "alpacaeval2"):
                idx = [i for i, s in enumerate(sources) if s.split(":")[0] == src]
                per_source[src] = auc(labels[idx], scores[idx])
            per_group = {}
            for g in groups:
                idx = [i for i, s in enumerate(sources) if s == g]
                if 0 < labels[idx].sum() < len(idx):
                    per_group[g] = round(auc(labels[idx], scores[idx]), 3)
            mean = float(np.mean(list(per_source.values())))
            print(f"{name:60s} C={c:<4} mean {mean:.3f} "
                  + " ".join(f"{k} {v:.3f}" for k, v in per_source.items()) + " | " + str(per_group), flush=True)


if __name__ == "__main__":
    main()
