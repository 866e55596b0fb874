"""Decision rules over predicted quality and cost, shared by the runtime policy and the evaluation.

Each rule takes :class:`Option` values (one candidate: predicted quality ``q̂`` in [0, 1],
estimated cost in USD for this request, optional expected latency in seconds) and returns a
:class:`Choice`: the winner, a utility per candidate (what the rule compared) and a short reason
per candidate. Ties go to the cheaper option, then to the earlier one in the given order, so a
decision is deterministic.

- :func:`choose_threshold`: two models. The score is the **predicted quality gain**
  ``q̂_strong − q̂_weak``; the strong model is chosen when the score is ≥ ``threshold``.
  ``utilities`` are ``{strong: score − threshold, weak: 0}``.
- :func:`choose_floor`: the cheapest option with ``q̂ ≥ floor``; when none reaches it, the best ``q̂``.
- :func:`choose_lambda`: ``argmax q̂ − λ·cost`` (λ: quality points one would give for one USD).
- :func:`choose_budget`: the best ``q̂`` among options within ``max_cost`` and ``max_latency``
  (an option of unknown latency is taken to be within a latency limit); when none is, the cheapest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Choice", "Option", "choose_budget", "choose_floor", "choose_lambda", "choose_threshold"]


@dataclass(frozen=True)
class Option:
    name: str
    quality: float
    cost: float
    latency: float | None = None


@dataclass(frozen=True)
class Choice:
    winner: str
    utilities: dict[str, float]
    reasons: dict[str, str]


def _check(options: Sequence[Option]) -> None:
    if not options:
        raise ValueError("no options to choose from")
    names = [o.name for o in options]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate option names: {names}")


def _best(options: Sequence[Option], key: dict[str, float]) -> Option:
    """Highest key; ties → cheaper, then earlier."""
    return min(enumerate(options), key=lambda p: (-key[p[1].name], p[1].cost, p[0]))[1]


def _cheapest(options: Sequence[Option]) -> Option:
    return min(enumerate(options), key=lambda p: (p[1].cost, p[0]))[1]


def choose_threshold(strong: Option, weak: Option, threshold: float) -> Choice:
    """Strong when ``q̂_strong − q̂_weak ≥ threshold`` (the predicted quality gain), else weak."""
    _check((strong, weak))
    score = strong.quality - weak.quality
    if score >= threshold:
        reasons = {strong.name: f"predicted gain {score:.3f} >= threshold {threshold:.3f}",
                   weak.name: f"strong model's predicted gain {score:.3f} reaches the threshold"}
        winner = strong.name
    else:
        reasons = {strong.name: f"predicted gain {score:.3f} < threshold {threshold:.3f}",
                   weak.name: f"strong model not worth it (gain {score:.3f} < {threshold:.3f})"}
        winner = weak.name
    return Choice(winner, {strong.name: score - threshold, weak.name: 0.0}, reasons)


def choose_floor(options: Sequence[Option], floor: float) -> Choice:
    """The cheapest option with ``q̂ ≥ floor``; when none reaches the floor, the best ``q̂``."""
    _check(options)
    utilities = {o.name: o.quality for o in options}
    passing = [o for o in options if o.quality >= floor]
    if passing:
        winner = _cheapest(passing)
        reasons = {o.name: (f"cheapest with q {o.quality:.3f} >= floor {floor:.3f}" if o is winner
                            else f"q {o.quality:.3f} >= floor but dearer ({o.cost:.6f} > {winner.cost:.6f})"
                            if o.quality >= floor else f"q {o.quality:.3f} < floor {floor:.3f}")
                   for o in options}
    else:
        winner = _best(options, utilities)
        reasons = {o.name: (f"none reaches floor {floor:.3f}; best q {o.quality:.3f}" if o is winner
                            else f"q {o.quality:.3f} < floor {floor:.3f}") for o in options}
    return Choice(winner.name, utilities, reasons)


def choose_lambda(options: Sequence[Option], lam: float) -> Choice:
    """``argmax q̂ − λ·cost``."""
    _check(options)
    utilities = {o.name: o.quality - lam * o.cost for o in options}
    winner = _best(options, utilities)
    reasons = {o.name: (f"best q - lambda*cost = {utilities[o.name]:.4f}" if o is winner
                        else f"q - lambda*cost = {utilities[o.name]:.4f} < {utilities[winner.name]:.4f}")
               for o in options}
    return Choice(winner.name, utilities, reasons)


def choose_budget(options: Sequence[Option], max_cost: float | None, max_latency: float | None) -> Choice:
    """The best ``q̂`` within the cost and latency limits; when no option is within them, the cheapest."""
    _check(options)

    def over(o: Option) -> str | None:
        if max_cost is not None and o.cost > max_cost:
            return f"cost {o.cost:.6f} > max {max_cost:.6f}"
        if max_latency is not None and o.latency is not None and o.latency > max_latency:
            return f"latency {o.latency:.3f}s > max {max_latency:.3f}s"
        return None

    utilities = {o.name: o.quality for o in options}
    problems = {o.name: over(o) for o in options}
    within = [o for o in options if problems[o.name] is None]
    if within:
        winner = _best(within, utilities)
        reasons = {o.name: (f"best q {o.quality:.3f} within budget" if o is winner
                            else problems[o.name] or f"q {o.quality:.3f} < {winner.quality:.3f}") for o in options}
    else:
        winner = _cheapest(options)
        reasons = {o.name: (f"no option within budget; cheapest ({problems[o.name]})" if o is winner
                            else str(problems[o.name])) for o in options}
    return Choice(winner.name, utilities, reasons)
