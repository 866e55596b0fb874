"""The zero-config default: what ``switchpoint serve`` runs when no config file is given.

* the embedded local model (group ``local``) when the ``switchpoint[local]`` extra is installed
  (``SWITCHPOINT_NO_LOCAL=1`` leaves it out; ``SWITCHPOINT_LOCAL_THREADS`` sets its threads);
* providers found from the environment variables their official SDKs read: ``OPENAI_API_KEY``
  with ``OPENAI_BASE_URL`` (as the ``openai`` package honours them).

The gateway's own settings come from ``SWITCHPOINT_*`` variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchpoint.local import missing_local_modules

__all__ = ["LOCAL_GROUP", "default_config_data"]

LOCAL_GROUP = "local"
LOCAL_MODEL = "gemma-3-270m"

OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"
# Bare names that clients commonly send to OpenAI itself.
OPENAI_NAME_PATTERNS = ("gpt-*", "chatgpt-*", "o1*", "o3*", "o4*")


def default_config_data(environ: Mapping[str, str]) -> dict[str, Any]:
    """Config data (as a YAML file would hold it) built from the environment."""
    models: list[dict[str, Any]] = []
    if not environ.get("SWITCHPOINT_NO_LOCAL") and not missing_local_modules():
        options: dict[str, Any] = {}
        if environ.get("SWITCHPOINT_LOCAL_THREADS"):
            options["threads"] = "${SWITCHPOINT_LOCAL_THREADS}"
        models.append({"name": LOCAL_GROUP, "provider": "local", "model": LOCAL_MODEL, "options": options,
                       "capabilities": {"tools": False, "vision": False, "json_mode": False}})
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
