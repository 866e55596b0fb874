"""Levels refitted from the feedback in the request log (``adapt:``), on real SQLite, and over HTTP."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from switchpoint.analytics.readers import LogReader, PostgresReader, SQLiteReader
from switchpoint.config.load import parse_config
from switchpoint.errors import ConfigError
from switchpoint.routing.adapt import AdaptOptions, AdaptTarget, LevelAdapter
from switchpoint.routing.decision import Candidate, RouteDecision
from switchpoint.routing.learned_policy import LearnedCandidate, LearnedPolicy, decision_rule
from switchpoint.routing.levels import shifted
from switchpoint.storage.records import RequestRecord
from switchpoint.storage.sqlite import SQLiteStore
from switchpoint.testing import FakeOpenAIUpstream
from switchpoint.types import Price
from tests.helpers import ServedGateway
from tests.routing.fakes import FakePredictor, fake_learned_api
from tests.storage.support import PG_URL, StoreTarget

NOW = 1_700_000_000.0


def _policy() -> LearnedPolicy:
    predictor = FakePredictor({"gpt-4o": 0.8, "mixtral": 0.5})
    _, choose, _ = fake_learned_api(predictor)
    return LearnedPolicy("quality", [LearnedCandidate("strong", "gpt-4o", Price(5, 15), level=0.0),
                                     LearnedCandidate("weak", "mixtral", Price(0.5, 1.5), level=0.5)],
                         decision_rule({"threshold": 0.1}, choose), objective={"threshold": 0.1},
                         predictor=predictor)  # fmt: skip


def _record(i: int, served: str, *, created: float = NOW, policy: str = "quality", router: str = "auto",
            status: int = 200, weak_level: float = 0.5) -> RequestRecord:  # fmt: skip
    weak_q = shifted(0.5, weak_level)
    decision = RouteDecision(served, policy, "learned", "learned", [
        Candidate("strong", served == "strong", "", None, 0.01, 0.8),
        Candidate("weak", served == "weak", "", None, 0.001, weak_q)], router=router,
        detail={"levels": {"strong": 0.0, "weak": weak_level}})  # fmt: skip
    return RequestRecord(request_id=f"r{i}", created=created, model="auto", stream=False, group=served,
                         status=status, error_class=None if status == 200 else "ProviderError",
                         routing=decision.to_dict())  # fmt: skip


def _reader(store: StoreTarget) -> LogReader:
    if store.kind == "sqlite":
        assert store.path is not None
        return SQLiteReader(store.path)
    return PostgresReader(PG_URL, schema=store.schema)


def test_a_refit_levels_each_candidate_from_its_rated_answers(target: StoreTarget) -> None:
    records = [_record(i, "strong") for i in range(40)] + [_record(100 + i, "weak") for i in range(40)]
    records += [_record(200, "weak", created=NOW - 40 * 86_400),  # older than the window
                _record(201, "weak", policy="other"), _record(202, "weak", router="other"),  # not this policy
                _record(203, "weak", status=502),  # failed
                _record(204, "premium")]  # served by a group the policy did not rank (a fallback)
    ratings = {**{f"r{i}": 0.0 for i in range(40)}, **{f"r{100 + i}": 1.0 for i in range(40)},
               **{f"r{i}": 1.0 for i in (200, 201, 202, 203, 204)}}  # fmt: skip

    async def main() -> tuple[LearnedPolicy, dict[str, Any]]:
        store = target.make()
        await store.migrate()
        await store.write(records)
        for request_id, score in ratings.items():
            await store.add_feedback(request_id, score, None, None)
        await store.add_feedback("r1", 7.0, None, None)  # r1 now averages 3.5: out of range, left out
        await store.close()
        policy = _policy()
        adapter = LevelAdapter(lambda: _reader(target), [AdaptTarget("auto", policy, AdaptOptions())],
                               wall=lambda: NOW + 60)  # fmt: skip
        try:
            return policy, await adapter.refresh()
        finally:
            await adapter.aclose()

    policy, summary = asyncio.run(main())
    report = summary["auto/quality"]
    assert report["ratings"] == {"strong": 39, "weak": 40}
    assert report["left_out"] == {"out_of_range": 1, "not_a_candidate": 1}
    assert policy.levels["strong"] < -2.0  # rated 0 where 0.8 was predicted
    assert policy.levels["weak"] > 2.0  # rated 1 where 0.5 (raw: the recorded 0.62 minus its 0.5 level)
    assert policy.levels_source["from"] == "feedback"
    decision = policy.route(_ctx("any prompt"))
    assert decision is not None and decision.group == "weak"  # the strong model is worse on this workload
    assert decision.detail["levels"] == {g: round(v, 6) for g, v in policy.levels.items()}


def _ctx(text: str) -> Any:
    from switchpoint.routing.protocol import RouteContext
    from switchpoint.validation import validate_chat_body

    return RouteContext(validate_chat_body({"model": "auto", "messages": [{"role": "user", "content": text}]}))


def test_without_ratings_the_configured_levels_stay(tmp_path: Path) -> None:
    database = tmp_path / "logs.db"

    async def main() -> LearnedPolicy:
        store = SQLiteStore(str(database))
        await store.migrate()
        await store.close()
        policy = _policy()
        adapter = LevelAdapter(lambda: SQLiteReader(database), [AdaptTarget("auto", policy, AdaptOptions())])
        try:
            await adapter.refresh()
        finally:
            await adapter.aclose()
        return policy

    assert _policy().levels == asyncio.run(main()).levels == {"strong": 0.0, "weak": 0.5}


def test_an_unreadable_log_keeps_the_levels_and_is_retried(tmp_path: Path) -> None:
    sleeps: list[float] = []

    async def main() -> LevelAdapter:
        policy = _policy()
        done = asyncio.Event()

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            if len(sleeps) >= 5:
                done.set()
                await asyncio.Event().wait()

        adapter = LevelAdapter(lambda: SQLiteReader(tmp_path / "missing.db"),
                               [AdaptTarget("auto", policy, AdaptOptions(refresh_s=30))], sleep=sleep)  # fmt: skip
        adapter.start()
        await asyncio.wait_for(done.wait(), 5)
        await adapter.aclose()
        assert policy.levels == {"strong": 0.0, "weak": 0.5}
        return adapter

    adapter = asyncio.run(main())
    # the first three failures (a log not created yet, at a first start) are retried after 5 s, then every refresh_s
    assert adapter.failures == 5 and adapter.refreshes == 0 and sleeps == [5.0, 5.0, 5.0, 30, 30]


def _config(upstream: FakeOpenAIUpstream, database: Path | None, **adapt: Any) -> dict[str, Any]:
    def group(name: str, price: float) -> dict[str, Any]:
        return {"name": name, "provider": "openai_compat", "model": f"up-{name}", "api_base": upstream.base_url,
                "input_cost_per_mtok": price, "output_cost_per_mtok": price}  # fmt: skip

    return {"models": [group("premium", 10.0), group("general", 0.5)],
            "logs": {"url": f"sqlite:///{database}" if database else None, "flush_ms": 20},
            "routers": {"auto": {"default": "general", "policies": [{
                "kind": "learned", "artifact": "default", "adapt": adapt or {},
                "candidates": {"premium": {"profile": "gpt-4-1106-preview"},
                               "general": {"profile": "mixtral-8x7b-instruct"}},
                "objective": {"threshold": 0.12}}]}}}  # greetings gain 0.04-0.09, the hard prompt 0.17  # fmt: skip


def test_adapt_is_checked_at_config_load(upstream: FakeOpenAIUpstream, tmp_path: Path) -> None:
    from switchpoint.config.build import build_gateway

    with pytest.raises(ConfigError, match="adapt reads feedback from the request log: set logs.url"):
        build_gateway(parse_config(_config(upstream, None), {}))
    data = _config(upstream, tmp_path / "logs.db")
    data["routers"]["auto"]["shadow"] = [{**data["routers"]["auto"]["policies"][0], "name": "trial"}]
    with pytest.raises(ConfigError, match=r"shadow\[0\]: adapt needs a policy that serves"):
        build_gateway(parse_config(data, {}))
    data = _config(upstream, tmp_path / "logs.db")
    data["routers"]["auto"]["policies"][0]["adapt"] = True  # the defaults
    assert parse_config(data, {}).routers["auto"].policies[0].adapt is not None
    data["routers"]["auto"]["policies"][0]["adapt"] = False
    assert parse_config(data, {}).routers["auto"].policies[0].adapt is None
    data = _config(upstream, tmp_path / "logs.db", refresh_s=1)
    with pytest.raises(ConfigError, match="refresh_s"):
        parse_config(data, {})
    data = _config(upstream, tmp_path / "logs.db")
    data["routers"]["auto"]["policies"][0] = {"kind": "rules", "rules": [{"when": "true", "to": "general"}],
                                              "adapt": {}}  # fmt: skip
    with pytest.raises(ConfigError, match="not for a rules policy: adapt"):
        parse_config(data, {})


HARD = ("Prove that there are infinitely many primes, then derive the asymptotic density of primes from the "
        "prime number theorem and explain what the Riemann hypothesis would add (variant {i}). ") * 3


def test_feedback_over_http_moves_the_levels_and_the_decisions(upstream: FakeOpenAIUpstream, tmp_path: Path) -> None:
    """The real shipped predictor sends hard prompts to premium; on this workload premium's answers are
    rated 0 and general's 1; after a refit the levels say so, and the same hard prompt goes to general."""
    with ServedGateway(_config(upstream, tmp_path / "logs.db")) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
        served: dict[str, int] = {"premium": 0, "general": 0}
        for i in range(24):
            prompt = HARD.format(i=i) if i % 2 else ("hi there", "hello", "thanks!")[i % 3]
            raw = client.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": prompt}])
            group = raw.headers["x-switchpoint-model"]
            served[group] += 1
            score = 0.0 if group == "premium" else 1.0
            response = httpx.post(gateway.url + "/v1/feedback",
                                  json={"request_id": raw.headers["x-request-id"], "score": score})
            assert response.status_code == 200
        assert served == {"premium": 12, "general": 12}
        before = httpx.post(gateway.url + "/v1/route", json={"model": "auto", "messages": [
            {"role": "user", "content": HARD.format(i=99)}]}).json()["decision"]  # fmt: skip
        assert before["chosen"] == "premium" and "levels" not in before.get("detail", {})

        adapter = gateway.app.gateway.routing.adapter
        assert adapter is not None
        future = asyncio.run_coroutine_threadsafe(adapter.refresh(), gateway.loop)
        summary = future.result(10)["auto/learned"]
        assert summary["ratings"] == {"premium": 12, "general": 12}
        # premium rated 0 where it was predicted good: far down; general rated 1 where it was predicted good already
        # (greetings: q̂ near 1), so it moves up less
        assert summary["levels"]["premium"] < -1.0 < 0.5 < summary["levels"]["general"]

        after = httpx.post(gateway.url + "/v1/route", json={"model": "auto", "messages": [
            {"role": "user", "content": HARD.format(i=99)}]}).json()["decision"]  # fmt: skip
        assert after["chosen"] == "general"
        assert after["detail"]["levels"]["premium"] == pytest.approx(summary["levels"]["premium"], abs=1e-6)
        quality = {c["group"]: c["predicted_quality"] for c in after["candidates"]}
        raw_premium = {c["group"]: c["predicted_quality"] for c in before["candidates"]}["premium"]
        assert quality["premium"] == pytest.approx(shifted(raw_premium, summary["levels"]["premium"]), abs=1e-3)
        assert not math.isnan(quality["general"])


def test_routes_show_fits_the_levels_from_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from switchpoint.cli.main import main

    database = tmp_path / "logs.db"

    async def seed() -> None:
        store = SQLiteStore(str(database))
        await store.migrate()
        await store.write([_record(i, "strong", created=time.time()) for i in range(20)])
        for i in range(20):
            await store.add_feedback(f"r{i}", 0.0, None, None)
        await store.close()

    asyncio.run(seed())
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "models:\n"
        "  - {name: strong, provider: openai_compat, model: x, api_base: 'http://127.0.0.1:9/v1'}\n"
        "  - {name: weak, provider: openai_compat, model: y, api_base: 'http://127.0.0.1:9/v1'}\n"
        f"logs: {{url: 'sqlite:///{database}'}}\n"
        "routers:\n  auto:\n    default: weak\n    policies:\n"
        "      - {kind: learned, name: quality, adapt: true, objective: {threshold: 0.1},\n"
        "         candidates: {strong: {profile: gpt-4o}, weak: {profile: mixtral-8x7b, level: 0.5}}}\n")
    assert main(["routes", "show", str(config)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "levels (from feedback)" in line)
    strong = float(line.split("strong ")[1].split()[0])
    assert strong < -0.5 and "(20 ratings)" in line and "weak +0.500" in line  # no ratings: as configured
    config.write_text(config.read_text().replace(str(database), str(tmp_path / "absent.db")))
    assert main(["routes", "show", str(config)]) == 0
    captured = capsys.readouterr()
    assert "levels (from config): strong +0.000, weak +0.500" in captured.out
    assert "levels not refitted from the log" in captured.err
