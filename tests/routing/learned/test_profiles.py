"""Profile resolution: trained names, aliases, tiers, sizes, and a clear error."""

from __future__ import annotations

import pytest

from switchpoint.routing.learned.profiles import (
    ProfileRegistry,
    canonical_training_name,
    normalize,
    release_bases,
    tier_from_size,
)

REGISTRY = ProfileRegistry(["gpt-4-1106-preview", "mixtral-8x7b", "mistral-7b-chat"],
                           tiers=["frontier", "large", "small"])


def test_aliases_reach_the_trained_model() -> None:
    assert REGISTRY.resolve("mistralai/Mixtral-8x7B-Instruct-v0.1").model == "mixtral-8x7b"
    assert REGISTRY.resolve("mixtral-8x7b-chat").model == "mixtral-8x7b"
    assert REGISTRY.resolve("gpt4_1106_preview").model == "gpt-4-1106-preview"
    assert normalize("mistralai/Mixtral-8x7B-Instruct-v0.1") == "mixtral-8x7b-instruct-v0.1"


def test_unknown_models_by_profile_size_or_explicit_tier() -> None:
    gpt4o = REGISTRY.resolve("gpt-4o")
    assert (gpt4o.model, gpt4o.tier) == (None, "frontier")
    assert REGISTRY.resolve("claude-3-haiku-20240307").tier == "large"
    assert REGISTRY.resolve("acme/house-llama-8b-instruct").tier == "small"
    assert REGISTRY.resolve("tier:large").tier == "large"
    assert tier_from_size("mixtral-8x22b") == "large"


def test_unresolvable_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown to this router.*tier:frontier"):
        REGISTRY.resolve("my-secret-model")
    with pytest.raises(KeyError, match="unknown tier 'medium'"):
        REGISTRY.resolve("tier:medium")  # this router has no medium tier
    with pytest.raises(KeyError, match="unknown to this router"):
        REGISTRY.resolve("acme-13b")  # medium by size, but the router has no medium tier


def test_training_columns_are_pooled() -> None:
    columns = ["alpaca-7b", "alpaca-7b_concise", "Mixtral-8x7B-Instruct-v0.1_concise"]
    assert canonical_training_name("alpaca-7b_concise", columns) is None  # its base column exists
    assert canonical_training_name("Mixtral-8x7B-Instruct-v0.1_concise", columns) == "mixtral-8x7b"
    assert canonical_training_name("mistralai/mixtral-8x7b-chat", columns) == "mixtral-8x7b"


def test_tier_of_a_resolvable_model() -> None:
    registry = ProfileRegistry(trained=["gpt-4-1106-preview", "acme-13b-chat", "house-model"],
                               tiers=["frontier", "large", "medium", "small"])  # fmt: skip
    assert registry.tier_of("gpt-4-1106-preview") == "frontier"  # trained, with a built-in profile
    assert registry.tier_of("gpt4_1106_preview") == "frontier"  # an alias of it
    assert registry.tier_of("acme-13b-chat") == "medium"  # trained, size in the name
    assert registry.tier_of("house-model") is None  # trained, nothing says how strong
    assert registry.tier_of("tier:small") == "small"
    assert registry.tier_of("claude-3-haiku") == "large"  # untrained, built-in profile
    assert registry.tier_of("palm-2") is None  # does not resolve


def test_release_suffixes_come_off_one_at_a_time() -> None:
    assert release_bases("acme-13b-chat-v1.2-2024-01-01") == ["acme-13b-chat-v1.2", "acme-13b-chat", "acme-13b"]
    assert release_bases("Gemini-1.0-Pro-001") == ["gemini-1.0-pro"]
    assert release_bases("gpt-4o") == []


def test_names_with_release_suffixes_resolve() -> None:
    chat = REGISTRY.resolve("mistral-7b-chat-v0.2")  # a trained model, once its suffix is off
    assert (chat.model, chat.how) == ("mistral-7b-chat", "trained, as mistral-7b-chat")
    assert REGISTRY.resolve("mixtral-8x7b-instruct-v0.1_concise").model == "mixtral-8x7b"  # variant and release
    assert REGISTRY.resolve("gemini-1.0-pro-001").tier == "large"  # a built-in profile, once its suffix is off
    assert REGISTRY.resolve("yi-large-preview").tier == "frontier"
    # an exact built-in profile wins over a trained model reached by taking a suffix off
    registry = ProfileRegistry(["gpt-3.5-turbo-1106"], tiers=["large", "small"])
    assert registry.resolve("gpt-3.5-turbo-0613").how == "built-in profile gpt-3.5-turbo-0613 (large)"
    with pytest.raises(KeyError, match="unknown to this router"):
        REGISTRY.resolve("nanbeige-plus-chat-v0.1")  # nothing left that is known
