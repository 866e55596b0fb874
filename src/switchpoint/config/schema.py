"""The config file's shape, as pydantic models. Unknown keys are errors everywhere."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from switchpoint.analysis.config import AnalysisConfig
from switchpoint.providers.registry import PROVIDER_KINDS
from switchpoint.routing.expr import ExpressionError
from switchpoint.routing.rules import compile_rule

__all__ = [
    "ActiveChecksConfig",
    "CapabilitiesConfig",
    "CascadeConfig",
    "DeploymentConfig",
    "FallbacksConfig",
    "GatewayConfig",
    "HealthConfig",
    "HedgeConfig",
    "ModelGroupConfig",
    "PolicyConfig",
    "ReliabilityConfig",
    "RetryConfig",
    "RouterConfig",
    "ServerConfig",
    "TimeoutsConfig",
    "TracingConfig",
]

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_PORT = 8400


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeoutsConfig(StrictModel):
    connect: float | None = Field(default=None, gt=0, description="TCP/TLS connect, seconds")
    first_token: float | None = Field(default=None, gt=0, description="request sent to first streamed event")
    idle: float | None = Field(default=None, gt=0, description="longest gap between streamed events")
    total: float | None = Field(default=None, gt=0, description="whole request, every attempt included")


class CapabilitiesConfig(StrictModel):
    tools: bool = True
    vision: bool = True
    json_mode: bool = True


class DeploymentConfig(StrictModel):
    provider: str = Field(description="provider type, e.g. openai_compat")
    model: str | None = Field(default=None, description="upstream model id; defaults to the group name")
    id: str | None = Field(default=None, description="deployment id shown in headers and records")
    api_base: str | None = None
    api_key: SecretStr | None = Field(default=None, description="use ${ENV_VAR}; never shown in logs or errors")
    headers: dict[str, str] = Field(default_factory=dict)
    input_cost_per_mtok: float = Field(default=0.0, ge=0, description="USD per million input tokens")
    output_cost_per_mtok: float = Field(default=0.0, ge=0, description="USD per million output tokens")
    cached_input_cost_per_mtok: float | None = Field(default=None, ge=0)
    cache_write_cost_per_mtok: float | None = Field(
        default=None, ge=0, description="prompt-cache writes, 5-minute TTL; default 1.25x the input price"
    )
    cache_write_1h_cost_per_mtok: float | None = Field(
        default=None, ge=0, description="prompt-cache writes, 1-hour TTL; default 2x the input price"
    )
    context_window: int | None = Field(default=None, gt=0)
    capabilities: CapabilitiesConfig = CapabilitiesConfig()
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    weight: float = Field(default=1.0, gt=0)
    timeouts: TimeoutsConfig = TimeoutsConfig()
    stream_usage: bool = Field(default=True, description="ask the upstream for usage in streams")
    options: dict[str, Any] = Field(default_factory=dict, description="provider-specific settings")

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDER_KINDS:
            known = ", ".join(sorted(PROVIDER_KINDS))
            raise ValueError(f"unknown provider type '{value}' (known: {known})")
        return value

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("api_base must start with http:// or https://")
        return value.rstrip("/") if value else value


# -- resilience (balancing, health, retries, fallbacks, cascade, hedging) ---------------------

BalancingStrategy = Literal["weighted_random", "least_in_flight", "latency", "usage", "cost"]


class HealthConfig(StrictModel):
    """Passive outlier detection and cooldowns (gateway-wide)."""

    enabled: bool = Field(default=True, description="cool failing deployments down")
    consecutive_failures: int = Field(default=3, ge=1, description="failures in a row that cool a deployment down")
    failure_rate: float = Field(default=0.5, gt=0, le=1, description="failure share over the window that does too")
    min_requests: int = Field(default=5, ge=1, description="requests in the window before the rate counts")
    window: float = Field(default=60.0, gt=0, description="seconds over which the failure rate is counted")
    cooldown: float = Field(default=5.0, gt=0, description="first cooldown, seconds; doubles at each ejection")
    max_cooldown: float = Field(default=300.0, gt=0, description="cap of the growing cooldown, seconds")
    auth_cooldown: float = Field(default=600.0, gt=0, description="cooldown after the upstream rejects the key")
    max_ejection: float = Field(default=0.5, gt=0, le=1, description="share of a group's deployments outlier "
                                "detection may cool down at once (at least one); more only when the group is down")
    outlier_margin: float = Field(default=0.3, gt=0, le=1, description="cool a deployment of a multi-deployment "
                                  "group down only if its failure rate exceeds the rest of the group's by this much")
    down_window: float = Field(default=2.0, gt=0, description="seconds without any success in a group (and every "
                               "deployment failing) after which the ejection cap no longer holds: the group is down")
    panic_window: float = Field(default=0.0, ge=0, description="all cooling: keep trying while one succeeded "
                                "this recently (seconds; 0, the default = answer 503 at once)")


class ActiveChecksConfig(StrictModel):
    """Background probes of each deployment (off by default)."""

    enabled: bool = False
    interval: float = Field(default=30.0, ge=1, description="seconds between rounds")
    timeout: float = Field(default=5.0, gt=0, description="seconds per probe")
    path: str = Field(default="/models", description="GET {api_base}{path}")


class RetryConfig(StrictModel):
    """Backoff before retrying the same deployment, Retry-After, and the retry budget (per group)."""

    backoff_base: float = Field(default=0.1, gt=0, description="full-jitter backoff base, seconds")
    backoff_cap: float = Field(default=8.0, gt=0, description="longest backoff, seconds")
    retry_after_cap: float = Field(default=60.0, ge=0, description="longest upstream Retry-After honoured, seconds")
    budget_ratio: float = Field(default=0.2, ge=0, description="retries allowed per request over the window")
    budget_min_retries: int = Field(default=10, ge=0, description="retries always allowed per window")
    budget_window: float = Field(default=10.0, gt=0, description="seconds")


class ReliabilityConfig(StrictModel):
    health: HealthConfig = HealthConfig()
    active_checks: ActiveChecksConfig = ActiveChecksConfig()
    retry: RetryConfig = RetryConfig()


class FallbacksConfig(StrictModel):
    """Ordered fallback groups by class of error. ``default`` serves the first three classes."""

    default: list[str] = Field(default_factory=list, description="for rate_limit, server_error and timeout")
    rate_limit: list[str] | None = None
    server_error: list[str] | None = Field(default=None, description="5xx, connection, protocol, bad key, all down")
    timeout: list[str] | None = None
    context_window: list[str] = Field(default_factory=list, description="groups with a larger context window")
    content_policy: list[str] = Field(default_factory=list)

    def targets(self) -> set[str]:
        return {*self.default, *(self.rate_limit or ()), *(self.server_error or ()), *(self.timeout or ()),
                *self.context_window, *self.content_policy}


class CascadeConfig(StrictModel):
    """Escalate a non-streamed answer to ``next`` when its confidence score is below ``threshold``."""

    next: str = Field(min_length=1, description="the group to escalate to")
    threshold: float = Field(default=0.5, ge=0, le=1)
    request_logprobs: bool = Field(default=False, description="ask the cheap model for logprobs to score them")
    logprobs: bool = True
    refusal: bool = True
    json_schema: bool = True
    verifier: str | None = Field(default=None, description="'package.module:function' (request, response) -> score")


class HedgeConfig(StrictModel):
    """Start a second attempt when the first is slower than ``delay`` or the group's ``percentile``."""

    delay: float | None = Field(default=None, gt=0, description="seconds")
    percentile: float | None = Field(default=None, ge=50, le=99.9, description="of recent first-byte latencies")
    min_samples: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _needs_a_trigger(self) -> HedgeConfig:
        if self.delay is None and self.percentile is None:
            raise ValueError("hedge needs a delay or a percentile")
        return self


class ModelGroupConfig(StrictModel):
    """A public model name. One deployment may be written inline instead of under ``deployments``."""

    name: str = Field(min_length=1)
    deployments: list[DeploymentConfig] = Field(min_length=1)
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    balancing: BalancingStrategy = "weighted_random"
    attempt_timeout: float | None = Field(default=None, gt=0, description="per attempt of a non-streamed call")
    fallbacks: FallbacksConfig | None = None
    cascade: CascadeConfig | None = None
    hedge: HedgeConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _inline_deployment(cls, data: Any) -> Any:
        if isinstance(data, dict) and "deployments" not in data and "provider" in data:
            group_keys = {"name", "max_attempts", *_RESILIENCE_KEYS}
            deployment = {k: v for k, v in data.items() if k not in group_keys}
            return {**{k: v for k, v in data.items() if k in group_keys}, "deployments": [deployment]}
        return data


_RESILIENCE_KEYS = ("balancing", "attempt_timeout", "fallbacks", "cascade", "hedge")


class ServerConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    master_key: SecretStr | None = Field(default=None, description="require 'Authorization: Bearer <key>'")
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    workers: int = Field(default=1, ge=1, le=64)


class LogsConfig(StrictModel):
    """The durable request log. ``url: null`` turns it off."""

    url: str | None = Field(default="sqlite:///.switchpoint/logs.db",
                            description="sqlite:///relative.db, sqlite:////absolute.db or postgresql://...")
    pg_schema: str | None = Field(default=None, description="Postgres schema for the tables")
    sqlite_writer: Literal["process", "thread"] = Field(
        default="process", description="SQLite: write records from a child process (default) or a thread"
    )
    batch_size: int = Field(default=500, ge=1)
    flush_ms: float = Field(default=100, gt=0)
    queue_max: int = Field(default=50_000, ge=1)
    spool_dir: str | None = Field(default=".switchpoint/spool", description="on-disk spool while the store is down")
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    write_timeout_s: float = Field(default=10, gt=0)
    retention_days: float = Field(default=30, gt=0)
    max_rows: int | None = Field(default=None, ge=1)
    rollup_retention_days: float = Field(default=730, gt=0)
    prune_interval_s: float = Field(default=3600, gt=0)
    store_content: bool = Field(default=False, description="store prompts and answers (off by default)")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value in (None, "", "none"):
            return None
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("logs.url must start with sqlite:///, postgresql:// or postgres://")
        return value


# -- routers (docs/routing.md) -------------------------------------------------------------------

PolicyKind = Literal["rules", "semantic", "learned", "cascade"]


def _check_condition(value: str | None) -> str | None:
    if value is not None:
        try:
            compile_rule(value, "-")
        except ExpressionError as exc:
            raise ValueError(f"invalid condition: {exc}") from None
    return value


class RuleConfig(StrictModel):
    """``when`` (a condition, docs/routing.md) → ``to`` (a model group)."""

    when: str = Field(min_length=1)
    to: str = Field(min_length=1)
    reason: str | None = Field(default=None, description="short reason shown in x-switchpoint-reason")

    _condition = field_validator("when")(_check_condition)


class SemanticRouteConfig(StrictModel):
    to: str = Field(min_length=1, description="the model group this route sends to")
    examples: list[str] = Field(default_factory=list, description="example utterances")
    threshold: float | None = Field(default=None, gt=0, le=1, description="cosine similarity needed to match")

    @field_validator("examples")
    @classmethod
    def _some_examples(cls, value: list[str]) -> list[str]:
        if not [v for v in value if v.strip()]:
            raise ValueError("a semantic route needs at least one example utterance")
        return value


class LearnedCandidateConfig(StrictModel):
    profile: str | None = Field(default=None, description="model name known to the predictor (default: the group)")
    latency: float | None = Field(default=None, gt=0, description="expected latency, seconds (for max_latency)")
    level: float = Field(default=0.0, ge=-20, le=20, allow_inf_nan=False,
                         description="logit shift of the predicted quality on this workload "
                                     "(switchpoint calibrate --levels fits it from rated answers)")


class ObjectiveConfig(StrictModel):
    threshold: float | None = Field(default=None, description="two candidates: strong when the score reaches it")
    strong_share: float | None = Field(default=None, gt=0, lt=1, description="calibrate the threshold to this share")
    quality_floor: float | None = Field(default=None, ge=0, le=1)
    lambda_: float | None = Field(default=None, ge=0, alias="lambda")
    max_cost_per_1k: float | None = Field(default=None, gt=0, description="USD per 1000 requests, capped per request")
    max_latency: float | None = Field(default=None, gt=0, description="seconds")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_objective(self) -> ObjectiveConfig:
        given = [k for k, v in self.values().items() if v is not None]
        if len(given) != 1 and set(given) != {"max_cost_per_1k", "max_latency"}:
            raise ValueError("give exactly one of threshold, strong_share, quality_floor, lambda, max_cost_per_1k "
                             "(max_latency may go with max_cost_per_1k)")
        return self

    def values(self) -> dict[str, float | None]:
        return {"threshold": self.threshold, "strong_share": self.strong_share, "quality_floor": self.quality_floor,
                "lambda": self.lambda_, "max_cost_per_1k": self.max_cost_per_1k, "max_latency": self.max_latency}


class AdaptConfig(StrictModel):
    """A learned policy's levels refitted from the feedback in the request log (docs/routing.md, "Levels")."""

    window_days: float = Field(default=30.0, gt=0, le=3650, description="use ratings of this many days")
    refresh_s: float = Field(default=600.0, ge=5, description="refit every so many seconds")
    max_requests: int = Field(default=50_000, gt=0, le=10_000_000, description="the newest rated requests read")
    prior: float = Field(default=2.0, ge=0, le=1000, allow_inf_nan=False,
                         description="weight of the configured level (about 5 ratings per unit)")


_POLICY_FIELDS: dict[str, tuple[set[str], set[str]]] = {  # kind -> (required, allowed)
    "rules": ({"rules"}, {"rules"}),
    "semantic": ({"routes"}, {"routes", "threshold"}),
    "learned": ({"candidates", "objective"},
                {"candidates", "objective", "artifact", "calibration", "output_tokens", "adapt", "length_prior"}),
    "cascade": ({"start"}, {"start"}),
}


class PolicyConfig(StrictModel):
    """One routing policy. ``kind`` says which of the other keys apply (docs/routing.md)."""

    kind: PolicyKind
    name: str | None = Field(default=None, min_length=1, description="default: the kind")
    when: str | None = Field(default=None, description="consult this policy only when the condition holds")
    # rules
    rules: list[RuleConfig] | None = Field(default=None, min_length=1)
    # semantic
    routes: dict[str, SemanticRouteConfig] | None = Field(default=None, min_length=1)
    threshold: float | None = Field(default=None, gt=0, le=1, description="semantic: default route threshold")
    # learned
    artifact: str | None = Field(default=None, description="'default' (shipped) or a path written by train")
    candidates: dict[str, LearnedCandidateConfig] | None = None
    objective: ObjectiveConfig | None = None
    calibration: str | None = Field(default=None, description="JSONL of prompts to calibrate strong_share on")
    output_tokens: int | None = Field(default=None, gt=0, description="expected output when max_tokens is not given")
    adapt: AdaptConfig | None = Field(default=None, description="refit the candidates' levels from logged feedback")
    length_prior: float | None = Field(
        default=None, ge=-1, le=1, allow_inf_nan=False,
        description="learned (mf/linear): replace the artifact's length prior, in logits per doubling of the prompt "
        "length per tier step (the default router's is 0.1; 0 suits chat traffic)",
    )
    # cascade
    start: str | None = Field(default=None, description="the model group where the cascade chain starts")

    _condition = field_validator("when")(_check_condition)

    @field_validator("adapt", mode="before")
    @classmethod
    def _adapt_flag(cls, value: Any) -> Any:
        """``adapt: true`` is ``adapt: {}`` (the defaults); ``adapt: false`` is off."""
        if value is True:
            return {}
        return None if value is False else value

    @model_validator(mode="after")
    def _fields_for_kind(self) -> PolicyConfig:
        required, allowed = _POLICY_FIELDS[self.kind]
        given = {name for name in ("rules", "routes", "threshold", "artifact", "candidates", "objective",
                                   "calibration", "output_tokens", "adapt", "length_prior", "start")
                 if getattr(self, name) is not None}
        missing = sorted(required - given)
        if missing:
            raise ValueError(f"a {self.kind} policy needs {', '.join(missing)}")
        extra = sorted(given - allowed)
        if extra:
            raise ValueError(f"not for a {self.kind} policy: {', '.join(extra)}")
        if self.kind == "learned" and self.candidates is not None and len(self.candidates) < 2:
            raise ValueError("a learned policy needs at least two candidates")
        objective = self.objective
        if objective is not None and (objective.threshold is not None or objective.strong_share is not None):
            if self.candidates is not None and len(self.candidates) != 2:
                raise ValueError("threshold and strong_share objectives need exactly two candidates (strong first)")
            if objective.strong_share is not None and self.calibration is None:
                raise ValueError("strong_share needs calibration: a JSONL file of prompts to calibrate on")
        return self

    def targets(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(location inside the policy, model group) for every group the policy may choose."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        for i, rule in enumerate(self.rules or ()):
            out.append((("rules", i, "to"), rule.to))
        for name, route in (self.routes or {}).items():
            out.append((("routes", name, "to"), route.to))
        for name in self.candidates or {}:
            out.append((("candidates", name), name))
        if self.start is not None:
            out.append((("start",), self.start))
        return out


class RouterConfig(StrictModel):
    """A router: clients send its name as ``model``. First policy with an opinion wins, then ``default``."""

    policies: list[PolicyConfig] = Field(default_factory=list)
    default: str = Field(min_length=1, description="the model group when no policy decides")
    shadow: list[PolicyConfig] = Field(default_factory=list, description="decide and record, never serve")
    output_tokens: int = Field(default=256, gt=0, description="expected output tokens for cost estimates")


def _location_error(loc: tuple[str | int, ...], message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("routing", message), loc=loc, input=None)


class TracingConfig(StrictModel):
    """OpenTelemetry traces of finished requests (extra ``switchpoint[otel]``; docs/storage.md)."""

    enabled: bool = False
    exporter: Literal["auto", "otlp", "console", "none"] = Field(
        default="auto", description="auto: OTLP when opentelemetry-exporter-otlp is installed, else console")
    endpoint: str | None = Field(default=None, description="OTLP endpoint; default: OTEL_EXPORTER_OTLP_* or the "
                                                           "exporter's own default")  # fmt: skip
    service_name: str = Field(default="switchpoint", min_length=1)
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0, description="fraction of requests traced")
    queue_max: int = Field(default=10_000, ge=1, description="finished requests waiting to become spans")


class GatewayConfig(StrictModel):
    server: ServerConfig = ServerConfig()
    logs: LogsConfig = LogsConfig()
    tracing: TracingConfig = TracingConfig()
    analysis: dict[str, Any] = Field(default_factory=dict, description="request analysis (docs/analysis.md)")
    timeouts: TimeoutsConfig = TimeoutsConfig()
    models: list[ModelGroupConfig] = Field(default_factory=list)
    reliability: ReliabilityConfig = ReliabilityConfig()
    routers: dict[str, RouterConfig] = Field(default_factory=dict, description="routers by name (docs/routing.md)")

    @field_validator("analysis")
    @classmethod
    def _valid_analysis(cls, value: dict[str, Any]) -> dict[str, Any]:
        AnalysisConfig.from_mapping(value)  # raises ValueError with the offending key
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> GatewayConfig:
        seen: set[str] = set()
        for group in self.models:
            if group.name in seen:
                raise ValueError(f"model group '{group.name}' is declared twice")
            seen.add(group.name)
        return self

    @model_validator(mode="after")
    def _resilience_references(self) -> GatewayConfig:
        exact = {g.name for g in self.models if not g.name.endswith("*")}
        for group in self.models:
            targets = group.fallbacks.targets() if group.fallbacks else set()
            if group.cascade is not None:
                targets.add(group.cascade.next)
            unknown = sorted(targets - exact)
            if unknown:
                raise ValueError(f"model group '{group.name}' refers to unknown model groups: {', '.join(unknown)}")
            if group.name in targets:
                raise ValueError(f"model group '{group.name}' cannot fall back or escalate to itself")
        _no_cascade_cycle({g.name: g.cascade.next for g in self.models if g.cascade is not None})
        return self

    @model_validator(mode="after")
    def _router_references(self) -> GatewayConfig:
        """Router names are not group names; every group a router may choose exists."""
        exact = {g.name for g in self.models if not g.name.endswith("*")}
        prefixes = [g.name[:-1] for g in self.models if g.name.endswith("*")]
        cascades = {g.name for g in self.models if g.cascade is not None}
        errors: list[InitErrorDetails] = []

        def check(loc: tuple[str | int, ...], name: str) -> None:
            if name in self.routers:
                errors.append(_location_error(loc, f"'{name}' is a router; a router chooses model groups"))
            elif name not in exact and not any(name.startswith(p) and len(name) > len(p) for p in prefixes):
                known = ", ".join(sorted(exact)) or "none"
                errors.append(_location_error(loc, f"unknown model group '{name}' (known: {known})"))

        for router_name, router in self.routers.items():
            base: tuple[str | int, ...] = ("routers", router_name)
            if router_name in exact:
                errors.append(_location_error(base, f"router '{router_name}' has the name of a model group"))
            check((*base, "default"), router.default)
            for section in ("policies", "shadow"):
                names: set[str] = set()
                for i, policy in enumerate(getattr(router, section)):
                    name = policy.name or policy.kind
                    if name in names:
                        errors.append(_location_error((*base, section, i), f"two policies named '{name}': "
                                                      "give each a distinct name"))
                    names.add(name)
                    for loc, target in policy.targets():
                        check((*base, section, i, *loc), target)
                    if policy.start is not None and policy.start in exact and policy.start not in cascades:
                        errors.append(_location_error((*base, section, i, "start"), f"model group '{policy.start}' "
                                                      "has no cascade: (give it one under models)"))
        if errors:
            raise ValidationError.from_exception_data("GatewayConfig", errors)
        return self


def _no_cascade_cycle(edges: dict[str, str]) -> None:
    for start in edges:
        seen, node = {start}, edges[start]
        while node in edges:
            if node in seen:
                raise ValueError(f"cascade loop through model group '{node}'")
            seen.add(node)
            node = edges[node]
