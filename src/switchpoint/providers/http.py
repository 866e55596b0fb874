"""Pooled keep-alive HTTP clients: one aiohttp session per upstream origin.

aiohttp is used rather than httpx on the hot path: measured here, httpx was about 14x slower
at concurrency 32 and lost throughput as concurrency rose (``../shared/docs/performance.md``).
Sessions are created lazily inside the running event loop and closed by :meth:`aclose`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from yarl import URL

from switchpoint.errors import ProviderConnectionError, ProviderError, ProviderProtocolError, ProviderTimeout
from switchpoint.providers.sse import SSEBuffer
from switchpoint.types import Deployment, UpstreamLimits, Usage

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ClientPool",
    "SSEReader",
    "UpstreamStream",
    "max_response_bytes",
    "read_capped",
    "transport_boundary",
]

DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class ClientPool:
    """Owns one :class:`aiohttp.ClientSession` per ``scheme://host:port``.

    ``force_close`` opens a new connection per request, for upstreams that announce keep-alive
    but close the connection anyway (llama.cpp's server does, after every stream).
    """

    def __init__(self, *, max_connections: int = 1000, keepalive: float = 60.0, force_close: bool = False) -> None:
        self._sessions: dict[URL, aiohttp.ClientSession] = {}
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._force_close = force_close

    def session(self, url: URL) -> aiohttp.ClientSession:
        origin = url.origin()
        session = self._sessions.get(origin)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=None if self._force_close else self._keepalive,
                force_close=self._force_close,
                ttl_dns_cache=300,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                # Upstream cookies must never be kept and replayed (across tenants); skipping the jar
                # also saves its per-request work.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._sessions[origin] = session
        return session

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


@contextmanager
def transport_boundary(deployment: Deployment, phase: str) -> Iterator[None]:
    """The one place where aiohttp, asyncio and socket errors become switchpoint errors."""
    try:
        yield
    except ProviderError:
        raise
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            phase = "connect"
        raise ProviderTimeout(
            f"upstream {deployment.id} timed out ({phase})",
            phase=phase,
            provider=deployment.provider,
            deployment=deployment.id,
        ) from None
    except aiohttp.ClientConnectorError as exc:
        raise ProviderConnectionError(
            f"cannot connect to upstream {deployment.id}: {exc.strerror or type(exc).__name__}",
            provider=deployment.provider,
            deployment=deployment.id,
        ) from None
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise ProviderConnectionError(
            f"upstream {deployment.id} dropped the connection ({type(exc).__name__})",
            provider=deployment.provider,
            deployment=deployment.id,
        ) from None
    except aiohttp.ClientError as exc:
        raise ProviderProtocolError(
            f"upstream {deployment.id} failed: {type(exc).__name__}",
            provider=deployment.provider,
            deployment=deployment.id,
        ) from None


def max_response_bytes(deployment: Deployment) -> int:
    """The largest upstream body (or single stream event) accepted; ``options.max_response_bytes``."""
    return int(deployment.options.get("max_response_bytes") or DEFAULT_MAX_RESPONSE_BYTES)


async def read_capped(resp: aiohttp.ClientResponse, deployment: Deployment) -> bytes:
    """The whole body, refusing one larger than the deployment's limit before holding it all."""
    limit = max_response_bytes(deployment)
    if resp.content_length is not None and resp.content_length > limit:
        raise _too_large(deployment, limit)
    if resp.content_length is not None:
        return await resp.read()
    parts: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise _too_large(deployment, limit)
        parts.append(chunk)
    return b"".join(parts)


def _too_large(deployment: Deployment, limit: int) -> ProviderProtocolError:
    return ProviderProtocolError(
        f"upstream {deployment.id} sent a body over {limit} bytes",
        provider=deployment.provider,
        deployment=deployment.id,
    )


class SSEReader:
    """Reads an upstream SSE body as lists of whole events, under the stream's deadlines.

    The first read shares the first-token deadline (which also covered the response headers);
    once the caller has relayed something (:meth:`relayed`), every read gets the idle timeout.
    Transport errors and timeouts become switchpoint errors here, and an event that grows past the
    deployment's ``max_response_bytes`` is refused.
    """

    __slots__ = ("_buffer", "_content", "_deadline", "_deployment", "_limit", "_loop", "phase")

    def __init__(self, resp: aiohttp.ClientResponse, deployment: Deployment, first_deadline: float) -> None:
        self._content = resp.content
        self._deployment = deployment
        self._buffer = SSEBuffer()
        self._limit = max_response_bytes(deployment)
        self._loop = asyncio.get_running_loop()
        self._deadline = first_deadline
        self.phase = "first_token"

    async def read(self) -> list[bytes] | None:
        """The whole events of the next read; None at the end of the body (see :meth:`rest`)."""
        with transport_boundary(self._deployment, self.phase):
            async with asyncio.timeout_at(self._deadline):
                data = await self._content.readany()
        if not data:
            return None
        events = self._buffer.feed(data)
        if self._buffer.pending > self._limit:
            raise ProviderProtocolError(
                f"upstream {self._deployment.id} sent a stream event over {self._limit} bytes",
                provider=self._deployment.provider,
                deployment=self._deployment.id,
            )
        if self.phase == "idle":
            self._deadline = self._loop.time() + self._deployment.timeouts.idle
        return events

    def relayed(self) -> None:
        """Output has reached the client: from now on reads get the idle timeout."""
        if self.phase == "first_token":
            self.phase = "idle"
            self._deadline = self._loop.time() + self._deployment.timeouts.idle

    def rest(self) -> list[bytes]:
        """What is left after the end of the body: an event not terminated by a blank line."""
        tail = self._buffer.flush()
        return [tail] if tail else []


class UpstreamStream:
    """What every streamed answer shares: its response, its deadlines, and how it is closed.

    Subclasses implement ``__aiter__``; after iteration ``usage`` and ``finish_reason`` hold
    what the stream reported. Closing a stream that did not finish aborts the connection, so the
    upstream stops generating (and billing) instead of the connection going back to the pool.
    """

    def __init__(self, resp: aiohttp.ClientResponse, deployment: Deployment, first_deadline: float) -> None:
        self._resp = resp
        self._deployment = deployment
        self._first_deadline = first_deadline
        self._done = False
        #: The upstream's rate-limit headers, read by the adapter that opened the stream.
        self.limits: UpstreamLimits | None = None
        self.usage: Usage | None = None
        self.finish_reason: str | None = None

    def reader(self) -> SSEReader:
        return SSEReader(self._resp, self._deployment, self._first_deadline)

    async def aclose(self) -> None:
        if self._done:
            self._resp.release()
        else:
            self._resp.close()
