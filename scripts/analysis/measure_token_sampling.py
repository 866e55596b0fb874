"""Measure the token estimate on long texts (4-64 KB) against the real tokenizers, with and without
sampling: how much error the sampling of long texts (switchpoint.analysis.tokens.SAMPLE_*) adds.

    python scripts/analysis/measure_token_sampling.py            # prints the table of docs/analysis.md

Long texts of seven kinds, each cut to a length drawn log-uniformly from 4-64 KB:
- prose: manual-page lines (Debian manpages, see README.md) in English, German, Spanish, French,
  Polish, Russian, Japanese and Chinese, joined in order;
- code: Python standard-library source files;
- prompts: routing-data prompts (alpacaeval2, routerbench_train, routerdc7_train) joined;
- mixed: an English request with a code block and a JSON document in it.
For every text and family: the real count, the estimate counting every character, and the
estimate with each sampling setting. Reported: the median, p90 and max relative error, the share
within ±5%, and the sampling error alone (sampled estimate against the full estimate).
Needs the build environment (bpe-openai, quicktok-v1; see README.md).
"""

from __future__ import annotations

import json
import math
import random
import statistics
import sysconfig
import time
from pathlib import Path

from build_tokens import tokenizers
from common import ARTIFACTS, manpage_sentences, routing_rows

from switchpoint.analysis import tokens
from switchpoint.analysis.tokens import TokenEstimator

NOW = "now: 16 x 250 chars"
PROSE = {"": "en", "de": "de", "es": "es", "fr": "fr", "pl": "pl", "ru": "ru", "ja": "ja", "zh_CN": "zh"}
SETTINGS = {  # name: (SAMPLE_CHUNKS, SAMPLE_CHUNK); "full" counts every character
    "full": None,
    "before: two ends, 2 x 2000 chars": "two ends",
    "now: 16 x 250 chars": (16, 250),
    "8 x 250 chars": (8, 250),
    "32 x 250 chars": (32, 250),
}


def two_ends(text: str, known: dict[str, int]) -> list[float]:
    """The sampling before this change: the first and last 2,000 characters, scaled by length."""
    if len(text) <= 4000:
        return tokens.piece_counts(text, known)
    scale = len(text) / 4000
    return [c * scale for c in tokens.piece_counts(text[:2000] + "\n" + text[-2000:], known)]


def long_texts(seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)

    def size() -> int:
        return int(math.exp(rng.uniform(math.log(4_096), math.log(65_536))))

    texts: list[tuple[str, str]] = []
    for folder, lang in PROSE.items():
        lines = manpage_sentences(folder, 3000, seed=seed)
        for _ in range(6):
            start = rng.randrange(max(1, len(lines) - 600))
            texts.append((f"prose:{lang}", "\n".join(lines[start : start + 600])[: size()]))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = [p.read_text(encoding="utf-8", errors="ignore") for p in sorted(stdlib.glob("*.py"))]
    sources = [s for s in sources if len(s) > 8_000]
    rng.shuffle(sources)
    texts.extend(("code", s[: size()]) for s in sources[:12])
    prompts = [row["prompt"] for name in ("alpacaeval2", "routerbench_train", "routerdc7_train")
               for row in routing_rows(name)]
    for _ in range(12):
        start = rng.randrange(len(prompts) - 200)
        texts.append(("prompts", "\n\n".join(prompts[start : start + 200])[: size()]))
    for i in range(12):
        records = [{"id": j, "name": f"item-{rng.randint(1, 10**6)}", "price": round(rng.random() * 100, 2),
                    "tags": rng.sample(["red", "blue", "green", "sale", "new"], 2)} for j in range(80)]
        code = sources[(i + 12) % len(sources)][:6000]
        prose = "\n".join(manpage_sentences("", 400, seed=i)[:60])
        text = (f"Please review the following module and the sample data, then explain the bug.\n\n{prose}\n\n"
                f"```python\n{code}\n```\n\nSample data:\n```json\n{json.dumps(records, indent=2)}\n```\n")
        texts.append(("mixed", text[: size()]))
    return texts


def main() -> None:
    encoders = tokenizers()
    calibration = json.loads((ARTIFACTS / "token_calibration.json").read_text())
    import gzip

    with gzip.open(ARTIFACTS / "token_words.txt.gz", "rt", encoding="utf-8") as file:
        known = {w: int(m) for w, m in (line.split("\t") for line in file.read().splitlines())}
    estimator = TokenEstimator(calibration["coefficients"], known_words=known)
    texts = long_texts()
    print(f"{len(texts)} texts, {min(len(t) for _, t in texts)}-{max(len(t) for _, t in texts)} characters, "
          f"{sum(t.isascii() for _, t in texts)} of them ASCII")
    truth = {family: [len(enc.encode(t)) for _, t in texts] for family, enc in encoders.items()}  # type: ignore[attr-defined]
    defaults = (tokens.SAMPLE_FROM, tokens.SAMPLE_CHUNKS, tokens.SAMPLE_CHUNK)
    estimates: dict[str, list[list[float]]] = {}
    cost_ms: dict[str, float] = {}
    for name, setting in SETTINGS.items():
        tokens.SAMPLE_FROM, tokens.SAMPLE_CHUNKS, tokens.SAMPLE_CHUNK = defaults
        started = time.thread_time()
        if setting is None:
            tokens.SAMPLE_FROM = 10**12
            estimates[name] = [tokens.piece_counts(t, known) for _, t in texts]
        elif setting == "two ends":
            tokens.SAMPLE_FROM = 10**12
            estimates[name] = [two_ends(t, known) for _, t in texts]
        else:
            tokens.SAMPLE_CHUNKS, tokens.SAMPLE_CHUNK = setting
            estimates[name] = [tokens.piece_counts(t, known) for _, t in texts]
        cost_ms[name] = (time.thread_time() - started) * 1000 / len(texts)
        for label, subset in (("ASCII", [t for _, t in texts if t.isascii()]),
                              ("other", [t for _, t in texts if not t.isascii()])):
            started = time.thread_time()
            for t in subset:
                if setting == "two ends":
                    two_ends(t, known)
                else:
                    tokens.piece_counts(t, known)
            per_kb = (time.thread_time() - started) * 1000 / (sum(map(len, subset)) / 1024)
            print(f"{name}: {label} texts {per_kb:.3f} ms per KB")
    tokens.SAMPLE_FROM, tokens.SAMPLE_CHUNKS, tokens.SAMPLE_CHUNK = defaults
    kinds = sorted({k.split(":")[0] for k, _ in texts})
    print("| setting | family | vs real: median / p90 / max | within ±5% | sampling alone: median / p90 / max |"
          " CPU per text |")
    print("|---|---|---|---|---|---|")
    for name in SETTINGS:
        for family in encoders:
            errors, sampling = [], []
            for i in range(len(texts)):
                full = estimator.count_pieces(estimates["full"][i], family)
                value = estimator.count_pieces(estimates[name][i], family)
                errors.append(abs(value / truth[family][i] - 1))
                sampling.append(abs(value / full - 1))
            errors.sort()
            sampling.sort()
            p90 = int(0.9 * len(errors))
            print(f"| {name} | {family} | {statistics.median(errors):.1%} / {errors[p90]:.1%} / {errors[-1]:.1%} "
                  f"| {sum(e <= 0.05 for e in errors) / len(errors):.0%} "
                  f"| {statistics.median(sampling):.1%} / {sampling[p90]:.1%} / {sampling[-1]:.1%} "
                  f"| {cost_ms[name]:.2f} ms |")
    print()
    print("per kind, o200k, 'now' vs 'full' (median relative error against the real count):")
    for kind in kinds:
        idx = [i for i, (k, _) in enumerate(texts) if k.split(":")[0] == kind]
        for name in ("full", NOW):
            errs = [abs(estimator.count_pieces(estimates[name][i], "o200k") / truth["o200k"][i] - 1) for i in idx]
            print(f"  {kind:8s} {name[:4]:5s} n={len(idx):3d} median {statistics.median(errs):.1%} max {max(errs):.1%}")
    langs = sorted({k for k, _ in texts if k.startswith("prose:")})
    for lang in langs:
        idx = [i for i, (k, _) in enumerate(texts) if k == lang]
        errs = {name: statistics.median(abs(estimator.count_pieces(estimates[name][i], "o200k") / truth["o200k"][i] - 1)
                                        for i in idx) for name in ("full", NOW)}
        print(f"  {lang:9s} full {errs['full']:.1%}  now {errs[NOW]:.1%}")


if __name__ == "__main__":
    main()
