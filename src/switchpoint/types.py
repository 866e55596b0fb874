"""Core value types shared by the engine, the providers and the server.

Requests and responses keep the OpenAI wire dictionaries as they are (``body``) instead of
copying them into objects: the gateway passes most fields through untouched, and not
building objects is what keeps the hot path short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Capabilities",
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "Deployment",
    "ModelGroup",
    "Price",
    "Timeouts",
    "UpstreamLimits",
    "Usage",
]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines for one upstream call, in seconds.

    ``connect``: TCP (and TLS) connection. ``first_token``: from sending the request to the first
    streamed event. ``idle``: the longest gap between two streamed events. ``total``: the whole
    request, every attempt included.
    """

    connect: float = 10.0
    first_token: float = 120.0
    idle: float = 120.0
    total: float = 600.0


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens.

    ``cached_input``: cache reads (default: the input rate). ``cache_write``: prompt-cache writes with
    the 5-minute TTL, and ``cache_write_1h`` those with the 1-hour TTL; by default 1.25x and 2x the
    input rate, as Anthropic bills them. Only upstreams that report cache writes are charged for them.
    """

    input: float = 0.0
    output: float = 0.0
    cached_input: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None

    def cost(self, usage: Usage) -> float:
        cached = usage.cached_tokens
        cached_rate = self.input if self.cached_input is None else self.cached_input
        total = (usage.prompt_tokens - cached) * self.input + cached * cached_rate
        total += usage.completion_tokens * self.output
        written = usage.cache_creation_tokens
        if written:
            hour = min(usage.cache_creation_1h_tokens, written)
            rate = self.input * 1.25 if self.cache_write is None else self.cache_write
            hour_rate = self.input * 2 if self.cache_write_1h is None else self.cache_write_1h
            # Writes are part of the prompt tokens, counted above at the input rate: charge the difference.
            total += (written - hour) * (rate - self.input) + hour * (hour_rate - self.input)
        return total / 1_000_000


@dataclass(frozen=True, slots=True)
class Capabilities:
    tools: bool = True
    vision: bool = True
    json_mode: bool = True


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream model at one endpoint: what a model group balances across."""

    id: str
    provider: str
    model: str
    api_base: str
    api_key: str | None = field(default=None, repr=False)
    price: Price = Price()
    context_window: int | None = None
    capabilities: Capabilities = Capabilities()
    rpm: int | None = None
    tpm: int | None = None
    weight: float = 1.0
    timeouts: Timeouts = Timeouts()
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelGroup:
    """A public model name that clients ask for, served by one or more deployments.

    A name ending in ``*`` is a wildcard: ``openai/*`` serves ``openai/gpt-4o`` and passes the
    matched suffix as the upstream model wherever a deployment's model is ``*``.
    """

    name: str
    deployments: tuple[Deployment, ...]
    max_attempts: int | None = None
    total_timeout: float = 600.0

    @property
    def is_wildcard(self) -> bool:
        return self.name.endswith("*")


@dataclass(slots=True)
class Usage:
    """Token counts. ``prompt_tokens`` includes cache reads (``cached_tokens``) and cache writes
    (``cache_creation_tokens``, of which ``cache_creation_1h_tokens`` were written with the 1-hour TTL)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_1h_tokens: int = 0

    @classmethod
    def from_openai(cls, data: Mapping[str, Any] | None) -> Usage | None:
        if not isinstance(data, Mapping):
            return None
        prompt = _int(data.get("prompt_tokens"))
        completion = _int(data.get("completion_tokens"))
        details = data.get("prompt_tokens_details")
        cached = written = 0
        if isinstance(details, Mapping):
            # ``cache_write_tokens``: cache writes as OpenRouter reports them (and switchpoint relays them).
            cached, written = _int(details.get("cached_tokens")), _int(details.get("cache_write_tokens"))
        total = _int(data.get("total_tokens")) or prompt + completion
        return cls(prompt, completion, total, cached, written)

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens or self.cache_creation_tokens:
            details = out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
            if self.cache_creation_tokens:
                details["cache_write_tokens"] = self.cache_creation_tokens
        return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(slots=True)
class ChatRequest:
    """A validated chat-completions request. ``body`` is the client's JSON object."""

    body: dict[str, Any]
    model: str
    stream: bool = False
    include_usage: bool = False
    tags: tuple[str, ...] = ()
    request_id: str = ""
    has_tools: bool = False
    has_images: bool = False
    wants_json: bool = False


@dataclass(frozen=True, slots=True)
class UpstreamLimits:
    """What an upstream said about its rate limits on one answer (None: not sent).
    Resets are seconds from the moment the answer arrived."""

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None
    reset_tokens: float | None = None


@dataclass(slots=True)
class ChatResponse:
    """A finished, non-streamed answer in the OpenAI ``chat.completion`` format.

    ``raw`` holds the exact upstream bytes when they are already in that format, so the server
    can relay them without serialising ``body`` again.
    """

    body: dict[str, Any]
    usage: Usage | None
    raw: bytes | None = None
    finish_reason: str | None = None
    #: The upstream's rate-limit headers, when it sent any (``providers.ratelimits``).
    limits: UpstreamLimits | None = None


class ChatStream(Protocol):
    """A streamed answer: OpenAI ``chat.completion.chunk`` events as SSE bytes.

    Iterating yields byte blocks, each made of whole ``data: {...}\\n\\n`` events (never the
    final ``data: [DONE]``, which the server writes). After iteration, ``usage`` and
    ``finish_reason`` hold what the stream reported.
    """

    usage: Usage | None
    finish_reason: str | None

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...
