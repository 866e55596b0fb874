"""The text features are consumed by every linear classifier and pinned by the learned router's
artifacts, so their output is fixed: these tests pin it on generated texts (the digests were
computed by the code before its rewrites for speed) and check the split shape-cue searches against
the single patterns they replace."""

from __future__ import annotations

import hashlib
import random
import re

from switchpoint.analysis.build import ARTIFACTS_DIR
from switchpoint.analysis.textfeatures import MARKS, Lexicon, text_features, tokenize, window

# the tokens: words (with their combining marks) and single other characters, as one pattern
TOKEN = re.compile(rf"(?:\w|[{MARKS}])+|[^\w\s{MARKS}]")
# the "#code" and "#math" cues, as one pattern each (the module searches them in parts)
CODE = re.compile(r"[{};]\s*$|^\s*(def|class|import|function|return|public|#include|SELECT|const|let|var)\b",
                  re.MULTILINE)
MATH = re.compile(r"\d\s*[-+*/^=<>]\s*\d|[=^√∫∑π≤≥±×÷]|\b\d+\s*%|\d[.,]\d")
# SHA-256 of the sorted feature sets of _texts(1, 600) without and with the lexicon, and of the cues of _texts(2, 600)
DIGESTS = {
    "plain": "ce2d77cc91864a9ec942ff235a6386557cd57c861172f9ffbecafe0a1a03260a",
    "lexicon": "103f39bb024149e6e2d510baaa9687176b60cd31e1168ee23fea80b21ee15e3b",
    "cues": "b17dc22ac27ff3663a9bc66baf4611549a79877881d42cb2b639425376db3262",
}
PIECES = ["def", "class", "import", "function", "return", "SELECT", "#include", "let", "var", "Return", "defy", "x",
          "é", "_", "1", "23", "٣", "３", "%", " ", "\n", "\n\n", "\r", "\t", "\x0b", "\x85", "\u2028", "\u3000", "{",
          "}", ";", "+", "-", "*", "/", "^", "=", "<", ">", ".", ",", "√", "π", "×", "中", "#", "0.5", "3 + 4"]


def _texts(seed: int, n: int) -> list[str]:
    """Prose, code, numbers, cue words and phrases, CJK / Thai / Hangul runs, Indic marks, long texts."""
    lexicon = Lexicon.load(ARTIFACTS_DIR / "lexicon.json")
    entries = sorted({*lexicon.words, *lexicon.phrases, *(s + "ing" for s in lexicon.stems), *lexicon.substrings})
    fillers = ("the a of and to in is it you what how please can me some very good data value model x_1 "
               "中文 日本語です 한국어 ภาษาไทย हिन्दी में اكتب Привет "
               "3.5 12 % = ? ？ ( ) { } ; : , . ``` \n \n\n").split(" ")
    rng = random.Random(seed)
    texts = ["", " ", "\n\n", "中" * 400, "a " * 900]
    while len(texts) < n:
        words = [rng.choice(entries) if rng.random() < 0.3 else rng.choice(fillers)
                 for _ in range(rng.choice((3, 20, 80, 400)))]
        text = rng.choice((" ", "", "\n")).join(words)
        texts.append(text.upper() if rng.random() < 0.1 else text)
    return texts


def _digest(sets: list[set[str]]) -> str:
    return hashlib.sha256("\n".join("\t".join(sorted(s)) for s in sets).encode()).hexdigest()


def test_text_features_unchanged() -> None:
    lexicon = Lexicon.load(ARTIFACTS_DIR / "lexicon.json")
    texts = _texts(1, 600)
    assert _digest([text_features(t) for t in texts]) == DIGESTS["plain"]
    assert _digest([text_features(t, lexicon) for t in texts]) == DIGESTS["lexicon"]


def test_lexicon_cues_unchanged() -> None:
    lexicon = Lexicon.load(ARTIFACTS_DIR / "lexicon.json")
    tokens = [tokenize(window(t)) for t in _texts(2, 600)]
    assert _digest([lexicon.cues(t, []) for t in tokens]) == DIGESTS["cues"]
    assert lexicon.cues(tokenize("Please act as a pirate and calculate the integral"), []) == {"roleplay", "math"}


def test_shape_cues_match_their_single_patterns() -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))
        features = text_features(text)
        assert ("#code" in features) == bool(CODE.search(text)), text
        assert ("#math" in features) == bool(MATH.search(text)), text


def test_tokenize_matches_its_single_pattern() -> None:
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    others = ["a", "Z", "é", "_", "x1", "İ", "ß", "\u0301", "\u093f", "\u0e31", "\u064e", "हि", "中", "日本", "ภา",
              "한", "٣", "３", ".", ",", "'", "-", "(", "#", "🎉", "\x00", "\x7f", "∑", "ﬁ"]
    rng = random.Random(4)
    for _ in range(20_000):
        text = "".join(rng.choice(spaces if rng.random() < 0.3 else others) for _ in range(rng.randint(0, 16)))
        assert tokenize(text) == TOKEN.findall(text.lower()), repr(text)
