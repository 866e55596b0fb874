"""switchpoint: a fast, smart LLM router and gateway.

The public API: :class:`Router` (and :class:`SyncRouter`) route chat requests in-process with
the same engine that ``switchpoint serve`` puts behind an OpenAI-compatible HTTP API.
"""

from switchpoint._version import __version__
from switchpoint.errors import (
    AllAttemptsFailed,
    ConfigError,
    InvalidRequest,
    NoDeploymentAvailable,
    ProviderError,
    RequestError,
    SwitchpointError,
    UnknownModel,
)
from switchpoint.sdk.router import Router, SyncRouter

__all__ = [
    "AllAttemptsFailed",
    "ConfigError",
    "InvalidRequest",
    "NoDeploymentAvailable",
    "ProviderError",
    "RequestError",
    "Router",
    "SwitchpointError",
    "SyncRouter",
    "UnknownModel",
    "__version__",
]
