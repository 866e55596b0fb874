"""Real routed traffic for the end-to-end dashboard and ``switchpoint stats`` tests.

A gateway with a SQLite request log and a router ``auto`` made of a ``rules`` policy on the
analysed features (personal data → ``private``, coding → ``coder``), then a ``learned`` policy
(premium or general, by a fake quality predictor with the contract API, as in
``tests/routing/test_routing_config.py``), default ``general``, and a shadow rules policy that
would send ``vip``-tagged requests to ``premium``. The real ``openai`` client sends the requests
to it; the upstream is the fake OpenAI server; feedback goes through ``POST /v1/feedback``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import switchpoint.config.build as build_module
from switchpoint.storage.records import RequestRecord
from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway
from tests.routing.fakes import FakePredictor, fake_learned_api

LIVE_KEY = "sk-live-dashboard-0123456789"
AUTH = {"authorization": f"Bearer {LIVE_KEY}"}
#: group → (input, output) USD per million tokens. ``private`` runs locally: free, so unpriced.
PRICES: dict[str, tuple[float, float]] = {"general": (0.5, 1.5), "coder": (3.0, 15.0), "private": (0.0, 0.0),
                                          "premium": (15.0, 75.0)}  # fmt: skip

CODING = "Write a Python function that parses a CSV file and returns the rows as dictionaries."
PII = "Please update my account: my email is jane.doe@example.com and my phone is +1 415 555 0134."
CHAT = "Tell me something nice about autumn."
HARD = "Give a careful proof that there are infinitely many primes."


@dataclass(frozen=True)
class Call:
    request_id: str
    text: str
    group: str  # the group the router must choose
    stream: bool = False
    vip: bool = False
    score: float | None = None  # feedback posted afterwards
    model: str = "auto"


#: What the test sends. Learned decisions: q(general) = 0.85, q(premium) = 0.9; a prompt with
#: "proof" lifts premium to 1.0, past the 0.1 threshold. Direct requests name the group.
CALLS: tuple[Call, ...] = (
    Call("live-code-1", CODING, "coder", score=0.9),
    Call("live-code-2", CODING + " Use the csv module.", "coder", stream=True, vip=True, score=0.8),
    Call("live-code-3", "Fix this Python bug: def f(x): return x +", "coder"),
    Call("live-pii-1", PII, "private", score=1.0),
    Call("live-pii-2", PII.replace("jane.doe", "john.roe"), "private", vip=True),
    Call("live-chat-1", CHAT, "general", score=0.6),
    Call("live-chat-2", "What is a good name for a grey cat?", "general", vip=True, score=0.7),
    Call("live-chat-3", "Suggest a weekend plan in Lisbon.", "general", stream=True),
    Call("live-chat-4", "Tell me a short joke about penguins.", "general"),
    Call("live-hard-1", HARD, "premium", score=1.0),
    Call("live-hard-2", "Write a proof that the square root of two is irrational.", "premium", vip=True),
    Call("live-direct-1", CHAT, "general", model="general"),
    Call("live-direct-2", "Hello there.", "general", model="general", score=0.5),
)


def live_config(upstream: FakeOpenAIUpstream, db: Path) -> dict[str, Any]:
    def group(name: str) -> dict[str, Any]:
        price = PRICES[name]
        return {"name": name, "provider": "openai_compat", "model": f"up-{name}", "api_base": upstream.base_url,
                "api_key": "sk-upstream-secret-0123456789", "input_cost_per_mtok": price[0],
                "output_cost_per_mtok": price[1]}  # fmt: skip

    return {
        "server": {"master_key": LIVE_KEY},
        "logs": {"url": f"sqlite:///{db}", "spool_dir": None, "flush_ms": 20},
        "models": [group(name) for name in PRICES],
        "routers": {"auto": {
            "default": "general",
            "policies": [
                {"kind": "rules", "name": "guardrails", "rules": [
                    {"when": "features.pii.found", "to": "private", "reason": "personal data stays local"},
                    {"when": "features.task_type.label == 'coding'", "to": "coder"},
                ]},
                {"kind": "learned", "name": "quality", "objective": {"threshold": 0.1},
                 "candidates": {"premium": {"profile": "big"}, "general": {"profile": "small"}}},
            ],
            "shadow": [{"kind": "rules", "name": "premium-tag", "rules": [{"when": "'vip' in tags", "to": "premium"}]}],
        }},
    }  # fmt: skip


@dataclass
class LiveTraffic:
    gateway: ServedGateway
    db: Path
    config: dict[str, Any]
    records: dict[str, RequestRecord] = field(default_factory=dict)  # what the engine emitted, by request id

    @property
    def url(self) -> str:
        return self.gateway.url

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/v1/{path}", params=params, headers=AUTH, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def routed(self) -> list[RequestRecord]:
        return [r for r in self.records.values() if r.routing is not None]


def _send(client: openai.OpenAI, call: Call) -> None:
    headers = {"x-request-id": call.request_id, **({"x-switchpoint-tags": "vip"} if call.vip else {})}
    messages: Any = [{"role": "user", "content": call.text}]
    raw = client.chat.completions.with_raw_response.create(model=call.model, messages=messages, stream=call.stream,
                                                           extra_headers=headers)  # fmt: skip
    answer = raw.parse()
    text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices) if call.stream \
        else answer.choices[0].message.content  # fmt: skip
    assert text, call
    assert raw.headers["x-switchpoint-model"] == call.group, (call, raw.headers.get("x-switchpoint-reason"))


@contextmanager
def live_traffic(upstream: FakeOpenAIUpstream, db: Path) -> Iterator[LiveTraffic]:
    """Serve the gateway, send :data:`CALLS`, post their feedback, and wait until the log holds
    every request (the writer flushes in the background)."""
    predictor = FakePredictor({"big": 0.9, "small": 0.85}, bonus={"big": 0.1})
    config = live_config(upstream, db)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build_module, "learned_api", lambda: fake_learned_api(predictor))
        gateway = ServedGateway(config)
    with gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=LIVE_KEY, max_retries=0)
        for call in CALLS:
            _send(client, call)
        for call in CALLS:
            if call.score is not None:
                answer = httpx.post(f"{gateway.url}/v1/feedback", headers=AUTH, timeout=30,
                                    json={"request_id": call.request_id, "score": call.score, "label": "live"})
                assert answer.status_code == 200, answer.text
        traffic = LiveTraffic(gateway, db, config, {r.request_id: r for r in gateway.sink.records})
        assert sorted(traffic.records) == sorted(c.request_id for c in CALLS)
        done = threading.Event()
        for _ in range(500):  # feedback waited for its own records; the rest may still be queued
            if traffic.api("analytics/summary", since="1h")["requests"] == len(CALLS):
                done.set()
                break
            done.wait(0.02)
        assert done.is_set(), "the request log never held every request"
        yield traffic
