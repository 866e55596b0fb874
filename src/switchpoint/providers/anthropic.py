"""The Anthropic Messages adapter: native wire format over aiohttp, no SDK at run time.

Requests and answers are translated by :mod:`switchpoint.providers.translate.anthropic`.
Error statuses and error events become :mod:`switchpoint.errors` in :func:`_error`, and only
there; transport failures go through the shared boundary (see :mod:`switchpoint.providers.native`).

Deployment options: ``default_max_tokens`` (sent when the client gives no ``max_tokens``;
Anthropic requires one; default 4096) and ``anthropic_version`` (default ``2023-06-01``).
"""

from __future__ import annotations

import time

import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from switchpoint.errors import (
    ContextWindowExceeded,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    redact,
)
from switchpoint.providers.http import ClientPool
from switchpoint.providers.native import (
    NativeUpstream,
    TranslatedStream,
    json_error,
    protocol_error,
    retry_after_seconds,
)
from switchpoint.providers.ratelimits import parse_anthropic_limits
from switchpoint.providers.translate.anthropic import (
    DEFAULT_MAX_TOKENS,
    AnthropicStreamTranslator,
    response_from_anthropic,
    to_anthropic_request,
)
from switchpoint.providers.translate.common import MalformedUpstream, UpstreamErrorEvent
from switchpoint.types import ChatRequest, ChatResponse, Deployment

__all__ = ["ANTHROPIC_VERSION", "AnthropicProvider"]

ANTHROPIC_VERSION = "2023-06-01"
_CONTEXT_PHRASES = ("prompt is too long", "exceed context limit", "context window", "context length")


class AnthropicProvider:
    kind = "anthropic"

    def __init__(self, pool: ClientPool | None = None) -> None:
        self._upstream = NativeUpstream(pool)
        self._headers: dict[str, dict[str, str]] = {}
        self._urls: dict[str, URL] = {}

    async def complete(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> ChatResponse:
        body = self._body(request, deployment, upstream_model, stream=False)
        data, limits = await self._upstream.post_json_limits(
            self._url_for(deployment), body, self._headers_for(deployment), deployment, _status_error,
            parse_anthropic_limits,
        )
        try:
            out, usage, finish = response_from_anthropic(data, created=int(time.time()))
        except MalformedUpstream as exc:
            raise protocol_error(deployment, str(exc)) from None
        return ChatResponse(body=out, usage=usage, raw=None, finish_reason=finish, limits=limits)

    async def stream(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> TranslatedStream:
        body = self._body(request, deployment, upstream_model, stream=True)
        resp, first_deadline = await self._upstream.open_stream(
            self._url_for(deployment), body, self._headers_for(deployment), deployment, _status_error
        )
        translator = AnthropicStreamTranslator(
            created=int(time.time()), model=upstream_model, include_usage=request.include_usage
        )
        stream = TranslatedStream(resp, deployment, translator, first_deadline=first_deadline, event_error=_event_error)
        stream.limits = parse_anthropic_limits(resp.headers)
        return stream

    async def aclose(self) -> None:
        await self._upstream.aclose()

    def _body(self, request: ChatRequest, deployment: Deployment, upstream_model: str, *, stream: bool) -> bytes:
        default = deployment.options.get("default_max_tokens") or DEFAULT_MAX_TOKENS
        native = to_anthropic_request(request.body, upstream_model, stream=stream, default_max_tokens=default)
        return orjson.dumps(native)

    def _url_for(self, deployment: Deployment) -> URL:
        url = self._urls.get(deployment.id)
        if url is None:
            url = self._urls[deployment.id] = URL(deployment.api_base + "/messages")
        return url

    def _headers_for(self, deployment: Deployment) -> dict[str, str]:
        headers = self._headers.get(deployment.id)
        if headers is None:
            headers = {
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "anthropic-version": str(deployment.options.get("anthropic_version") or ANTHROPIC_VERSION),
            }
            if deployment.api_key:
                headers["x-api-key"] = deployment.api_key
            headers.update(deployment.headers)
            self._headers[deployment.id] = headers
        return headers


def _status_error(
    deployment: Deployment, status: int, raw: bytes, headers: CIMultiDictProxy[str]
) -> ProviderError:
    error = json_error(raw)
    return _error(
        deployment, status, str(error.get("message") or ""), error.get("type"), headers.get("retry-after"), "returned"
    )


def _event_error(deployment: Deployment, event: UpstreamErrorEvent) -> ProviderError:
    return _error(deployment, event.status, event.message, event.error_type, None, "sent an error event")


def _error(
    deployment: Deployment, status: int, message: str, error_type: object, retry_after: str | None, verb: str
) -> ProviderError:
    """The one place where Anthropic error statuses and error events become switchpoint errors."""
    message = redact(message[:1000], (deployment.api_key or "",))
    where = {"provider": deployment.provider, "deployment": deployment.id}
    kind = f" {error_type}" if isinstance(error_type, str) and error_type else ""
    text = f"upstream {deployment.id} {verb} {status}{kind}" + (f": {message}" if message else "")
    if status == 429:
        return ProviderRateLimited(text, retry_after=retry_after_seconds(retry_after), **where)
    if status == 529 or error_type == "overloaded_error":
        # Anthropic's "overloaded": temporary and retryable; 503 is the nearest standard status.
        return ProviderHTTPError(text, status_code=503, body=message, **where)
    if status in (400, 413) and any(phrase in message.lower() for phrase in _CONTEXT_PHRASES):
        return ContextWindowExceeded(text, **where)
    if status in (401, 403):
        # Never relay an upstream auth message: it can quote the key or its prefix.
        text = f"upstream {deployment.id} rejected the gateway's credentials ({status})"
        return ProviderHTTPError(text, status_code=status, **where)
    return ProviderHTTPError(text, status_code=status, body=message, **where)
