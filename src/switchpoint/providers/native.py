"""Plumbing shared by the adapters that translate a foreign wire format (Anthropic, Gemini).

They post JSON and read either one JSON answer or an SSE stream whose events a translator
(:mod:`switchpoint.providers.translate`) turns into OpenAI chunks. Transport failures (aiohttp,
asyncio, sockets) are converted by :func:`switchpoint.providers.http.transport_boundary`, the one place that knows
them; error *statuses* and error *events* are converted by each adapter's own error function,
passed in here as :data:`StatusError` and :data:`EventError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from switchpoint.errors import ProviderError, ProviderProtocolError
from switchpoint.providers.http import ClientPool, UpstreamStream, read_capped, transport_boundary
from switchpoint.providers.sse import event_data
from switchpoint.providers.translate.common import MalformedUpstream, UpstreamErrorEvent
from switchpoint.types import Deployment, UpstreamLimits, Usage

__all__ = [
    "EventError",
    "NativeUpstream",
    "StatusError",
    "StreamTranslator",
    "TranslatedStream",
    "json_error",
    "protocol_error",
    "retry_after_seconds",
]

StatusError = Callable[[Deployment, int, bytes, "CIMultiDictProxy[str]"], ProviderError]
"""(deployment, HTTP status, body, headers) → the error to raise."""
EventError = Callable[[Deployment, UpstreamErrorEvent], ProviderError]
"""An error event inside a 200 stream → the error to raise."""


class StreamTranslator(Protocol):
    """Turns a foreign stream's parsed events into whole OpenAI ``chat.completion.chunk`` SSE events.

    A translator holds back its assistant-role chunk until the chunk after it (or :meth:`end`),
    so a stream that fails before any real output has relayed nothing and can still fail over.
    """

    finish_reason: str | None

    @property
    def usage(self) -> Usage | None: ...

    @property
    def complete(self) -> bool:
        """Whether the stream has reached its end (a finish reason or an end event)."""
        ...

    @property
    def done(self) -> bool:
        """Whether the upstream sent its final event, so nothing more needs to be read."""
        ...

    def feed(self, event: Mapping[str, Any]) -> bytes:
        """The SSE events (``data: {...}\\n\\n`` each, possibly none) this upstream event makes."""
        ...

    def end(self) -> bytes:
        """What is still owed at the end of the stream (a held role chunk, the usage chunk)."""
        ...


def protocol_error(deployment: Deployment, what: str) -> ProviderProtocolError:
    return ProviderProtocolError(
        f"upstream {deployment.id} {what}", provider=deployment.provider, deployment=deployment.id
    )


def json_error(raw: bytes) -> dict[str, Any]:
    """The ``error`` object of an upstream error body ({} when there is none)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"message": raw[:300].decode("utf-8", "replace").strip()}
    if isinstance(data, list) and data:  # Gemini sends errors of array-framed streams as [{...}]
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` value in seconds (``"7"``), or a google.rpc duration (``"7s"``, ``"1.5s"``)."""
    if not value:
        return None
    try:
        return max(0.0, float(value.removesuffix("s")))
    except ValueError:
        return None


def _refuse_redirect(deployment: Deployment, status: int) -> None:
    if 300 <= status < 400:
        # Never followed: a redirect could send the request, and the key in its headers, elsewhere.
        raise protocol_error(deployment, f"answered with a redirect ({status}), which is not followed")


ReadLimits = Callable[[Mapping[str, str]], UpstreamLimits | None]


class NativeUpstream:
    """Posts to upstreams over pooled sessions, with per-deployment timeouts built once.

    Redirects are refused, never followed, and answers over the deployment's
    ``max_response_bytes`` are refused before they are held whole, as in the OpenAI adapter.
    """

    def __init__(self, pool: ClientPool | None = None) -> None:
        self._pool = pool or ClientPool()
        self._timeouts: dict[int, aiohttp.ClientTimeout] = {}  # by id(deployment)

    async def post_json(
        self, url: URL, body: bytes, headers: Mapping[str, str], deployment: Deployment, status_error: StatusError
    ) -> Any:
        return (await self._post(url, body, headers, deployment, status_error, None))[0]

    async def post_json_limits(
        self, url: URL, body: bytes, headers: Mapping[str, str], deployment: Deployment, status_error: StatusError,
        read_limits: ReadLimits,
    ) -> tuple[Any, UpstreamLimits | None]:
        """``post_json``, plus what ``read_limits`` finds in the answer's rate-limit headers."""
        return await self._post(url, body, headers, deployment, status_error, read_limits)

    async def _post(
        self, url: URL, body: bytes, headers: Mapping[str, str], deployment: Deployment, status_error: StatusError,
        read_limits: ReadLimits | None,
    ) -> tuple[Any, UpstreamLimits | None]:
        with transport_boundary(deployment, "first_token"):
            async with self._pool.session(url).post(
                url, data=body, headers=headers, timeout=self._timeout_for(deployment), allow_redirects=False
            ) as resp:
                _refuse_redirect(deployment, resp.status)
                raw = await read_capped(resp, deployment)
                if resp.status != 200:
                    raise status_error(deployment, resp.status, raw, resp.headers)
                limits = read_limits(resp.headers) if read_limits is not None else None
        try:
            return orjson.loads(raw), limits
        except orjson.JSONDecodeError:
            raise protocol_error(deployment, "returned invalid JSON") from None

    async def open_stream(
        self, url: URL, body: bytes, headers: Mapping[str, str], deployment: Deployment, status_error: StatusError
    ) -> tuple[aiohttp.ClientResponse, float]:
        """Send the request; return the accepted response and the first-token deadline."""
        deadline = asyncio.get_running_loop().time() + deployment.timeouts.first_token
        with transport_boundary(deployment, "first_token"):
            async with asyncio.timeout_at(deadline):
                resp = await self._pool.session(url).post(
                    url, data=body, headers=headers, timeout=self._timeout_for(deployment), allow_redirects=False
                )
            if resp.status != 200:
                try:
                    _refuse_redirect(deployment, resp.status)
                    raw = await read_capped(resp, deployment)
                finally:
                    resp.release()
                raise status_error(deployment, resp.status, raw, resp.headers)
        return resp, deadline

    async def aclose(self) -> None:
        await self._pool.aclose()

    def _timeout_for(self, deployment: Deployment) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(id(deployment))
        if timeout is None:
            connect = deployment.timeouts.connect
            timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect)
            self._timeouts[id(deployment)] = timeout
        return timeout


class TranslatedStream(UpstreamStream):
    """A foreign SSE stream relayed as OpenAI ``chat.completion.chunk`` events (a ``ChatStream``).

    Nothing is relayed before the first real output (translators hold back the assistant-role
    chunk until the chunk after it), so an error that arrives before it, such as Anthropic's
    ``overloaded_error`` right after ``message_start``, is raised with nothing sent and the engine
    can still fail over. Later, the chunks that came before an error are relayed first.
    """

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        deployment: Deployment,
        translator: StreamTranslator,
        *,
        first_deadline: float,
        event_error: EventError,
    ) -> None:
        super().__init__(resp, deployment, first_deadline)
        self._translator = translator
        self._event_error = event_error

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[bytes]:
        reader = self.reader()
        while not self._done:
            events = await reader.read()
            if events is None:
                out, error = self._translate(reader.rest(), at_end=True)
            else:
                out, error = self._translate(events)
            if error is not None and reader.phase == "first_token":
                raise error  # nothing relayed yet: the engine may still fail over
            if out:
                yield out
                reader.relayed()
            if error is not None:
                raise error  # after relaying the chunks that came before it

    def _translate(self, events: list[bytes], *, at_end: bool = False) -> tuple[bytes, ProviderError | None]:
        """The SSE events these upstream events make, and the error they end in, if any."""
        translator = self._translator
        feed, loads = translator.feed, orjson.loads
        parts: list[bytes] = []
        error: ProviderError | None = None
        try:
            for event in events:
                payload = event_data(event)
                if payload is None:
                    continue  # comments, keep-alives
                try:
                    data = loads(payload)
                except orjson.JSONDecodeError:
                    raise MalformedUpstream("sent an invalid stream event") from None
                if type(data) is not dict:
                    raise MalformedUpstream("sent a stream event that is not an object")
                out = feed(data)
                if out:
                    parts.append(out)
                if translator.done:
                    break
            if at_end or translator.done:
                self._done = True
                if not translator.complete:
                    raise MalformedUpstream("closed the stream before it finished")
                parts.append(translator.end())
        except UpstreamErrorEvent as exc:
            error = self._event_error(self._deployment, exc)
        except MalformedUpstream as exc:
            error = protocol_error(self._deployment, str(exc))
        self.finish_reason = translator.finish_reason
        self.usage = translator.usage
        return (parts[0] if len(parts) == 1 else b"".join(parts)), error
