"""The small contracts that the engine composes. Nothing else lives here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from switchpoint.storage.records import RequestRecord
from switchpoint.types import ChatRequest, ChatResponse, ChatStream, Deployment, ModelGroup

__all__ = ["Balancer", "Embedder", "EventSink", "Provider"]


class Provider(Protocol):
    """One upstream API dialect. One instance serves every deployment of its kind.

    Implementations convert their foreign errors into :class:`switchpoint.errors.ProviderError`
    subclasses at one boundary, and never put an API key in a message.
    """

    kind: str

    async def complete(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> ChatResponse: ...

    async def stream(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> ChatStream:
        """Send the request and return once the upstream accepted it (status and headers read)."""
        ...

    async def aclose(self) -> None: ...


class Embedder(Protocol):
    """A provider that can also embed (the OpenAI-compatible and Gemini adapters).

    ``body`` is a validated OpenAI embeddings request; the answer is an OpenAI embeddings response
    dict (``data``, ``model``, ``usage``).
    """

    async def embed(self, body: dict[str, Any], deployment: Deployment, upstream_model: str) -> dict[str, Any]: ...


class Balancer(Protocol):
    """Orders a group's deployments into the sequence in which to try them."""

    def order(self, group: ModelGroup, candidates: Sequence[Deployment]) -> list[Deployment]: ...


class EventSink(Protocol):
    """Receives one record per request. ``emit`` must never block or raise."""

    def emit(self, record: RequestRecord) -> None: ...

    async def aclose(self) -> None: ...
