"""The Gemini adapter: ``generateContent`` and ``streamGenerateContent?alt=sse`` over aiohttp.

URL ``{api_base}/models/{model}:generateContent``, key in the ``x-goog-api-key`` header.
Requests and answers are translated by :mod:`switchpoint.providers.translate.gemini`. Error
statuses and error events become :mod:`switchpoint.errors` in :func:`_error`, and only there;
transport failures go through the shared boundary (see :mod:`switchpoint.providers.native`).

Deployment option: ``thought_signature_fallback`` (default true): an assistant tool call that
comes back without a Gemini thought signature (e.g. one made by another provider) is sent with
Gemini's documented stand-in, so Gemini 3 models accept the history.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
import uuid
from typing import Any

import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from switchpoint.errors import (
    ContextWindowExceeded,
    InvalidRequest,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    redact,
)
from switchpoint.providers.http import ClientPool, transport_boundary
from switchpoint.providers.native import (
    NativeUpstream,
    TranslatedStream,
    json_error,
    protocol_error,
    retry_after_seconds,
)
from switchpoint.providers.translate.common import MalformedUpstream, UpstreamErrorEvent
from switchpoint.providers.translate.gemini import (
    GeminiStreamTranslator,
    response_from_gemini,
    to_gemini_request,
)
from switchpoint.types import ChatRequest, ChatResponse, Deployment

__all__ = ["GeminiProvider"]

_CONTEXT_PHRASES = ("exceeds the maximum number of tokens", "input token count", "context window")
_BAD_KEY_REASONS = ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED")


class GeminiProvider:
    kind = "gemini"

    def __init__(self, pool: ClientPool | None = None) -> None:
        self._upstream = NativeUpstream(pool)
        self._headers: dict[str, dict[str, str]] = {}
        self._urls: dict[tuple[str, str, bool], URL] = {}

    async def complete(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> ChatResponse:
        url = self._url_for(deployment, upstream_model, stream=False)
        data = await self._upstream.post_json(
            url, self._body(request, deployment), self._headers_for(deployment), deployment, _status_error
        )
        try:
            out, usage, finish = response_from_gemini(
                data, model=upstream_model, created=int(time.time()), response_id=_response_id(request)
            )
        except MalformedUpstream as exc:
            raise protocol_error(deployment, str(exc)) from None
        return ChatResponse(body=out, usage=usage, raw=None, finish_reason=finish)

    async def stream(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> TranslatedStream:
        url = self._url_for(deployment, upstream_model, stream=True)
        resp, first_deadline = await self._upstream.open_stream(
            url, self._body(request, deployment), self._headers_for(deployment), deployment, _status_error
        )
        translator = GeminiStreamTranslator(
            created=int(time.time()),
            model=upstream_model,
            response_id=_response_id(request),
            include_usage=request.include_usage,
        )
        return TranslatedStream(resp, deployment, translator, first_deadline=first_deadline, event_error=_event_error)

    async def embed(self, body: dict[str, Any], deployment: Deployment, upstream_model: str) -> dict[str, Any]:
        """An OpenAI embeddings request through ``:embedContent`` (one string) or ``:batchEmbedContents``.

        ``dimensions`` becomes ``outputDimensionality``; ``encoding_format: base64`` is applied here
        (little-endian float32, as OpenAI sends it). Gemini reports no token counts for embeddings
        (Vertex's ``usageMetadata`` is read when present), so usage is usually 0.
        """
        name = upstream_model.removeprefix("models/")
        texts = _embedding_texts(body.get("input"))
        item: dict[str, Any] = {}
        if body.get("dimensions"):
            item["outputDimensionality"] = body["dimensions"]
        if isinstance(body.get("input"), str):
            method, payload = "embedContent", {"content": {"parts": [{"text": texts[0]}]}, **item}
        else:
            requests = [{"model": f"models/{name}", "content": {"parts": [{"text": t}]}, **item} for t in texts]
            method, payload = "batchEmbedContents", {"requests": requests}
        url = URL(f"{deployment.api_base}/models/{name}:{method}")
        with transport_boundary(deployment, "first_token"):
            async with asyncio.timeout(deployment.timeouts.first_token):
                data = await self._upstream.post_json(
                    url, orjson.dumps(payload), self._headers_for(deployment), deployment, _status_error
                )
        vectors = _embedding_vectors(data, len(texts))
        if vectors is None:
            raise protocol_error(deployment, "returned no embeddings")
        if body.get("encoding_format") == "base64":
            try:
                vectors = [_base64_floats(v) for v in vectors]
            except struct.error:
                raise protocol_error(deployment, "returned embeddings that are not numbers") from None
        usage = data.get("usageMetadata")
        prompt = usage.get("promptTokenCount") if isinstance(usage, dict) else None
        tokens = prompt if isinstance(prompt, int) else 0
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "model": name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def aclose(self) -> None:
        await self._upstream.aclose()

    def _body(self, request: ChatRequest, deployment: Deployment) -> bytes:
        fallback = deployment.options.get("thought_signature_fallback", True) is not False
        return orjson.dumps(to_gemini_request(request.body, signature_fallback=fallback))

    def _url_for(self, deployment: Deployment, model: str, *, stream: bool) -> URL:
        key = (deployment.id, model, stream)
        url = self._urls.get(key)
        if url is None:
            name = model.removeprefix("models/")
            method = "streamGenerateContent?alt=sse" if stream else "generateContent"
            url = self._urls[key] = URL(f"{deployment.api_base}/models/{name}:{method}")
        return url

    def _headers_for(self, deployment: Deployment) -> dict[str, str]:
        headers = self._headers.get(deployment.id)
        if headers is None:
            headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
            if deployment.api_key:
                headers["x-goog-api-key"] = deployment.api_key
            headers.update(deployment.headers)
            self._headers[deployment.id] = headers
        return headers


def _response_id(request: ChatRequest) -> str:
    return "chatcmpl-" + (request.request_id or uuid.uuid4().hex)


def _details(error: dict[str, Any]) -> tuple[str | None, str | None]:
    """The ErrorInfo reason and the RetryInfo delay of a google.rpc error, if present."""
    reason = delay = None
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict):
            reason = reason or detail.get("reason")
            delay = delay or detail.get("retryDelay")
    return (reason if isinstance(reason, str) else None), (delay if isinstance(delay, str) else None)


def _status_error(
    deployment: Deployment, status: int, raw: bytes, headers: CIMultiDictProxy[str]
) -> ProviderError:
    error = json_error(raw)
    reason, delay = _details(error)
    retry_after = headers.get("retry-after") or delay
    return _error(deployment, status, str(error.get("message") or ""), error.get("status"), reason, retry_after,
                  "returned")


def _event_error(deployment: Deployment, event: UpstreamErrorEvent) -> ProviderError:
    return _error(deployment, event.status, event.message, event.error_type, None, None, "sent an error event")


def _error(
    deployment: Deployment,
    status: int,
    message: str,
    rpc_status: object,
    reason: str | None,
    retry_after: str | None,
    verb: str,
) -> ProviderError:
    """The one place where Gemini error statuses and error events become switchpoint errors."""
    message = redact(message[:1000], (deployment.api_key or "",))
    where = {"provider": deployment.provider, "deployment": deployment.id}
    kind = f" {rpc_status}" if isinstance(rpc_status, str) and rpc_status else ""
    text = f"upstream {deployment.id} {verb} {status}{kind}" + (f": {message}" if message else "")
    if status == 429:
        return ProviderRateLimited(text, retry_after=retry_after_seconds(retry_after), **where)
    if status in (401, 403) or reason in _BAD_KEY_REASONS:
        # Gemini answers a bad key with 400 API_KEY_INVALID: still the operator's problem, not the client's.
        # Never relay the message: it can quote the key or its prefix.
        text = f"upstream {deployment.id} rejected the gateway's credentials ({status}{kind})"
        return ProviderHTTPError(text, status_code=status if status in (401, 403) else 401, **where)
    if status == 400 and any(phrase in message.lower() for phrase in _CONTEXT_PHRASES):
        return ContextWindowExceeded(text, **where)
    return ProviderHTTPError(text, status_code=status, body=message, **where)


def _embedding_texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise InvalidRequest("Gemini deployments embed text only; token arrays are not supported.", param="input")


def _embedding_vectors(data: Any, count: int) -> list[Any] | None:
    """The vectors of an ``embedContent`` or ``batchEmbedContents`` answer, None when malformed."""
    if not isinstance(data, dict):
        return None
    items = data.get("embeddings") if "embeddings" in data else [data.get("embedding")]
    if not isinstance(items, list) or len(items) != count:
        return None
    vectors = [item.get("values") if isinstance(item, dict) else None for item in items]
    return vectors if all(isinstance(v, list) for v in vectors) else None


def _base64_floats(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
