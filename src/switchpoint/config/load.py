"""Read a config file (or dict), expand ``${ENV}`` references, validate. No side effects.

Every problem is reported with its location: the path inside the config and, for files,
the line and column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from switchpoint.config.schema import GatewayConfig
from switchpoint.errors import ConfigError

__all__ = ["load_config", "parse_config"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Load and validate a YAML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    return parse_config(data, environ, source=str(path), node=node)


def parse_config(
    data: Any,
    environ: Mapping[str, str] | None = None,
    *,
    source: str = "<config>",
    node: yaml.Node | None = None,
) -> GatewayConfig:
    """Validate a config given as plain data (what the YAML file holds)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping at the top level")
    env = os.environ if environ is None else environ
    problems: list[str] = []
    expanded = _expand(data, env, (), problems, source, node)
    if problems:
        raise ConfigError(_summary(problems), problems)
    try:
        return GatewayConfig.model_validate(expanded)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            problems.append(f"{_where(source, node, loc)}: {_path(loc)}: {_message(error)}")
        raise ConfigError(_summary(problems), problems) from None


def _summary(problems: list[str]) -> str:
    head = f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in the config"
    return head + ":\n" + "\n".join(f"  - {p}" for p in problems)


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _expand(
    value: Any,
    env: Mapping[str, str],
    loc: tuple[str | int, ...],
    problems: list[str],
    source: str,
    node: yaml.Node | None,
) -> Any:
    if isinstance(value, str):
        return _expand_string(value, env, loc, problems, source, node)
    if isinstance(value, dict):
        return {k: _expand(v, env, (*loc, str(k)), problems, source, node) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, (*loc, i), problems, source, node) for i, v in enumerate(value)]
    return value


def _expand_string(
    value: str,
    env: Mapping[str, str],
    loc: tuple[str | int, ...],
    problems: list[str],
    source: str,
    node: yaml.Node | None,
) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is not None and found != "":
            return found
        if default is not None:
            return default
        problems.append(f"{_where(source, node, loc)}: {_path(loc)}: environment variable {name} is not set")
        return ""

    return _ENV_REF.sub(substitute, value) if "${" in value else value


def _path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _where(source: str, node: yaml.Node | None, loc: tuple[str | int, ...]) -> str:
    """``file:line:col`` of the deepest YAML node that ``loc`` reaches."""
    if node is None:
        return source
    current = node
    for part in loc:
        child = _child(current, part)
        if child is None:
            break
        current = child
    mark = current.start_mark
    return f"{source}:{mark.line + 1}:{mark.column + 1}"


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value  # type: ignore[no-any-return]
        # The schema may have moved an inline deployment under "deployments": stay on this node.
        return node if part == "deployments" or isinstance(part, int) else None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None
