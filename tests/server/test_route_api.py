"""``POST /v1/route``: the dry run returns the decision and the features, and calls no model."""

from __future__ import annotations

import httpx

from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway, chat_config


def test_dry_run_returns_decision_and_features(upstream: FakeOpenAIUpstream) -> None:
    config = {**chat_config(upstream), "analysis": {"budget_ms": 2000, "intents": {"billing": {
        "examples": ["I was charged twice this month", "refund my payment", "my invoice is wrong"]}}}}
    with ServedGateway(config) as served:
        body = {"model": "pair", "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Write a Python function that reverses a linked list. My email is a@b.io"},
        ], "max_tokens": 100}
        response = httpx.post(served.url + "/v1/route", json=body, timeout=30)
        assert response.status_code == 200, response.text
        data = response.json()
        assert upstream.requests == []
        decision = data["decision"]
        assert decision["model_group"] == "pair"
        assert [c["id"] for c in decision["candidates"]] == ["first", "second"]
        features = data["features"]
        for key in ("task_type", "language", "sentiment", "pii", "complexity", "intents", "prompt_tokens", "messages",
                    "has_images", "has_tools", "json_schema", "tags"):
            assert key in features, key
        assert features["task_type"]["label"] == "coding"
        assert features["language"]["code"] == "en"
        assert features["pii"]["found"] is True and "email" in features["pii"]["kinds"]
        assert features["messages"] == 2 and features["prompt_tokens"] > 10
        unknown = httpx.post(served.url + "/v1/route", json={**body, "model": "nope"})
        assert unknown.status_code == 404
        bad = httpx.post(served.url + "/v1/route", content=b"{")
        assert bad.status_code == 400
