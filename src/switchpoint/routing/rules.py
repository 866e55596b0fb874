"""The ``rules`` policy: ordered ``when:`` → ``to:`` entries; the first rule that holds decides.

Conditions are compiled once, at config load, by the safe expression language of
:mod:`switchpoint.routing.expr`, and evaluated against :meth:`RouteContext.env`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from switchpoint.routing.decision import Candidate, RouteDecision
from switchpoint.routing.expr import Condition, compile_condition
from switchpoint.routing.protocol import CONDITION_ROOTS, RouteContext

__all__ = ["Rule", "RulesPolicy", "compile_rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    condition: Condition
    to: str
    reason: str | None = None

    def describe(self, index: int) -> str:
        return self.reason or f"rule {index + 1}: {self.condition.source.strip()}"


def compile_rule(when: str, to: str, reason: str | None = None) -> Rule:
    """Raises ``ExpressionError`` (with ``.column``) for a condition that does not compile."""
    return Rule(compile_condition(when, roots=CONDITION_ROOTS), to, reason)


def uses_features(conditions: Sequence[Condition]) -> bool:
    return any(name == "features" or name.startswith("features.") for c in conditions for name in c.names)


class RulesPolicy:
    kind = "rules"

    def __init__(self, name: str, rules: Sequence[Rule]) -> None:
        self.name = name
        self.rules = tuple(rules)
        self.needs_features = uses_features([r.condition for r in self.rules])

    def route(self, ctx: RouteContext) -> RouteDecision | None:
        env = ctx.env()
        candidates: list[Candidate] = []
        for index, rule in enumerate(self.rules):
            if rule.condition.evaluate(env):
                candidates.append(Candidate(rule.to, True, f"rule {index + 1} matched", 1.0))
                candidates.extend(
                    Candidate(later.to, False, f"rule {k + 1} not evaluated: rule {index + 1} matched first")
                    for k, later in enumerate(self.rules[index + 1 :], start=index + 1)
                )
                return RouteDecision(rule.to, self.name, self.kind, rule.describe(index), candidates,
                                     detail={"rule": index + 1, "when": rule.condition.source})
            candidates.append(Candidate(rule.to, False, f"rule {index + 1} did not match", 0.0))
        return None
