"""The ``semantic`` policy: named routes given as example utterances, matched by embedding similarity.

It reuses the analysis intent machinery (:class:`switchpoint.analysis.analyzers.IntentAnalyzer`
over the shipped static embeddings): a route's score is the best cosine similarity between the
last user message and one of its examples. Routes at or above their own threshold qualify; the
best-scoring one decides. Thresholds can be fitted from labelled examples (:func:`fit_thresholds`,
``switchpoint routes fit``) and are shown in every decision's ``detail``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from switchpoint.analysis.analyzers import IntentAnalyzer
from switchpoint.analysis.config import IntentSpec
from switchpoint.analysis.embeddings import StaticEmbedder
from switchpoint.routing.decision import Candidate, RouteDecision
from switchpoint.routing.protocol import RouteContext

__all__ = ["FitResult", "SemanticPolicy", "SemanticRoute", "fit_thresholds", "pick"]

_MAX_CUTS = 200  # candidate thresholds tried per route when fitting


@dataclass(frozen=True, slots=True)
class SemanticRoute:
    name: str
    to: str
    examples: tuple[str, ...]
    threshold: float = 0.5


def pick(scores: Mapping[str, float], thresholds: Mapping[str, float]) -> str | None:
    """The best-scoring route whose score reaches its threshold, or None."""
    best, best_score = None, -2.0
    for name, score in scores.items():
        if score >= thresholds[name] and score > best_score:
            best, best_score = name, score
    return best


class SemanticPolicy:
    kind = "semantic"
    needs_features = False

    def __init__(self, name: str, routes: Sequence[SemanticRoute], embedder: StaticEmbedder | None = None) -> None:
        if not routes:
            raise ValueError("a semantic policy needs at least one route")
        self.name = name
        self.routes = {r.name: r for r in routes}
        self._matcher: IntentAnalyzer | None = None
        if embedder is not None:
            self.bind(embedder)

    @property
    def ready(self) -> bool:
        return self._matcher is not None

    def bind(self, embedder: StaticEmbedder) -> None:
        """Embed the examples (a few ms per hundred); done once, off the event loop."""
        self._matcher = IntentAnalyzer(embedder, [IntentSpec(r.name, r.examples, r.threshold)
                                                  for r in self.routes.values()])

    def thresholds(self) -> dict[str, float]:
        return {name: r.threshold for name, r in self.routes.items()}

    def with_thresholds(self, thresholds: Mapping[str, float]) -> SemanticPolicy:
        routes = [replace(r, threshold=thresholds.get(r.name, r.threshold)) for r in self.routes.values()]
        policy = SemanticPolicy(self.name, routes)
        if self._matcher is not None:
            policy.bind(self._matcher.embedder)
        return policy

    def scores(self, text: str) -> dict[str, float]:
        """Similarity of ``text`` to every route (0 for a route none of whose examples embeds)."""
        if self._matcher is None:
            raise RuntimeError(f"semantic policy '{self.name}' is not bound to an embedder yet")
        found = self._matcher.scores(text)
        return {name: found.get(name, 0.0) for name in self.routes}

    def route(self, ctx: RouteContext) -> RouteDecision | None:
        if self._matcher is None:
            return None
        scores = self.scores(ctx.text)
        thresholds = self.thresholds()
        winner = pick(scores, thresholds)
        candidates = []
        for name, score in sorted(scores.items(), key=lambda item: -item[1]):
            route, threshold = self.routes[name], thresholds[name]
            if name == winner:
                why = f"route '{name}': similarity {score:.3f} >= threshold {threshold:.3f}"
            elif score >= threshold:
                why = f"route '{name}': similarity {score:.3f} qualifies but '{winner}' scores higher"
            else:
                why = f"route '{name}': similarity {score:.3f} < threshold {threshold:.3f}"
            candidates.append(Candidate(route.to, name == winner, why, score))
        if winner is None:
            return None
        detail = {"route": winner, "scores": {k: round(v, 4) for k, v in scores.items()}, "thresholds": thresholds}
        return RouteDecision(self.routes[winner].to, self.name, self.kind,
                             f"semantic route '{winner}' ({scores[winner]:.2f} >= {thresholds[winner]:.2f})",
                             candidates, detail=detail)


# -- fitting thresholds from labelled examples ----------------------------------------------------


@dataclass(slots=True)
class FitResult:
    """Fitted thresholds and the accuracy of the whole policy (route or no route) on the examples."""

    thresholds: dict[str, float]
    accuracy: float
    accuracy_before: float
    examples: int
    per_route: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"thresholds": {k: round(v, 4) for k, v in self.thresholds.items()},
                "accuracy": round(self.accuracy, 4), "accuracy_before": round(self.accuracy_before, 4),
                "examples": self.examples, "per_route": self.per_route}


def _accuracy(rows: Sequence[tuple[dict[str, float], str | None]], thresholds: Mapping[str, float]) -> float:
    return sum(pick(s, thresholds) == label for s, label in rows) / len(rows) if rows else 0.0


def fit_thresholds(
    policy: SemanticPolicy, examples: Iterable[tuple[str, str | None]], *, rounds: int = 3
) -> FitResult:
    """Thresholds that maximise the policy's accuracy on ``(text, route name or None)`` examples.

    Coordinate ascent: each route's threshold in turn is set to the cut (a midpoint between two
    observed scores of that route) that maximises the accuracy of the whole decision, the other
    thresholds held; a few rounds until nothing improves. Ties keep the higher threshold (fewer
    false matches). Labels that name no route of the policy are an error.
    """
    rows: list[tuple[dict[str, float], str | None]] = []
    for text, label in examples:
        if label is not None and label not in policy.routes:
            raise ValueError(f"label '{label}' is not a route of policy '{policy.name}' "
                             f"(routes: {', '.join(policy.routes)})")
        rows.append((policy.scores(text), label))
    if not rows:
        raise ValueError("no labelled examples")
    before = policy.thresholds()
    thresholds = dict(before)
    best = _accuracy(rows, thresholds)
    for _ in range(rounds):
        improved = False
        for name in policy.routes:
            for cut in _cuts(sorted({s[name] for s, _ in rows})):
                trial = {**thresholds, name: cut}
                accuracy = _accuracy(rows, trial)
                if accuracy > best or (accuracy == best and cut > thresholds[name] and accuracy > 0):
                    improved = improved or accuracy > best
                    best, thresholds = accuracy, trial
        if not improved:
            break
    per_route = {}
    for name in policy.routes:
        predicted = [pick(s, thresholds) == name for s, _ in rows]
        actual = [label == name for _, label in rows]
        tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
        per_route[name] = {"precision": round(tp / sum(predicted), 4) if any(predicted) else 0.0,
                           "recall": round(tp / sum(actual), 4) if any(actual) else 0.0,
                           "examples": sum(actual)}
    return FitResult(thresholds, best, _accuracy(rows, before), len(rows), per_route)


def _cuts(values: list[float]) -> list[float]:
    if not values:
        return []
    cuts = [round(values[0], 4), *(round((a + b) / 2, 4) for a, b in zip(values, values[1:], strict=False))]
    cuts.append(round(min(1.0, values[-1] + 1e-3), 4))
    if len(cuts) > _MAX_CUTS:
        step = len(cuts) / _MAX_CUTS
        cuts = [cuts[int(i * step)] for i in range(_MAX_CUTS)]
    return [c for c in cuts if 0.0 < c <= 1.0]
