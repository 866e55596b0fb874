"""Fast offline prompt-token estimates, calibrated per tokenizer family.

The text is cut into the pieces that byte-level BPE tokenizers also start from (runs of
letters, digits, punctuation, white space), and each piece class is given an average token
cost fitted against the real tokenizer of each family (``scripts/analysis/build_tokens.py``).
The counting is a handful of C-level passes (byte counts on skeletons of ASCII text, regexes
otherwise), so it costs microseconds per kilobyte; a text over ``SAMPLE_FROM`` characters is
counted on chunks spread over it, so its cost is bounded.

Verified families (measured against the real tokenizers, see ``docs/analysis.md``):
``cl100k`` (GPT-4, GPT-3.5), ``o200k`` (GPT-4o, GPT-4.1, o-series, GPT-5), ``llama3``
(Llama 3.x) and ``qwen`` (Qwen 2/2.5/3). Other families are mapped to the closest verified
one (``FAMILY_ALIASES``); their counts are unverified approximations.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import compress, filterfalse

__all__ = [
    "FAMILY_ALIASES",
    "TokenEstimator",
    "family_for_model",
    "piece_counts",
    "sample_chunks",
]

# Word-length buckets for ASCII letter runs: 1..12 one bucket each, then 13-15 and 16+.
_MAX_SINGLE = 12
_N_LEN = _MAX_SINGLE + 2
# Non-ASCII letter runs are classed by the script of their highest code point.
SCRIPTS: tuple[str, ...] = (
    "latin_ext", "greek", "cyrillic", "hebrew_armenian", "arabic", "indic", "thai_lao",
    "georgian_other", "hangul", "kana", "han", "other",
)
# Words that are a single token (with their leading space) in some calibrated vocabularies are
# counted by which ones: a bit per family, so each family's fit prices them as it encodes them.
FAMILY_BITS: dict[str, int] = {"cl100k": 1, "o200k": 2, "llama3": 4, "qwen": 8}
FEATURES: tuple[str, ...] = (
    *(f"known_mask_{m}" for m in range(1, 16)),
    *(f"ascii_len_{i}" for i in range(1, _MAX_SINGLE + 1)),
    "ascii_len_13_15",
    "ascii_chars_16plus",
    *(f"{s}_words" for s in SCRIPTS),
    *(f"{s}_chars" for s in SCRIPTS),
    "digit_groups3",
    "digit_chars",
    "punct_runs",
    "punct_chars",
    "newlines",
    "space_runs",
    "space_run_chars",
    "capitalised_words",
)
_INDEX = {name: i for i, name in enumerate(FEATURES)}
_N_FEATURES = len(FEATURES)
_KNOWN = _INDEX["known_mask_1"] - 1  # + mask
_ASCII0 = _INDEX["ascii_len_1"]
_SCRIPT_WORDS = _INDEX["latin_ext_words"]
_NEWLINES = _INDEX["newlines"]
_SCRIPT_CHARS = _INDEX["latin_ext_chars"]
_DIGIT_GROUPS = _INDEX["digit_groups3"]
_DIGIT_CHARS = _INDEX["digit_chars"]
_PUNCT_RUNS = _INDEX["punct_runs"]
_PUNCT_CHARS = _INDEX["punct_chars"]
_SPACE_RUNS = _INDEX["space_runs"]
_SPACE_RUN_CHARS = _INDEX["space_run_chars"]
_CAPITALISED_WORDS = _INDEX["capitalised_words"]

# runs of letters and combining marks (written as runs of runs: the same matches, found faster)
_WORD = re.compile(r"(?:[^\W\d_]+|[\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0900-\u0dff\u0e00-\u0eff]+)+")
_DIGITS = re.compile(r"\d+")
_PUNCT = re.compile(r"[^\w\s]+")
# \b[A-Z][a-z], written to start with the class, which the regex engine scans for quickly
_CAPITALISED = re.compile(r"[A-Z](?<!\w[A-Z])[a-z]")
# ASCII text (most long prompts: code, logs, English) is counted with the same results on
# skeletons of its bytes: each maps every byte to its class, so that the counts are fast byte
# counts and searches for a literal instead of tests of a character class at every position.
_ASCII_LETTERS = re.compile(r"[a-z]+")
_SPACE = re.compile(r"[ \n]")


def _skeleton(cls: Callable[[str], str]) -> bytes:
    return bytes(ord(cls(chr(b))) for b in range(128)) + b"x" * 128


def _word_class(c: str) -> str:  # what \b sees
    return "A" if c.isupper() else "a" if c.islower() else "w" if c.isalnum() or c == "_" else " "


_SK_WORD = _skeleton(_word_class)  # "Aa" after " " (or at the start) is a capitalised word
_SK_DIGIT = _skeleton(lambda c: "0" if c.isdigit() else "x")
_SK_PUNCT = _skeleton(lambda c: "x" if c.isalnum() or c == "_" or c.isspace() else ".")  # [^\w\s]
_SK_SPACE = _skeleton(lambda c: " " if c in " \t" else "x")
_DIGIT_RUN = re.compile(rb"0+")
_SPACE_RUN = re.compile(rb"  +")
# Texts longer than SAMPLE_FROM characters are counted on SAMPLE_CHUNKS chunks of about
# SAMPLE_CHUNK characters spread evenly over the text (cut at white space, so no word is split)
# and scaled by length: the cost stays bounded, and the sampling error was measured against the
# real tokenizers (scripts/analysis/measure_token_sampling.py, docs/analysis.md).
SAMPLE_FROM = 4_000
SAMPLE_CHUNKS = 16
SAMPLE_CHUNK = 250
_ALIGN = 48  # how far a chunk's edge may move to reach white space

FAMILY_ALIASES: Mapping[str, str] = {
    "gpt-4o": "o200k",
    "gpt-4.1": "o200k",
    "gpt-4.5": "o200k",
    "gpt-5": "o200k",
    "chatgpt": "o200k",
    "o1": "o200k",
    "o3": "o200k",
    "o4": "o200k",
    "gpt-oss": "o200k",
    "gpt-4": "cl100k",
    "gpt-3.5": "cl100k",
    "text-embedding-3": "cl100k",
    "llama-3": "llama3",
    "llama3": "llama3",
    "llama-4": "llama3",
    "qwen": "qwen",
    "deepseek": "qwen",
    # Unverified: mapped to the closest verified family.
    "claude": "cl100k",
    "mistral": "llama3",
    "mixtral": "llama3",
    "gemini": "o200k",
    "gemma": "o200k",
}
_ALIAS_ORDER = sorted(FAMILY_ALIASES, key=len, reverse=True)


def family_for_model(model: str, default: str = "o200k") -> str:
    """The tokenizer family of a model name (``"openai/gpt-4o-mini"`` → ``"o200k"``)."""
    name = model.lower().rsplit("/", 1)[-1]
    for prefix in _ALIAS_ORDER:
        if name.startswith(prefix):
            return FAMILY_ALIASES[prefix]
    return default


def _script(code_point: int) -> int:
    if code_point < 0x370:
        return 0
    if code_point < 0x400:
        return 1
    if code_point < 0x530:
        return 2
    if code_point < 0x600:
        return 3
    if code_point < 0x780:
        return 4
    if code_point < 0xE00:
        return 5
    if code_point < 0xF00:
        return 6
    if 0xAC00 <= code_point < 0xD7B0 or 0x1100 <= code_point < 0x1200 or 0x3130 <= code_point < 0x3190:
        return 8
    if 0x3040 <= code_point < 0x3100:
        return 9
    if 0x4E00 <= code_point < 0xA000 or 0x3400 <= code_point < 0x4DC0 or 0xF900 <= code_point < 0xFB00:
        return 10
    if code_point < 0x2000:
        return 7
    return 11


def piece_counts(text: str, known: Mapping[str, int] | None = None) -> list[float]:
    """The piece-class counts of ``text`` (one value per name in ``FEATURES``).

    ``known`` maps lower-case words that some calibrated tokenizers encode as one token (with
    their leading space) to a bit mask of those families (``FAMILY_BITS``); such words are counted
    per mask, apart from the unknown ones, which are costed by length and script.

    A text longer than ``SAMPLE_FROM`` characters is counted on ``SAMPLE_CHUNKS`` chunks spread
    over it (see :func:`sample_chunks`), scaled by length.
    """
    counts = [0.0] * _N_FEATURES
    if not text:
        return counts
    if len(text) <= SAMPLE_FROM:
        _count(text, known, counts)
        return counts
    parts = sample_chunks(text, SAMPLE_CHUNKS, SAMPLE_CHUNK)
    # ASCII chunks take the fast path even when others do not (counts do not cross a line break)
    ascii_parts = [p for p in parts if p.isascii()]
    other_parts = [p for p in parts if not p.isascii()]
    for group in (ascii_parts, other_parts):
        if group:
            _count("\n".join(group), known, counts)
            counts[_NEWLINES] -= len(group) - 1
    scale = len(text) / sum(map(len, parts))
    return [c * scale for c in counts]


def _count(text: str, known: Mapping[str, int] | None, counts: list[float]) -> None:
    """Add the piece-class counts of ``text`` to ``counts``."""
    if text.isascii():
        _ascii_marks(text.encode("ascii"), counts)
        _ascii_words(text.lower(), known, counts)
    else:
        _other_words(text.lower(), known, counts)
        _other_marks(text, counts)


def _other_words(lowered: str, known: Mapping[str, int] | None, counts: list[float]) -> None:
    words = _WORD.findall(lowered)
    if known:
        masks = list(map(known.get, words))
        for mask, n in Counter(masks).items():
            if mask:
                counts[_KNOWN + mask] += n
        unknown = list(compress(words, map(operator.not_, masks)))
    else:
        unknown = words
    _count_lengths(Counter(map(len, filter(str.isascii, unknown))), counts)
    _count_scripts(list(filterfalse(str.isascii, unknown)), counts)


def _other_marks(text: str, counts: list[float]) -> None:
    digits = _DIGITS.findall(text)
    if digits:
        digit_lengths = list(map(len, digits))
        counts[_DIGIT_GROUPS] += sum((n + 2) // 3 for n in digit_lengths)
        counts[_DIGIT_CHARS] += sum(digit_lengths)
    punct = _PUNCT.findall(text)
    counts[_PUNCT_RUNS] += len(punct)
    counts[_PUNCT_CHARS] += sum(map(len, punct))
    counts[_NEWLINES] += text.count("\n")
    # runs of spaces and tabs are ASCII: found on the UTF-8 bytes (no multi-byte character holds 0x20 or 0x09)
    spaces = _SPACE_RUN.findall(text.encode("utf-8", "surrogatepass").translate(_SK_SPACE))
    counts[_SPACE_RUNS] += len(spaces)
    counts[_SPACE_RUN_CHARS] += sum(map(len, spaces))
    counts[_CAPITALISED_WORDS] += len(_CAPITALISED.findall(text))


def _ascii_words(lowered: str, known: Mapping[str, int] | None, counts: list[float]) -> None:
    """Count the words of lower-cased ASCII text by class."""
    words = _ASCII_LETTERS.findall(lowered)
    # one C-level pass: a known word gives its (positive) mask, another minus its length
    lengths = map(int.__neg__, map(len, words))
    values = Counter(map(known.get, words, lengths) if known else lengths)
    for value, n in values.items():
        if value > 0:
            counts[_KNOWN + value] += n
    _count_lengths(Counter({-value: n for value, n in values.items() if value < 0}), counts)


def _ascii_marks(raw: bytes, counts: list[float]) -> None:
    """Count everything but the words of ASCII text, on byte skeletons."""
    digits = _DIGIT_RUN.findall(raw.translate(_SK_DIGIT))
    if digits:
        digit_lengths = list(map(len, digits))
        counts[_DIGIT_GROUPS] += sum((n + 2) // 3 for n in digit_lengths)
        counts[_DIGIT_CHARS] += sum(digit_lengths)
    marks = raw.translate(_SK_PUNCT)
    counts[_PUNCT_RUNS] += marks.count(b"x.") + (marks[0] == 46)
    counts[_PUNCT_CHARS] += marks.count(b".")
    counts[_NEWLINES] += raw.count(b"\n")
    spaces = _SPACE_RUN.findall(raw.translate(_SK_SPACE))
    counts[_SPACE_RUNS] += len(spaces)
    counts[_SPACE_RUN_CHARS] += sum(map(len, spaces))
    cased = raw.translate(_SK_WORD)
    counts[_CAPITALISED_WORDS] += cased.count(b" Aa") + cased.startswith(b"Aa")


def _count_lengths(lengths: Mapping[int, int], counts: list[float]) -> None:
    for length, n in lengths.items():
        if length <= _MAX_SINGLE:
            counts[_ASCII0 + length - 1] += n
        elif length <= 15:
            counts[_ASCII0 + _MAX_SINGLE] += n
        else:
            counts[_ASCII0 + _MAX_SINGLE + 1] += n * length


def sample_chunks(text: str, chunks: int, size: int) -> list[str]:
    """``chunks`` pieces of about ``size`` characters spread evenly over ``text``, each moved to
    start after and end before white space where there is some near its edges."""
    if chunks < 2 or len(text) <= chunks * size:
        return [text]
    step = (len(text) - size) / (chunks - 1)
    parts: list[str] = []
    for i in range(chunks):
        start = int(i * step)
        end = start + size
        if i:
            space = _SPACE.search(text, start, start + _ALIGN)
            if space is not None:
                start = space.end()
        if i < chunks - 1:
            cut = max(text.rfind(" ", end - _ALIGN, end), text.rfind("\n", end - _ALIGN, end))
            if cut > start:
                end = cut
        parts.append(text[start:end])
    return parts


def _count_scripts(words: list[str], counts: list[float]) -> None:
    """Count non-ASCII words by the script of their highest code point."""
    tops = list(map(ord, map(max, words)))
    script_of = {top: _script(top) for top in set(tops)}
    for top, n in Counter(tops).items():
        counts[_SCRIPT_WORDS + script_of[top]] += n
    for top, length in zip(tops, map(len, words), strict=True):
        counts[_SCRIPT_CHARS + script_of[top]] += length


class TokenEstimator:
    """Token counts per family from piece counts: a fitted linear cost per piece class.

    ``coefficients`` maps family → one cost per name in ``FEATURES`` (the calibration artifact),
    ``known_words`` the words encoded as a single token, with their family masks (see :func:`piece_counts`);
    ``message_overhead`` and ``reply_overhead`` are the chat-format tokens added per message and
    once per request.
    """

    def __init__(
        self,
        coefficients: Mapping[str, Sequence[float]],
        *,
        known_words: Mapping[str, int] | None = None,
        message_overhead: float = 3.0,
        reply_overhead: float = 3.0,
    ) -> None:
        for family, weights in coefficients.items():
            if len(weights) != _N_FEATURES:
                raise ValueError(f"calibration for {family!r} has {len(weights)} weights, expected {_N_FEATURES}")
        self.coefficients = {family: tuple(float(w) for w in weights) for family, weights in coefficients.items()}
        self.families: tuple[str, ...] = tuple(self.coefficients)
        self.known_words = known_words
        self.message_overhead = message_overhead
        self.reply_overhead = reply_overhead

    def count_text(self, text: str, family: str) -> int:
        """Estimated tokens of a bare text (no chat formatting)."""
        return round(self._dot(piece_counts(text, self.known_words), family))

    def count_pieces(self, counts: Sequence[float], family: str) -> float:
        return self._dot(counts, family)

    def count_chat(self, texts: Sequence[str], messages: int) -> dict[str, int]:
        """Estimated prompt tokens of a chat request for every family."""
        # one pass over the texts joined by new lines, less the new lines added to join them
        total = piece_counts("\n".join(texts), self.known_words)
        if len(texts) > 1:
            total[_NEWLINES] = max(0.0, total[_NEWLINES] - (len(texts) - 1))
        overhead = messages * self.message_overhead + (self.reply_overhead if messages else 0.0)
        return {family: round(self._dot(total, family) + overhead) for family in self.families}

    def _dot(self, counts: Sequence[float], family: str) -> float:
        weights = self.coefficients.get(family) or self.coefficients[self.families[0]]
        return sum(map(float.__mul__, weights, counts))
