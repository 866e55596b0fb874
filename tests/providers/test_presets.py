"""Provider kinds: presets over the one OpenAI-compatible adapter, plus the Anthropic and Gemini kinds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from switchpoint.config.build import build_gateway, build_groups
from switchpoint.config.load import parse_config
from switchpoint.errors import ConfigError
from switchpoint.providers.anthropic import AnthropicProvider
from switchpoint.providers.gemini import GeminiProvider
from switchpoint.providers.openai_compat import OpenAICompatProvider
from switchpoint.providers.registry import ADAPTERS, PROVIDER_KINDS, ProviderKind, create_adapter
from switchpoint.types import ChatRequest, Deployment

KEY = "sk-preset-test-0123456789"

# kind: (adapter, default api_base, key environment variable)
EXPECTED = {
    "local": ("local", None, None),
    "openai_compat": ("openai_compat", None, None),
    "openai": ("openai_compat", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "azure_openai": ("openai_compat", None, "AZURE_OPENAI_API_KEY"),
    "ollama": ("openai_compat", "http://127.0.0.1:11434/v1", None),
    "vllm": ("openai_compat", "http://127.0.0.1:8000/v1", None),
    "llamacpp": ("openai_compat", "http://127.0.0.1:8080/v1", None),
    "groq": ("openai_compat", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "together": ("openai_compat", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "mistral": ("openai_compat", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "deepseek": ("openai_compat", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "openrouter": ("openai_compat", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "fireworks": ("openai_compat", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "anthropic": ("anthropic", "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY"),
    "gemini": ("gemini", "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY"),
}


def _deployment(kind: str, environ: dict[str, str] | None = None, **extra: Any) -> Deployment:
    env = environ or {}
    (group,) = build_groups(parse_config({"models": [{"name": "m", "provider": kind, **extra}]}, env), env)
    return group.deployments[0]


def test_every_kind_is_known() -> None:
    assert set(PROVIDER_KINDS) == set(EXPECTED)
    assert set(ADAPTERS) == {"openai_compat", "anthropic", "gemini", "local"}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_kind_defaults(kind: str) -> None:
    adapter, api_base, key_env = EXPECTED[kind]
    preset = PROVIDER_KINDS[kind]
    assert (preset.adapter, preset.default_api_base, preset.key_env) == (adapter, api_base, key_env)
    assert preset.needs_key is (key_env is not None)


@pytest.mark.parametrize("kind", sorted(k for k, (_, base, env) in EXPECTED.items() if base and env))
def test_hosted_presets_fill_in_base_and_key_from_the_environment(kind: str) -> None:
    _, api_base, key_env = EXPECTED[kind]
    assert key_env is not None
    deployment = _deployment(kind, {key_env: KEY})
    assert (deployment.api_base, deployment.api_key, deployment.provider) == (api_base, KEY, kind)
    with pytest.raises(ConfigError, match=f"provider '{kind}' needs an API key"):
        _deployment(kind)
    own = _deployment(kind, {key_env: KEY}, api_key="sk-own-key-0123456789", api_base="http://10.0.0.1:9/v1")
    assert (own.api_base, own.api_key) == ("http://10.0.0.1:9/v1", "sk-own-key-0123456789")


@pytest.mark.parametrize("kind", ["ollama", "vllm", "llamacpp"])
def test_local_servers_need_no_key(kind: str) -> None:
    deployment = _deployment(kind, model="llama3")
    assert deployment.api_key is None and deployment.api_base == EXPECTED[kind][1]


def test_azure_needs_an_endpoint_and_a_key() -> None:
    with pytest.raises(ConfigError, match="needs an api_base"):
        _deployment("azure_openai", {"AZURE_OPENAI_API_KEY": KEY})
    deployment = _deployment("azure_openai", {"AZURE_OPENAI_API_KEY": KEY,
                                              "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com/"})
    assert deployment.api_base == "https://res.openai.azure.com" and deployment.api_key == KEY


def test_presets_share_one_adapter_per_wire_format() -> None:
    assert isinstance(create_adapter("openai_compat"), OpenAICompatProvider)
    assert isinstance(create_adapter("anthropic"), AnthropicProvider)
    assert isinstance(create_adapter("gemini"), GeminiProvider)
    env = {"GROQ_API_KEY": KEY, "OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY}
    models = [{"name": kind, "provider": kind} for kind in ("groq", "openai", "anthropic", "gemini", "ollama")]
    gateway = build_gateway(parse_config({"models": models}, env), environ=env)
    assert {d.provider for g in gateway.groups for d in g.deployments} == {"groq", "openai", "anthropic", "gemini",
                                                                           "ollama"}
    asyncio.run(gateway.aclose())


def test_key_lookup_and_default_options() -> None:
    kind = ProviderKind("k", "openai_compat", key_env="A_KEY", fallback_key_envs=("B_KEY",),
                        default_options={"x": 1, "y": 2})
    assert kind.key_from({"B_KEY": "b"}) == "b"
    assert kind.key_from({"A_KEY": "a", "B_KEY": "b"}) == "a"
    assert kind.key_from({"A_KEY": "", "B_KEY": "b"}) == "b"
    assert kind.key_from({}) is None
    assert kind.options_for({"y": 3}) == {"x": 1, "y": 3}
    assert PROVIDER_KINDS["gemini"].key_from({"GOOGLE_API_KEY": "g"}) == "g"


# --- waiting on config/build.py and openai_compat.py (see docs/providers.md) ----------------------


def test_gemini_key_from_google_api_key() -> None:
    assert _deployment("gemini", {"GOOGLE_API_KEY": KEY}).api_key == KEY


def test_azure_default_options_reach_the_deployment() -> None:
    env = {"AZURE_OPENAI_API_KEY": KEY}
    deployment = _deployment("azure_openai", env, api_base="https://res.openai.azure.com", model="my-gpt4o",
                             options={"query": {"api-version": "2025-01-01-preview"}})
    assert deployment.options["auth_header"] == "api-key"
    assert deployment.options["chat_path"] == "/openai/deployments/{model}/chat/completions"
    assert deployment.options["query"] == {"api-version": "2025-01-01-preview"}  # the deployment's own wins


def test_openai_compat_adapter_speaks_azure_when_told() -> None:
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"id": "c", "object": "chat.completion", "created": 0, "model": "my-gpt4o",
                                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                               "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        options = dict(PROVIDER_KINDS["azure_openai"].default_options)
        deployment = Deployment(id="az", provider="azure_openai", model="my-gpt4o", api_base=f"http://127.0.0.1:{port}",
                                api_key=KEY, options=options)
        provider = OpenAICompatProvider()
        try:
            body = {"model": "gpt", "messages": [{"role": "user", "content": "Hi"}]}
            await provider.complete(ChatRequest(body=body, model="gpt"), deployment, "my-gpt4o")
        finally:
            await provider.aclose()
            await runner.cleanup()

    asyncio.run(scenario())
    (request,) = seen
    assert request.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert request.query["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == KEY and "Authorization" not in request.headers
