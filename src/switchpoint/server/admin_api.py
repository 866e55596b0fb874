"""Feedback, the analytics API, the request explorer, and the dashboard's files.

=====================================  ====================================================
``POST /v1/feedback``                  attach a score, label and comment to a request
``GET /v1/analytics/summary``          totals, rates, latency and TTFT percentiles
``GET /v1/analytics/timeseries``       the same per minute, hour or day
``GET /v1/analytics/models``           one row per model group (or deployment)
``GET /v1/analytics/routing``          routing mix and quality per router and group
``GET /v1/analytics/savings``          cost against the most expensive candidate
``GET /v1/analytics/dimensions``       values seen, for filter pickers
``GET /v1/requests``                   paged request list
``GET /v1/requests/{id}``              one request with its attempts and feedback
``GET /ui/...``                        the dashboard (static; no key needed to load it)
=====================================  ====================================================

Every ``/v1`` path needs the master key when one is set. ``docs/analytics.md`` has the details.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from switchpoint.analytics import explorer, queries, routing
from switchpoint.analytics.feedback import DEFAULT_WAIT, parse_feedback, submit_feedback
from switchpoint.analytics.filters import Filters
from switchpoint.analytics.queries import Prices
from switchpoint.analytics.readers import LogReader, reader_for
from switchpoint.dashboard import Assets
from switchpoint.errors import InvalidRequest, RequestError
from switchpoint.server.asgi import Headers, Receive, Scope, Send, header, read_body, send_bytes
from switchpoint.storage.store import LogStore, StoreError

__all__ = ["ADMIN_PREFIXES", "AdminEndpoint", "LogsUnavailable"]

logger = logging.getLogger("switchpoint.server")

#: The paths this endpoint answers (``path.startswith(ADMIN_PREFIXES)``).
ADMIN_PREFIXES = ("/v1/analytics/", "/v1/requests", "/v1/feedback", "/ui")
JSON = b"application/json"
FEEDBACK_MAX_BYTES = 64 * 1024
_UI_HEADERS: Headers = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                 b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]  # fmt: skip

Handler = Callable[[LogReader, Filters, Mapping[str, str]], Awaitable[dict[str, Any]]]


class LogsUnavailable(RequestError):
    """Analytics needs the request log: none is configured, or it cannot be read right now."""

    status = 503
    error_type = "service_unavailable"
    code = "logs_unavailable"


class _NotFound(RequestError):
    status = 404
    code = "not_found"


def _method_not_allowed(method: str, path: str, allowed: str) -> RequestError:
    error = InvalidRequest(f"{method} is not allowed on {path}; use {allowed}.", code="method_not_allowed")
    error.status = 405
    return error


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an integer.", param=name) from None


class AdminEndpoint:
    """Answers :data:`ADMIN_PREFIXES`. ``store`` is the gateway's log store (None: analytics and
    feedback answer 503); ``prices`` maps a model group to its (input, output) USD per million
    tokens for savings; ``now`` is the wall clock that relative ranges (``since=24h``) count from."""

    def __init__(
        self,
        store: LogStore | None,
        authorize: Callable[[Scope], None],
        *,
        prices: Prices | None = None,
        reader: LogReader | None = None,
        feedback_wait: float = DEFAULT_WAIT,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.prices: Prices = prices or {}
        self._authorize = authorize
        self._reader = reader
        self._migrated = False
        self.feedback_wait = feedback_wait
        self._now = now
        self._assets = Assets()
        self._analytics: dict[str, Handler] = {
            "summary": self._summary,
            "timeseries": self._timeseries,
            "models": self._models,
            "routing": self._routing,
            "savings": self._savings,
            "dimensions": self._dimensions,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/ui" or path.startswith("/ui/"):
            if method not in ("GET", "HEAD"):  # uvicorn leaves out the body of a HEAD answer
                raise _method_not_allowed(method, path, "GET")
            await self._ui(scope, path, send, headers)
            return
        self._authorize(scope)
        if path == "/v1/feedback":
            if method != "POST":
                raise _method_not_allowed(method, path, "POST")
            await self._feedback(scope, receive, send, headers)
            return
        if method != "GET":
            raise _method_not_allowed(method, path, "GET")
        params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if path == "/v1/requests":
            body = await self._list(params)
        elif path.startswith("/v1/requests/") and len(path) > len("/v1/requests/"):
            body = await self._detail(unquote(path[len("/v1/requests/") :]))
        elif path.startswith("/v1/analytics/") and path[len("/v1/analytics/") :] in self._analytics:
            handler = self._analytics[path[len("/v1/analytics/") :]]
            reader = await self._ready()
            body = await self._guard(handler(reader, Filters.parse(params, self._now()), params))
        else:
            raise _NotFound(f"Unknown path: {method} {path}")
        await send_bytes(send, 200, orjson.dumps(body), headers, JSON)

    # -- plumbing --------------------------------------------------------------------------

    async def _ready(self) -> LogReader:
        """The reader, once the schema exists (a fresh store has no tables until its first write)."""
        if self.store is None:
            raise LogsUnavailable("Request logging is off: set logs.url in the config to use analytics.")
        if not self._migrated:
            await self._guard(self.store.migrate())
            self._migrated = True
        if self._reader is None:
            try:
                self._reader = reader_for(self.store)
            except StoreError as exc:
                raise LogsUnavailable(str(exc)) from exc
        return self._reader

    @staticmethod
    async def _guard(work: Awaitable[Any]) -> Any:
        try:
            return await work
        except StoreError as exc:
            logger.warning("the log store could not be read: %s", exc)
            raise LogsUnavailable("The request log cannot be read right now; try again shortly.") from exc

    async def aclose(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None

    # -- handlers --------------------------------------------------------------------------

    async def _feedback(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        raw = await read_body(scope, receive, FEEDBACK_MAX_BYTES)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest("The body is not valid JSON.") from None
        feedback = parse_feedback(body)
        await self._ready()
        assert self.store is not None
        feedback_id = await self._guard(submit_feedback(self.store, feedback, wait=self.feedback_wait))
        answer = {"id": feedback_id, "object": "feedback", "request_id": feedback.request_id,
                  "score": feedback.score, "label": feedback.label, "comment": feedback.comment}  # fmt: skip
        await send_bytes(send, 200, orjson.dumps(answer), headers, JSON)

    async def _list(self, params: Mapping[str, str]) -> dict[str, Any]:
        reader = await self._ready()
        filters = Filters.parse(params, self._now())
        limit = _int_param(params, "limit", 50)
        result: dict[str, Any] = await self._guard(
            explorer.list_requests(reader, filters, limit=limit, cursor=params.get("cursor") or None)
        )
        return result

    async def _detail(self, request_id: str) -> dict[str, Any]:
        reader = await self._ready()
        record: dict[str, Any] | None = await self._guard(explorer.get_request(reader, request_id))
        if record is None:
            raise _NotFound(f"No request with id '{request_id}'.", code="request_not_found")
        return record

    async def _summary(self, reader: LogReader, f: Filters, params: Mapping[str, str]) -> dict[str, Any]:
        return await queries.summary(reader, f)

    async def _timeseries(self, reader: LogReader, f: Filters, params: Mapping[str, str]) -> dict[str, Any]:
        return await queries.timeseries(reader, f, params.get("bucket"))

    async def _models(self, reader: LogReader, f: Filters, params: Mapping[str, str]) -> dict[str, Any]:
        return await queries.model_table(reader, f, by=params.get("by") or "group", prices=self.prices)

    async def _routing(self, reader: LogReader, f: Filters, params: Mapping[str, str]) -> dict[str, Any]:
        return await routing.routing_mix(reader, f)

    async def _savings(self, reader: LogReader, f: Filters, params: Mapping[str, str]) -> dict[str, Any]:
        return await routing.savings(reader, f, self.prices)

    async def _dimensions(self, reader: LogReader, f: Filters, params: Mapping[str, str]) -> dict[str, Any]:
        return await explorer.dimensions(reader, f)

    async def _ui(self, scope: Scope, path: str, send: Send, headers: Headers) -> None:
        if path == "/ui":  # relative asset and API URLs resolve from /ui/
            await send({"type": "http.response.start", "status": 308,
                        "headers": [(b"location", b"/ui/"), (b"content-length", b"0"), *headers]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return
        name = path[len("/ui/") :] or "index.html"
        asset = self._assets.get(name)
        if asset is None:
            raise _NotFound(f"Unknown path: GET {path}")
        extra: Headers = [(b"etag", asset.etag), *_UI_HEADERS]
        if header(scope, b"if-none-match") == asset.etag:
            await send({"type": "http.response.start", "status": 304, "headers": [*headers, *extra]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_bytes(send, 200, asset.body, [*headers, *extra], asset.content_type)
