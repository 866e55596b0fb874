"""Language identification: writing system first, then a character n-gram model for Latin script.

1. Letters are counted per writing system. A script used by one supported language decides
   it (Hangul → ko, Thai → th, Greek → el, Hebrew → he, Devanagari → hi, ...). Han with kana is
   Japanese, Han alone Chinese. Cyrillic and Arabic script are told apart by letters peculiar
   to each language (uk: і ї є ґ; ru: ы э ё; bg: ъ without those; fa: پ چ ژ گ ک ی; ur: ٹ ڈ ڑ ں ے).
2. Latin-script text goes to a linear model over character 1-3-grams and words
   (``artifacts/langid_latin.json.gz``, 17 languages); Cyrillic text without a decisive
   letter goes to a model of the same kind (``langid_cyrillic.json.gz``: ru, uk).

A Latin-script message of at most three words, all of them everyday chat words ("Hello!", "merci", "ok",
"guten Morgen"), is decided by a table of such words first (``SHORT_WORDS``): the n-gram model guesses
at random on a word or two ("Hello!" read as Italian). The languages the words share decide; when several
remain ("hallo": de, nl, da), the model chooses among them.

Confidence is the winning probability times the share of letters in the winning script.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping

from switchpoint.analysis.features import UNKNOWN, LanguageResult
from switchpoint.analysis.linear import LinearModel

__all__ = ["SCRIPT_LANGUAGES", "SHORT_WORDS", "LanguageIdentifier", "langid_features"]

_SAMPLE = 250  # characters of natural text read; more changes little and costs linearly
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ASCII_LETTERS = re.compile(r"[A-Za-z]")
_URLISH = re.compile(r"https?://\S+|\S+@\S+|`[^`]*`|```.*?```", re.DOTALL)
_LATIN_WORDS = re.compile(r"[^\W\d_]+")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")

# (first code point, last code point, script). Sorted by first code point.
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x00C0, 0x024F, "latin"), (0x0370, 0x03FF, "greek"), (0x0400, 0x052F, "cyrillic"),
    (0x0530, 0x058F, "armenian"), (0x0590, 0x05FF, "hebrew"), (0x0600, 0x06FF, "arabic"),
    (0x0750, 0x077F, "arabic"), (0x0900, 0x097F, "devanagari"), (0x0980, 0x09FF, "bengali"),
    (0x0A00, 0x0A7F, "gurmukhi"), (0x0A80, 0x0AFF, "gujarati"), (0x0B00, 0x0B7F, "oriya"),
    (0x0B80, 0x0BFF, "tamil"), (0x0C00, 0x0C7F, "telugu"), (0x0C80, 0x0CFF, "kannada"),
    (0x0D00, 0x0D7F, "malayalam"), (0x0D80, 0x0DFF, "sinhala"), (0x0E00, 0x0E7F, "thai"),
    (0x0E80, 0x0EFF, "lao"), (0x1000, 0x109F, "myanmar"), (0x10A0, 0x10FF, "georgian"),
    (0x1100, 0x11FF, "hangul"), (0x1200, 0x139F, "ethiopic"), (0x1780, 0x17FF, "khmer"),
    (0x1E00, 0x1EFF, "latin"), (0x1F00, 0x1FFF, "greek"), (0x3040, 0x30FF, "kana"),
    (0x3130, 0x318F, "hangul"), (0x31F0, 0x31FF, "kana"), (0x3400, 0x4DBF, "han"),
    (0x4E00, 0x9FFF, "han"), (0xAC00, 0xD7AF, "hangul"), (0xF900, 0xFAFF, "han"),
    (0xFB50, 0xFDFF, "arabic"), (0xFE70, 0xFEFF, "arabic"), (0xFF66, 0xFF9F, "kana"),
)
_STARTS = [r[0] for r in _RANGES]

SCRIPT_LANGUAGES: dict[str, str] = {
    "greek": "el", "armenian": "hy", "hebrew": "he", "devanagari": "hi", "bengali": "bn", "gurmukhi": "pa",
    "gujarati": "gu", "oriya": "or", "tamil": "ta", "telugu": "te", "kannada": "kn", "malayalam": "ml",
    "sinhala": "si", "thai": "th", "lao": "lo", "myanmar": "my", "georgian": "ka", "hangul": "ko",
    "ethiopic": "am", "khmer": "km",
}

def _short_words(table: Mapping[str, str]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for code, words in table.items():
        for word in words.split():
            out.setdefault(word, set()).add(code)
    return {word: frozenset(codes) for word, codes in out.items()}


# Everyday chat words (greetings, thanks, yes/no, farewells) of the Latin-script languages, for messages of one to
# three words; a word listed under several languages is shared by them. "ok" is English here: it is everybody's.
SHORT_WORDS: dict[str, frozenset[str]] = _short_words({
    "en": "hello hi hey hiya howdy thanks thank thx ty you ok okay yes yeah yep yup no nope please pls bye goodbye "
          "cheers sorry sure cool great nice good morning afternoon evening night welcome help test hello there "
          "fine awesome perfect got it lol",
    "de": "hallo danke ja nein tschüss bitte moin servus guten morgen tag abend gut genau schön",
    "fr": "bonjour salut merci oui non bonsoir revoir au beaucoup bonne nuit parfait coucou",
    "es": "hola gracias sí no adiós buenos buenas días noches tarde tardes vale bueno perfecto muchas",
    "it": "ciao grazie sì no buongiorno buonasera buonanotte prego arrivederci salve perfetto mille va bene",
    "pt": "olá oi obrigado obrigada bom dia boa noite tarde tchau sim não tudo bem valeu perfeito",
    "nl": "hallo hoi dank bedankt doei goedemorgen ja nee dag goed prima",
    "sv": "hej tack hejdå nej ja hallå bra",
    "da": "hej tak farvel nej ja hallo godmorgen godt",
    "fi": "hei moi kiitos kyllä ei terve",
    "pl": "cześć dzięki dziękuję tak nie hej witam dzień dobry",
    "cs": "ahoj díky děkuji ano ne dobrý den",
    "hu": "szia szervusz köszönöm köszi igen nem",
    "ro": "salut mulțumesc mersi da nu bună",
    "tr": "merhaba selam teşekkürler teşekkür sağol evet hayır tamam günaydın",
    "id": "halo hai terima kasih ya tidak selamat pagi",
    "vi": "xin chào cảm ơn vâng không",
})
_SHORT_MAX_WORDS = 3
_SHORT_MAX_LETTERS = _SHORT_MAX_WORDS * max(map(len, SHORT_WORDS))  # longer texts skip the table's word split

_UK = frozenset("іїєґІЇЄҐ")
_RU = frozenset("ыэёЫЭЁ")
_SR_MK = frozenset("јљњћџѓќЈЉЊЋЏЃЌ")
_FA = frozenset("پچژگکی")
_UR = frozenset("ٹڈڑںےۓھ")


def natural_text(text: str) -> str:
    """The words of ``text`` that say something about its language.

    Dropped: URLs, e-mail addresses and inline code; ASCII chunks mixing letters and digits or
    longer than 25 characters (keys, hashes, identifiers, base64); and, when enough words remain,
    capitalised words inside a sentence (names such as "Astrid Lindgren" belong to no language).
    """
    chunks = _URLISH.sub(" ", text).split()
    kept = [c for c in chunks
            if not c.isascii() or (len(c) <= 25 and not (_DIGIT.search(c) and _LETTER.search(c)))]
    if len(kept) >= 4:
        plain = [c for i, c in enumerate(kept)
                 if i == 0 or not c[:1].isupper() or kept[i - 1][-1:] in ".!?:" or c.isupper()]
        if len(plain) >= 2:
            kept = plain
    return " ".join(kept)


def _script_of(code_point: int) -> str | None:
    index = bisect_right(_STARTS, code_point) - 1
    if index >= 0:
        first, last, script = _RANGES[index]
        if first <= code_point <= last:
            return script
    return None


def langid_features(text: str) -> list[str]:
    """Features of the Latin-script model: words and character 1-3-grams (with word boundaries)."""
    features: list[str] = []
    add = features.append
    for word in _LATIN_WORDS.findall(text.lower()):
        add("w" + word)
        padded = " " + word + " "
        for i in range(len(padded) - 1):
            add(padded[i : i + 2])
            if i + 3 <= len(padded):
                add(padded[i : i + 3])
        for char in word:
            if not char.isascii():
                add(char)
    return features


class LanguageIdentifier:
    """ISO 639-1 language of a text.

    ``models`` maps a script (``"latin"``, ``"cyrillic"``) to its n-gram model; without a Latin
    model, Latin text is reported as English with confidence 0.5.
    """

    def __init__(self, models: Mapping[str, LinearModel]) -> None:
        self.latin = models.get("latin")
        self.cyrillic = models.get("cyrillic")

    @property
    def languages(self) -> tuple[str, ...]:
        latin = self.latin.classes if self.latin else ("en",)
        return tuple(sorted({*latin, *SCRIPT_LANGUAGES.values(), "ru", "uk", "bg", "sr", "ar", "fa", "ur", "ja",
                             "zh"}))

    def identify(self, text: str) -> LanguageResult:
        sample = natural_text(text[: _SAMPLE * 3])[:_SAMPLE]
        counts: dict[str, int] = {}
        latin = len(_ASCII_LETTERS.findall(sample))
        special: list[str] = []
        if not sample.isascii():
            for run in _NON_ASCII.findall(sample):
                for char in run:
                    script = _script_of(ord(char))
                    if script is None:
                        continue
                    if script == "latin":
                        latin += 1
                    else:
                        counts[script] = counts.get(script, 0) + 1
                        if script in ("cyrillic", "arabic"):
                            special.append(char)
        if latin:
            counts["latin"] = latin
        total = sum(counts.values())
        if total == 0:
            return LanguageResult(UNKNOWN, 0.0)
        # Japanese mixes kana and Han; count them together.
        if "kana" in counts and counts["kana"] * 10 >= counts.get("han", 0):
            counts["kana"] += counts.pop("han", 0)
        script, n = max(counts.items(), key=lambda item: item[1])
        share = n / total
        code, probability = self._language(script, sample, special, counts)
        return LanguageResult(code, round(min(1.0, probability * share), 4))

    def _language(self, script: str, sample: str, special: list[str], counts: dict[str, int]) -> tuple[str, float]:
        if script == "latin":
            return self._latin(sample, counts["latin"])
        if script in SCRIPT_LANGUAGES:
            return SCRIPT_LANGUAGES[script], 1.0
        if script == "kana":
            return "ja", 1.0
        if script == "han":
            # Han without kana: Chinese; a short run could still be Japanese kanji.
            return "zh", 0.95 if counts["han"] >= 4 else 0.7
        chars = set(special)
        if script == "cyrillic":
            if chars & _UK:
                return "uk", 0.99
            if chars & _SR_MK:
                return "sr", 0.8
            if self.cyrillic is not None:
                return _best(self.cyrillic, sample)
            if chars & _RU:
                return "ru", 0.99
            return ("bg", 0.8) if "ъ" in chars or "Ъ" in chars else ("ru", 0.8)
        if script == "arabic":
            if chars & _UR:
                return "ur", 0.9
            if chars & _FA:
                return "fa", 0.95
            return "ar", 0.97
        return UNKNOWN, 0.0

    def _latin(self, sample: str, letters: int) -> tuple[str, float]:
        shared = _short_message(sample) if letters <= _SHORT_MAX_LETTERS else None
        if shared is not None and len(shared) == 1:
            return next(iter(shared)), 0.8
        if self.latin is None:
            if shared is None:
                return "en", 0.5
            return ("en" if "en" in shared else min(shared)), 0.8
        if shared is not None:  # the words' languages, and the model chooses among them
            probs = self.latin.predict_proba(langid_features(sample))
            code = max(sorted(shared), key=lambda c: probs.get(c, 0.0))
            return code, 0.6
        code, p = _best(self.latin, sample)
        if letters < 6:  # "ok", "hi": too short to be sure
            p *= 0.6
        return code, p


def _short_message(sample: str) -> frozenset[str] | None:
    """The languages every word of a message of at most three everyday chat words belongs to (``SHORT_WORDS``);
    None for any other message, or when the words share no language."""
    words = _LATIN_WORDS.findall(sample.lower())
    if not words or len(words) > _SHORT_MAX_WORDS:
        return None
    shared: frozenset[str] | None = None
    for word in words:
        codes = SHORT_WORDS.get(word)
        if codes is None:
            return None
        shared = codes if shared is None else shared & codes
    return shared or None


def _best(model: LinearModel, sample: str) -> tuple[str, float]:
    features = langid_features(sample)
    if not features:
        return UNKNOWN, 0.0
    probs = model.predict_proba(features)
    return max(probs.items(), key=lambda item: item[1])
