"""The config file's shape, as pydantic models. Unknown keys are errors everywhere."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from switchpoint.providers.registry import PROVIDER_KINDS

__all__ = [
    "CapabilitiesConfig",
    "DeploymentConfig",
    "GatewayConfig",
    "ModelGroupConfig",
    "ServerConfig",
    "TimeoutsConfig",
]

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_PORT = 8400


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeoutsConfig(StrictModel):
    connect: float | None = Field(default=None, gt=0, description="TCP/TLS connect, seconds")
    first_token: float | None = Field(default=None, gt=0, description="request sent to first streamed event")
    idle: float | None = Field(default=None, gt=0, description="longest gap between streamed events")
    total: float | None = Field(default=None, gt=0, description="whole request, every attempt included")


class CapabilitiesConfig(StrictModel):
    tools: bool = True
    vision: bool = True
    json_mode: bool = True


class DeploymentConfig(StrictModel):
    provider: str = Field(description="provider type, e.g. openai_compat")
    model: str | None = Field(default=None, description="upstream model id; defaults to the group name")
    id: str | None = Field(default=None, description="deployment id shown in headers and records")
    api_base: str | None = None
    api_key: SecretStr | None = Field(default=None, description="use ${ENV_VAR}; never shown in logs or errors")
    headers: dict[str, str] = Field(default_factory=dict)
    input_cost_per_mtok: float = Field(default=0.0, ge=0, description="USD per million input tokens")
    output_cost_per_mtok: float = Field(default=0.0, ge=0, description="USD per million output tokens")
    cached_input_cost_per_mtok: float | None = Field(default=None, ge=0)
    context_window: int | None = Field(default=None, gt=0)
    capabilities: CapabilitiesConfig = CapabilitiesConfig()
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    weight: float = Field(default=1.0, gt=0)
    timeouts: TimeoutsConfig = TimeoutsConfig()
    stream_usage: bool = Field(default=True, description="ask the upstream for usage in streams")
    options: dict[str, Any] = Field(default_factory=dict, description="provider-specific settings")

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDER_KINDS:
            known = ", ".join(sorted(PROVIDER_KINDS))
            raise ValueError(f"unknown provider type '{value}' (known: {known})")
        return value

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("api_base must start with http:// or https://")
        return value.rstrip("/") if value else value


class ModelGroupConfig(StrictModel):
    """A public model name. One deployment may be written inline instead of under ``deployments``."""

    name: str = Field(min_length=1)
    deployments: list[DeploymentConfig] = Field(min_length=1)
    max_attempts: int | None = Field(default=None, ge=1, le=20)

    @model_validator(mode="before")
    @classmethod
    def _inline_deployment(cls, data: Any) -> Any:
        if isinstance(data, dict) and "deployments" not in data and "provider" in data:
            group_keys = {"name", "max_attempts"}
            deployment = {k: v for k, v in data.items() if k not in group_keys}
            return {**{k: v for k, v in data.items() if k in group_keys}, "deployments": [deployment]}
        return data


class ServerConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    master_key: SecretStr | None = Field(default=None, description="require 'Authorization: Bearer <key>'")
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    workers: int = Field(default=1, ge=1, le=64)


class GatewayConfig(StrictModel):
    server: ServerConfig = ServerConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    models: list[ModelGroupConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> GatewayConfig:
        seen: set[str] = set()
        for group in self.models:
            if group.name in seen:
                raise ValueError(f"model group '{group.name}' is declared twice")
            seen.add(group.name)
        return self
