"""Cost of a routing decision in the gateway, per request, on one core.

    PYTHONPATH=src python3 bench/routing_decision.py              # 2,000 requests per case
    PYTHONPATH=src python3 bench/routing_decision.py --requests 500

Builds a gateway from a config with a router ``auto`` (rules on the analysis features, then a
semantic policy with two routes; a shadow rule), loads the analysis in its worker thread, then for
each case times ``Gateway.routing.decide`` (analysis + every policy + shadow) over a mix of prompts,
on the event loop, as the engine calls it. Reported: p50 and p99 in milliseconds, split into the
analysis (``features.analysis.elapsed_ms``) and the decision itself (``decision_ms``). Also times
what a request naming a plain model group pays for the router check (``model in routers``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import timeit

from switchpoint.config.build import build_gateway
from switchpoint.config.load import parse_config
from switchpoint.validation import validate_chat_body

PROMPTS = [
    "Write a Python function that merges two sorted lists without using sort().",
    "My email is jane.doe@example.com, please update my billing address.",
    "I was charged twice this month, can I get a refund for the second invoice?",
    "The app crashes every time I open the settings page on Android.",
    "Tell me a short story about a lighthouse keeper and a storm.",
    "Summarise the main causes of the French Revolution in five bullet points.",
    "Translate 'where is the train station' into Japanese and Spanish.",
    "What is the derivative of x^3 * sin(x)?",
]

def group(name: str) -> dict[str, object]:
    return {"name": name, "provider": "openai_compat", "api_base": "http://127.0.0.1:9/v1",
            "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0}


CASES = {
    "rules (features)": {"default": "general", "policies": [{"kind": "rules", "rules": [
        {"when": "features.pii.found", "to": "private"},
        {"when": "features.task_type.label == 'coding'", "to": "coder"},
        {"when": "'premium' in tags or features.complexity > 0.8", "to": "coder"}]}]},
    "rules + semantic + shadow": {"default": "general", "policies": [
        {"kind": "rules", "rules": [{"when": "features.pii.found", "to": "private"}]},
        {"kind": "semantic", "routes": {
            "billing": {"to": "general", "examples": ["I was charged twice", "refund my invoice", "billing problem"]},
            "trouble": {"to": "coder", "examples": ["the app crashes", "error when I log in", "page does not load"]}}}],
        "shadow": [{"kind": "rules", "name": "vip", "rules": [{"when": "'vip' in tags", "to": "coder"}]}]},
    "rules on tags only (no analysis)": {"default": "general", "policies": [
        {"kind": "rules", "rules": [{"when": "'premium' in tags", "to": "coder"}]}]},
}


async def run_case(router: dict[str, object], n: int) -> tuple[list[float], list[float], list[float]]:
    config = parse_config({"models": [group("general"), group("coder"), group("private")],
                           "routers": {"auto": router}}, {})
    gateway = build_gateway(config)
    await gateway.start()
    requests = [validate_chat_body({"model": "auto", "messages": [{"role": "user", "content": p}]},
                                   request_id=str(i), tags=("vip",)) for i, p in enumerate(PROMPTS)]
    chosen = gateway.routing.routers["auto"]
    totals, analysis, decision = [], [], []
    for i in range(n + 50):
        request = requests[i % len(requests)]
        start = time.perf_counter()
        routed, features = await gateway.routing.decide(chosen, request)
        elapsed = (time.perf_counter() - start) * 1000
        if i >= 50:  # warm-up: caches of the tokenizer and the embeddings
            totals.append(elapsed)
            analysis.append(features.analysis.elapsed_ms if features else 0.0)
            decision.append(routed.decision_ms)
    await gateway.aclose()
    return totals, analysis, decision


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'case':34} {'total p50':>10} {'p99':>8} {'analysis p50':>13} {'decision p50':>13} {'p99':>8}  (ms)")
    for name, router in CASES.items():
        totals, analysis, decision = asyncio.run(run_case(router, args.requests))
        print(f"{name:34} {pct(totals, 50):10.3f} {pct(totals, 99):8.3f} {pct(analysis, 50):13.3f} "
              f"{pct(decision, 50):13.3f} {pct(decision, 99):8.3f}")
    routers = {"auto": object()}
    per = min(timeit.repeat("'general' in routers", globals={"routers": routers}, number=1_000_000, repeat=5))
    print(f"plain model group: router check {per * 1000:.3f} ns per request (dict membership, best of 5)")


if __name__ == "__main__":
    main()
