"""The zero-config default: what ``switchpoint serve`` runs when no config file is given.

Providers are found from the environment variables their official SDKs read:
``OPENAI_API_KEY`` with ``OPENAI_BASE_URL`` (as the ``openai`` package honours them).
The gateway's own settings come from ``SWITCHPOINT_*`` variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["default_config_data"]

OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"
# Bare names that clients commonly send to OpenAI itself.
OPENAI_NAME_PATTERNS = ("gpt-*", "chatgpt-*", "o1*", "o3*", "o4*")


def default_config_data(environ: Mapping[str, str]) -> dict[str, Any]:
    """Config data (as a YAML file would hold it) built from the environment."""
    models: list[dict[str, Any]] = []
    if environ.get("OPENAI_API_KEY"):
        base = (environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE).rstrip("/")
        deployment = {"provider": "openai", "model": "*", "api_base": base, "api_key": "${OPENAI_API_KEY}"}
        models.append({"name": "openai/*", **deployment})
        # A custom base URL is usually one server (vLLM, Ollama, a proxy) that knows its own names.
        names = OPENAI_NAME_PATTERNS if base == OPENAI_DEFAULT_BASE else ("*",)
        models.extend({"name": name, **deployment} for name in names)
    server: dict[str, Any] = {}
    if environ.get("SWITCHPOINT_MASTER_KEY"):
        server["master_key"] = "${SWITCHPOINT_MASTER_KEY}"
    return {"server": server, "models": models}
