"""Cost of evaluating routing-rule conditions (``switchpoint.routing.expr``), per evaluation.

    python3 bench/routing_conditions.py                  # default: 200,000 evaluations per rule, best of 5
    python3 bench/routing_conditions.py --number 50000 --repeat 3

Three representative rules are compiled once and evaluated against one request environment
shaped like the router's (``features`` from ``RequestFeatures.to_dict()``, ``metadata``, ``tags``,
``headers``, ``request``, ``last_user_message``). Reported: microseconds per evaluation, the best of
``--repeat`` timed loops (the least disturbed by other processes on a shared machine), and the
compile time of each rule.
"""

from __future__ import annotations

import argparse
import timeit

from switchpoint.routing.expr import compile_condition

RULES = {
    "3 clauses, and/or": 'features.task_type.label == "coding" and features.complexity > 0.6 or "premium" in tags',
    "header list + field": 'headers.x-team in ["search", "ads"] and request.temperature <= 0.2 and not request.stream',
    "regex on the prompt": 'matches(last_user_message, "(?i)refund|invoice") and metadata.tier != "free"',
}

ENV = {
    "features": {
        "task_type": {"label": "coding", "probs": {"coding": 0.71, "math": 0.12, "writing": 0.05}},
        "complexity": 0.42,
        "pii": {"found": False, "kinds": []},
        "prompt_tokens": 812,
        "language": {"code": "en", "confidence": 0.98},
    },
    "metadata": {"tier": "gold", "user_id": "u-123"},
    "tags": ["batch", "premium"],
    "headers": {"x-team": "ads", "content-type": "application/json"},
    "request": {"model": "auto", "temperature": 0.1, "stream": False, "max_tokens": 512},
    "last_user_message": "Hello, I was charged twice this month and I would like a refund for the second invoice."
                         " Could you look into it? " * 3,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="evaluations per timed loop")
    parser.add_argument("--repeat", type=int, default=5, help="timed loops per rule (the best is reported)")
    args = parser.parse_args()
    print(f"{'rule':<22} {'result':<6} {'µs/eval':>8} {'compile µs':>11}")
    for label, source in RULES.items():
        compile_us = min(timeit.repeat(lambda source=source: compile_condition(source), number=200,
                                       repeat=args.repeat)) / 200 * 1e6
        condition = compile_condition(source)
        result = condition.evaluate(ENV)
        best = min(timeit.repeat(lambda condition=condition: condition.evaluate(ENV), number=args.number,
                                 repeat=args.repeat))
        print(f"{label:<22} {result!s:<6} {best / args.number * 1e6:>8.2f} {compile_us:>11.1f}")
        print(f"    {source}")


if __name__ == "__main__":
    main()
