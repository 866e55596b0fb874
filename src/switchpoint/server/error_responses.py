"""The only place that turns errors into HTTP responses: OpenAI's error shape and status."""

from __future__ import annotations

import logging

import orjson

from switchpoint.errors import (
    AllAttemptsFailed,
    NoDeploymentAvailable,
    ProviderError,
    RequestError,
    SwitchpointError,
    redact,
    release_tracebacks,
    status_of,
)

__all__ = ["error_body", "error_event", "error_response", "retry_after"]

logger = logging.getLogger("switchpoint.server")


def error_body(message: str, error_type: str, *, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": param, "code": code}})


def _fields(exc: BaseException) -> tuple[str, str, str | None, str | None]:
    """message, type, param, code"""
    detail = exc.last if isinstance(exc, AllAttemptsFailed) else exc
    if isinstance(detail, RequestError):
        return detail.message, detail.error_type, detail.param, detail.code
    if isinstance(detail, ProviderError):
        message = exc.message if isinstance(exc, SwitchpointError) else detail.message
        return redact(message), detail.error_type, None, detail.code
    if isinstance(detail, NoDeploymentAvailable):
        code = getattr(detail, "code", None) or "no_deployment_available"
        return detail.message, "service_unavailable", None, str(code)
    if isinstance(detail, SwitchpointError):
        return detail.message, "server_error", None, "internal_error"
    logger.exception("unexpected error while serving a request", exc_info=exc)
    return "The gateway hit an internal error; it has been logged.", "server_error", None, "internal_error"


def retry_after(exc: BaseException) -> bytes | None:
    """A ``Retry-After`` value (whole seconds) when the error knows when trying again may work."""
    detail = exc.last if isinstance(exc, AllAttemptsFailed) else exc
    seconds = getattr(detail, "retry_after", None)
    if isinstance(seconds, int | float) and seconds >= 0:
        return str(max(1, round(seconds))).encode()
    return None


def error_response(exc: BaseException) -> tuple[int, bytes]:
    message, error_type, param, code = _fields(exc)
    status = status_of(exc)
    if isinstance(exc, SwitchpointError):  # answered: its traceback would only keep its frames alive
        release_tracebacks(exc)
    return status, error_body(message, error_type, param=param, code=code)


def error_event(exc: BaseException) -> bytes:
    """An SSE event carrying the error, as OpenAI sends one mid-stream."""
    message, error_type, param, code = _fields(exc)
    if isinstance(exc, SwitchpointError):
        release_tracebacks(exc)
    return b"data: " + error_body(message, error_type, param=param, code=code) + b"\n\n"
