"""PII and secrets: each kind found, checksums enforced, common look-alikes ignored."""

from __future__ import annotations

import pytest

from switchpoint.analysis.pii import PIIDetector, iban_valid, luhn_valid

detector = PIIDetector()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("write to anna.berg+news@mail.example.se today", "email"),
        ("call +1 415 555 0132 after lunch", "phone"),
        ("my number is (212) 555-0187", "phone"),
        ("ring 06 12 34 56 78", "phone"),
        ("電話 090-1234-5678", "phone"),
        ("card 4539 1488 0343 6467 exp 10/27", "payment_card"),
        ("amex 378282246310005", "payment_card"),
        ("pay to GB82 WEST 1234 5698 7654 32", "iban"),
        ("IBAN DE89370400440532013000", "iban"),
        ("SSN: 536-90-4399", "national_id"),
        ("social security number 536904399", "national_id"),
        ("NI number JG 12 34 56 C", "national_id"),
        ("DNI 12345678Z", "national_id"),
        ("CPF 529.982.247-25", "national_id"),
        ("codice fiscale RSSMRA85T10A562S", "national_id"),
        ("身份证 11010519491231002X", "national_id"),
        ('api_key="sk-proj-4fGh7Jk9LmNpQrStUvWxYz0123456789abcd"', "api_key"),
        ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "api_key"),
        ("client_secret:\n  a1b2c3d4e5f6g7h8i9j0k1l2", "api_key"),
        ("Authorization: Bearer abcdef0123456789ABCDEF.xyz", "api_key"),
        # a key right after a rejected look-alike (not at a word start) that overlaps it
        ("id=xxoxb-123456789012-abcdefghij-sk_live_51HqLyjWDarjtT1zdp7dc", "api_key"),
        ("sk_live_51HqLyjWDarjtT1zdp7dc", "api_key"),
        ("xoxb-123456789012-abcdefghij", "api_key"),
        ("AKIAIOSFODNN7EXAMPLE", "aws_key"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE...", "private_key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private_key"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt"),
        ("password: hunter2!", "password"),
        ("Mein Passwort ist Sommer2024!", "password"),
    ],
)
def test_finds_each_kind(text: str, kind: str) -> None:
    assert kind in detector.kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is 4111 multiplied by 1111?",
        "Order #48213-77 will arrive on 2024-06-18.",
        "Compute 123456789 + 987654321",
        "Invoice INV-2023-00918, total 1,249.50 EUR, due 30/11/2023",
        "format 1234567890123456 in groups of four",  # fails Luhn
        "IBAN GB82 WEST 1234 5698 7654 33",  # bad checksum
        "Is 192.168.0.1 a valid address?",
        "The year 1969 and the number 3.14159265",
        "the SSN format is ###-##-####",
        "Use an env var for your API key instead of hardcoding it",
        "the secret_key setting holds your_application_secret_here",  # no digit: a placeholder
        "my_api_key_variable_name_is_long = None",
        "sk-short",
        "x = 2024 / 8",
        "version 10.0.19045.3693",
    ],
)
def test_ignores_lookalikes(text: str) -> None:
    assert detector.kinds(text) == set()


def test_checksums() -> None:
    assert luhn_valid("4539148803436467")
    assert not luhn_valid("4539148803436468")
    assert iban_valid("FR76 3000 6000 0112 3456 7890 189")
    assert not iban_valid("FR76 3000 6000 0112 3456 7890 180")
    assert not iban_valid("XX00 1234")


def test_several_kinds_at_once() -> None:
    text = "Tom, tom@mailbox.org, +44 7911 123456, card 5555 5555 5555 4444"
    assert detector.kinds(text) == {"email", "phone", "payment_card"}


@pytest.mark.parametrize(
    ("needle", "kind"),
    [("social security number 536904399", "national_id"), ("call me: 0612345678", "phone"),
     ("IBAN GB82 WEST 1234 5698 7654 32", "iban"), ("NI JG 12 34 56 C", "national_id"),
     ("card 4539 1488 0343 6467", "payment_card"), ("DNI X1234567L", "national_id"), ("+1 415 555 0132", "phone")],
)
def test_long_texts_are_searched_in_number_windows(needle: str, kind: str) -> None:
    padding = " lorem ipsum dolor sit amet, version 12 of 3. " * 100
    assert kind in detector.kinds(padding + needle + padding)


def test_card_followed_by_punctuation() -> None:
    assert "payment_card" in detector.kinds("card 5555 5555 5555 4444, shipping express.")
    assert "payment_card" not in detector.kinds("total 1.5555555555554444 units")


# -- long prompts: every character is scanned, so PII deep inside a 16 KB prompt is found ----------

_PROSE = ("The quarterly report covers revenue, churn and the 3 new regions; version 2.4.1 shipped on "
          "2024-06-18 with 1,249 fixes. Le rapport trimestriel couvre 12 régions. ")
_CODE = "def merge(a, b):\n    for i in range(10):\n        a[i] = max(a[i], b[i]) + 0x1F\n    return a\n"
_CJK = "这份季度报告涵盖收入、客户流失和三个新地区，版本 2.4.1 已发布。"


def _deep(filler: str, needle: str, at: int = 15_000, size: int = 16_384) -> str:
    """``needle`` as a sentence of its own, after the first sentence or line that ends past ``at``."""
    text = (filler * (size // len(filler) + 1))[:size]
    at = min(i for i in (text.find(". ", at), text.find("\n", at), text.find("。", at)) if i >= 0) + 1
    return text[:at] + " " + needle + " " + text[at:]


@pytest.mark.parametrize("filler", [_PROSE, _CODE, _CJK], ids=["prose", "code", "cjk"])
@pytest.mark.parametrize(
    ("needle", "kind"),
    [
        ("anna.berg@mail.example.se", "email"),
        ("DE89 3704 0044 0532 0130 00", "iban"),
        ("GB82 WEST 1234 5698 7654 32", "iban"),
        ("sk-proj-4fGh7Jk9LmNpQrStUvWxYz0123456789abcd", "api_key"),
        ('api_key="a1b2c3d4e5f6g7h8i9j0k1l2m3"', "api_key"),
        ("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "api_key"),
        ("AKIAIOSFODNN7EXAMPLE", "aws_key"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private_key"),
        ("card 4539 1488 0343 6467", "payment_card"),
        ("+44 20 7946 0958", "phone"),
        ("codice fiscale RSSMRA85T10A562S", "national_id"),
        ("SSN: 536-90-4399", "national_id"),
        ("password: hunter2!", "password"),
    ],
)
def test_pii_deep_inside_a_long_prompt_is_found(filler: str, needle: str, kind: str) -> None:
    text = _deep(filler, needle)
    assert len(text) > 16_000 and text.index(needle) >= 15_000
    assert kind in detector.kinds(text)
    assert kind not in detector.kinds(_deep(filler, ""))  # and the filler alone has none of it


@pytest.mark.parametrize("filler", [_PROSE, _CODE, _CJK], ids=["prose", "code", "cjk"])
def test_long_prompt_without_pii_has_none(filler: str) -> None:
    assert detector.kinds(_deep(filler, "order 48213-77, invoice INV-2023-00918, build 10.0.19045.3693")) == set()


def test_number_next_to_multibyte_characters_in_a_long_text() -> None:
    # the digit runs of a long text are found on its UTF-8 bytes; windows are cut back to characters
    text = _deep(_CJK, "账户DE89370400440532013000，电话 +86 10 6552 9988。", at=9_000)
    assert {"iban", "phone"} <= detector.kinds(text)


def test_pii_in_any_message_of_a_long_conversation_through_the_pipeline() -> None:
    from switchpoint.analysis.analyzers import PIIAnalyzer
    from switchpoint.analysis.view import RequestView
    from switchpoint.types import ChatRequest

    messages = [
        {"role": "system", "content": _deep(_PROSE, "")},
        {"role": "user", "content": _deep(_CODE, "my key is sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx")},
        {"role": "assistant", "content": "I see."},
        {"role": "user", "content": _deep(_PROSE, "write to ops@example.org", at=15_500)},
    ]
    view = RequestView(ChatRequest(body={"model": "m", "messages": messages}, model="m"))
    result = PIIAnalyzer().analyze(view, {})["pii"]
    assert result.found is True and result.kinds == ("api_key", "email")
