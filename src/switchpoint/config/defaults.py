"""The zero-config default: what ``switchpoint serve`` runs when no config file is given.

* the embedded local model (group ``local``) when the ``switchpoint[local]`` extra is installed
  (``SWITCHPOINT_NO_LOCAL=1`` leaves it out; ``SWITCHPOINT_LOCAL_THREADS`` sets its threads);
* providers found from the environment variables their official SDKs read: ``OPENAI_API_KEY``
  with ``OPENAI_BASE_URL`` (as the ``openai`` package honours them);
* the router ``auto``, so that ``model: "auto"`` works out of the box: with the local model only,
  it serves ``local``; with OpenAI's own API too, prompts carrying personal data or secrets stay on
  ``local`` and the rest go to ``gpt-4o-mini``; with OpenAI alone, everything goes to
  ``gpt-4o-mini``. (A custom ``OPENAI_BASE_URL`` names models the gateway cannot guess: then
  ``auto`` exists only with the local model.)

The gateway's own settings come from ``SWITCHPOINT_*`` variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchpoint.local import missing_local_modules

__all__ = ["AUTO_ROUTER", "LOCAL_GROUP", "default_config_data"]

LOCAL_GROUP = "local"
AUTO_ROUTER = "auto"
HOSTED_DEFAULT = "gpt-4o-mini"
LOCAL_MODEL = "gemma-3-270m"

OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"
# Bare names that clients commonly send to OpenAI itself.
OPENAI_NAME_PATTERNS = ("gpt-*", "chatgpt-*", "o1*", "o3*", "o4*")


def default_config_data(environ: Mapping[str, str]) -> dict[str, Any]:
    """Config data (as a YAML file would hold it) built from the environment."""
    models: list[dict[str, Any]] = []
    local = hosted = False
    if not environ.get("SWITCHPOINT_NO_LOCAL") and not missing_local_modules():
        options: dict[str, Any] = {}
        if environ.get("SWITCHPOINT_LOCAL_THREADS"):
            options["threads"] = "${SWITCHPOINT_LOCAL_THREADS}"
        models.append({"name": LOCAL_GROUP, "provider": "local", "model": LOCAL_MODEL, "options": options,
                       "capabilities": {"tools": False, "vision": False, "json_mode": False}})
        local = True
    if environ.get("OPENAI_API_KEY"):
        base = (environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE).rstrip("/")
        deployment = {"provider": "openai", "model": "*", "api_base": base, "api_key": "${OPENAI_API_KEY}"}
        models.append({"name": "openai/*", **deployment})
        # A custom base URL is usually one server (vLLM, Ollama, a proxy) that knows its own names.
        names = OPENAI_NAME_PATTERNS if base == OPENAI_DEFAULT_BASE else ("*",)
        models.extend({"name": name, **deployment} for name in names)
        hosted = base == OPENAI_DEFAULT_BASE
    routers: dict[str, Any] = {}
    if local and hosted:
        routers[AUTO_ROUTER] = {"default": HOSTED_DEFAULT, "policies": [{"kind": "rules", "name": "private", "rules": [
            {"when": "features.pii.found", "to": LOCAL_GROUP, "reason": "personal data or secrets stay local"}]}]}
    elif hosted:
        routers[AUTO_ROUTER] = {"default": HOSTED_DEFAULT}
    elif local:
        routers[AUTO_ROUTER] = {"default": LOCAL_GROUP}
    server: dict[str, Any] = {}
    if environ.get("SWITCHPOINT_MASTER_KEY"):
        server["master_key"] = "${SWITCHPOINT_MASTER_KEY}"
    data: dict[str, Any] = {"server": server, "models": models}
    if routers:
        data["routers"] = routers
    return data
