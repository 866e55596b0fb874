"""Provider types known to the config, and the adapter that serves each.

A *kind* is what a deployment's ``provider:`` names. Several kinds can share one adapter
(``openai`` and ``openai_compat`` are presets over the same OpenAI wire adapter); a preset only
fills in defaults such as the base URL and the environment variable holding the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from switchpoint.protocols import Provider

__all__ = ["ADAPTERS", "PROVIDER_KINDS", "ProviderKind", "create_adapter"]


@dataclass(frozen=True, slots=True)
class ProviderKind:
    name: str
    adapter: str
    default_api_base: str | None = None
    key_env: str | None = None
    base_env: str | None = None
    needs_key: bool = False


PROVIDER_KINDS: dict[str, ProviderKind] = {
    kind.name: kind
    for kind in (
        ProviderKind("openai_compat", "openai_compat"),
        ProviderKind(
            "openai",
            "openai_compat",
            default_api_base="https://api.openai.com/v1",
            key_env="OPENAI_API_KEY",
            base_env="OPENAI_BASE_URL",
            needs_key=True,
        ),
    )
}


def _openai_compat() -> Provider:
    from switchpoint.providers.openai_compat import OpenAICompatProvider

    return OpenAICompatProvider()


ADAPTERS: dict[str, Callable[[], Provider]] = {"openai_compat": _openai_compat}


def create_adapter(name: str) -> Provider:
    return ADAPTERS[name]()
