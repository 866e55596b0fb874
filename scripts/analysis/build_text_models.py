"""Build artifacts/task_type.json.gz and artifacts/sentiment.json.gz.

Training data:
- prompts written for switchpoint (scripts/analysis/data/prompts_*.txt): task and sentiment labels
  in 25 languages; weighted up;
- the same neutral prompts with an emotional phrase (sentiment_phrases.txt) put before or after
  them: sentiment examples whose task is unchanged, so neither model learns the other's cues;
- weak task labels from the routing training files under ../shared (their protocol allows training
  on routerbench_train, routerdc7_train and alpacaeval2): GSM8K → math, HumanEval / MBPP → coding,
  ARC / CMMLU → knowledge, Winogrande → reasoning, and alpacaeval2 prompts whose wording makes the
  task unambiguous (high-precision keyword rules below); all neutral in sentiment.
Test prompts (tests/analysis/data) are excluded by their normalised head and tail.

Model: logistic regression over switchpoint.analysis.textfeatures.text_features, class-balanced.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter

from common import (
    ARTIFACTS,
    DATA,
    Example,
    is_contaminated,
    routing_rows,
    sentiment_phrases,
    test_set_keys,
    written_prompts,
)
from trainlib import fit_linear, report

from switchpoint.analysis.features import SENTIMENTS, TASK_TYPES
from switchpoint.analysis.textfeatures import Lexicon, text_features

RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("translation", re.compile(r"^(please )?translate\b|\btranslate (this|the following|into|to)\b", re.I)),
    ("summarization", re.compile(r"^(please )?(summari[sz]e|give me a summary|tl;?dr)\b", re.I)),
    ("roleplay", re.compile(r"^(i want you to act as|act as|pretend (to be|you are)|you are (a|an) \w+\. )", re.I)),
    ("extraction", re.compile(r"^(extract|identify all|list all the \w+ (in|from|mentioned))\b", re.I)),
    ("coding", re.compile(r"\b(python|javascript|java|c\+\+|sql|regex|function|code|script|html|css|bash)\b", re.I)),
    ("writing", re.compile(r"^(write|compose|draft) (a|an|me a) (poem|story|essay|letter|email|song|speech|haiku|"
                           r"blog|tweet|review|limerick|short story|cover letter)", re.I)),
    ("math", re.compile(r"^(solve|calculate|compute|what is \d+ ?[-+*/x])", re.I)),
    ("knowledge", re.compile(r"^(who (was|is|were|invented|wrote|discovered)|what (is|are|was|were) (the|a|an)\b|"
                             r"when (did|was)|where (is|are|was)|why (do|does|is|are|did)|how (does|do|did) )",
                             re.I)),
)


def weak_label(prompt: str) -> str | None:
    for label, pattern in RULES:
        if pattern.search(prompt):
            return label
    return None


def public_examples(keys: set[str], rng: random.Random) -> list[Example]:
    caps = {"math": 350, "coding": 250, "knowledge": 450, "reasoning": 250}
    pools: dict[str, list[Example]] = {k: [] for k in caps}
    for row in routing_rows("routerdc7_train"):
        task_file = row["meta"]["task_file"]
        task = ("math" if task_file.startswith("gsm8k") else "coding" if task_file.startswith("humaneval")
                else "knowledge")
        pools[task].append(Example(row["prompt"], task, "neutral", "zh" if "cmmlu" in task_file else "en", "routerdc"))
    for row in routing_rows("routerbench_train"):
        name = row["meta"]["eval_name"]
        task = "coding" if name.startswith("mbpp") else "reasoning" if name.startswith("winogrande") else "knowledge"
        pools[task].append(Example(row["prompt"], task, "neutral", "en", "routerbench"))
    out: list[Example] = []
    for task, pool in pools.items():
        pool = [e for e in pool if not is_contaminated(e.text, keys)]
        rng.shuffle(pool)
        out.extend(pool[: caps[task]])
    for row in routing_rows("alpacaeval2"):
        label = weak_label(row["prompt"])
        if label and not is_contaminated(row["prompt"], keys):
            out.append(Example(row["prompt"], label, "neutral", "en", "alpaca-weak"))
    return out


def emotional_variants(examples: list[Example], rng: random.Random) -> list[Example]:
    phrases = sentiment_phrases()
    by_lang: dict[str, list[tuple[str, str]]] = {}
    for sentiment, lang, phrase in phrases:
        by_lang.setdefault(lang, []).append((sentiment, phrase))
    out: list[Example] = []
    for example in examples:
        if example.sentiment != "neutral" or example.task == "conversation":
            continue
        pool = by_lang.get(example.lang) or by_lang["en"]
        for _ in range(2):
            sentiment, phrase = rng.choice(pool)
            text = f"{phrase} {example.text}" if rng.random() < 0.6 else f"{example.text} {phrase}"
            out.append(Example(text, example.task, sentiment, example.lang, "augmented"))
    return out


def lexicon_entries() -> dict[str, list[str]]:
    cues: dict[str, list[str]] = {}
    for line in (DATA / "lexicon.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            cue, _lang, entries = (part.strip() for part in line.split("|", 2))
            bucket = cues.setdefault(cue, [])
            bucket.extend(e.strip() for e in entries.split(",") if e.strip() and e.strip() not in bucket)
    return cues


def build_lexicon() -> Lexicon:
    """Compile data/lexicon.txt into artifacts/lexicon.json (cue -> entries)."""
    cues = lexicon_entries()
    path = ARTIFACTS / "lexicon.json"
    path.write_text(json.dumps({"format": "switchpoint-lexicon/1", "cues": cues}, ensure_ascii=False, indent=0)
                    + "\n", encoding="utf-8")
    return Lexicon.load(path)


def main() -> None:
    rng = random.Random(7)
    lexicon = build_lexicon()
    keys = test_set_keys()
    own = [e for e in written_prompts() if not is_contaminated(e.text, keys)]
    augmented = emotional_variants(own, rng)
    public = public_examples(keys, rng)
    # standalone phrases are sentiment examples too (their task is conversation)
    standalone = [Example(p, "conversation", s, lang, "phrase") for s, lang, p in sentiment_phrases()]
    print("own", len(own), "augmented", len(augmented), "public", len(public), Counter(e.task for e in public))

    # Each task cue word on its own is an example of its class: this ties the "#lex:<task>" feature
    # to its class firmly, which is what carries the signal into languages with few prompts.
    cue_words = [Example(word.rstrip("*"), cue, "neutral", "xx", "lexicon") for cue, words in lexicon_entries().items()
                 if cue in TASK_TYPES for word in words]
    task_data = own * 3 + augmented + public + standalone + cue_words
    weights = [0.5 if e.source == "lexicon" else 1.0 for e in task_data]
    xs = [sorted(text_features(e.text, lexicon)) for e in task_data]
    model, holdout = fit_linear(xs, [e.task for e in task_data], name="task_type", c=4.0, min_count=2, keep=25000,
                                sample_weights=weights, meta={"task": "task type", "classes": list(TASK_TYPES)})
    report(holdout)
    model.dump(ARTIFACTS / "task_type.json.gz")
    print("task_type features", len(model.weights))

    neutral_public = [e for e in public if rng.random() < 0.5]
    sentiment_words = [Example(word.rstrip("*"), "conversation", cue, "xx", "lexicon")
                       for cue, words in lexicon_entries().items() if cue in ("negative", "positive") for word in words]
    sentiment_data = own * 3 + augmented + standalone * 2 + neutral_public + sentiment_words
    counts = Counter(e.sentiment for e in sentiment_data)
    weights = [len(sentiment_data) / (3 * counts[e.sentiment]) for e in sentiment_data]
    xs = [sorted(text_features(e.text, lexicon)) for e in sentiment_data]
    model, holdout = fit_linear(xs, [e.sentiment for e in sentiment_data], name="sentiment", c=4.0, min_count=2,
                                keep=20000, sample_weights=weights,
                                meta={"task": "sentiment", "classes": list(SENTIMENTS)})
    report(holdout)
    model.dump(ARTIFACTS / "sentiment.json.gz")
    print("sentiment features", len(model.weights))


if __name__ == "__main__":
    main()
