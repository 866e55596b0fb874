"""Shared helpers of the artifact build scripts: data sources, text cleaning, decontamination.

Sources (see src/switchpoint/analysis/artifacts/PROVENANCE.md):
- scripts/analysis/data/*.txt: prompts and phrases written for switchpoint (Apache-2.0, this repo);
- ../shared/data/routing/*.jsonl: routing outcome data, read in place and never copied;
- Debian manual-page translations (manpages-l10n and friends), extracted outside the repo,
  for language-ID text only.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "scripts" / "analysis" / "data"
ARTIFACTS = ROOT / "src" / "switchpoint" / "analysis" / "artifacts"
ROUTING = ROOT.parent / "shared" / "data" / "routing"
TEST_SET = ROOT / "tests" / "analysis" / "data" / "labelled_prompts.jsonl"
TEST_SETS = (TEST_SET, ROOT / "tests" / "analysis" / "data" / "fresh_prompts.jsonl")
MAN_ROOT = Path(os.environ.get("SWITCHPOINT_MAN_ROOT",
                              ROOT.parent / ".analysis-sources" / "man" / "usr" / "share" / "man"))

sys.path.insert(0, str(ROOT / "src"))
# Import switchpoint.analysis without running switchpoint/__init__.py (which builds the whole gateway
# API): the build scripts need only the analysis package and its small dependencies.
if "switchpoint" not in sys.modules:
    _package = types.ModuleType("switchpoint")
    _package.__path__ = [str(ROOT / "src" / "switchpoint")]
    sys.modules["switchpoint"] = _package

TASK_CODES = {
    "coding": "coding", "math": "math", "reasoning": "reasoning", "writing": "writing", "roleplay": "roleplay",
    "extraction": "extraction", "summarization": "summarization", "translation": "translation",
    "knowledge": "knowledge", "conversation": "conversation",
}
SENTIMENT_CODES = {"neg": "negative", "neu": "neutral", "pos": "positive"}


@dataclass(frozen=True)
class Example:
    text: str
    task: str
    sentiment: str
    lang: str
    source: str


def read_prompt_file(path: Path) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        task, sentiment, lang, text = (part.strip() for part in line.split("|", 3))
        examples.append(Example(text, TASK_CODES[task], SENTIMENT_CODES[sentiment], lang, path.name))
    return examples


def written_prompts() -> list[Example]:
    out: list[Example] = []
    for path in sorted(DATA.glob("prompts_*.txt")):
        out.extend(read_prompt_file(path))
    return out


def sentiment_phrases() -> list[tuple[str, str, str]]:
    out = []
    for line in (DATA / "sentiment_phrases.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            sentiment, lang, phrase = (part.strip() for part in line.split("|", 2))
            out.append((SENTIMENT_CODES[sentiment], lang, phrase))
    return out


def routing_rows(name: str) -> Iterator[dict]:
    with (ROUTING / f"{name}.jsonl").open(encoding="utf-8") as file:
        for line in file:
            yield json.loads(line)


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def test_set_keys() -> set[str]:
    """Normalised heads and tails of the labelled test prompts, to keep them out of training."""
    keys: set[str] = set()
    for path in TEST_SETS:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                text = normalise(json.loads(line)["text"])
                keys.add(text[:120])
                keys.add(text[-150:])
    return keys


def is_contaminated(text: str, keys: set[str]) -> bool:
    norm = normalise(text)
    return norm[:120] in keys or norm[-150:] in keys


_TROFF_ESCAPES = re.compile(r"\\f[BIRPC]|\\f\(..|\\f\[[^\]]*\]|\\\(..|\\\[[^\]]*\]|\\\*\(..|\\\*.|\\[&|^%]|\\s[-+]?\d")


_ENGLISH = frozenset(
    "the a an of to in is are and or for with on by this that be it as from at not if when which can will "
    "you your file files use used set default value option options output input see also all no only".split()
)


def is_english(line: str) -> bool:
    words = re.findall(r"[a-z]+", line.lower())
    return bool(words) and sum(w in _ENGLISH for w in words) >= max(2, 0.2 * len(words))


def manpage_sentences(lang_dir: str, limit: int, seed: int = 0) -> list[str]:
    """Natural-language lines from the manual pages of one language (troff markup removed).

    Translated pages keep some English paragraphs; for other languages those lines are dropped.
    """
    root = MAN_ROOT / lang_dir if lang_dir else MAN_ROOT
    files = sorted(p for p in root.glob("man*/*.gz"))
    random.Random(seed).shuffle(files)
    lines: list[str] = []
    for path in files:
        try:
            raw = gzip.open(path, "rt", encoding="utf-8", errors="strict").read()
        except (UnicodeDecodeError, OSError, EOFError):
            continue
        for line in raw.splitlines():
            if not line or line[0] in ".'":
                continue
            line = _TROFF_ESCAPES.sub("", line).replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ")
            line = line.replace("\\", "").strip()
            words = line.split()
            letters = sum(ch.isalpha() for ch in line)
            if len(words) >= 5 and letters >= 0.7 * len(line.replace(" ", "")):
                if lang_dir and is_english(line):
                    continue
                lines.append(line)
        if len(lines) >= limit * 3:
            break
    random.Random(seed).shuffle(lines)
    return lines[:limit]
