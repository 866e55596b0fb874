"""Model profiles: how a learned router names, groups and ranks models it has or has not seen.

A router is trained on the outcomes of some models (``gpt-4-1106-preview``, ``mixtral-8x7b``,
...) and asked to rank others (``gpt-4o``, ``mistralai/Mixtral-8x7B-Instruct-v0.1``, a fine-tune
served under a house name). A :class:`ModelProfile` gives each model

- a **canonical name** and **aliases** (other spellings of the *same* weights: provider prefixes,
  dates, ``-chat``/``-instruct`` suffixes), so that data from several sources about one model is
  pooled at training time and a request for any spelling finds it;
- a **family** (``gpt-4``, ``claude``, ``mistral``, ``llama``, ...), and
- a **tier** (``frontier`` > ``large`` > ``medium`` > ``small``), its strength class.

A predictor holds parameters per *trained* model and per *tier* (the mean of its trained members).
:meth:`ProfileRegistry.resolve` maps a requested name, in order, to: a trained model (by
normalised name or alias); a tier given explicitly (``"tier:frontier"``); a built-in profile
whose tier the predictor knows (``gpt-4o`` → frontier); a size found in the name
(``acme-13b-chat`` → medium); else it raises :class:`KeyError` naming the ways to fix it
(``profile:`` in the router's config, or an explicit tier).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "BUILTIN_PROFILES", "PLACEMENT_PROFILES", "TIERS", "ModelProfile", "ProfileRegistry", "Resolution", "normalize",
    "release_bases",
]

TIERS = ("frontier", "large", "medium", "small")

_VARIANT = re.compile(r"_(concise|verbose)$")
_DROP = re.compile(r"[^a-z0-9.]+")


def normalize(name: str) -> str:
    """Lower case, no provider prefix (``org/``), ``_`` and spaces as ``-``: ``mistralai/Mixtral-8x7B``
    and ``mixtral-8x7b`` meet."""
    name = name.strip().lower().rsplit("/", 1)[-1]
    return _DROP.sub("-", name).strip("-")


@dataclass(frozen=True, slots=True)
class ModelProfile:
    name: str
    tier: str
    family: str
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"model profile {self.name!r}: tier must be one of {', '.join(TIERS)}, not {self.tier!r}")


def _p(name: str, tier: str, family: str, *aliases: str) -> ModelProfile:
    return ModelProfile(name, tier, family, aliases)


# Strength classes of well-known models, by public benchmark standing at their release (coarse on
# purpose: the tier only places a model the router has no data on). The aliases pool the spellings
# used by the training sources (RouterBench, RouterDC, AlpacaEval) and by providers.
BUILTIN_PROFILES: tuple[ModelProfile, ...] = (
    _p("gpt-4-1106-preview", "frontier", "gpt-4", "gpt4_1106_preview", "gpt-4-1106", "gpt-4-turbo-preview"),
    _p("gpt-4", "frontier", "gpt-4", "gpt-4-0613", "gpt4_0613", "gpt-4-0314", "gpt4"),
    _p("gpt-4-turbo", "frontier", "gpt-4", "gpt-4-turbo-2024-04-09"),
    _p("gpt-4o", "frontier", "gpt-4", "gpt-4o-2024-05-13", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20",
       "chatgpt-4o-latest"),
    _p("gpt-4.1", "frontier", "gpt-4", "gpt-4.1-2025-04-14"),
    _p("gpt-5", "frontier", "gpt-5"),
    _p("o1", "frontier", "o-series"), _p("o3", "frontier", "o-series"), _p("o4-mini", "frontier", "o-series"),
    _p("claude-3-opus", "frontier", "claude", "claude-3-opus-20240229"),
    _p("claude-3-5-sonnet", "frontier", "claude", "claude-3.5-sonnet", "claude-3-5-sonnet-20240620",
       "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-latest"),
    _p("claude-3-7-sonnet", "frontier", "claude", "claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest"),
    _p("claude-sonnet-4", "frontier", "claude", "claude-sonnet-4-20250514", "claude-sonnet-4-0"),
    _p("claude-opus-4", "frontier", "claude", "claude-opus-4-20250514", "claude-opus-4-0"),
    _p("gemini-1.5-pro", "frontier", "gemini", "gemini-1.5-pro-latest"),
    _p("gemini-2.5-pro", "frontier", "gemini"),
    _p("llama-3.1-405b", "frontier", "llama", "meta-llama-3.1-405b-instruct", "llama-3.1-405b-instruct"),
    _p("deepseek-v3", "frontier", "deepseek", "deepseek-chat"), _p("deepseek-r1", "frontier", "deepseek",
                                                                      "deepseek-reasoner"),
    _p("gpt-3.5-turbo-1106", "large", "gpt-3.5", "gpt-3.5-turbo", "gpt-3.5-turbo-0125", "gpt-3.5-turbo-0301",
       "gpt35-turbo-instruct", "gpt-3.5-turbo-instruct"),
    _p("gpt-4o-mini", "large", "gpt-4", "gpt-4o-mini-2024-07-18"),
    _p("gpt-4.1-mini", "large", "gpt-4"), _p("gpt-4.1-nano", "medium", "gpt-4"),
    _p("claude-v1", "large", "claude", "claude", "claude-1"),
    _p("claude-v2", "large", "claude", "claude-2", "claude-2.0", "claude-2.1", "claude-v2.1"),
    _p("claude-instant-v1", "large", "claude", "claude-instant-1.2", "claude-instant-1", "claude-instant"),
    _p("claude-3-haiku", "large", "claude", "claude-3-haiku-20240307"),
    _p("claude-3-5-haiku", "large", "claude", "claude-3-5-haiku-20241022", "claude-3-5-haiku-latest"),
    _p("claude-3-sonnet", "large", "claude", "claude-3-sonnet-20240229"),
    _p("gemini-1.5-flash", "large", "gemini"), _p("gemini-2.0-flash", "large", "gemini"),
    _p("gemini-2.5-flash", "large", "gemini"), _p("gemini-pro", "large", "gemini", "gemini-1.0-pro"),
    _p("mixtral-8x7b", "large", "mistral", "mixtral-8x7b-chat", "mixtral-8x7b-instruct-v0.1",
       "mixtral-8x7b-instruct", "open-mixtral-8x7b"),
    _p("mixtral-8x22b", "large", "mistral", "mixtral-8x22b-instruct-v0.1", "open-mixtral-8x22b"),
    _p("mistral-large", "frontier", "mistral", "mistral-large-latest"),
    _p("mistral-small", "large", "mistral", "mistral-small-latest"),
    _p("llama-2-70b-chat", "large", "llama", "llama-2-70b", "humpback-llama2-70b"),
    _p("llama-3-70b", "large", "llama", "meta-llama-3-70b-instruct", "llama-3-70b-instruct", "llama3-70b-8192"),
    _p("llama-3.1-70b", "large", "llama", "meta-llama-3.1-70b-instruct", "llama-3.1-70b-instruct"),
    _p("llama-3.3-70b", "large", "llama", "llama-3.3-70b-instruct", "llama-3.3-70b-versatile"),
    _p("qwen2.5-72b", "large", "qwen", "qwen2.5-72b-instruct", "qwen-2.5-72b-instruct"),
    _p("yi-34b-chat", "large", "yi", "yi-34b"),
    _p("text-davinci-003", "medium", "gpt-3", "text-davinci-003", "text-davinci-003"),
    _p("code-llama-instruct-34b-chat", "medium", "llama", "code-llama-34b", "codellama-34b-instruct"),
    _p("wizardlm-13b-v1.2", "medium", "llama", "wizardlm-13b"),
    _p("mistral-7b-chat", "small", "mistral", "mistral-7b-instruct", "mistral-7b-instruct-v0.1",
       "mistral-7b-instruct-v0.2", "open-mistral-7b"),
    _p("gpt-3.5-turbo-0613", "large", "gpt-3.5"),
)

# For placing models only: none of these spellings is a column of the public training data (tests/routing/
# learned/test_default_artifact.py checks), so the shipped router's training pools and tiers do not depend on them.
PLACEMENT_PROFILES: tuple[ModelProfile, ...] = (
    _p("gpt-4-0125-preview", "frontier", "gpt-4", "gpt-4-1106-vision-preview"),
    _p("o1-preview", "frontier", "o-series"), _p("o1-mini", "frontier", "o-series"),
    _p("o3-mini", "frontier", "o-series"), _p("gpt-5-mini", "large", "gpt-5"), _p("gpt-5-nano", "medium", "gpt-5"),
    _p("mistral-medium", "large", "mistral", "mistral-medium-latest"), _p("codestral", "medium", "mistral"),
    _p("dbrx-instruct", "large", "dbrx", "dbrx"),
    _p("command-r", "large", "command"), _p("command-r-plus", "large", "command"),
    _p("command-a", "frontier", "command"),
    _p("yi-large", "frontier", "yi", "yi-large-preview"),
    _p("qwen-max", "frontier", "qwen"), _p("qwen-plus", "large", "qwen"), _p("qwen-turbo", "medium", "qwen"),
    _p("grok-2", "frontier", "grok"), _p("grok-3", "frontier", "grok"),
    _p("phi-3-mini", "small", "phi"), _p("phi-3-small", "small", "phi"), _p("phi-3-medium", "medium", "phi"),
    _p("phi-4", "medium", "phi"),
    _p("jamba-1.5-large", "large", "jamba"), _p("jamba-1.5-mini", "medium", "jamba"),
)
BUILTIN_PROFILES += PLACEMENT_PROFILES


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a requested name was resolved: to a trained model (``model``) or to a tier's mean."""

    requested: str
    model: str | None
    tier: str | None
    how: str


# Version and release suffixes, taken to name the same model or its nearest release (``gemini-1.0-pro-001``,
# ``yi-34b-chat-0205``, ``mixtral-8x7b-instruct-v0.1``, ``o1-2024-12-17``): tried off, one at a time, when a name is
# not known as it is.
_RELEASE = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{3,8}|v\d+(?:\.\d+)*|preview|latest|instruct|chat|it|hf|exp)$")


def release_bases(name: str) -> list[str]:
    """The normalised name with its release suffixes taken off one at a time, longest first, itself excluded."""
    out: list[str] = []
    key = normalize(name)
    while (shorter := _RELEASE.sub("", key)) != key and shorter:
        out.append(shorter)
        key = shorter
    return out


_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)b(?![a-z0-9])")
_MOE = re.compile(r"(\d+)x(\d+(?:\.\d+)?)b")


def tier_from_size(name: str) -> str | None:
    """A tier from a parameter count in the name (``acme-13b`` → medium); None if there is none."""
    n = normalize(name)
    moe = _MOE.search(n)
    if moe:
        size = float(moe.group(1)) * float(moe.group(2)) * 0.6  # sparse experts: about 0.6 of the total
    else:
        found = _SIZE.findall(n)
        if not found:
            return None
        size = max(float(s) for s in found)
    return "small" if size <= 9 else "medium" if size <= 40 else "large" if size <= 150 else "frontier"


class ProfileRegistry:
    """Names → canonical trained models or tiers, for one predictor."""

    def __init__(self, trained: Iterable[str], tiers: Iterable[str],
                 profiles: Iterable[ModelProfile] = BUILTIN_PROFILES,
                 extra_aliases: Mapping[str, str] | None = None) -> None:
        self.trained = tuple(trained)
        self.tiers = frozenset(tiers)
        self._by_name: dict[str, str] = {normalize(m): m for m in self.trained}
        self._profiles: dict[str, ModelProfile] = {}
        for profile in profiles:
            for spelling in (profile.name, *profile.aliases):
                self._profiles.setdefault(normalize(spelling), profile)
        for profile in profiles:  # aliases of a trained model point at it
            target = next((self._by_name[normalize(s)] for s in (profile.name, *profile.aliases)
                           if normalize(s) in self._by_name), None)
            if target is not None:
                for spelling in (profile.name, *profile.aliases):
                    self._by_name.setdefault(normalize(spelling), target)
        for alias, target in (extra_aliases or {}).items():
            if target in self.trained:
                self._by_name[normalize(alias)] = target

    def profile(self, name: str) -> ModelProfile | None:
        return self._profiles.get(normalize(_VARIANT.sub("", name)))

    def resolve(self, name: str) -> Resolution:
        """In order: a trained model, an explicit tier, a built-in profile, the same two for the name without
        its release suffixes (``-0613``, ``-v0.1``, ``-preview``, ...), a size in the name; else KeyError."""
        key = normalize(name)
        if key in self._by_name:
            return Resolution(name, self._by_name[key], None, "trained")
        if name.startswith("tier:"):
            tier = name[5:].strip()
            if tier in self.tiers:
                return Resolution(name, None, tier, "explicit tier")
            raise KeyError(f"unknown tier {tier!r}: this router knows tiers {', '.join(sorted(self.tiers))}")
        plain = _VARIANT.sub("", name)  # alpaca-7b_concise is alpaca-7b
        for base in (plain, *release_bases(plain)):
            if normalize(base) in self._by_name:
                return Resolution(name, self._by_name[normalize(base)], None, f"trained, as {base}")
            profile = self.profile(base)
            if profile is not None and profile.tier in self.tiers:
                return Resolution(name, None, profile.tier, f"built-in profile {profile.name} ({profile.tier})")
        sized = tier_from_size(name)
        if sized is not None and sized in self.tiers:
            return Resolution(name, None, sized, f"size in the name ({sized})")
        raise KeyError(
            f"model {name!r} is unknown to this router: it was trained on {', '.join(self.trained[:8])}"
            f"{', ...' if len(self.trained) > 8 else ''}; give the candidate a profile naming a known model "
            f"or a tier ('tier:frontier', 'tier:large', 'tier:medium', 'tier:small')")


    def tier_of(self, name: str) -> str | None:
        """The strength class of a model this registry resolves: its tier, its built-in profile's, or the
        size in its name; None when none is known (or the name does not resolve)."""
        try:
            how = self.resolve(name)
        except KeyError:
            return None
        if how.tier is not None:
            return how.tier
        for candidate in (name, how.model or name):
            profile = self.profile(candidate)
            if profile is not None:
                return profile.tier
        return tier_from_size(name) or tier_from_size(how.model or name)


TIER_RANK = {"small": 0.0, "medium": 1.0, "large": 2.0, "frontier": 3.0}


def builtin_tier(model: str) -> str | None:
    """A model's tier by its built-in profile (exact name), else by the size in its name; None if neither."""
    for profile in BUILTIN_PROFILES:
        if profile.name == model:
            return profile.tier
    return tier_from_size(model)


def canonical_training_name(column: str, columns: Iterable[str]) -> str | None:
    """The model identity a training-data column is pooled under, or None to skip the column.

    Prompt-style variants (``alpaca-7b_concise``) are skipped when their base column exists (one
    answer per model and prompt), else pooled with their base model."""
    base = _VARIANT.sub("", column)
    if base != column and base in set(columns):
        return None
    for profile in BUILTIN_PROFILES:
        if normalize(base) in {normalize(s) for s in (profile.name, *profile.aliases)}:
            return profile.name
    return normalize(base)
