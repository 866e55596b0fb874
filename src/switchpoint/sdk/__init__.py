"""The in-process Python SDK."""

from switchpoint.sdk.router import Router, SyncRouter

__all__ = ["Router", "SyncRouter"]
