"""RouteDecision: its JSON shape (what /v1/route returns and the record keeps) and its headers."""

from __future__ import annotations

from switchpoint.routing.decision import REASON_MAX, Candidate, RouteDecision, explain_headers, header_text


def _decision(kind: str = "rules") -> RouteDecision:
    return RouteDecision("coder", "guard", kind, "rule 2: coding", [
        Candidate("private", False, "rule 1 did not match", 0.0, 0.001),
        Candidate("coder", True, "rule 2 matched", 1.0, 0.004, 0.81),
    ], router="auto", shadow=[RouteDecision("premium", "vip", "rules", "vip tag", [Candidate("premium", True, "x")])])


def test_to_dict_keeps_the_keys_analytics_and_clients_read() -> None:
    data = _decision().to_dict()
    assert data["router"] == "auto" and data["chosen"] == data["model_group"] == "coder"
    assert data["policy"] == "guard" and data["kind"] == "rules" and data["reason"] == "rule 2: coding"
    assert data["candidates"][1] == {"group": "coder", "chosen": True, "why": "rule 2 matched", "score": 1.0,
                                     "cost_estimate": 0.004, "predicted_quality": 0.81}
    assert data["shadow"][0]["chosen"] == "premium"
    assert data["predicted_quality"] is None  # only a learned policy predicts


def test_learned_decision_reports_predictions_in_headers() -> None:
    headers = dict(_decision("learned").headers())
    assert headers[b"x-switchpoint-router"] == b"auto"
    assert headers[b"x-switchpoint-reason"] == b"rule 2: coding"
    assert headers[b"x-switchpoint-predicted-quality"] == b"0.8100"
    assert headers[b"x-switchpoint-predicted-cost"] == b"0.00400000"
    assert b"x-switchpoint-predicted-quality" not in dict(_decision("rules").headers())


def test_reason_header_is_ascii_one_line_and_bounded() -> None:
    value = header_text("caf\u00e9 \u2192 r\u00e9sum\u00e9\r\nx-injected: 1 " + "long " * 100)
    assert value.isascii() and b"\r" not in value and b"\n" not in value
    assert len(value) == REASON_MAX and value.endswith(b"...")
    assert header_text("caf\u00e9") == b"caf?"


def test_no_headers_for_requests_that_named_a_group() -> None:
    assert explain_headers(None) == []
    assert explain_headers({"router": None, "reason": "x"}) == []
