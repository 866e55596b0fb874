"""The ASGI application: routing by path, auth, request ids, lifespan.

A plain ASGI callable rather than a framework router: on this machine Starlette routing cost
23% of non-streamed and 50% of streamed throughput on the hot endpoint
(``../shared/docs/performance.md``). Cross-cutting concerns are small functions called in order.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence

import orjson

from switchpoint._version import __version__
from switchpoint.analytics.queries import Prices
from switchpoint.analytics.routing import prices_from_groups
from switchpoint.engine import Gateway
from switchpoint.errors import AuthenticationError, ConfigError, InvalidRequest, RequestError
from switchpoint.metrics import MetricsSink
from switchpoint.server.admin_api import ADMIN_PREFIXES, AdminEndpoint
from switchpoint.server.anthropic_api import MESSAGES_PATH, MessagesEndpoint
from switchpoint.server.asgi import Headers, Receive, Scope, Send, header, send_bytes
from switchpoint.server.embeddings_api import EMBEDDINGS_PATHS, EmbeddingsEndpoint
from switchpoint.server.error_responses import error_response, retry_after
from switchpoint.server.openai_api import ChatEndpoint, list_models
from switchpoint.server.route_api import RouteEndpoint
from switchpoint.storage.ids import new_request_id
from switchpoint.storage.store import LogStore

__all__ = ["SwitchpointApp"]

logger = logging.getLogger("switchpoint.server")

JSON = b"application/json"
PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"
Hook = Callable[[], Awaitable[None]]
Handler = Callable[[Scope, Receive, Send, Headers], Awaitable[None]]

_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_LIVE_PATHS = frozenset({"/health/liveness", "/healthz", "/health"})
_READY_PATHS = frozenset({"/health/readiness", "/readyz"})


class SwitchpointApp:
    """The gateway's HTTP face. Owns nothing but the references it is given."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        master_key: str | None = None,
        max_body_bytes: int = 32 * 1024 * 1024,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
        metrics: MetricsSink | None = None,
        store: LogStore | None = None,
        prices: Prices | None = None,
    ) -> None:
        self.gateway = gateway
        self.metrics = metrics
        self._master_key = f"Bearer {master_key}".encode() if master_key else None
        self._raw_key = master_key.encode() if master_key else None
        self._chat = ChatEndpoint(gateway, max_body_bytes)
        self._route = RouteEndpoint(gateway, max_body_bytes)
        self._messages = MessagesEndpoint(gateway, max_body_bytes, self._authorize)
        self._embeddings = EmbeddingsEndpoint(gateway, max_body_bytes)
        # Analytics, feedback and the dashboard; prices default to the configured deployment prices.
        self.admin = AdminEndpoint(
            store, self._authorize, prices=prices if prices is not None else prices_from_groups(gateway.groups)
        )
        self._on_startup = list(on_startup)
        self._on_shutdown = [*on_shutdown, self.admin.aclose]
        self.ready = False
        self._routes = self._route_table()

    def add_startup(self, hook: Hook) -> None:
        """Run ``hook`` at start-up, after the hooks given at construction."""
        self._on_startup.append(hook)

    def _route_table(self) -> dict[str, tuple[str | None, bool, Handler]]:
        """path -> (the one method allowed or None for any, whether the master key is needed, handler)."""
        routes: dict[str, tuple[str | None, bool, Handler]] = {}
        for path in _CHAT_PATHS:
            routes[path] = ("POST", True, self._chat)
        for path in EMBEDDINGS_PATHS:
            routes[path] = ("POST", True, self._embeddings)
        routes[MESSAGES_PATH] = (None, False, self._messages)  # answers every error itself, in Anthropic's shape
        routes["/v1/route"] = ("POST", True, self._route)
        for path in ("/v1/models", "/models"):
            routes[path] = (None, True, self._models)
        for path in _LIVE_PATHS:
            routes[path] = (None, False, self._liveness)
        for path in _READY_PATHS:
            routes[path] = (None, False, self._readiness)
        if self.metrics is not None:
            routes["/metrics"] = (None, False, self._metrics)
        routes["/health/deployments"] = ("GET", True, self._deployments)
        return routes

    async def _deployments(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        """Per-deployment health (cooldowns, failures, latency), retry budgets and resilience counters."""
        await send_bytes(send, 200, orjson.dumps(self.gateway.health()), headers, JSON)

    async def _liveness(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        await send_bytes(send, 200, b'{"status":"ok"}', headers, JSON)

    async def _readiness(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        status = 200 if self.ready else 503
        body = orjson.dumps({"status": "ready" if self.ready else "starting", "version": __version__})
        await send_bytes(send, status, body, headers, JSON)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        assert self.metrics is not None
        await send_bytes(send, 200, self.metrics.render().encode(), headers, PROMETHEUS)

    async def _models(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        await send_bytes(send, 200, list_models(self.gateway), headers, JSON)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = header(scope, b"x-request-id") or new_request_id().encode()
        headers: Headers = [(b"x-request-id", request_id[:128])]
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            route = self._routes.get(path)
            if route is not None:
                allowed, authorize, handler = route
                if allowed is not None and method != allowed:
                    raise _method_not_allowed(method, path)
                if authorize:
                    self._authorize(scope)
                await handler(scope, receive, send, headers)
            elif path.startswith("/v1/models/"):
                self._authorize(scope)
                await self._model(path[len("/v1/models/") :], send, headers)
            elif path.startswith(ADMIN_PREFIXES):  # authorizes itself: /ui loads without a key
                await self.admin(scope, receive, send, headers)
            else:
                raise _NotFound(f"Unknown path: {method} {path}")
        except RequestError as exc:
            await self._send_error(send, exc, headers)
        except Exception as exc:  # every other error still answers in the OpenAI shape
            await self._send_error(send, exc, headers)

    async def _send_error(self, send: Send, exc: BaseException, headers: Headers) -> None:
        status, body = error_response(exc)
        extra: Headers = [(b"connection", b"close")] if status == 413 else []
        wait = retry_after(exc) if status in (429, 503) else None
        if wait is not None:
            extra.append((b"retry-after", wait))
            if status == 429:  # the gateway's own view, in OpenAI's names: nothing left until the wait is over
                extra += [(b"x-ratelimit-remaining-requests", b"0"), (b"x-ratelimit-reset-requests", wait + b"s")]
        try:
            await send_bytes(send, status, body, [*headers, *extra], JSON)
        except Exception:  # the response had already started, or the client is gone
            logger.debug("could not send an error response", exc_info=True)

    def _authorize(self, scope: Scope) -> None:
        if self._master_key is None:
            return
        given = header(scope, b"authorization")
        if given is not None:
            if hmac.compare_digest(given, self._master_key):
                return
        else:
            api_key = header(scope, b"x-api-key")
            if api_key is not None and self._raw_key is not None and hmac.compare_digest(api_key, self._raw_key):
                return
            if api_key is None:
                raise AuthenticationError(
                    "Missing API key: send 'Authorization: Bearer <key>'.", code="missing_api_key"
                )
        raise AuthenticationError("Invalid API key.")

    async def _model(self, name: str, send: Send, headers: Headers) -> None:
        router = self.gateway.routing.routers.get(name)
        if router is not None:
            body = orjson.dumps({"id": name, "object": "model", "created": 0, "owned_by": "switchpoint",
                                 "router": name, "default": router.default, "groups": list(router.targets)})
        else:
            group, _ = self.gateway.resolve(name)
            body = orjson.dumps(
                {"id": name, "object": "model", "created": 0, "owned_by": "switchpoint", "group": group.name}
            )
        await send_bytes(send, 200, body, headers, JSON)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self._on_startup:
                        await hook()
                except ConfigError as exc:  # a config problem found at load (an artifact, a profile): no traceback
                    logger.error("startup failed: %s", exc.message)
                    await send({"type": "lifespan.startup.failed", "message": exc.message})
                    return
                except Exception as exc:
                    logger.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.ready = False
                for hook in self._on_shutdown:
                    try:
                        await hook()
                    except Exception:
                        logger.exception("a shutdown hook failed")
                await self.gateway.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _NotFound(RequestError):
    status = 404
    code = "not_found"


def _method_not_allowed(method: str, path: str) -> RequestError:
    error = InvalidRequest(f"{method} is not allowed on {path}; use POST.", code="method_not_allowed")
    error.status = 405
    return error
