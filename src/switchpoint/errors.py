"""Every error switchpoint raises, in one hierarchy.

::

    SwitchpointError
    ├── ConfigError                    bad config; raised at load, never per request
    ├── RequestError                   the caller's fault (4xx)
    │   ├── InvalidRequest             400: malformed JSON, wrong field types
    │   ├── AuthenticationError        401: missing or wrong key
    │   ├── PermissionDenied           403
    │   ├── UnknownModel               404: lists close matches
    │   ├── PayloadTooLarge            413
    │   └── UnsupportedCapability      400: e.g. tools sent to a group without tool support
    ├── RoutingError
    │   └── NoDeploymentAvailable      503: every candidate filtered out
    │       └── NoHealthyDeployment    503: every candidate cooling down or at its limits; retry_after
    ├── ProviderError                  an upstream failed; carries provider/deployment/retryable
    │   ├── ProviderTimeout            504; phase: connect | first_token | idle | total
    │   ├── ProviderConnectionError    502: refused, reset, DNS, TLS
    │   ├── ProviderRateLimited        429 upstream; retry_after
    │   ├── ProviderHTTPError          upstream status >= 400 (not 429)
    │   ├── ProviderProtocolError      502: the upstream broke its wire format
    │   ├── ContextWindowExceeded      400: prompt larger than the model's context
    │   └── ContentFiltered            400: the upstream's content filter cut the answer
    └── AllAttemptsFailed              every attempt failed; keeps each attempt's error

Foreign exceptions (aiohttp, asyncio, JSON decoding) are converted into these at one
boundary per adapter (see ``providers/openai_compat.py``). ``server/error_responses.py``
is the only place that turns them into HTTP statuses and bodies.

Messages never contain provider API keys: adapters build messages from status codes and
upstream error bodies, and :func:`redact` scrubs anything that looks like a key.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "AllAttemptsFailed",
    "AuthenticationError",
    "ConfigError",
    "ContentFiltered",
    "ContextWindowExceeded",
    "InvalidRequest",
    "NoDeploymentAvailable",
    "NoHealthyDeployment",
    "PayloadTooLarge",
    "PermissionDenied",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderProtocolError",
    "ProviderRateLimited",
    "ProviderTimeout",
    "RequestError",
    "RoutingError",
    "SwitchpointError",
    "UnknownModel",
    "UnsupportedCapability",
    "redact",
    "release_tracebacks",
    "status_of",
]

_KEY_PATTERN = re.compile(
    r"((?<![A-Za-z0-9_\-])sk-[A-Za-z0-9_\-]{8,}|(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,})"
)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove API keys from ``text``: the given secrets, and anything shaped like a key."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


class SwitchpointError(Exception):
    """Base of every switchpoint error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(SwitchpointError):
    """The configuration is invalid. ``problems`` lists each one with its location."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class RequestError(SwitchpointError):
    """The request is at fault (a 4xx)."""

    status = 400
    error_type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(RequestError):
    code = "invalid_request"


class AuthenticationError(RequestError):
    status = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(RequestError):
    status = 403
    error_type = "permission_error"
    code = "permission_denied"


class UnknownModel(RequestError):
    status = 404
    code = "model_not_found"

    def __init__(self, model: str, suggestions: list[str]) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"The model '{model}' does not exist.{hint}", param="model")
        self.model = model
        self.suggestions = suggestions


class PayloadTooLarge(RequestError):
    status = 413
    code = "request_too_large"


class UnsupportedCapability(RequestError):
    code = "unsupported_capability"


class RoutingError(SwitchpointError):
    """No route could be found for a valid request."""


class NoDeploymentAvailable(RoutingError):
    """Every deployment of the group is filtered out or cooling down."""


class ProviderError(SwitchpointError):
    """An upstream call failed.

    ``retryable`` says whether another attempt (on this or another deployment) may succeed.
    """

    status = 502
    error_type = "upstream_error"
    code = "upstream_error"
    retryable = True

    def __init__(self, message: str, *, provider: str = "", deployment: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.deployment = deployment


class ProviderTimeout(ProviderError):
    status = 504
    error_type = "timeout_error"
    code = "upstream_timeout"

    def __init__(self, message: str, *, phase: str, provider: str = "", deployment: str = "") -> None:
        super().__init__(message, provider=provider, deployment=deployment)
        self.phase = phase


class ProviderConnectionError(ProviderError):
    code = "upstream_connection_error"


class ProviderProtocolError(ProviderError):
    code = "upstream_protocol_error"


class ProviderRateLimited(ProviderError):
    status = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(
        self, message: str, *, retry_after: float | None = None, provider: str = "", deployment: str = ""
    ) -> None:
        super().__init__(message, provider=provider, deployment=deployment)
        self.retry_after = retry_after


class ProviderHTTPError(ProviderError):
    """The upstream answered with an error status. 4xx are not retryable (except 408/409)."""

    def __init__(
        self, message: str, *, status_code: int, body: str = "", provider: str = "", deployment: str = ""
    ) -> None:
        super().__init__(message, provider=provider, deployment=deployment)
        self.status_code = status_code
        self.body = body[:2000]
        self.retryable = status_code >= 500 or status_code in (408, 409)
        if 400 <= status_code < 500 and status_code not in (401, 403, 408, 409):
            # The upstream rejected the request itself: relay it as the client's error.
            self.status = 400 if status_code != 404 else 404
            self.error_type = "invalid_request_error"
            self.code = "upstream_rejected_request"
        elif status_code in (401, 403):
            # A bad upstream key is the operator's problem, never shown as the client's.
            self.status = 502
            self.code = "upstream_auth_error"
        elif status_code == 503:
            self.status = 503
            self.code = "upstream_unavailable"


class ContextWindowExceeded(ProviderError):
    status = 400
    error_type = "invalid_request_error"
    code = "context_length_exceeded"
    retryable = False


class NoHealthyDeployment(NoDeploymentAvailable):
    """Every candidate of a group is cooling down or at its rpm/tpm limit: a fast 503.

    ``retry_after`` is the time (seconds) until the first one may take traffic again.
    """

    code = "no_healthy_deployment"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ContentFiltered(ProviderError):
    """A 200 answer that the upstream's content filter cut (``finish_reason: content_filter``).

    Raised only to move the request to a ``content_policy`` fallback; ``response`` keeps the
    refused answer, which is returned when no fallback takes the request.
    """

    status = 400
    error_type = "invalid_request_error"
    code = "content_policy_violation"
    retryable = False

    def __init__(self, message: str, *, response: Any, provider: str = "", deployment: str = "") -> None:
        super().__init__(message, provider=provider, deployment=deployment)
        self.response = response


def release_tracebacks(error: BaseException) -> None:
    """Drop the tracebacks of a handled error and of the errors it carries (its cause and context, and an
    :class:`AllAttemptsFailed`'s list).

    A handled switchpoint error is answered or retried, never shown with its traceback; but the traceback holds
    every frame the error passed through, and those frames hold the error again (a ``last`` or ``error`` local,
    the request's list of errors): a reference cycle per failure that only the garbage collector frees. Called
    where an error is retried past or turned into a response."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__cause__, current.__context__]
        if isinstance(current, AllAttemptsFailed):
            pending += current.errors


class AllAttemptsFailed(SwitchpointError):
    """Every attempt failed. The last error decides the status; all are kept."""

    def __init__(self, errors: list[SwitchpointError]) -> None:
        last = errors[-1]
        super().__init__(last.message if len(errors) == 1 else f"{last.message} (after {len(errors)} attempts)")
        self.errors = errors

    @property
    def last(self) -> SwitchpointError:
        return self.errors[-1]


def status_of(error: BaseException) -> int:
    """The HTTP status an error answers with."""
    if isinstance(error, AllAttemptsFailed):
        error = error.last
    if isinstance(error, RequestError | ProviderError):
        return error.status
    if isinstance(error, NoDeploymentAvailable):
        return 503
    return 500
