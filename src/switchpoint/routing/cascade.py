"""The ``cascade`` policy: start on the cheap group of a cascade chain; the engine escalates.

The escalation itself (score the answer's confidence, try the next group when it is too low) is
the engine's, configured per model group under ``cascade:`` (``switchpoint.balancing.cascade``,
``docs/reliability.md``). This policy only sends the request to the start of such a chain and
says so in the decision, with the chain and its thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence

from switchpoint.routing.decision import Candidate, RouteDecision
from switchpoint.routing.protocol import RouteContext

__all__ = ["CascadePolicy"]


class CascadePolicy:
    kind = "cascade"
    needs_features = False

    def __init__(self, name: str, chain: Sequence[tuple[str, float | None]]) -> None:
        """``chain``: (group, its escalation threshold, None for the last), cheapest first."""
        if not chain:
            raise ValueError("a cascade needs at least one group")
        self.name = name
        self.chain = tuple(chain)

    def route(self, ctx: RouteContext) -> RouteDecision | None:
        first = self.chain[0][0]
        candidates = [Candidate(first, True, "start of the cascade (cheapest first)")]
        for (previous, threshold), (group, _) in zip(self.chain, self.chain[1:], strict=False):
            candidates.append(Candidate(group, False, f"escalation target if {previous}'s confidence < {threshold:g}"))
        steps = " > ".join(g for g, _ in self.chain)
        detail = {"chain": [{"group": g, "threshold": t} for g, t in self.chain]}
        return RouteDecision(first, self.name, self.kind, f"cascade {steps}: starts on {first}", candidates,
                             detail=detail)
