"""What is recorded about each request: exactly one :class:`RequestRecord`, with its attempts."""

from __future__ import annotations

from dataclasses import dataclass, field

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
