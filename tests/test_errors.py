"""The error hierarchy, redaction, HTTP statuses and the OpenAI-shaped error bodies."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from switchpoint.errors import (
    AllAttemptsFailed,
    AuthenticationError,
    ConfigError,
    ContextWindowExceeded,
    InvalidRequest,
    NoDeploymentAvailable,
    PayloadTooLarge,
    PermissionDenied,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderTimeout,
    RequestError,
    RoutingError,
    SwitchpointError,
    UnknownModel,
    UnsupportedCapability,
    redact,
    release_tracebacks,
    status_of,
)
from switchpoint.server.error_responses import error_body, error_event, error_response

OPENAI_KEY = "sk-proj-AbCdEf0123456789_-xyz"
ANTHROPIC_KEY = "sk-ant-api03-AbCdEf0123456789"
GOOGLE_KEY = "AIzaSyA1234567890abcdefghijklmnopq"


# --- redact ------------------------------------------------------------------------------------


def test_redact_given_secrets() -> None:
    assert redact("key=hunter2 and again hunter2", ("hunter2",)) == "key=[redacted] and again [redacted]"
    assert redact("a b c", ("", "zzz")) == "a b c"


@pytest.mark.parametrize("key", [OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_KEY, "sk-12345678"])
def test_redact_key_shaped_strings(key: str) -> None:
    text = f"Incorrect API key provided: {key}. See docs."
    assert redact(text) == "Incorrect API key provided: [redacted]. See docs."


@pytest.mark.parametrize("header", ["Bearer abc.def-ghi_123", "bearer ABCDEFGH12", "BEARER   tok_1234567890"])
def test_redact_bearer_tokens(header: str) -> None:
    assert redact(f"Authorization: {header}") == "Authorization: [redacted]"


def test_redact_several_keys_in_one_text() -> None:
    text = f"a={OPENAI_KEY} b={ANTHROPIC_KEY} c={GOOGLE_KEY}"
    assert redact(text) == "a=[redacted] b=[redacted] c=[redacted]"


@pytest.mark.parametrize(
    "text",
    [
        "The model `gpt-4o` does not exist or you do not have access to it.",
        "Rate limit reached for requests. Please try again in 20s.",
        "sk-short is fine",  # fewer than 8 characters after sk-
        "AIza-too-short",
        "Bearer abc",
        "status 500: upstream overloaded (request id req_123)",
        "",
    ],
)
def test_redact_leaves_normal_text(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", ["risk-assessment failed", "the task-oriented prompt", "disk-usage-warning"])
def test_redact_leaves_words_containing_sk_dash(text: str) -> None:
    assert redact(text) == text


# --- statuses ----------------------------------------------------------------------------------


def _http(status: int) -> ProviderHTTPError:
    return ProviderHTTPError(f"upstream said {status}", status_code=status, provider="openai", deployment="d1")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidRequest("bad"), 400),
        (UnsupportedCapability("no tools"), 400),
        (AuthenticationError("no key"), 401),
        (PermissionDenied("no"), 403),
        (UnknownModel("gpt-5", []), 404),
        (PayloadTooLarge("too big"), 413),
        (ProviderTimeout("slow", phase="first_token"), 504),
        (ProviderRateLimited("slow down", retry_after=3), 429),
        (ProviderConnectionError("refused"), 502),
        (ProviderProtocolError("garbage"), 502),
        (ContextWindowExceeded("too long"), 400),
        (NoDeploymentAvailable("all cooling down"), 503),
        (RoutingError("no route"), 500),
        (ConfigError("bad config"), 500),
        (SwitchpointError("other"), 500),
        (Exception("boom"), 500),
        (ValueError("boom"), 500),
        (KeyboardInterrupt(), 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_status_of(error: BaseException, status: int) -> None:
    assert status_of(error) == status


@pytest.mark.parametrize(
    ("upstream_status", "status", "code", "retryable"),
    [
        (400, 400, "upstream_rejected_request", False),
        (404, 404, "upstream_rejected_request", False),
        (422, 400, "upstream_rejected_request", False),
        (401, 502, "upstream_auth_error", False),  # a bad upstream key is never the client's fault
        (403, 502, "upstream_auth_error", False),
        (408, 502, "upstream_error", True),
        (409, 502, "upstream_error", True),
        (500, 502, "upstream_error", True),
        (502, 502, "upstream_error", True),
        (503, 503, "upstream_unavailable", True),
        (504, 502, "upstream_error", True),
    ],
)
def test_provider_http_error_status(upstream_status: int, status: int, code: str, retryable: bool) -> None:
    error = _http(upstream_status)
    assert status_of(error) == status
    assert error.code == code
    assert error.retryable is retryable
    assert error.status_code == upstream_status
    assert (error.provider, error.deployment) == ("openai", "d1")


def test_provider_http_error_rejected_request_is_invalid_request_type() -> None:
    assert _http(400).error_type == "invalid_request_error"
    assert _http(401).error_type == "upstream_error"
    assert _http(500).error_type == "upstream_error"


def test_provider_http_error_instances_do_not_leak_into_class() -> None:
    _http(400)
    _http(503)
    assert ProviderHTTPError.status == 502
    assert ProviderHTTPError.code == "upstream_error"
    assert ProviderHTTPError.retryable is True


def test_provider_http_error_body_is_capped() -> None:
    assert len(ProviderHTTPError("x", status_code=500, body="y" * 5000).body) == 2000


def test_retryable_flags() -> None:
    assert ProviderTimeout("t", phase="idle").retryable is True
    assert ProviderRateLimited("r").retryable is True
    assert ProviderConnectionError("c").retryable is True
    assert ContextWindowExceeded("c").retryable is False


def test_all_attempts_failed_uses_last_error() -> None:
    errors: list[SwitchpointError] = [ProviderTimeout("slow", phase="connect"), _http(503)]
    failed = AllAttemptsFailed(errors)
    assert status_of(failed) == 503
    assert failed.last is errors[-1]
    assert failed.errors == errors
    assert failed.message == "upstream said 503 (after 2 attempts)"
    assert status_of(AllAttemptsFailed([_http(503), ProviderRateLimited("r")])) == 429
    assert status_of(AllAttemptsFailed([_http(500), _http(400)])) == 400
    assert status_of(AllAttemptsFailed([NoDeploymentAvailable("none")])) == 503


def test_all_attempts_failed_single_error_message() -> None:
    assert AllAttemptsFailed([_http(500)]).message == "upstream said 500"


def test_hierarchy() -> None:
    assert issubclass(InvalidRequest, RequestError)
    assert issubclass(UnknownModel, RequestError)
    assert issubclass(NoDeploymentAvailable, RoutingError)
    for cls in (ProviderTimeout, ProviderRateLimited, ProviderHTTPError, ContextWindowExceeded):
        assert issubclass(cls, ProviderError)
    for cls in (ConfigError, RequestError, RoutingError, ProviderError, AllAttemptsFailed):
        assert issubclass(cls, SwitchpointError)


def test_unknown_model_message_lists_suggestions() -> None:
    error = UnknownModel("gpt-4", ["gpt-4o", "gpt-4o-mini"])
    assert error.message == "The model 'gpt-4' does not exist. Did you mean: gpt-4o, gpt-4o-mini?"
    assert str(error) == error.message
    assert (error.model, error.suggestions, error.param, error.code) == (
        "gpt-4",
        ["gpt-4o", "gpt-4o-mini"],
        "model",
        "model_not_found",
    )
    assert UnknownModel("x", []).message == "The model 'x' does not exist."


def test_request_error_param_and_code_override() -> None:
    error = InvalidRequest("bad temperature", param="temperature", code="custom")
    assert (error.param, error.code) == ("temperature", "custom")
    assert InvalidRequest("x").code == "invalid_request"


def test_config_error_problems() -> None:
    assert ConfigError("one").problems == ["one"]
    assert ConfigError("two problems", ["a", "b"]).problems == ["a", "b"]


# --- error_response ----------------------------------------------------------------------------


def _response(exc: BaseException) -> tuple[int, dict[str, Any]]:
    status, body = error_response(exc)
    data = orjson.loads(body)
    assert list(data) == ["error"]
    assert list(data["error"]) == ["message", "type", "param", "code"]
    return status, data["error"]


@pytest.mark.parametrize(
    ("exc", "status", "expected"),
    [
        (
            InvalidRequest("'temperature' must be a number.", param="temperature"),
            400,
            {
                "message": "'temperature' must be a number.",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": "invalid_request",
            },
        ),
        (
            AuthenticationError("Missing API key."),
            401,
            {"message": "Missing API key.", "type": "authentication_error", "param": None, "code": "invalid_api_key"},
        ),
        (
            PermissionDenied("Nope."),
            403,
            {"message": "Nope.", "type": "permission_error", "param": None, "code": "permission_denied"},
        ),
        (
            UnknownModel("gpt-4", ["gpt-4o"]),
            404,
            {
                "message": "The model 'gpt-4' does not exist. Did you mean: gpt-4o?",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            },
        ),
        (
            PayloadTooLarge("Body over 1 byte."),
            413,
            {
                "message": "Body over 1 byte.",
                "type": "invalid_request_error",
                "param": None,
                "code": "request_too_large",
            },
        ),
        (
            ProviderTimeout("No first token within 5s.", phase="first_token"),
            504,
            {
                "message": "No first token within 5s.",
                "type": "timeout_error",
                "param": None,
                "code": "upstream_timeout",
            },
        ),
        (
            ProviderRateLimited("Upstream rate limited.", retry_after=2.0),
            429,
            {
                "message": "Upstream rate limited.",
                "type": "rate_limit_error",
                "param": None,
                "code": "rate_limit_exceeded",
            },
        ),
        (
            ProviderHTTPError("Upstream returned 401.", status_code=401),
            502,
            {
                "message": "Upstream returned 401.",
                "type": "upstream_error",
                "param": None,
                "code": "upstream_auth_error",
            },
        ),
        (
            ProviderHTTPError("Upstream rejected: bad field.", status_code=400),
            400,
            {
                "message": "Upstream rejected: bad field.",
                "type": "invalid_request_error",
                "param": None,
                "code": "upstream_rejected_request",
            },
        ),
        (
            ContextWindowExceeded("Prompt too long."),
            400,
            {
                "message": "Prompt too long.",
                "type": "invalid_request_error",
                "param": None,
                "code": "context_length_exceeded",
            },
        ),
        (
            NoDeploymentAvailable("Every deployment of 'chat' is cooling down."),
            503,
            {
                "message": "Every deployment of 'chat' is cooling down.",
                "type": "service_unavailable",
                "param": None,
                "code": "no_deployment_available",
            },
        ),
        (
            ConfigError("odd"),
            500,
            {"message": "odd", "type": "server_error", "param": None, "code": "internal_error"},
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_error_response_shape(exc: BaseException, status: int, expected: dict[str, Any]) -> None:
    assert _response(exc) == (status, expected)


def test_error_response_redacts_provider_messages() -> None:
    exc = ProviderHTTPError(f"Incorrect API key provided: {OPENAI_KEY}", status_code=401)
    status, error = _response(exc)
    assert status == 502
    assert error["message"] == "Incorrect API key provided: [redacted]"
    assert OPENAI_KEY not in error_response(exc)[1].decode()


def test_error_response_all_attempts_failed_provider() -> None:
    exc = AllAttemptsFailed([ProviderConnectionError("refused"), ProviderTimeout(f"slow {OPENAI_KEY}", phase="idle")])
    status, error = _response(exc)
    assert status == 504
    assert error == {
        "message": "slow [redacted] (after 2 attempts)",
        "type": "timeout_error",
        "param": None,
        "code": "upstream_timeout",
    }


def test_error_response_all_attempts_failed_request_error() -> None:
    exc = AllAttemptsFailed([_http(500), ContextWindowExceeded("too long")])
    assert _response(exc) == (
        400,
        {
            "message": "too long (after 2 attempts)",
            "type": "invalid_request_error",
            "param": None,
            "code": "context_length_exceeded",
        },
    )
    exc = AllAttemptsFailed([_http(500), InvalidRequest("bad", param="x")])
    assert _response(exc) == (
        400,
        {"message": "bad", "type": "invalid_request_error", "param": "x", "code": "invalid_request"},
    )


def test_unexpected_exception_is_generic(caplog: pytest.LogCaptureFixture) -> None:
    secret_text = f"KeyError in handler with {OPENAI_KEY} and /etc/passwd"
    with caplog.at_level(logging.ERROR, logger="switchpoint.server"):
        status, body = error_response(RuntimeError(secret_text))
    assert status == 500
    assert orjson.loads(body) == {
        "error": {
            "message": "The gateway hit an internal error; it has been logged.",
            "type": "server_error",
            "param": None,
            "code": "internal_error",
        }
    }
    assert b"KeyError" not in body and b"RuntimeError" not in body and OPENAI_KEY.encode() not in body
    (record,) = [r for r in caplog.records if r.name == "switchpoint.server"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_error_body_and_event() -> None:
    assert orjson.loads(error_body("m", "t", param="p", code="c")) == {
        "error": {"message": "m", "type": "t", "param": "p", "code": "c"}
    }
    event = error_event(InvalidRequest("bad", param="model"))
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert orjson.loads(event[6:-2])["error"]["param"] == "model"


def test_release_tracebacks_walks_what_an_error_carries() -> None:
    """The error, its cause and context, and an AllAttemptsFailed's list all lose their tracebacks (and so the frames
    those hold); a shared error is visited once."""

    def raised(error: BaseException) -> BaseException:
        try:
            raise error
        except BaseException as caught:
            return caught

    root = raised(ValueError("socket"))
    first = ProviderHTTPError("upstream said 500", status_code=500)
    first.__cause__ = root
    first = raised(first)
    second = raised(ProviderTimeout("no first token", phase="first_token"))
    second.__context__ = first
    both = raised(AllAttemptsFailed([first, second]))
    assert all(e.__traceback__ is not None for e in (root, first, second, both))
    release_tracebacks(both)
    assert all(e.__traceback__ is None for e in (root, first, second, both))
