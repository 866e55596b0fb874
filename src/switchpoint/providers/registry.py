"""Provider types known to the config, and the adapter that serves each.

A *kind* is what a deployment's ``provider:`` names. Several kinds can share one adapter
(``openai`` and ``openai_compat`` are presets over the same OpenAI wire adapter); a preset only
fills in defaults such as the base URL and the environment variable holding the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchpoint.protocols import Provider

__all__ = ["ADAPTERS", "PROVIDER_KINDS", "ProviderKind", "create_adapter"]


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """A provider type: the adapter serving it and the defaults it fills in.

    ``key_env`` (then each of ``fallback_key_envs``) names the environment variable holding the
    key; ``default_options`` are deployment options that the deployment's own ``options`` override.
    """

    name: str
    adapter: str
    default_api_base: str | None = None
    key_env: str | None = None
    base_env: str | None = None
    needs_key: bool = False
    fallback_key_envs: tuple[str, ...] = ()
    default_options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    managed: bool = False  # switchpoint runs this upstream itself, on a free loopback port

    def key_from(self, environ: Mapping[str, str]) -> str | None:
        """The API key from the environment: ``key_env`` first, then the fallbacks."""
        for name in (self.key_env, *self.fallback_key_envs):
            if name and environ.get(name):
                return environ[name]
        return None

    def options_for(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The kind's default options overridden by a deployment's own."""
        return {**self.default_options, **options}


def _compat(name: str, api_base: str | None, key_env: str | None = None, **extra: Any) -> ProviderKind:
    """A preset over the one OpenAI-compatible adapter: defaults only."""
    return ProviderKind(name, "openai_compat", default_api_base=api_base, key_env=key_env,
                        needs_key=key_env is not None, **extra)


AZURE_API_VERSION = "2024-10-21"

PROVIDER_KINDS: dict[str, ProviderKind] = {
    kind.name: kind
    for kind in (
        ProviderKind("openai_compat", "openai_compat"),
        _compat("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", base_env="OPENAI_BASE_URL"),
        _compat(
            "azure_openai",
            None,  # per resource: https://<resource>.openai.azure.com
            "AZURE_OPENAI_API_KEY",
            base_env="AZURE_OPENAI_ENDPOINT",
            default_options={
                "auth_header": "api-key",
                "chat_path": "/openai/deployments/{model}/chat/completions",
                "query": {"api-version": AZURE_API_VERSION},
            },
        ),
        _compat("ollama", "http://127.0.0.1:11434/v1"),
        _compat("vllm", "http://127.0.0.1:8000/v1"),
        _compat("llamacpp", "http://127.0.0.1:8080/v1"),
        _compat("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        _compat("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        _compat("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
        _compat("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
        _compat("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        _compat("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
        ProviderKind("local", "local", managed=True),
        ProviderKind(
            "anthropic", "anthropic", default_api_base="https://api.anthropic.com/v1", key_env="ANTHROPIC_API_KEY",
            needs_key=True,
        ),
        ProviderKind(
            "gemini",
            "gemini",
            default_api_base="https://generativelanguage.googleapis.com/v1beta",
            key_env="GEMINI_API_KEY",
            fallback_key_envs=("GOOGLE_API_KEY",),
            needs_key=True,
        ),
    )
}


def _openai_compat() -> Provider:
    from switchpoint.providers.openai_compat import OpenAICompatProvider

    return OpenAICompatProvider()


def _anthropic() -> Provider:
    from switchpoint.providers.anthropic import AnthropicProvider

    return AnthropicProvider()


def _gemini() -> Provider:
    from switchpoint.providers.gemini import GeminiProvider

    return GeminiProvider()


def _local() -> Provider:
    from switchpoint.providers.local import LocalProvider

    return LocalProvider()


ADAPTERS: dict[str, Callable[[], Provider]] = {
    "openai_compat": _openai_compat,
    "local": _local,
    "anthropic": _anthropic,
    "gemini": _gemini,
}


def create_adapter(name: str) -> Provider:
    return ADAPTERS[name]()
