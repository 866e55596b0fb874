"""Detection of personal data and secrets, with checksums where the format has one.

The cost is bounded and linear in the text, with a small constant, so that a 16 KB prompt is
scanned whole in a fraction of a millisecond (every character is looked at: nothing is sampled):

- every pattern that runs over the whole text starts with a literal (``@``, ``-----BEGIN``,
  ``eyJ``, ``sk-``, ``key``, ``pass``...), which the regex engine finds with a fast substring
  search instead of trying the pattern at every position; what must precede the literal (an
  e-mail's local part, a key's ``api_``) is checked in Python on the few matches;
- all number patterns need a run of digits, so one C-level pass finds those runs, and on a long
  text the number patterns run only on small windows around them;
- word pre-checks (``phone``, ``ssn``) run only when a candidate needs them.

Numbers must pass their checksum to count: payment
cards (Luhn, with a known issuer prefix), IBANs (ISO 13616 mod 97 and the country's length),
Spanish DNI/NIE (check letter), Brazilian CPF (two check digits), Chinese resident IDs (ISO 7064),
Indian Aadhaar (Verhoeff). US SSNs exclude the ranges never issued.

Kinds: ``email``, ``phone``, ``payment_card``, ``iban``, ``national_id``, ``api_key``, ``aws_key``,
``private_key``, ``jwt``, ``password``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["PII_KINDS", "PIIDetector"]

PII_KINDS: tuple[str, ...] = (
    "api_key", "aws_key", "email", "iban", "jwt", "national_id", "password", "payment_card", "phone", "private_key",
)

# Word boundaries are checked in Python on the (rare) matches, with ASCII word characters only:
# Python's \b fails between a digit and a CJK letter (both are \w), as in "090-1234-5678に".
# An e-mail is found from its "@" and domain; the local part needs only one character before it.
_EMAIL_DOMAIN = re.compile(r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![A-Za-z0-9])")
_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,2}PRIVATE KEY(?: BLOCK)?-----")
_AWS_KEY = re.compile(r"A(?:KIA|SIA|BIA|CCA|IDA|ROA)[0-9A-Z]{16}(?![A-Za-z0-9_])")
_AWS_SECRET = re.compile(r"aws_secret_access_key\s*[:=]\s*[\"']?[a-z0-9/+]{40}")  # on lower-cased text
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# Provider API keys, one pattern per literal prefix (an alternation would be tried at every position).
# Lengths are minimums only ({20} where a key has 20 or more): a match never runs on past what
# it needs, so re-searching after a rejected match (see _overlapping) stays linear in the text.
_PROVIDER_KEYS = tuple(re.compile(p) for p in (
    r"sk-(?:ant-|proj-|live-|or-)?[A-Za-z0-9_-]{20}",
    r"gh[pousr]_[A-Za-z0-9]{30}",
    r"github_pat_[A-Za-z0-9_]{22}",
    r"xox[abposr]-[A-Za-z0-9-]{10}",
    r"AIza[0-9A-Za-z_-]{35}",
    r"hf_[A-Za-z0-9]{30}",
    r"glpat-[A-Za-z0-9_-]{20}",
    r"SG\.[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{16}",
))
_STRIPE_KEY = re.compile(r"k_(?:live|test)_[0-9A-Za-z]{16}")  # preceded by s, r or p
# "api_key = ...", "client-secret: ...", "access_token=...", "Bearer ...": found from the last word
# (a literal), keeping only those preceded by the words it needs, then the value is matched after
# it (all on lower-cased text). The value must hold a digit; it is read up to 256 characters.
_ASSIGNED_SECRETS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile("key"), ("api", "api_", "api-", "secret", "secret_", "secret-")),
    (re.compile("secret"), ("client", "client_", "client-")),
    (re.compile("token"), ("access", "access_", "access-", "auth", "auth_", "auth-")),
    (re.compile("bearer"), ("",)),
)
_ASSIGNED_VALUE = re.compile(r"[\"']?\s{0,16}[:=]?\s{0,16}[\"']?([a-z0-9_\-./+]{20,256})")
# "password: ...", "Passwort ist ...", in several languages (on lower-cased text); the patterns with
# non-ASCII words run only on non-ASCII text.
_PASSWORD_VALUE = r"(?:\s*(?:is|est|ist|es|é|:|=|：))+\s*[\"'`]?[^\s\"'`]{4,}"
_PASSWORD_WORDS = ("pass(?:word|wd|code|wort)", "pwd", "kennwort", "mot de passe", "contrase[ñn]a", "senha", "parola",
                   "wachtwoord", "has[łl]o", "пароль", "密[码碼]", "パスワード", "비밀번호")
_PASSWORDS = tuple(re.compile(w + _PASSWORD_VALUE) for w in _PASSWORD_WORDS)
_PASSWORDS_ASCII = tuple(p for p, w in zip(_PASSWORDS, _PASSWORD_WORDS, strict=True) if w.isascii())
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}")
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?")
_SSN = re.compile(r"\d{3}-\d{2}-\d{4}")
_SSN_CONTEXT = re.compile(r"(?:ssn|social security(?: number| no\.?)?)\D{0,20}(\d{9})(?!\d)")  # lower-cased
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})
_DNI = re.compile(r"\d{7,8}-?[A-Z]")  # a leading X, Y or Z (NIE) is read from the text before it
_CPF = re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}")
_CN_ID = re.compile(r"[1-9]\d{16}[\dXx]")
_AADHAAR = re.compile(r"[2-9]\d{3} \d{4} \d{4}")
_CODICE_FISCALE = re.compile(r"[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]")
_PHONE = re.compile(
    r"(?:"
    r"\+\d{1,3}[ .-]?(?:\(0?\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # +CC ...
    r"|\(\d{2,5}\)[ .-]?\d{3,4}[ .-]?\d{3,4}"  # (555) 123-4567, (030) 1234 5678
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
    r"|0\d{1,4}(?:[ -]\d{2,4}){2,4}"  # 06 12 34 56 78, 030 1234 5678
    r"|0\d{2,4}[ -]\d{5,8}"  # 07700 900461, 030 12345678
    r"|0\d{9,10}"  # 0612345678 (national, leading zero)
    r")(?![A-Za-z0-9_/-]|\.\d)"
)
_PHONE_WORDS = ("phone", "tel", "mobile", "cell", "call", "whatsapp", "sms", "fax", "contact", "portable", "celular",
                "móvil", "handy", "numero", "número", "nummer", "номер", "телефон", "電話", "电话", "手机", "전화",
                "هاتف", "फ़ोन", "फोन")
_BARE_DIGITS = re.compile(r"\d{9,12}")
_DIGIT = re.compile(r"\d")
# Every number pattern below needs a run of 7+ digits and separators (or, for an Italian codice
# fiscale, its digit-letter core). On a longer text, only the windows around such runs are searched
# (with room on the left for an IBAN's or a codice fiscale's letters). The runs are found on the
# text's UTF-8 bytes with every digit turned into "0": the patterns then start with a literal "0",
# which the regex engine finds with a fast byte search instead of testing a class at every position.
_ZEROED = bytes.maketrans(b"123456789", b"000000000")
_NUMBERISH = re.compile(rb"0[0 .()/+-]{5,}0|00[A-EHLMPR-T]00[A-Z]000[A-Z]")
_WINDOW_LEFT = 16  # bytes
_WINDOW_RIGHT = 4
_WINDOWS_FROM = 512  # shorter texts are searched whole
_ASCII_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _bounded(text: str, start: int, end: int, extra: str = "") -> bool:
    """No ASCII word character (nor one of ``extra``) touches the span on either side."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return before not in _ASCII_WORD and after not in _ASCII_WORD and before not in extra and after not in extra


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18,
    "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27,
    "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26,
    "UA": 29, "VG": 24, "XK": 20,
}
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_prefix_ok(digits: str) -> bool:
    first = digits[0]
    if first == "4":
        return len(digits) in (13, 16, 19)
    two = int(digits[:2])
    if 51 <= two <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return len(digits) == 16
    if two in (34, 37):
        return len(digits) == 15
    if first == "6" or two in (35, 36, 38, 30, 39):
        return 14 <= len(digits) <= 19
    return False


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _cpf_valid(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if len(set(digits)) == 1:
        return False
    for n in (9, 10):
        check = sum(d * w for d, w in zip(digits[:n], range(n + 1, 1, -1), strict=False)) * 10 % 11 % 10
        if check != digits[n]:
            return False
    return True


def _cn_id_valid(candidate: str) -> bool:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(candidate[:17], weights, strict=True))
    return "10X98765432"[total % 11] == candidate[17].upper()


def _verhoeff_valid(digits: str) -> bool:
    check = 0
    for i, char in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][ord(char) - 48]]
    return check == 0


class PIIDetector:
    """Finds the kinds of sensitive data in a text. Stateless; one instance may be shared."""

    def kinds(self, text: str) -> set[str]:
        found: set[str] = set()
        if not text:
            return found
        if "@" in text and any(m.start() > 0 and text[m.start() - 1] in _EMAIL_LOCAL
                               for m in _EMAIL_DOMAIN.finditer(text)):
            found.add("email")
        lowered = text.lower()
        self._secrets(text, lowered, found)
        numbers = _number_windows(text)
        if numbers:
            if _CODICE_FISCALE.search(numbers):
                found.add("national_id")
            if "ssn" in lowered or "social security" in lowered:
                for match in _SSN_CONTEXT.finditer(lowered):
                    area = match.group(1)[:3]
                    if area not in ("000", "666") and area[0] != "9" and _bounded(lowered, *match.span(1)):
                        found.add("national_id")
            self._numbers(numbers, found, lowered)
        return found

    def _secrets(self, text: str, lowered: str, found: set[str]) -> None:
        if "-----BEGIN" in text and _PRIVATE_KEY.search(text):
            found.add("private_key")
        if any(_bounded(text, m.start(), m.end()) for m in _AWS_KEY.finditer(text)):
            found.add("aws_key")
        if "aws_secret_access_key" in lowered and _AWS_SECRET.search(lowered):
            found.add("aws_key")
        if "eyJ" in text and any(_bounded(text, m.start(), m.end()) for m in _JWT.finditer(text)):
            found.add("jwt")
        if self._provider_key(text):
            found.add("api_key")
        elif self._assigned_secret(lowered):
            found.add("api_key")
        if any(p.search(lowered) for p in (_PASSWORDS_ASCII if text.isascii() else _PASSWORDS)):
            found.add("password")

    @staticmethod
    def _assigned_secret(lowered: str) -> bool:
        for word, before in _ASSIGNED_SECRETS:
            for match in word.finditer(lowered):
                if lowered.endswith(before, 0, match.start()):
                    value = _ASSIGNED_VALUE.match(lowered, match.end())
                    if value is not None and _DIGIT.search(value.group(1)):
                        return True
        return False

    @staticmethod
    def _provider_key(text: str) -> bool:
        for pattern in _PROVIDER_KEYS:
            for match in _overlapping(pattern, text):
                if match.start() == 0 or text[match.start() - 1] not in _ASCII_WORD:
                    return True
        for match in _overlapping(_STRIPE_KEY, text):
            start = match.start() - 1
            if start >= 0 and text[start] in "srp" and (start == 0 or text[start - 1] not in _ASCII_WORD):
                return True
        return False

    def _numbers(self, text: str, found: set[str], lowered: str) -> None:
        taken: list[tuple[int, int]] = []
        for match in _CARD.finditer(text):
            start, end = match.span()
            if not _bounded(text, start, end) or (start > 0 and text[start - 1] in ".,-") or (
                    end + 1 < len(text) and text[end] in ".," and text[end + 1].isdigit()):
                continue  # part of a longer number, a decimal or a code
            digits = match.group().replace(" ", "").replace("-", "")
            if 13 <= len(digits) <= 19 and _card_prefix_ok(digits) and luhn_valid(digits):
                found.add("payment_card")
                taken.append((start, end))
        for match in _IBAN.finditer(text):
            if _bounded(text, *match.span()) and iban_valid(match.group()):
                found.add("iban")
                taken.append(match.span())
        if self._national_id(text, taken):
            found.add("national_id")
        if self._phone(text, taken, lowered):
            found.add("phone")

    def _national_id(self, text: str, taken: list[tuple[int, int]]) -> bool:
        """National ID numbers; spans already taken by a card or an IBAN are not looked at again."""
        candidates: list[tuple[tuple[int, int], bool]] = []
        for match in _SSN.finditer(text):
            area, group, serial = match.group()[:3], match.group()[4:6], match.group()[7:]
            valid = area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
            candidates.append((match.span(), valid))
        for match in _NINO.finditer(text):
            candidates.append((match.span(), match.group()[:2] not in _NINO_BAD_PREFIXES))
        for match in _DNI.finditer(text):
            start, end = match.span()
            number, letter = match.group().replace("-", "")[:-1], match.group()[-1]
            prefix = text[start - 1] if start > 0 and len(number) == 7 and text[start - 1] in "XYZ" else ""
            value = int(str("XYZ".index(prefix)) + number) if prefix else int(number)
            valid = bool(prefix or len(number) == 8) and _DNI_LETTERS[value % 23] == letter
            candidates.append(((start - len(prefix), end), valid))
        candidates.extend((m.span(), _cpf_valid(m.group())) for m in _CPF.finditer(text))
        candidates.extend((m.span(), _cn_id_valid(m.group())) for m in _CN_ID.finditer(text))
        candidates.extend((m.span(), _verhoeff_valid(m.group().replace(" ", ""))) for m in _AADHAAR.finditer(text))
        hit = False
        for span, valid in candidates:
            if valid and _bounded(text, *span) and _free(span, taken):
                taken.append(span)
                hit = True
        return hit

    def _phone(self, text: str, taken: list[tuple[int, int]], lowered: str) -> bool:
        for match in _PHONE.finditer(text):
            start, end = match.span()
            if start > 0 and text[start - 1] in _ASCII_WORD or start > 0 and text[start - 1] in "+/.-":
                continue
            digits = sum(ch.isdigit() for ch in match.group())
            if 7 <= digits <= 15 and _free((start, end), taken) and not _looks_like_date(match.group()):
                return True
        # A bare run of 9-12 digits counts only when the text speaks of phones (checked last: it
        # reads the whole text).
        return any(_bounded(text, *m.span(), "-") and _free(m.span(), taken) for m in _BARE_DIGITS.finditer(text)) \
            and any(w in lowered for w in _PHONE_WORDS)


def _number_windows(text: str) -> str:
    """The parts of a text where a number pattern can match ("" if none): a short text whole if it
    has a digit; of a longer text, the windows around its digit runs, joined by line breaks."""
    if len(text) < _WINDOWS_FROM:
        return text if _DIGIT.search(text) else ""
    raw = text.encode("ascii") if text.isascii() else text.encode("utf-8", "surrogatepass")
    spans: list[list[int]] = []
    for match in _NUMBERISH.finditer(raw.translate(_ZEROED)):
        start, end = max(0, match.start() - _WINDOW_LEFT), match.end() + _WINDOW_RIGHT
        if spans and start <= spans[-1][1]:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    # a window may cut a multi-byte character at its edges: that part is dropped
    return "\n".join(raw[a:b].decode("utf-8", "ignore") for a, b in spans)


def _overlapping(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Every match, each search starting one character after the last match's start: a match
    rejected on what precedes it must not hide one that overlaps it."""
    pos = 0
    while (match := pattern.search(text, pos)) is not None:
        yield match
        pos = match.start() + 1


def _free(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return not any(a < span[1] and span[0] < b for a, b in taken)


_DATE = re.compile(r"^\d{4}[-.]\d{1,2}[-.]\d{1,2}$|^\d{1,2}[-.]\d{1,2}[-.]\d{2,4}$")


def _looks_like_date(candidate: str) -> bool:
    return bool(_DATE.match(candidate.strip()))
