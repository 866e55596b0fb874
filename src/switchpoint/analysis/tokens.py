"""Fast offline prompt-token estimates, calibrated per tokenizer family.

The text is cut into the pieces that byte-level BPE tokenizers also start from (runs of
letters, digits, punctuation, white space), and each piece class is given an average token
cost fitted against the real tokenizer of each family (``scripts/analysis/build_tokens.py``).
The counting is a handful of C-level regex passes, so it costs microseconds per kilobyte.

Verified families (measured against the real tokenizers, see ``docs/analysis.md``):
``cl100k`` (GPT-4, GPT-3.5), ``o200k`` (GPT-4o, GPT-4.1, o-series, GPT-5), ``llama3``
(Llama 3.x) and ``qwen`` (Qwen 2/2.5/3). Other families are mapped to the closest verified
one (``FAMILY_ALIASES``); their counts are unverified approximations.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

__all__ = [
    "FAMILY_ALIASES",
    "TokenEstimator",
    "family_for_model",
    "piece_counts",
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

_WORD = re.compile(r"(?:[^\W\d_]|[\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0900-\u0dff\u0e00-\u0eff])+")
_DIGITS = re.compile(r"\d+")
_PUNCT = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"[ \t]{2,}")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]")
_SAMPLE = 4_000  # longer texts are counted on their two ends and scaled

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
    """
    counts = [0.0] * _N_FEATURES
    if not text:
        return counts
    scale = 1.0
    if len(text) > _SAMPLE:
        scale = len(text) / _SAMPLE
        half = _SAMPLE // 2
        text = text[:half] + "\n" + text[-half:]
    words = _WORD.findall(text.lower())
    if known:
        masks = list(map(known.get, words))
        for mask, n in Counter(masks).items():
            if mask:
                counts[_KNOWN + mask] = n
        unknown = [w for w, m in zip(words, masks, strict=True) if not m]
    else:
        unknown = words
    if text.isascii():
        lengths = Counter(map(len, unknown))
    else:
        lengths = Counter(len(w) for w in unknown if w.isascii())
        _count_scripts(unknown, counts)
    for length, n in lengths.items():
        if length <= _MAX_SINGLE:
            counts[_ASCII0 + length - 1] += n
        elif length <= 15:
            counts[_ASCII0 + _MAX_SINGLE] += n
        else:
            counts[_ASCII0 + _MAX_SINGLE + 1] += n * length
    digits = _DIGITS.findall(text)
    if digits:
        digit_lengths = list(map(len, digits))
        counts[_INDEX["digit_groups3"]] = sum((n + 2) // 3 for n in digit_lengths)
        counts[_INDEX["digit_chars"]] = sum(digit_lengths)
    punct = _PUNCT.findall(text)
    if punct:
        counts[_INDEX["punct_runs"]] = len(punct)
        counts[_INDEX["punct_chars"]] = sum(map(len, punct))
    counts[_INDEX["newlines"]] = text.count("\n")
    spaces = _SPACES.findall(text)
    if spaces:
        counts[_INDEX["space_runs"]] = len(spaces)
        counts[_INDEX["space_run_chars"]] = sum(map(len, spaces))
    counts[_INDEX["capitalised_words"]] = len(_CAPITALISED.findall(text))
    if scale != 1.0:
        counts = [c * scale for c in counts]
    return counts


def _count_scripts(words: list[str], counts: list[float]) -> None:
    for word in words:
        if not word.isascii():
            script = _script(ord(max(word)))
            counts[_SCRIPT_WORDS + script] += 1
            counts[_SCRIPT_CHARS + script] += len(word)


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
