"""Synthetic training rows: trivial messages, which every model answers as well as any other.

The public training data holds benchmark questions and AlpacaEval's instructions; none of it is a greeting, a
thank-you or an "ok". A router trained on it alone has no evidence about such messages, and its task recogniser
takes them for AlpacaEval's chat, where the strong model gains most. These rows state what needs no measurement:
on a greeting or an acknowledgement, every model does equally well (score 1), so the strong model gains nothing.

They are generated here from short templates in several languages, deterministically, as the data README
allows ("your own synthetic ... data"), under the dataset name ``synthetic_trivial``; ``TrainOptions.trivial_prompts``
adds them to the training rows, with ``source_weights`` giving them a weak-label weight like AlpacaEval's.
The messages of the behaviour checks in the tests ("hi there", "hello", "thanks!") are left out on purpose, so
those checks stay held out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["TRIVIAL_DATASET", "TRIVIAL_MODELS", "trivial_rows"]

TRIVIAL_DATASET = "synthetic_trivial"

# The models scored on the trivial rows: RouterBench's eleven (the anchor source, spanning the four tiers), under
# the names the trainer pools them by; training scores those of them its rows have (no model enters a router
# through the synthetic rows alone).
TRIVIAL_MODELS = (
    "gpt-4-1106-preview", "gpt-3.5-turbo-1106", "claude-v1", "claude-v2", "claude-instant-v1", "mixtral-8x7b",
    "llama-2-70b-chat", "yi-34b-chat", "code-llama-instruct-34b-chat", "wizardlm-13b-v1.2", "mistral-7b-chat",
)

_MESSAGES = {
    "greeting": ("hi", "hey", "hey there", "hello there", "good morning", "good afternoon", "good evening",
                 "hiya", "greetings", "hi again", "morning!", "hey, you there?"),
    "thanks": ("thank you", "thanks a lot", "thank you so much", "many thanks", "cheers", "thx", "ty",
               "thanks, that helps", "much appreciated", "great, thank you"),
    "ack": ("ok", "okay", "got it", "sounds good", "perfect", "cool", "nice", "alright", "understood", "sure",
            "yes", "no", "yep", "nope", "fine", "great", "awesome", "makes sense"),
    "farewell": ("bye", "goodbye", "see you later", "talk soon", "have a nice day", "good night", "later!",
                 "that's all for now"),
    "smalltalk": ("how are you?", "how's it going?", "what's up?", "nice to meet you", "are you there?",
                  "how are you doing today?", "who are you?", "can you hear me?"),
    "other languages": ("hola", "buenos días", "gracias", "bonjour", "merci", "salut", "hallo", "danke",
                        "guten Morgen", "ciao", "grazie", "olá", "obrigado", "hej", "tack", "dank je",
                        "cześć", "dziękuję", "привет", "спасибо", "merhaba", "teşekkürler", "namaste",
                        "こんにちは", "ありがとう", "你好", "谢谢", "안녕하세요", "감사합니다", "สวัสดี",
                        "مرحبا", "شكرا", "שלום", "γεια σου"),
}
_FORMS = ("{m}", "{M}!", "{m} :)")


def trivial_rows(models: Sequence[str] = TRIVIAL_MODELS) -> list[dict[str, Any]]:
    """The synthetic rows: each message in three written forms (as is, capitalised with "!", with a smiley),
    every one of ``models`` scoring 1 (none without models)."""
    if not models:
        return []
    rows: list[dict[str, Any]] = []
    for kind, messages in _MESSAGES.items():
        for message in messages:
            for form in _FORMS:
                text = form.format(m=message, M=message[:1].upper() + message[1:])
                rows.append({"id": f"{TRIVIAL_DATASET}-{len(rows)}", "dataset": TRIVIAL_DATASET, "prompt": text,
                             "scores": dict.fromkeys(models, 1.0), "meta": {"kind": kind}})
    return rows
