"""Loading and validating config: shapes, unknown keys, locations, ${ENV} expansion, secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from switchpoint.config.load import load_config, parse_config
from switchpoint.config.schema import DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, GatewayConfig
from switchpoint.errors import ConfigError
from switchpoint.providers.registry import PROVIDER_KINDS

KNOWN = "(known: " + ", ".join(sorted(PROVIDER_KINDS)) + ")"

SECRET = "sk-live-TOPSECRET-0123456789abcdef"
MASTER = "mk-MASTERSECRET-9876543210"


def _group(**extra: Any) -> dict[str, Any]:
    return {"name": "chat", "provider": "openai_compat", "api_base": "http://127.0.0.1:9", **extra}


def _problems(data: Any, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ or {})
    return info.value.problems


def _file_problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> tuple[str, list[str]]:
    path = tmp_path / "switchpoint.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ or {})
    return str(path), info.value.problems


# --- valid configs -----------------------------------------------------------------------------


def test_empty_mapping_gives_defaults() -> None:
    config = parse_config({}, {})
    assert isinstance(config, GatewayConfig)
    assert config.models == []
    assert config.server.host == "127.0.0.1"
    assert config.server.port == DEFAULT_PORT == 8400
    assert config.server.workers == 1
    assert config.server.master_key is None
    assert config.server.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert config.timeouts.total is None


def test_minimal_inline_deployment() -> None:
    config = parse_config({"models": [_group()]}, {})
    (group,) = config.models
    assert group.name == "chat"
    assert group.max_attempts is None
    (deployment,) = group.deployments
    assert deployment.provider == "openai_compat"
    assert deployment.api_base == "http://127.0.0.1:9"
    assert deployment.model is None
    assert deployment.weight == 1.0
    assert deployment.capabilities.tools and deployment.capabilities.vision and deployment.capabilities.json_mode


def test_inline_form_keeps_group_keys_on_the_group() -> None:
    config = parse_config({"models": [_group(max_attempts=3, model="up-1", weight=2)]}, {})
    group = config.models[0]
    assert group.max_attempts == 3
    (deployment,) = group.deployments
    assert deployment.model == "up-1"
    assert deployment.weight == 2.0


def test_inline_and_list_forms_are_equivalent() -> None:
    inline = parse_config({"models": [_group(model="m", input_cost_per_mtok=1.5)]}, {})
    listed = parse_config(
        {
            "models": [
                {
                    "name": "chat",
                    "deployments": [
                        {
                            "provider": "openai_compat",
                            "api_base": "http://127.0.0.1:9",
                            "model": "m",
                            "input_cost_per_mtok": 1.5,
                        }
                    ],
                }
            ]
        },
        {},
    )
    assert inline == listed


def test_deployments_list_with_several_entries() -> None:
    config = parse_config(
        {
            "models": [
                {
                    "name": "pair",
                    "max_attempts": 2,
                    "deployments": [
                        {"provider": "openai_compat", "api_base": "http://a.example/v1/", "weight": 3},
                        {"provider": "openai", "model": "gpt-4o-mini", "id": "backup"},
                    ],
                }
            ]
        },
        {},
    )
    first, second = config.models[0].deployments
    assert first.api_base == "http://a.example/v1"  # trailing slash removed
    assert first.weight == 3.0
    assert second.provider == "openai"
    assert second.id == "backup"
    assert second.api_base is None


def test_full_config_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        """\
server:
  host: 0.0.0.0
  port: 9000
  workers: 4
  max_body_bytes: 1024
  master_key: ${MASTER}
timeouts:
  connect: 2
  total: 30
models:
  - name: chat
    provider: openai_compat
    api_base: https://llm.example/v1
    api_key: ${KEY}
    headers: {X-Team: blue}
    context_window: 8192
    rpm: 60
    tpm: 100000
    stream_usage: false
    options: {anything: [1, 2]}
    capabilities: {tools: false, vision: false, json_mode: true}
    timeouts: {first_token: 5, idle: 7}
""",
        encoding="utf-8",
    )
    config = load_config(path, {"MASTER": MASTER, "KEY": SECRET})
    assert config.server.host == "0.0.0.0"
    assert config.server.port == 9000
    assert config.server.workers == 4
    assert config.server.max_body_bytes == 1024
    assert config.server.master_key is not None
    assert config.server.master_key.get_secret_value() == MASTER
    assert config.timeouts.connect == 2 and config.timeouts.total == 30
    d = config.models[0].deployments[0]
    assert isinstance(d.api_key, SecretStr)
    assert d.api_key.get_secret_value() == SECRET
    assert d.headers == {"X-Team": "blue"}
    assert (d.context_window, d.rpm, d.tpm, d.stream_usage) == (8192, 60, 100000, False)
    assert d.options == {"anything": [1, 2]}
    assert (d.capabilities.tools, d.capabilities.vision, d.capabilities.json_mode) == (False, False, True)
    assert (d.timeouts.first_token, d.timeouts.idle, d.timeouts.connect) == (5, 7, None)


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here\n", encoding="utf-8")
    assert load_config(path, {}).models == []


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.message.startswith(f"cannot read config file {path}")


# --- unknown keys at every level ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"colour": 1}, "colour: unknown key"),
        ({"server": {"prot": 80}}, "server.prot: unknown key"),
        ({"timeouts": {"totl": 1}}, "timeouts.totl: unknown key"),
        (
            {"models": [{"name": "g", "maxattempts": 2, "deployments": [{"provider": "openai_compat"}]}]},
            "models[0].maxattempts: unknown key",
        ),
        (
            {"models": [{"name": "g", "deployments": [{"provider": "openai_compat", "apikey": "x"}]}]},
            "models[0].deployments[0].apikey: unknown key",
        ),
        (
            {"models": [_group(capabilities={"vison": True})]},
            "models[0].deployments[0].capabilities.vison: unknown key",
        ),
        (
            {"models": [_group(timeouts={"firsttoken": 3})]},
            "models[0].deployments[0].timeouts.firsttoken: unknown key",
        ),
    ],
    ids=["top", "server", "top-timeouts", "group", "deployment", "capabilities", "deployment-timeouts"],
)
def test_unknown_key_is_an_error_with_dotted_path(data: dict[str, Any], expected: str) -> None:
    assert _problems(data) == [f"<config>: {expected}"]


def test_unknown_key_in_file_is_located(tmp_path: Path) -> None:
    text = """\
bogus: 1
server:
  prot: 80
timeouts:
  totl: 5
models:
  - name: a
    provider: openai_compat
    api_base: http://x
    colour: red
    capabilities:
      vison: true
    timeouts:
      firsttoken: 3
  - name: b
    maxattempts: 2
    deployments:
      - provider: openai_compat
        api_base: http://y
        extra: 1
"""
    path, problems = _file_problems(tmp_path, text)
    expected = {
        f"{path}:1:8: bogus: unknown key",
        f"{path}:3:9: server.prot: unknown key",
        f"{path}:5:9: timeouts.totl: unknown key",
        f"{path}:12:14: models[0].deployments[0].capabilities.vison: unknown key",
        f"{path}:14:19: models[0].deployments[0].timeouts.firsttoken: unknown key",
        f"{path}:16:18: models[1].maxattempts: unknown key",
        f"{path}:20:16: models[1].deployments[0].extra: unknown key",
    }
    assert expected <= set(problems)
    # The inline deployment's own unknown key points at its line in the file.
    (colour,) = [p for p in problems if p.endswith("colour: unknown key")]
    assert colour.startswith(f"{path}:10:13: models[0].")
    assert len(problems) == 8


def test_several_problems_reported_at_once(tmp_path: Path) -> None:
    text = """\
models:
  - name: a
    provider: nope
  - name: b
    deployments:
      - provider: openai_compat
        api_base: ftp://x
        weight: 0
        input_cost_per_mtok: -1
"""
    path, problems = _file_problems(tmp_path, text)
    assert sorted(problems) == sorted(
        [
            f"{path}:3:15: models[0].deployments[0].provider: "
            "unknown provider type 'nope' " + KNOWN,
            f"{path}:7:19: models[1].deployments[0].api_base: api_base must start with http:// or https://",
            f"{path}:8:17: models[1].deployments[0].weight: Input should be greater than 0",
            f"{path}:9:30: models[1].deployments[0].input_cost_per_mtok: Input should be greater than or equal to 0",
        ]
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    message = info.value.message
    assert message.startswith("4 problems in the config:\n")
    for problem in problems:
        assert f"  - {problem}" in message


def test_single_problem_summary_is_singular() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"bogus": 1}, {})
    assert info.value.message == "1 problem in the config:\n  - <config>: bogus: unknown key"


# --- specific rules ----------------------------------------------------------------------------


def test_unknown_provider_lists_known_ones() -> None:
    (problem,) = _problems({"models": [{"name": "g", "provider": "anthropic-ish"}]})
    assert problem == (
        "<config>: models[0].deployments[0].provider: unknown provider type 'anthropic-ish' " + KNOWN
    )


@pytest.mark.parametrize("base", ["ftp://x", "localhost:8000", "127.0.0.1", "HTTP//x", ""])
def test_api_base_must_be_http(base: str) -> None:
    (problem,) = _problems({"models": [_group(api_base=base)]})
    assert problem == "<config>: models[0].deployments[0].api_base: api_base must start with http:// or https://"


@pytest.mark.parametrize("base", ["http://x", "https://x.example/v1", "https://x.example/v1///"])
def test_api_base_http_and_https_accepted(base: str) -> None:
    config = parse_config({"models": [_group(api_base=base)]}, {})
    assert config.models[0].deployments[0].api_base == base.rstrip("/")


def test_duplicate_model_group_names_rejected(tmp_path: Path) -> None:
    text = """\
models:
  - {name: a, provider: openai_compat, api_base: "http://x"}
  - {name: b, provider: openai_compat, api_base: "http://x"}
  - {name: a, provider: openai_compat, api_base: "http://y"}
"""
    path, problems = _file_problems(tmp_path, text)
    assert problems == [f"{path}:1:1: (top level): model group 'a' is declared twice"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_cost_per_mtok", -0.01, "Input should be greater than or equal to 0"),
        ("output_cost_per_mtok", -1, "Input should be greater than or equal to 0"),
        ("cached_input_cost_per_mtok", -1, "Input should be greater than or equal to 0"),
        ("weight", 0, "Input should be greater than 0"),
        ("weight", -1, "Input should be greater than 0"),
        ("context_window", 0, "Input should be greater than 0"),
        ("rpm", 0, "Input should be greater than 0"),
        ("tpm", -5, "Input should be greater than 0"),
    ],
)
def test_numeric_bounds(field: str, value: float, message: str) -> None:
    (problem,) = _problems({"models": [_group(**{field: value})]})
    assert problem == f"<config>: models[0].deployments[0].{field}: {message}"


def test_zero_prices_accepted() -> None:
    config = parse_config({"models": [_group(input_cost_per_mtok=0, output_cost_per_mtok=0)]}, {})
    assert config.models[0].deployments[0].input_cost_per_mtok == 0


@pytest.mark.parametrize(
    ("server", "loc"),
    [
        ({"port": 70000}, "server.port"),
        ({"port": -1}, "server.port"),
        ({"workers": 0}, "server.workers"),
        ({"workers": 65}, "server.workers"),
        ({"max_body_bytes": 0}, "server.max_body_bytes"),
    ],
)
def test_server_bounds(server: dict[str, Any], loc: str) -> None:
    (problem,) = _problems({"server": server})
    assert problem.startswith(f"<config>: {loc}: Input should be")


@pytest.mark.parametrize("value", [0, -1])
def test_timeouts_must_be_positive(value: float) -> None:
    (problem,) = _problems({"timeouts": {"total": value}})
    assert problem == "<config>: timeouts.total: Input should be greater than 0"


@pytest.mark.parametrize("attempts", [0, 21])
def test_max_attempts_bounds(attempts: int) -> None:
    (problem,) = _problems({"models": [_group(max_attempts=attempts)]})
    assert problem.startswith("<config>: models[0].max_attempts: Input should be")


def test_group_without_deployments_rejected() -> None:
    assert _problems({"models": [{"name": "g"}]}) == ["<config>: models[0].deployments: Field required"]
    assert _problems({"models": [{"name": "g", "deployments": []}]}) == [
        "<config>: models[0].deployments: List should have at least 1 item after validation, not 0"
    ]


def test_group_name_required_and_non_empty() -> None:
    assert _problems({"models": [{"provider": "openai_compat"}]}) == ["<config>: models[0].name: Field required"]
    (problem,) = _problems({"models": [_group(name="")]})
    assert problem.startswith("<config>: models[0].name: String should have at least 1 character")


def test_deployment_provider_required() -> None:
    data = {"models": [{"name": "g", "deployments": [{"api_base": "http://x"}]}]}
    assert _problems(data) == ["<config>: models[0].deployments[0].provider: Field required"]


@pytest.mark.parametrize("data", [[], [{"models": []}], "models: []", 42, None, True])
def test_non_mapping_top_level_rejected(data: Any) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, {})
    assert info.value.message == "<config>: the config must be a mapping at the top level"


def test_non_mapping_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.message == f"{path}: the config must be a mapping at the top level"


def test_invalid_yaml_reported_with_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: 1\n  host: [unclosed\nmodels: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    message = info.value.message
    assert message.startswith(f"{path}:")
    assert ": invalid YAML: " in message
    line = int(message[len(str(path)) + 1 :].split(":")[0])
    assert line in (3, 4)


def test_invalid_yaml_bad_indentation_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: 1\n host: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.message.startswith(f"{path}:3:")
    assert "invalid YAML" in info.value.message


def test_tab_indentation_is_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text("server:\n\tport: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.message.startswith(f"{path}:2:")


def test_wrong_type_messages() -> None:
    problems = _problems({"server": {"port": "eighty"}, "models": {"name": "x"}})
    assert sorted(problems) == [
        "<config>: models: Input should be a valid list",
        "<config>: server.port: Input should be a valid integer, unable to parse string as an integer",
    ]


# --- ${ENV} expansion --------------------------------------------------------------------------


def test_env_expansion() -> None:
    config = parse_config(
        {
            "server": {"host": "${HOST}", "port": "${PORT}"},
            "models": [_group(api_base="http://${HOST}:${PORT}/v1", api_key="${KEY}")],
        },
        {"HOST": "10.0.0.1", "PORT": "9000", "KEY": SECRET},
    )
    assert config.server.host == "10.0.0.1"
    assert config.server.port == 9000  # expanded string validated as an int
    d = config.models[0].deployments[0]
    assert d.api_base == "http://10.0.0.1:9000/v1"
    assert d.api_key is not None and d.api_key.get_secret_value() == SECRET


def test_env_default_used_when_unset_or_empty() -> None:
    data = {"models": [_group(api_base="${BASE:-http://fallback:1}", model="${M:-}")]}
    for env in ({}, {"BASE": "", "M": ""}):
        d = parse_config(data, env).models[0].deployments[0]
        assert d.api_base == "http://fallback:1"
        assert d.model == ""
    d = parse_config(data, {"BASE": "https://set", "M": "m1"}).models[0].deployments[0]
    assert (d.api_base, d.model) == ("https://set", "m1")


def test_env_expansion_inside_lists_and_nested_maps() -> None:
    config = parse_config(
        {"models": [_group(headers={"X-A": "${A}"}, options={"stop": ["${A}", "lit"]})]}, {"A": "alpha"}
    )
    d = config.models[0].deployments[0]
    assert d.headers == {"X-A": "alpha"}
    assert d.options == {"stop": ["alpha", "lit"]}


def test_text_without_references_is_untouched() -> None:
    config = parse_config({"models": [_group(model="$HOME and {x} and $", id="a${b")]}, {"HOME": "no"})
    d = config.models[0].deployments[0]
    assert d.model == "$HOME and {x} and $"
    assert d.id == "a${b"


def test_environ_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHPOINT_TEST_BASE", "http://from-os-environ")
    config = parse_config({"models": [_group(api_base="${SWITCHPOINT_TEST_BASE}")]})
    assert config.models[0].deployments[0].api_base == "http://from-os-environ"


def test_unset_env_var_reported_with_location() -> None:
    problems = _problems({"models": [_group(api_key="${MISSING_KEY}", api_base="${ALSO_MISSING}")]})
    assert sorted(problems) == [
        "<config>: models[0].api_base: environment variable ALSO_MISSING is not set",
        "<config>: models[0].api_key: environment variable MISSING_KEY is not set",
    ]


def test_empty_env_var_counts_as_unset() -> None:
    assert _problems({"server": {"host": "${H}"}}, {"H": ""}) == [
        "<config>: server.host: environment variable H is not set"
    ]


def test_unset_env_var_in_file_has_line_and_column(tmp_path: Path) -> None:
    text = """\
models:
  - name: a
    provider: openai_compat
    api_base: ${BASE}
    headers:
      X-Key: "${HDR}"
    api_key: ${KEY:-fallback}
"""
    path, problems = _file_problems(tmp_path, text)
    assert problems == [
        f"{path}:4:15: models[0].api_base: environment variable BASE is not set",
        f"{path}:6:14: models[0].headers.X-Key: environment variable HDR is not set",
    ]


# --- secrets -----------------------------------------------------------------------------------


def _secret_config() -> dict[str, Any]:
    return {
        "server": {"master_key": "${MASTER}"},
        "models": [
            _group(api_key="${KEY}"),
            {"name": "two", "deployments": [{"provider": "openai", "api_key": SECRET}]},
        ],
    }


def test_secrets_not_in_repr_or_str() -> None:
    config = parse_config(_secret_config(), {"MASTER": MASTER, "KEY": SECRET})
    for text in (
        repr(config),
        str(config),
        repr(config.models),
        str(config.models[0].deployments[0]),
        repr(config.server),
        config.model_dump_json(),
    ):
        assert SECRET not in text
        assert MASTER not in text
    assert "**********" in repr(config)
    assert config.models[1].deployments[0].api_key is not None
    assert config.models[1].deployments[0].api_key.get_secret_value() == SECRET


def test_secrets_not_in_config_error_messages(tmp_path: Path) -> None:
    data = _secret_config()
    data["models"][0]["bogus"] = 1
    data["models"][1]["deployments"][0]["weight"] = 0
    data["server"]["port"] = "not-a-port"
    with pytest.raises(ConfigError) as info:
        parse_config(data, {"MASTER": MASTER, "KEY": SECRET})
    assert len(info.value.problems) == 3
    text = info.value.message + "\n".join(info.value.problems) + str(info.value) + repr(info.value)
    assert SECRET not in text and MASTER not in text


def test_secret_of_wrong_type_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"models:\n  - name: a\n    provider: openai\n    api_key: [{SECRET}]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.problems == [f"{path}:4:14: models[0].deployments[0].api_key: Input should be a valid string"]
    assert SECRET not in str(info.value)
