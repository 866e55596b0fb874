"""The in-process Python SDK."""

from switchpoint.sdk.router import ChatChunks, Completion, Router, SyncChatChunks, SyncRouter

__all__ = ["ChatChunks", "Completion", "Router", "SyncChatChunks", "SyncRouter"]
