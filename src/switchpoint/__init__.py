"""switchpoint: a fast, smart LLM router and gateway.

The public API: :class:`Router` (and :class:`SyncRouter`) route chat requests in-process with
the same engine that ``switchpoint serve`` puts behind an OpenAI-compatible HTTP API.
"""

import typing

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

if typing.TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    # The SDK is imported on first use, so that ``import switchpoint.local`` (in the model
    # server's child process) or ``switchpoint.errors`` stays light.
    if name in ("Router", "SyncRouter"):
        from switchpoint.sdk import router

        return getattr(router, name)
    raise AttributeError(f"module 'switchpoint' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "Router", "SyncRouter"})
