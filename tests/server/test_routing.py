"""Routers over real HTTP: ``model="auto"`` is analysed, decided and served; headers explain it;
the record keeps the decision and the features; shadow policies decide but never serve."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway

CODING = "Write a Python function that parses a CSV file and returns the rows as dictionaries."
PII = "Please update my account: my email is jane.doe@example.com and my phone is +1 415 555 0134."
CHAT = "Tell me something nice about autumn."


def routed_config(upstream: FakeOpenAIUpstream, **extra: Any) -> dict[str, Any]:
    def group(name: str, model: str, price: float) -> dict[str, Any]:
        return {"name": name, "provider": "openai_compat", "model": model, "api_base": upstream.base_url,
                "api_key": "sk-upstream-secret-0123456789", "input_cost_per_mtok": price,
                "output_cost_per_mtok": 2 * price}

    return {
        "models": [group("general", "up-general", 1.0), group("coder", "up-coder", 3.0),
                   group("private", "up-private", 0.0), group("premium", "up-premium", 10.0)],
        "routers": {"auto": {
            "default": "general",
            "policies": [{"kind": "rules", "name": "guardrails", "rules": [
                {"when": "features.pii.found", "to": "private", "reason": "personal data stays local"},
                {"when": "features.task_type.label == 'coding'", "to": "coder"},
            ]}],
            "shadow": [{"kind": "rules", "name": "premium-tag", "rules": [{"when": "'vip' in tags", "to": "premium"}]}],
        }},
        **extra,
    }


@pytest.fixture(scope="module")
def served(upstream: FakeOpenAIUpstream) -> Any:
    with ServedGateway(routed_config(upstream)) as gateway:
        yield gateway


def _client(served: ServedGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("stream", [False, True])
def test_auto_routes_coding_and_pii_to_different_groups(
    served: ServedGateway, upstream: FakeOpenAIUpstream, stream: bool
) -> None:
    client = _client(served)
    seen = {}
    for text, group in ((CODING, "coder"), (PII, "private"), (CHAT, "general")):
        upstream.reset()
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": text}], stream=stream,
            extra_headers={"x-switchpoint-tags": "vip"})
        answer = raw.parse()
        if stream:
            text_out = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
        else:
            text_out = answer.choices[0].message.content or ""
        assert text_out
        headers = raw.headers
        assert headers["x-switchpoint-router"] == "auto"
        assert headers["x-switchpoint-model"] == group
        assert headers["x-switchpoint-deployment"]
        reason = headers["x-switchpoint-reason"]
        assert reason.isascii() and 0 < len(reason) <= 200
        assert "x-switchpoint-predicted-quality" not in headers  # no learned policy decided
        assert [r.body["model"] for r in upstream.requests] == [f"up-{group}"]  # the shadow never serves
        seen[group] = reason
    assert seen["private"] == "personal data stays local"
    assert "coding" in seen["coder"]
    assert seen["general"].startswith("no policy matched")


def test_record_carries_decision_features_and_shadow(served: ServedGateway) -> None:
    client = _client(served)
    served.sink.records.clear()
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": CODING}],
                                   extra_headers={"x-switchpoint-tags": "vip", "x-team": "search"})
    record = served.sink.records[-1]
    assert record.model == "auto" and record.group == "coder"
    routing = record.routing
    assert routing is not None
    assert routing["router"] == "auto" and routing["chosen"] == "coder" and routing["kind"] == "rules"
    assert routing["features"]["task_type"]["label"] == "coding"
    assert [c["group"] for c in routing["candidates"]] == ["private", "coder"]
    assert [c["chosen"] for c in routing["candidates"]] == [False, True]
    assert all(c["cost_estimate"] is not None for c in routing["candidates"])
    shadow = routing["shadow"]
    assert len(shadow) == 1 and shadow[0]["chosen"] == "premium" and shadow[0]["policy"] == "premium-tag"


def test_plain_model_group_is_not_analysed(served: ServedGateway) -> None:
    client = _client(served)
    raw = client.chat.completions.with_raw_response.create(model="general",
                                                           messages=[{"role": "user", "content": PII}])
    assert "x-switchpoint-router" not in raw.headers
    assert served.sink.records[-1].routing is None


def test_dry_run_shows_every_candidate(served: ServedGateway, upstream: FakeOpenAIUpstream) -> None:
    upstream.reset()
    body = {"model": "auto", "messages": [{"role": "user", "content": PII}]}
    response = httpx.post(served.url + "/v1/route", json=body, headers={"x-switchpoint-tags": "vip"}, timeout=30)
    assert response.status_code == 200, response.text
    data = response.json()
    assert upstream.requests == []
    decision = data["decision"]
    assert decision["router"] == "auto" and decision["model_group"] == "private"
    assert decision["policy"] == "guardrails" and decision["reason"] == "personal data stays local"
    candidates = decision["candidates"]
    assert [(c["group"], c["chosen"]) for c in candidates] == [("private", True), ("coder", False)]
    assert "not evaluated" in candidates[1]["why"]
    for candidate in candidates:
        assert {"score", "cost_estimate", "predicted_quality", "why"} <= set(candidate)
    assert decision["shadow"][0]["chosen"] == "premium"
    assert [d["model"] for d in decision["deployments"]] == ["up-private"]
    assert data["features"]["pii"]["found"] is True


def test_unknown_router_name_is_404_with_suggestions(served: ServedGateway) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        _client(served).chat.completions.create(model="autoo", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 404
    assert "auto" in str(info.value)


def test_models_list_includes_routers(served: ServedGateway) -> None:
    names = [m.id for m in _client(served).models.list()]
    assert "auto" in names and "general" in names
    auto = _client(served).models.retrieve("auto")
    assert auto.id == "auto" and auto.model_extra is not None and auto.model_extra["router"] == "auto"
    assert "general" in auto.model_extra["groups"]


@pytest.mark.parametrize("stream", [False, True])
def test_messages_endpoint_is_routed_too(served: ServedGateway, upstream: FakeOpenAIUpstream, stream: bool) -> None:
    upstream.reset()
    client = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
    messages: Any = [{"role": "user", "content": CODING}]
    if stream:
        with client.messages.with_streaming_response.create(model="auto", max_tokens=50, messages=messages,
                                                            stream=True) as raw:
            headers = raw.headers
            assert b"message_stop" in b"".join(raw.iter_bytes())
    else:
        raw_message = client.messages.with_raw_response.create(model="auto", max_tokens=50, messages=messages)
        headers = raw_message.headers
        assert raw_message.parse().content
    assert headers["x-switchpoint-router"] == "auto" and headers["x-switchpoint-model"] == "coder"
    assert [r.body["model"] for r in upstream.requests] == ["up-coder"]


def test_rules_read_headers_but_never_credentials(upstream: FakeOpenAIUpstream) -> None:
    config = routed_config(upstream, server={"master_key": "mk-test-0123456789"})
    config["routers"]["auto"]["policies"] = [{"kind": "rules", "rules": [
        {"when": "headers.authorization != null", "to": "premium"},
        {"when": "headers.x-team == 'search'", "to": "coder"},
    ]}]
    with ServedGateway(config) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="mk-test-0123456789", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": CHAT}], extra_headers={"x-team": "search"})
        assert raw.headers["x-switchpoint-model"] == "coder"
        record = gateway.sink.records[-1]
        assert "mk-test" not in orjson.dumps(record.routing).decode()


def test_request_log_stores_the_decision(upstream: FakeOpenAIUpstream, tmp_path: Path) -> None:
    database = tmp_path / "logs.db"
    config = routed_config(upstream, logs={"url": f"sqlite:///{database}", "spool_dir": None, "flush_ms": 10})
    with ServedGateway(config) as gateway:
        _client(gateway).chat.completions.create(model="auto", messages=[{"role": "user", "content": PII}])
    with sqlite3.connect(database) as db:
        (text,) = db.execute("SELECT routing FROM requests").fetchone()
    routing = orjson.loads(text)
    assert routing["router"] == "auto" and routing["chosen"] == "private"
    assert routing["features"]["pii"]["found"] is True


def test_analysis_loads_at_start_up_only_when_a_router_needs_it(upstream: FakeOpenAIUpstream) -> None:
    with ServedGateway(routed_config(upstream)) as gateway:
        assert gateway.app.gateway.routing.analysis.loaded  # before any request: loaded by the lifespan start
    tags_only = routed_config(upstream)
    tags_only["routers"]["auto"] = {"default": "general", "policies": [
        {"kind": "rules", "rules": [{"when": "'vip' in tags", "to": "premium"}]}]}
    with ServedGateway(tags_only) as gateway:
        raw = _client(gateway).chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": PII}], extra_headers={"x-switchpoint-tags": "vip"})
        assert raw.headers["x-switchpoint-model"] == "premium"
        assert not gateway.app.gateway.routing.analysis.loaded  # no policy reads the features
        assert gateway.sink.records[-1].routing["features"] is None


def test_sdk_routes_in_process(upstream: FakeOpenAIUpstream) -> None:
    from switchpoint import SyncRouter

    with SyncRouter(routed_config(upstream)) as router:
        reply = router.chat(model="auto", messages=[{"role": "user", "content": CODING}])
        assert reply["choices"][0]["message"]["content"]
        assert [r.body["model"] for r in upstream.requests] == ["up-coder"]


def test_the_shipped_learned_router_decides_over_http(upstream: FakeOpenAIUpstream) -> None:
    """The real pretrained artifact (no stand-in): a trivial prompt stays on the cheap group, a long
    hard one goes to the strong group; headers carry the prediction; the dry run shows candidates."""
    config = routed_config(upstream)
    config["routers"]["auto"] = {"default": "general", "policies": [{
        "kind": "learned", "artifact": "default",
        "candidates": {"premium": {"profile": "gpt-4-1106-preview"}, "general": {"profile": "mixtral-8x7b-instruct"}},
        "objective": {"threshold": 0.12}}]}
    hard = ("Prove that there are infinitely many primes, then derive the asymptotic density of primes from the "
            "prime number theorem and explain what the Riemann hypothesis would add. ") * 3
    with ServedGateway(config) as gateway:
        client = _client(gateway)
        chosen = {}
        for name, prompt in (("easy", "hi there"), ("hard", hard)):
            raw = client.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": prompt}])
            chosen[name] = raw.headers["x-switchpoint-model"]
            assert raw.headers["x-switchpoint-router"] == "auto"
            assert raw.headers["x-switchpoint-reason"].startswith("learned")
            assert 0.0 <= float(raw.headers["x-switchpoint-predicted-quality"]) <= 1.0
            assert float(raw.headers["x-switchpoint-predicted-cost"]) > 0
        assert chosen == {"easy": "general", "hard": "premium"}
        dry = httpx.post(gateway.url + "/v1/route",
                         json={"model": "auto", "messages": [{"role": "user", "content": hard}]}).json()
        decision = dry["decision"]
        assert decision["kind"] == "learned" and decision["chosen"] == "premium"
        assert {c["group"] for c in decision["candidates"]} == {"premium", "general"}
        assert all("predicted_quality" in c and "why" in c for c in decision["candidates"])
        record = gateway.sink.records[-1]
        assert record.routing is not None and record.routing["kind"] == "learned"
