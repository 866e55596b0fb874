"""What a router decided, and why: :class:`RouteDecision` and its response headers.

A decision names the chosen model group and the policy that chose it, gives a short human reason,
and lists every candidate the policy weighed with its score, cost estimate, predicted quality
(when a predictor gave one) and why it was or was not chosen. Shadow policies' decisions ride
along in ``shadow``; they are recorded, never served. ``to_dict()`` is what ``POST /v1/route``
returns and what the request record keeps (``RequestRecord.routing``); the analytics read its
``router``, ``chosen``, ``reason`` and ``candidates`` keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REASON_MAX", "Candidate", "RouteDecision", "explain_headers", "header_text"]

REASON_MAX = 200  # characters of x-switchpoint-reason


@dataclass(slots=True)
class Candidate:
    """One model group a policy weighed. ``cost`` is the estimated USD for this request."""

    group: str
    chosen: bool
    why: str
    score: float | None = None
    cost: float | None = None
    quality: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "chosen": self.chosen,
            "why": self.why,
            "score": _round(self.score),
            "cost_estimate": self.cost,
            "predicted_quality": _round(self.quality),
        }


@dataclass(slots=True)
class RouteDecision:
    """A routing decision: the chosen ``group``, by which policy, and why.

    ``kind`` is the policy kind (``rules``, ``semantic``, ``learned``, ``cascade``) or ``default``
    when no policy had an opinion. ``detail`` holds policy-specific facts (thresholds, the cascade
    chain, the learned objective) as JSON data.
    """

    group: str
    policy: str
    kind: str
    reason: str
    candidates: list[Candidate] = field(default_factory=list)
    router: str = ""
    shadow: list[RouteDecision] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    analysis_ms: float | None = None
    decision_ms: float = 0.0

    @property
    def chosen(self) -> Candidate | None:
        return next((c for c in self.candidates if c.chosen), None)

    @property
    def predicted_quality(self) -> float | None:
        chosen = self.chosen
        return chosen.quality if chosen is not None and self.kind == "learned" else None

    @property
    def predicted_cost(self) -> float | None:
        chosen = self.chosen
        return chosen.cost if chosen is not None and self.kind == "learned" else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "router": self.router or None,
            "chosen": self.group,
            "model_group": self.group,
            "policy": self.policy,
            "kind": self.kind,
            "reason": self.reason,
            "candidates": [c.to_dict() for c in self.candidates],
            "predicted_quality": _round(self.predicted_quality),
            "predicted_cost": self.predicted_cost,
            "analysis_ms": self.analysis_ms,
            "decision_ms": round(self.decision_ms, 4),
        }
        if self.detail:
            out["detail"] = self.detail
        if self.shadow:
            out["shadow"] = [s.to_dict() for s in self.shadow]
        return out

    def headers(self) -> list[tuple[bytes, bytes]]:
        return explain_headers(self.to_dict())


def header_text(text: str, limit: int = REASON_MAX) -> bytes:
    """``text`` as a safe header value: printable ASCII only, one line, at most ``limit`` characters."""
    cleaned = "".join(ch if " " <= ch <= "~" else "?" for ch in " ".join(text.split()))
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 3] + "..."
    return cleaned.encode("ascii")


def explain_headers(routing: Mapping[str, Any] | None) -> list[tuple[bytes, bytes]]:
    """``x-switchpoint-router``, ``-reason`` and, when a learned policy decided,
    ``-predicted-quality`` / ``-predicted-cost``, from a decision's ``to_dict()`` (or a record's
    ``routing``). Nothing for a request that named a model group."""
    if not routing or not routing.get("router"):
        return []
    headers = [
        (b"x-switchpoint-router", header_text(str(routing["router"]), 100)),
        (b"x-switchpoint-reason", header_text(str(routing.get("reason") or ""))),
    ]
    quality = routing.get("predicted_quality")
    if isinstance(quality, int | float):
        headers.append((b"x-switchpoint-predicted-quality", f"{quality:.4f}".encode()))
    cost = routing.get("predicted_cost")
    if isinstance(cost, int | float):
        headers.append((b"x-switchpoint-predicted-cost", f"{cost:.8f}".encode()))
    return headers


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
