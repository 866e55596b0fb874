"""Build artifacts/langid_latin.json.gz and langid_cyrillic.json.gz: the per-script language models.

Text: Debian manual-page translations (one folder per language, see README.md), the prompts and
phrases in scripts/analysis/data, and English prompts from ../shared/data/routing (alpacaeval2,
which is training data under that folder's protocol). Samples are cut to random lengths (a few
words to a few sentences) so that short prompts are covered. Model: multinomial logistic
regression on the same features as serving (switchpoint.analysis.langid.langid_features).

Run with the build environment (scripts/analysis/README.md): python scripts/analysis/build_langid.py
"""

from __future__ import annotations

import random
import sys
from collections import Counter

from common import (
    ARTIFACTS,
    is_contaminated,
    manpage_sentences,
    routing_rows,
    sentiment_phrases,
    test_set_keys,
    written_prompts,
)
from trainlib import fit_linear, report

from switchpoint.analysis.langid import langid_features, natural_text

LATIN = {
    "en": "", "cs": "cs", "da": "da", "de": "de", "es": "es", "fi": "fi", "fr": "fr", "hu": "hu", "id": "id",
    "it": "it", "nl": "nl", "pl": "pl", "pt": "pt_BR", "ro": "ro", "sv": "sv", "tr": "tr", "vi": "vi",
}
CYRILLIC = {"ru": "ru", "uk": "uk"}
PER_LANGUAGE = 2500


def corpus(keys: set[str], languages: dict[str, str]) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {lang: [] for lang in languages}
    own = [e for e in written_prompts() if e.lang in texts and not is_contaminated(e.text, keys)]
    for example in own:
        texts[example.lang].extend([example.text] * 4)  # weight our prompt-like text up
    for _, lang, phrase in sentiment_phrases():
        if lang in texts:
            texts[lang].extend([phrase] * 4)
    if "en" in texts:
        for name in ("alpacaeval2", "routerdc7_train", "routerbench_train"):
            for i, row in enumerate(routing_rows(name)):
                prompt = row["prompt"]
                if (name == "alpacaeval2" or i % 4 == 0) and not is_contaminated(prompt, keys) \
                        and "cmmlu" not in row["meta"].get("task_file", ""):
                    texts["en"].append(prompt[-400:])
    for lang, folder in languages.items():
        texts[lang].extend(manpage_sentences(folder, PER_LANGUAGE))
    return texts


def samples(texts: dict[str, list[str]], seed: int = 1) -> tuple[list[list[str]], list[str]]:
    rng = random.Random(seed)
    xs: list[list[str]] = []
    ys: list[str] = []
    for lang, lines in texts.items():
        for _ in range(PER_LANGUAGE):
            line = rng.choice(lines)
            if rng.random() < 0.3:
                line += " " + rng.choice(lines)
            if rng.random() < 0.35:  # a short fragment: a few words
                words = line.split()
                start = rng.randrange(max(1, len(words) - 2))
                line = " ".join(words[start : start + rng.randint(2, 6)])
            features = langid_features(natural_text(line[:1000])[:500])
            if features:
                xs.append(features)
                ys.append(lang)
    return xs, ys


def build(script: str, languages: dict[str, str], keys: set[str]) -> None:
    texts = corpus(keys, languages)
    print(script, {lang: len(lines) for lang, lines in texts.items()})
    xs, ys = samples(texts)
    print("samples", len(xs), Counter(ys).most_common(3))
    model, holdout = fit_linear(xs, ys, name=f"langid_{script}", c=5.0, min_count=3, keep=40000, counts=True,
                                meta={"task": f"language ({script} script)", "languages": sorted(languages)})
    report(holdout)
    path = ARTIFACTS / f"langid_{script}.json.gz"
    model.dump(path)
    print("wrote", path, len(model.weights), "features")


def main() -> None:
    keys = test_set_keys()
    scripts = sys.argv[1:] or ["cyrillic", "latin"]
    if "cyrillic" in scripts:
        build("cyrillic", CYRILLIC, keys)
    if "latin" in scripts:
        build("latin", LATIN, keys)


if __name__ == "__main__":
    main()
