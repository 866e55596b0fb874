"""What is recorded about each request: exactly one :class:`RequestRecord`, with its attempts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AttemptRecord", "RequestRecord"]


@dataclass(slots=True)
class AttemptRecord:
    deployment: str
    provider: str
    started: float
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    status: str = "ok"
    error_class: str | None = None
    reason: str = "first"
    # Resilience detail (engine): the group the attempt ran in, the failure kind (retry.ErrorKind),
    # the upstream status, its Retry-After, the wait before the attempt, whether it was a half-open
    # probe, what it billed (estimated when a stream broke before reporting usage) and, for a
    # cascade step, the answer's confidence score.
    group: str | None = None
    error_kind: str | None = None
    status_code: int | None = None
    retry_after: float | None = None
    backoff_ms: float = 0.0
    probe: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0
    usage_estimated: bool = False
    score: float | None = None


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    created: float
    model: str
    stream: bool
    group: str | None = None
    deployment: str | None = None
    upstream_model: str | None = None
    status: int = 200
    error_class: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0
    finish_reason: str | None = None
    client_disconnected: bool = False
    incomplete: bool = False
    tags: tuple[str, ...] = ()
    user: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    # Who asked: the virtual key's id or alias (never the secret itself) and its team.
    key_id: str | None = None
    team: str | None = None
    # The routing decision, JSON-serialisable: policy, candidates, scores, reason, features.
    routing: dict[str, Any] | None = None
    # Request messages and response text. Attach only when ``storage.store_content`` is on:
    # the writer strips it otherwise, but a record holds it in memory until then.
    content: dict[str, Any] | None = None
