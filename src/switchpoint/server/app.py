"""The ASGI application: routing by path, auth, request ids, lifespan.

A plain ASGI callable rather than a framework router: on this machine Starlette routing cost
23% of non-streamed and 50% of streamed throughput on the hot endpoint
(``../shared/docs/performance.md``). Cross-cutting concerns are small functions called in order.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable, Sequence

import orjson

from switchpoint._version import __version__
from switchpoint.engine import Gateway
from switchpoint.errors import AuthenticationError, InvalidRequest, RequestError
from switchpoint.metrics import MetricsSink
from switchpoint.server.asgi import Headers, Receive, Scope, Send, header, send_bytes
from switchpoint.server.error_responses import error_response
from switchpoint.server.openai_api import ChatEndpoint, list_models

__all__ = ["SwitchpointApp"]

logger = logging.getLogger("switchpoint.server")

JSON = b"application/json"
PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"
Hook = Callable[[], Awaitable[None]]

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
    ) -> None:
        self.gateway = gateway
        self.metrics = metrics
        self._master_key = f"Bearer {master_key}".encode() if master_key else None
        self._raw_key = master_key.encode() if master_key else None
        self._chat = ChatEndpoint(gateway, max_body_bytes)
        self._on_startup = list(on_startup)
        self._on_shutdown = list(on_shutdown)
        self.ready = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = header(scope, b"x-request-id") or os.urandom(12).hex().encode()
        headers: Headers = [(b"x-request-id", request_id[:128])]
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            if path in _CHAT_PATHS:
                if method != "POST":
                    raise _method_not_allowed(method, path)
                self._authorize(scope)
                await self._chat(scope, receive, send, headers)
            elif path in _LIVE_PATHS:
                await send_bytes(send, 200, b'{"status":"ok"}', headers, JSON)
            elif path in _READY_PATHS:
                status = 200 if self.ready else 503
                body = orjson.dumps({"status": "ready" if self.ready else "starting", "version": __version__})
                await send_bytes(send, status, body, headers, JSON)
            elif path == "/metrics" and self.metrics is not None:
                await send_bytes(send, 200, self.metrics.render().encode(), headers, PROMETHEUS)
            elif path in ("/v1/models", "/models"):
                self._authorize(scope)
                await send_bytes(send, 200, list_models(self.gateway), headers, JSON)
            elif path.startswith("/v1/models/"):
                self._authorize(scope)
                await self._model(path[len("/v1/models/") :], send, headers)
            else:
                raise _NotFound(f"Unknown path: {method} {path}")
        except RequestError as exc:
            await self._send_error(send, exc, headers)
        except Exception as exc:  # every other error still answers in the OpenAI shape
            await self._send_error(send, exc, headers)

    async def _send_error(self, send: Send, exc: BaseException, headers: Headers) -> None:
        status, body = error_response(exc)
        extra: Headers = [(b"connection", b"close")] if status == 413 else []
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
