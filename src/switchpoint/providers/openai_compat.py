"""The OpenAI Chat Completions wire adapter.

Serves OpenAI and every server that speaks its dialect (vLLM, Ollama, llama.cpp, Groq,
Together, Mistral, DeepSeek, OpenRouter, ...). Requests are forwarded as the client sent
them, with only ``model`` replaced; answers are relayed as the upstream sent them. The
adapter reads just enough to capture usage and the finish reason.

Transport errors are converted to :mod:`switchpoint.errors` by :func:`switchpoint.providers.http.transport_boundary`;
upstream error answers by :func:`_status_error`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from switchpoint.errors import (
    ContextWindowExceeded,
    ProviderError,
    ProviderHTTPError,
    ProviderProtocolError,
    ProviderRateLimited,
    redact,
)
from switchpoint.providers.http import ClientPool, UpstreamStream, read_capped, transport_boundary
from switchpoint.providers.native import NativeUpstream
from switchpoint.providers.ratelimits import parse_openai_limits
from switchpoint.providers.sse import event_data
from switchpoint.types import ChatRequest, ChatResponse, Deployment, Usage

__all__ = ["OpenAICompatProvider", "OpenAIStream"]

_FINISH = re.compile(rb'"finish_reason"\s*:\s*"([A-Za-z_]+)"')
_USAGE = re.compile(rb'"usage"\s*:\s*\{')
_CONTEXT_CODES = ("context_length_exceeded", "string_above_max_length")


class OpenAICompatProvider:
    kind = "openai_compat"

    def __init__(self, pool: ClientPool | None = None) -> None:
        self._pool = pool or ClientPool()
        self._headers: dict[int, dict[str, str]] = {}  # by id(deployment): ids may repeat
        self._timeouts: dict[int, aiohttp.ClientTimeout] = {}
        self._urls: dict[tuple[int, str], URL] = {}

    async def complete(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> ChatResponse:
        body = self._body(request, deployment, upstream_model, stream=False)
        url = self._url_for(deployment, upstream_model)
        with transport_boundary(deployment, "first_token"):
            async with self._pool.session(url).post(
                url,
                data=body,
                headers=self._headers_for(deployment),
                timeout=self._timeout_for(deployment),
                allow_redirects=False,
            ) as resp:
                raw = await read_capped(resp, deployment)
                if resp.status != 200:
                    raise _status_error(deployment, resp.status, raw, resp.headers.get("Retry-After"))
                limits = parse_openai_limits(resp.headers)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProviderProtocolError(
                f"upstream {deployment.id} returned invalid JSON",
                provider=deployment.provider,
                deployment=deployment.id,
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ProviderProtocolError(
                f"upstream {deployment.id} returned no choices", provider=deployment.provider, deployment=deployment.id
            )
        choices = data["choices"]
        finish = choices[0].get("finish_reason") if choices and isinstance(choices[0], dict) else None
        return ChatResponse(
            body=data, usage=Usage.from_openai(data.get("usage")), raw=raw, finish_reason=finish, limits=limits
        )

    async def stream(self, request: ChatRequest, deployment: Deployment, upstream_model: str) -> OpenAIStream:
        body = self._body(request, deployment, upstream_model, stream=True)
        url = self._url_for(deployment, upstream_model)
        # One first-token budget covers the response headers and the first event.
        first_token_deadline = asyncio.get_running_loop().time() + deployment.timeouts.first_token
        with transport_boundary(deployment, "first_token"):
            async with asyncio.timeout_at(first_token_deadline):
                resp = await self._pool.session(url).post(
                    url,
                    data=body,
                    headers=self._headers_for(deployment),
                    timeout=self._timeout_for(deployment),
                    allow_redirects=False,
                )
            if resp.status != 200:
                try:
                    raw = await read_capped(resp, deployment)
                finally:
                    resp.release()
                raise _status_error(deployment, resp.status, raw, resp.headers.get("Retry-After"))
        return OpenAIStream(resp, deployment, hide_usage=not request.include_usage, first_deadline=first_token_deadline)

    async def embed(self, body: dict[str, Any], deployment: Deployment, upstream_model: str) -> dict[str, Any]:
        """``POST {api_base}/embeddings`` with only ``model`` replaced; the upstream's answer relayed.

        The URL follows ``options.chat_path`` (its ``/chat/completions`` becomes ``/embeddings``)
        and ``options.query``; one first-token budget covers the whole call.
        """
        url = self._embeddings_url(deployment, upstream_model)
        payload = orjson.dumps({**body, "model": upstream_model})
        with transport_boundary(deployment, "first_token"):
            async with asyncio.timeout(deployment.timeouts.first_token):
                data = await NativeUpstream(self._pool).post_json(
                    url, payload, self._headers_for(deployment), deployment, _headers_status_error
                )
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise _protocol(deployment, "returned no embeddings")
        return data

    def _embeddings_url(self, deployment: Deployment, upstream_model: str) -> URL:
        chat = self._url_for(deployment, upstream_model)
        if not chat.raw_path.endswith("/chat/completions"):
            return URL(deployment.api_base + "/embeddings")
        path = chat.raw_path.removesuffix("/chat/completions") + "/embeddings"
        return chat.with_path(path, encoded=True).with_query(chat.query)

    async def aclose(self) -> None:
        await self._pool.aclose()

    def _body(self, request: ChatRequest, deployment: Deployment, upstream_model: str, *, stream: bool) -> bytes:
        body = dict(request.body)
        body["model"] = upstream_model
        if stream and deployment.options.get("stream_usage", True) and not request.include_usage:
            options = body.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return orjson.dumps(body)

    def _url_for(self, deployment: Deployment, upstream_model: str) -> URL:
        """The chat URL; ``options.chat_path`` (``{model}`` is substituted) and ``options.query`` shape it."""
        key = (id(deployment), upstream_model)
        url = self._urls.get(key)
        if url is None:
            options = deployment.options
            path = str(options.get("chat_path") or "/chat/completions")
            path = path.replace("{model}", quote(upstream_model, safe=""))
            url = URL(deployment.api_base + path, encoded=False)
            query = options.get("query")
            if isinstance(query, dict) and query:
                url = url.update_query({str(k): str(v) for k, v in query.items()})
            if len(self._urls) > 10_000:  # wildcard groups can name unboundedly many models
                self._urls.clear()
            self._urls[key] = url
        return url

    def _headers_for(self, deployment: Deployment) -> dict[str, str]:
        headers = self._headers.get(id(deployment))
        if headers is None:
            headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
            if deployment.api_key:
                auth = str(deployment.options.get("auth_header") or "Authorization")
                headers[auth] = (
                    f"Bearer {deployment.api_key}" if auth.lower() == "authorization" else deployment.api_key
                )
            headers.update(deployment.headers)
            self._headers[id(deployment)] = headers
        return headers

    def _timeout_for(self, deployment: Deployment) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(id(deployment))
        if timeout is None:
            connect = deployment.timeouts.connect
            timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect)
            self._timeouts[id(deployment)] = timeout
        return timeout


class OpenAIStream(UpstreamStream):
    """Relays an upstream SSE stream as whole events; records usage and finish reason on the way.

    When the client did not ask for usage, the adapter asked for it anyway (to price the
    request) and ``hide_usage`` drops the extra usage-only chunk.
    """

    def __init__(
        self, resp: aiohttp.ClientResponse, deployment: Deployment, *, hide_usage: bool, first_deadline: float
    ) -> None:
        super().__init__(resp, deployment, first_deadline)
        self._hide_usage = hide_usage
        self.limits = parse_openai_limits(resp.headers)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[bytes]:
        reader = self.reader()
        while not self._done:
            events = await reader.read()
            at_end = events is None
            out, error = self._inspect(reader.rest() if events is None else events)
            if error is not None and reader.phase == "first_token":
                raise error  # nothing relayed yet: the engine may still fail over
            if out:
                yield out  # (at the end: a last event the upstream did not terminate with a blank line)
                reader.relayed()
            if error is not None:
                raise error  # after relaying the events that came before it in the same read
            if at_end:
                if not self._done and self.finish_reason is None:
                    raise _protocol(self._deployment, "closed the stream before it finished")
                self._done = True

    def _inspect(self, events: list[bytes]) -> tuple[bytes, ProviderError | None]:
        """The events to relay, and the error the upstream reported among them (events after it are dropped)."""
        kept: list[bytes] = []
        error: ProviderError | None = None
        for event in events:
            if event.startswith((b"data: [DONE]", b"data:[DONE]")):
                self._done = True
                break
            if b'"choices"' not in event or _USAGE.search(event):
                try:
                    relay = self._parse_special(event)
                except ProviderError as exc:
                    error = exc
                    break
                if not relay:
                    continue
            else:
                match = _FINISH.search(event)
                if match:
                    self.finish_reason = match.group(1).decode()
            kept.append(event)
        return (b"\n\n".join(kept) + b"\n\n" if kept else b""), error

    def _parse_special(self, event: bytes) -> bool:
        """Handle an event carrying usage, an error or something unknown. Returns whether to relay it."""
        payload = event_data(event)
        if payload is None:
            return True  # comments and keep-alives pass through
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise _protocol(self._deployment, "sent an invalid stream event") from None
        if not isinstance(data, dict):
            raise _protocol(self._deployment, "sent a stream event that is not an object")
        if "error" in data and "choices" not in data:
            raise _stream_error(self._deployment, data["error"])
        usage = Usage.from_openai(data.get("usage"))
        if usage is not None:
            self.usage = usage
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            self.finish_reason = choices[0].get("finish_reason") or self.finish_reason
        return not (self._hide_usage and usage is not None and not choices)


def _protocol(deployment: Deployment, what: str) -> ProviderProtocolError:
    return ProviderProtocolError(
        f"upstream {deployment.id} {what}", provider=deployment.provider, deployment=deployment.id
    )


def _upstream_message(raw: bytes) -> tuple[str, str | None]:
    """The message and code of an upstream error body, in whichever common shape it came."""
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:300].decode("utf-8", "replace").strip(), None
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return str(error.get("message") or error.get("detail") or "")[:1000], str(code) if code else None
    return str(error)[:1000], None


def _status_error(deployment: Deployment, status: int, raw: bytes, retry_after: str | None) -> ProviderError:
    if 300 <= status < 400:
        # Redirects are never followed: they could send the request and its key elsewhere.
        return _protocol(deployment, f"answered with a redirect ({status}), which is not followed")
    message, code = _upstream_message(raw)
    message = redact(message, (deployment.api_key or "",))
    where = dict(provider=deployment.provider, deployment=deployment.id)
    text = f"upstream {deployment.id} returned {status}" + (f": {message}" if message else "")
    if status == 429:
        return ProviderRateLimited(text, retry_after=_retry_after(retry_after), **where)
    if status in (400, 413) and (
        code in _CONTEXT_CODES or "context length" in message.lower() or "context window" in message.lower()
    ):
        return ContextWindowExceeded(text, **where)
    if status in (401, 403):
        # Never relay an upstream auth message: it can quote the key or its prefix.
        text = f"upstream {deployment.id} rejected the gateway's credentials ({status})"
    return ProviderHTTPError(text, status_code=status, body=message, **where)


def _headers_status_error(
    deployment: Deployment, status: int, raw: bytes, headers: CIMultiDictProxy[str]
) -> ProviderError:
    """:func:`_status_error` in the form :class:`NativeUpstream` calls it."""
    return _status_error(deployment, status, raw, headers.get("Retry-After"))


def _stream_error(deployment: Deployment, error: Any) -> ProviderError:
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    message = redact(str(message), (deployment.api_key or "",))
    return ProviderProtocolError(
        f"upstream {deployment.id} reported an error mid-stream: {message}"[:1000],
        provider=deployment.provider,
        deployment=deployment.id,
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
