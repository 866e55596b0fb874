"""Low-confidence escalation: score a cheap model's answer, and calibrate the threshold from data.

:func:`score_answer` combines the signals available in a non-streamed answer; each yields a
confidence in [0, 1] and the answer's score is the lowest of them (no signal: 1.0):

- ``refusal``: an explicit ``message.refusal``, or a refusal phrase at the start of the text → 0.
- ``empty``: no text and no tool call → 0. ``truncated``: ``finish_reason: length`` → 0.4.
- ``json``: ``response_format`` asks for JSON and the text does not parse → 0; with a
  ``json_schema`` that the value does not satisfy (a structural subset of JSON Schema) → 0.
- ``logprobs``: the geometric mean of the token probabilities, when the upstream returned them.
- ``verifier``: an optional hook (sync or async) that returns a score.

:func:`calibrate_threshold` picks the threshold that reaches a target share of the strong
model's quality with the fewest escalations, on labelled (score, weak ok, strong ok) data.
:mod:`switchpoint.balancing.calibration` picks it from the gateway's own log instead (logged
scores and feedback; ``switchpoint cascade calibrate``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from switchpoint.balancing.policy import CascadePolicy
from switchpoint.types import ChatRequest, ChatResponse

__all__ = [
    "Calibration",
    "calibrate_threshold",
    "json_schema_errors",
    "score_answer",
    "static_signals",
    "strip_logprobs",
    "with_logprobs",
]

_REFUSALS = (
    "i can't help", "i cannot help", "i can't assist", "i cannot assist", "i'm sorry, but i can",
    "i am sorry, but i can", "i won't be able", "i'm unable to", "i am unable to", "i'm not able to",
    "sorry, i can't", "sorry, i cannot", "as an ai language model, i can",
)  # fmt: skip
_MAX_DEPTH = 64


def _message(response: ChatResponse) -> dict[str, Any]:
    choices = response.body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict):
            return message
    return {}


def static_signals(request: ChatRequest, response: ChatResponse, policy: CascadePolicy) -> dict[str, float]:
    """Every signal except the verifier, by name."""
    signals: dict[str, float] = {}
    message = _message(response)
    text = message.get("content")
    text = text if isinstance(text, str) else ""
    if policy.refusal:
        refusal = message.get("refusal")
        head = text[:200].lower()
        if (isinstance(refusal, str) and refusal) or any(head.startswith(p) or f" {p}" in head[:80] for p in _REFUSALS):
            signals["refusal"] = 0.0
        if not text.strip() and not message.get("tool_calls"):
            signals["empty"] = 0.0
        if response.finish_reason == "length":
            signals["truncated"] = 0.4
    if policy.json_schema and text:
        _json_signal(request, text, signals)
    if policy.logprobs:
        confidence = _logprob_confidence(response)
        if confidence is not None:
            signals["logprobs"] = confidence
    return signals


async def score_answer(
    request: ChatRequest, response: ChatResponse, policy: CascadePolicy
) -> tuple[float, dict[str, float]]:
    """The answer's confidence (lowest signal; 1.0 without any) and the signals behind it."""
    signals = static_signals(request, response, policy)
    if policy.verifier is not None:
        verdict = policy.verifier(request, response)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        signals["verifier"] = min(1.0, max(0.0, float(verdict)))
    return (min(signals.values()) if signals else 1.0), signals


def _json_signal(request: ChatRequest, text: str, signals: dict[str, float]) -> None:
    response_format = request.body.get("response_format")
    if not isinstance(response_format, dict):
        return
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        signals["json"] = 0.0
        return
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if kind == "json_schema" and isinstance(schema, dict) and json_schema_errors(value, schema):
        signals["json"] = 0.0


def _logprob_confidence(response: ChatResponse) -> float | None:
    choices = response.body.get("choices")
    if not (isinstance(choices, list) and choices and isinstance(choices[0], dict)):
        return None
    logprobs = choices[0].get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content:
        return None
    values = [t["logprob"] for t in content if isinstance(t, dict) and isinstance(t.get("logprob"), int | float)]
    if not values:
        return None
    return math.exp(max(-50.0, sum(values) / len(values)))


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}  # fmt: skip


def json_schema_errors(value: Any, schema: dict[str, Any], path: str = "$", depth: int = 0) -> list[str]:
    """Where ``value`` breaks ``schema``: type, enum, const, properties, required,
    additionalProperties: false, items, anyOf. Other keywords are ignored (treated as satisfied)."""
    if depth > _MAX_DEPTH:
        return []
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_is_type(value, n) for n in names if isinstance(n, str)):
            return [f"{path}: expected {'/'.join(map(str, names))}"]
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        errors.append(f"{path}: not one of the enum values")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: not the constant")
    any_of = schema.get("anyOf")
    if isinstance(any_of, list) and any_of and all(
        json_schema_errors(value, s, path, depth + 1) for s in any_of if isinstance(s, dict)
    ):
        errors.append(f"{path}: matches none of anyOf")
    if isinstance(value, dict):
        errors += _object_errors(value, schema, path, depth)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += json_schema_errors(item, schema["items"], f"{path}[{i}]", depth + 1)
    return errors


def _object_errors(value: dict[str, Any], schema: dict[str, Any], path: str, depth: int) -> list[str]:
    errors: list[str] = []
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    for name in schema.get("required") or ():
        if name not in value:
            errors.append(f"{path}.{name}: required")
    for name, item in value.items():
        sub = properties.get(name)
        if isinstance(sub, dict):
            errors += json_schema_errors(item, sub, f"{path}.{name}", depth + 1)
        elif schema.get("additionalProperties") is False:
            errors.append(f"{path}.{name}: not allowed")
    return errors


def _is_type(value: Any, name: str) -> bool:
    types = _TYPES.get(name)
    if types is None:
        return True
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, types)


@dataclass(frozen=True, slots=True)
class Calibration:
    threshold: float
    escalation_rate: float
    quality: float
    pgr: float


def calibrate_threshold(
    scores: Sequence[float], weak_ok: Sequence[float], strong_ok: Sequence[float], target_pgr: float = 0.8
) -> Calibration:
    """The lowest escalation rate whose quality reaches ``target_pgr`` of the weak→strong gap.

    Escalate when ``score < threshold``. PGR = (quality − weak) / (strong − weak), as in
    RouteLLM. If no threshold reaches the target, the one with the highest PGR is returned.
    """
    n = len(scores)
    if not n or n != len(weak_ok) or n != len(strong_ok):
        raise ValueError("scores, weak_ok and strong_ok must be non-empty and of equal length")
    q_weak = sum(weak_ok) / n
    q_strong = sum(strong_ok) / n
    gap = (q_strong - q_weak) or 1e-12
    order = sorted(range(n), key=lambda i: scores[i])
    total = float(sum(weak_ok))
    best = Calibration(min(scores), 0.0, q_weak, 0.0)
    for k, i in enumerate(order, start=1):
        total += strong_ok[i] - weak_ok[i]
        if k < n and scores[order[k]] == scores[i]:
            continue  # thresholds fall between distinct scores only
        threshold = scores[order[k]] if k < n else math.inf
        quality = total / n
        pgr = (quality - q_weak) / gap
        candidate = Calibration(threshold, k / n, quality, pgr)
        if pgr >= target_pgr:
            return candidate
        if pgr > best.pgr:
            best = candidate
    return best


def with_logprobs(request: ChatRequest) -> ChatRequest:
    """The request asking the upstream for token logprobs (to score the answer)."""
    if request.body.get("logprobs"):
        return request
    return replace(request, body={**request.body, "logprobs": True})


def strip_logprobs(response: ChatResponse) -> None:
    """Remove the logprobs the gateway asked for and the client did not; the body is re-serialised."""
    choices = response.body.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, dict) and "logprobs" in choice:
                choice["logprobs"] = None
    response.raw = None
