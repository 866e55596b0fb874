"""Sparse text features shared by the linear classifiers (task type, sentiment, complexity).

One pass over a bounded window of the text (its head and its tail, so cost does not grow with
prompt length) yields a set of feature strings:

- ``w:<word>`` lower-cased words, ``b:<w1>_<w2>`` word bigrams (first ``_MAX_BIGRAMS`` words),
  ``p:<prefix>`` the first 4 letters of longer words (a stem that generalises across inflections),
- ``c:<char>`` / ``c:<c1c2>`` characters and character bigrams of CJK / Thai / Hangul runs,
- ``#lex:<cue>`` when a word of the multilingual cue lexicon occurs (``artifacts/lexicon.json``):
  its weight is learned from every language's examples, so a cue word in a language with few
  training prompts still carries its class's signal,
- ``#...`` shape cues: code fences, maths symbols, question marks, line count and length buckets.

The same function builds the training matrices (``scripts/analysis``) and runs at request time,
so training and serving cannot drift apart. Values are binary; a model scales the sum of its
weights by ``1/sqrt(len(features))``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from itertools import compress, count, pairwise
from pathlib import Path

__all__ = ["Lexicon", "text_features", "tokenize", "window"]

_HEAD = 900
_TAIL = 300
_MAX_BIGRAMS = 120
_MAX_UNSPACED = 300
# Word characters plus the combining marks that Python's \w leaves out (Indic vowel signs, Thai
# vowels and tones, Arabic and Hebrew points), so that such words are not cut into pieces.
MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    "\u0900-\u0963\u0966-\u0dff\u0e00-\u0eff\u1000-\u109f\u3099\u309a"
)
_TOKEN = re.compile(rf"(?:\w|[{MARKS}])+|[^\w\s{MARKS}]")
# Shape cues. Each is one alternation, searched in parts that the regex engine (or ``str``) can scan
# for quickly: a pattern that starts with a literal or a character class skips ahead to where it
# can begin, one that starts with an anchor or an alternation is tried at every position.
# "#code": a line ending in a brace or semicolon, or a line (of the text, so at its start or after
# a newline, then any blank) beginning with a keyword.
_CODE_END = re.compile(r"[{};]\s*$", re.MULTILINE)
_CODE_KEYWORD = r"(?:def|class|import|function|return|public|#include|SELECT|const|let|var)\b"
_CODE_FIRST_LINE = re.compile(r"\s*" + _CODE_KEYWORD)  # with match(): at the start of the text
_CODE_LINE = re.compile(r"\n\s*" + _CODE_KEYWORD)
# "#math": a maths symbol, digits around an operator, a decimal number, or a percentage
_MATH_SYMBOLS = "=^√∫∑π≤≥±×÷"
_MATH_DIGITS = re.compile(r"\d(?:\s*[-+*/^=<>]\s*\d|[.,]\d)")
_PERCENT = re.compile(r"\b\d+\s*%")


def window(text: str) -> str:
    """The part of a text the classifiers read: its head and its tail."""
    if len(text) <= _HEAD + _TAIL:
        return text
    return text[:_HEAD] + "\n" + text[-_TAIL:]


def tokenize(text: str) -> list[str]:
    """Lower-cased words and single punctuation marks."""
    tokens: list[str] = []
    for chunk in text.lower().split():  # no token spans white space (``split`` and ``\s`` agree on what that is)
        if len(chunk) == 1 or chunk.isalnum():  # a single token: no need for the regex
            tokens.append(chunk)
        else:
            tokens += _TOKEN.findall(chunk)
    return tokens


def is_unspaced(token: str) -> bool:
    """CJK, kana, Hangul, Thai, Lao, Khmer: runs that are not split into words by spaces."""
    code = ord(token[0])
    return (0x2E80 <= code < 0xA000) or (0xAC00 <= code < 0xD7B0) or (0x0E00 <= code < 0x0F00) or (
        0x1780 <= code < 0x1800) or (0xF900 <= code < 0xFB00) or (0xFF66 <= code < 0xFFA0)


class Lexicon:
    """Cue words: whole words, stems (``word*``), phrases of up to 4 words, and substrings of unspaced runs."""

    __slots__ = ("phrase_pairs", "phrase_starts", "phrases", "stem_heads", "stem_lengths", "stems",
                 "substring_lengths", "substrings", "words")

    def __init__(self, entries: Mapping[str, Iterable[str]]) -> None:
        self.words: dict[str, tuple[str, ...]] = {}
        self.stems: dict[str, tuple[str, ...]] = {}
        self.phrases: dict[str, tuple[str, ...]] = {}
        self.substrings: dict[str, tuple[str, ...]] = {}
        for cue, words in entries.items():
            for raw in words:
                self._add(cue, raw.strip().lower())
        self.phrase_starts = frozenset(p.split(" ", 1)[0] for p in self.phrases)
        self.phrase_pairs = frozenset(" ".join(p.split(" ", 2)[:2]) for p in self.phrases)  # first two words
        self.stem_lengths = tuple(sorted({len(s) for s in self.stems}))
        self.stem_heads = frozenset(s[:4] for s in self.stems)  # every stem has 4+ letters
        # per first character, the lengths of the substrings that begin with it
        lengths: dict[str, set[int]] = {}
        for key in self.substrings:
            lengths.setdefault(key[0], set()).add(len(key))
        self.substring_lengths = {first: tuple(sorted(n)) for first, n in lengths.items()}

    def _add(self, cue: str, entry: str) -> None:
        if not entry:
            return
        if is_unspaced(entry):
            target, key = self.substrings, entry.replace(" ", "")
        elif entry.endswith("*") and len(entry) >= 5:
            target, key = self.stems, entry[:-1]
        else:
            tokens = tokenize(entry.rstrip("*"))
            if not tokens or len(tokens) > 4:
                return
            target, key = (self.words, tokens[0]) if len(tokens) == 1 else (self.phrases, " ".join(tokens))
        if cue not in target.get(key, ()):
            target[key] = (*target.get(key, ()), cue)

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["cues"])

    def cues(self, tokens: list[str], unspaced: list[str]) -> set[str]:
        found: set[str] = set()
        # whole words and stems: what matches does not depend on where a word occurs
        distinct = set(tokens)
        for word_cues in filter(None, map(self.words.get, distinct)):
            found.update(word_cues)
        stems, heads = self.stems, self.stem_heads
        for token in distinct:
            if len(token) > 4 and token[:4] in heads:
                for n in self.stem_lengths:
                    if n > len(token):
                        break
                    hit = stems.get(token[:n])
                    if hit:
                        found.update(hit)
        # phrases: from each position whose word begins one, and whose next word continues one
        if not self.phrase_starts.isdisjoint(distinct):
            phrases, pairs = self.phrases, self.phrase_pairs
            for i in compress(count(), map(self.phrase_starts.__contains__, tokens)):  # where one may begin
                if " ".join(tokens[i : i + 2]) in pairs:
                    for n in (2, 3, 4):
                        hit = phrases.get(" ".join(tokens[i : i + n]))
                        if hit:
                            found.update(hit)
        for run in unspaced:
            self._substring_cues(run, found)
        return found

    def _substring_cues(self, run: str, found: set[str]) -> None:
        substrings, lengths_from = self.substrings, self.substring_lengths
        for start, char in enumerate(run):
            lengths = lengths_from.get(char)
            if lengths is None:  # most characters begin no entry
                continue
            for n in lengths:
                if start + n > len(run):
                    break
                hit = substrings.get(run[start : start + n])
                if hit:
                    found.update(hit)


def text_features(text: str, lexicon: Lexicon | None = None) -> set[str]:
    """The feature set of a text (see the module docstring)."""
    sample = window(text)
    tokens = tokenize(sample)
    unspaced: list[str] = []
    if sample.isascii():  # the common case: no unspaced run, every token is a word
        words = tokens
        features = {f"b:{left}_{word}" for left, word in pairwise(["^", *tokens[:_MAX_BIGRAMS]])}
    else:
        words, unspaced, features = _split_runs(tokens)
    # a word's features do not depend on where it occurs: build them once per distinct word
    distinct = set(words)
    features.update(["w:" + word for word in distinct])
    features.update(["p:" + word[:4] for word in distinct if len(word) >= 5 and word.isalpha()])
    if lexicon is not None:
        features.update(["#lex:" + cue for cue in lexicon.cues(words, unspaced)])
    _shape(sample, len(tokens), features.add)
    return features


def _split_runs(tokens: list[str]) -> tuple[list[str], list[str], set[str]]:
    """The words and the unspaced runs among ``tokens`` (runs cut at ``_MAX_UNSPACED`` characters in
    all), with the runs' character features and the bigrams of the first ``_MAX_BIGRAMS`` tokens (a
    word that follows a run pairs with the run's last two characters)."""
    features: set[str] = set()
    words: list[str] = []
    unspaced: list[str] = []
    previous = "^"
    budget = _MAX_UNSPACED
    for index, token in enumerate(tokens):
        if not token.isascii() and is_unspaced(token):
            if budget <= 0:
                continue
            token = token[:budget]
            budget -= len(token)
            unspaced.append(token)
            features.update(["c:" + char for char in token])
            features.update(["c:" + token[i : i + 2] for i in range(len(token) - 1)])
            previous = token[-2:]
            continue
        words.append(token)
        if index < _MAX_BIGRAMS:
            features.add(f"b:{previous}_{token}")
        previous = token
    return words, unspaced, features


def _shape(sample: str, n_tokens: int, add: Callable[[str], None]) -> None:
    if "```" in sample:
        add("#fence")
    if ((_contains_any(sample, "{};") and _CODE_END.search(sample)) or _CODE_FIRST_LINE.match(sample)
            or _CODE_LINE.search(sample)):
        add("#code")
    if _contains_any(sample, _MATH_SYMBOLS) or (_may_have_digits(sample) and (
            _MATH_DIGITS.search(sample) or ("%" in sample and _PERCENT.search(sample)))):
        add("#math")
    if "?" in sample or "？" in sample or "؟" in sample:
        add("#question")
    lines = sample.count("\n")
    add("#lines:" + ("0" if lines == 0 else "1-3" if lines <= 3 else "4-15" if lines <= 15 else "16+"))
    add("#len:" + ("1-4" if n_tokens <= 4 else "5-12" if n_tokens <= 12 else "13-40" if n_tokens <= 40
                   else "41-150" if n_tokens <= 150 else "151+"))


def _contains_any(text: str, chars: str) -> bool:
    """Whether ``text`` holds one of ``chars``: a fast ``str`` scan per character, where a regex
    character class is tested at every position."""
    return any(char in text for char in chars)


def _may_have_digits(text: str) -> bool:
    """Whether ``text`` may hold a decimal digit (``\\d``): exact for ASCII text, always true for other
    text (other scripts have digits of their own)."""
    return not text.isascii() or _contains_any(text, "0123456789")
