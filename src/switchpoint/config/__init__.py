"""Configuration: schema, loading and the composition root."""

from switchpoint.config.load import load_config, parse_config
from switchpoint.config.schema import GatewayConfig

__all__ = ["GatewayConfig", "load_config", "parse_config"]
