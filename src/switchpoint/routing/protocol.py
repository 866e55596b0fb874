"""The routing contract: :class:`RoutingPolicy` and the :class:`RouteContext` it decides from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from switchpoint.analysis.features import RequestFeatures
from switchpoint.analysis.view import RequestView
from switchpoint.routing.decision import RouteDecision
from switchpoint.types import ChatRequest

__all__ = ["CONDITION_ROOTS", "SECRET_HEADERS", "RouteContext", "RoutingPolicy"]

# The names a rule's condition may start with (``routing.expr`` checks them at config load).
CONDITION_ROOTS = frozenset({"features", "request", "metadata", "tags", "headers", "last_user_message", "model"})
# Never shown to conditions, never recorded.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization", "cookie"})


class RouteContext:
    """Everything a policy may read about one request.

    ``features`` is the analysis record, or None when no policy of the router needs it (its
    analysis was skipped). ``headers`` are lower-cased and never include credentials. ``text``
    (the last user message) and ``env()`` (the mapping conditions are evaluated against) are
    computed on first use.
    """

    __slots__ = ("_env", "_text", "features", "headers", "request")

    def __init__(
        self, request: ChatRequest, features: RequestFeatures | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.request = request
        self.features = features
        self.headers: Mapping[str, str] = {
            k.lower(): v for k, v in (headers or {}).items() if k.lower() not in SECRET_HEADERS
        }
        self._text: str | None = None
        self._env: dict[str, Any] | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        return self.request.tags

    @property
    def metadata(self) -> Mapping[str, Any]:
        metadata = self.request.body.get("metadata")
        return metadata if isinstance(metadata, Mapping) else {}

    @property
    def text(self) -> str:
        """The last user message (what the request is about)."""
        if self._text is None:
            self._text = RequestView(self.request).last_user_text
        return self._text

    def env(self) -> dict[str, Any]:
        """``features``, ``request`` (body fields but the messages), ``metadata``, ``tags``,
        ``headers``, ``last_user_message`` and ``model`` (the name the client sent)."""
        if self._env is None:
            body = self.request.body
            self._env = {
                "features": self.features.to_dict() if self.features is not None else {},
                "request": {k: v for k, v in body.items() if k != "messages"},
                "metadata": dict(self.metadata),
                "tags": list(self.tags),
                "headers": dict(self.headers),
                "last_user_message": self.text,
                "model": self.request.model,
            }
        return self._env


class RoutingPolicy(Protocol):
    """One way of choosing a model group. ``route`` returns None when it has no opinion, so the
    router asks the next policy. It must be fast (it runs on the event loop: well under a
    millisecond) and must not block.

    ``needs_features``: whether ``route`` reads ``ctx.features`` (the router runs the analysis
    pipeline only when one of its policies does).
    """

    name: str
    kind: str
    needs_features: bool

    def route(self, ctx: RouteContext) -> RouteDecision | None: ...
