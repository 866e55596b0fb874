"""The static embedder's tokens and vectors are pinned by the learned router's probes; these tests
pin them on generated texts (the digest was computed by the code before its rewrites for speed) and
check the word split against the single pattern it stands for."""

from __future__ import annotations

import hashlib
import random
import re

from switchpoint.analysis.build import ARTIFACTS_DIR
from switchpoint.analysis.embeddings import StaticEmbedder, _words

WORDS = re.compile(r"\w+|[^\w\s]")
# SHA-256 of the token ids and encoded vectors of the texts of _texts()
DIGEST = "9218f79aa5bd31eb641dc67edba47732b20f6a7b3a421799debe4e9bfd2c168b"


def _texts() -> list[str]:
    vocabulary = ("the a of and to in what how please explain café naïve über résumé 東京 中文 日本語 한국어 ภาษาไทย "
                  "हिन्दी Привет x_1 3.5 12 % = ? ( ) { } ; : , . "
                  "unbelievably tokenization supercalifragilistic").split()
    rng = random.Random(1)
    texts = ["", " ", "?", "a" * 150]
    while len(texts) < 400:
        words = [rng.choice(vocabulary) for _ in range(rng.choice((1, 5, 40, 200)))]
        text = rng.choice((" ", "", "\n")).join(words)
        texts.append(text.title() if rng.random() < 0.2 else text)
    return texts


def test_token_ids_and_vectors_unchanged() -> None:
    embedder = StaticEmbedder.load(ARTIFACTS_DIR / "static_embeddings.bin.gz")
    lines = [f"{embedder.token_ids(t)}\t{embedder.encode(t)}" for t in _texts()]
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == DIGEST


def test_words_match_their_single_pattern() -> None:
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    others = ["a", "Z", "e", "_", "x1", "ß", "\u0301", "\u093f", "हि", "中", "日本", "٣", "３", ".", ",", "'", "-", "#",
              "🎉", "\x00", "ﬁ"]
    rng = random.Random(2)
    for _ in range(20_000):
        text = "".join(rng.choice(spaces if rng.random() < 0.3 else others) for _ in range(rng.randint(0, 16)))
        assert _words(text) == WORDS.findall(text), repr(text)
