"""The loop from served traffic to a router trained on it: a gateway with ``logs.store_content`` keeps
each conversation (streamed answers put together from their chunks), clients rate answers through
``/v1/feedback``, ``switchpoint export`` turns the log into routing-quality rows, and ``switchpoint
train`` / ``eval`` read them. Real HTTP on loopback, the real ``openai`` and ``anthropic`` clients,
real SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from switchpoint.cli.main import main
from switchpoint.storage.sqlite import SQLiteStore
from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway

PROMPTS = ["What is the capital of France?", "Prove that there are infinitely many primes.",
           "Write a haiku about routers.", "Sum the integers from 1 to 100."]  # fmt: skip
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


def _config(upstream: FakeOpenAIUpstream, database: Path) -> dict[str, Any]:
    def group(name: str, model: str, price: float) -> dict[str, Any]:
        return {"name": name, "provider": "openai_compat", "model": model, "api_base": upstream.base_url,
                "input_cost_per_mtok": price, "output_cost_per_mtok": 4 * price}  # fmt: skip

    return {"models": [group("cheap", "up-cheap", 0.1), group("strong", "up-strong", 5.0),
                       group("tools", "up-tools", 1.0)],
            "logs": {"url": f"sqlite:///{database}", "store_content": True, "flush_ms": 20}}  # fmt: skip


async def _content(database: Path, request_ids: list[str]) -> dict[str, Any]:
    store = SQLiteStore(str(database))
    try:
        return {rid: (await store.get_request(rid) or {}).get("content") for rid in request_ids}
    finally:
        await store.close()


def test_stored_conversations_and_feedback_export_to_rows_a_router_trains_on(
    upstream: FakeOpenAIUpstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.script("up-cheap", reply="A short cheap answer.")
    upstream.script("up-strong", chunks=("A careful ", "strong ", "answer."))
    upstream.script("up-tools", tool_calls=({"id": "call_7", "type": "function",
                                             "function": {"name": "lookup", "arguments": '{"q": "routers"}'}},))
    database = tmp_path / "logs.db"
    ratings: dict[str, float] = {}
    with ServedGateway(_config(upstream, database)) as served:
        client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
        ids: dict[tuple[str, str], str] = {}
        for i, prompt in enumerate(PROMPTS):
            messages = [{"role": "system", "content": "Be exact."}, {"role": "user", "content": prompt}]
            raw = client.chat.completions.with_raw_response.create(model="cheap", messages=messages)  # type: ignore[arg-type]
            assert raw.parse().choices[0].message.content == "A short cheap answer."
            ids["cheap", prompt] = raw.headers["x-request-id"]
            raw_stream = client.chat.completions.with_raw_response.create(
                model="strong", messages=messages, stream=True)  # type: ignore[arg-type]
            streamed = "".join(c.choices[0].delta.content or "" for c in raw_stream.parse() if c.choices)
            assert streamed == "A careful strong answer."
            ids["strong", prompt] = raw_stream.headers["x-request-id"]
            ratings[ids["cheap", prompt]] = 1.0 if i % 2 == 0 else 0.0  # the cheap model fails the hard ones
            ratings[ids["strong", prompt]] = 1.0
        raw_tools = client.chat.completions.with_raw_response.create(
            model="tools", messages=[{"role": "user", "content": "Look up routers."}], tools=[TOOL], stream=True)  # type: ignore[arg-type, list-item]
        list(raw_tools.parse())
        tools_id = raw_tools.headers["x-request-id"]
        with anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0) as claude:
            raw_claude = claude.messages.with_raw_response.create(
                model="cheap", max_tokens=64, system="Be exact.", messages=[{"role": "user", "content": PROMPTS[0]}])
            claude_id = raw_claude.headers["x-request-id"]
        ratings[claude_id] = 1.0
        for request_id, score in ratings.items():
            response = httpx.post(served.url + "/v1/feedback", json={"request_id": request_id, "score": score})
            assert response.status_code == 200, response.text
        # feedback with a label that --label does not map: left out, and counted
        labelled = httpx.post(served.url + "/v1/feedback", json={"request_id": tools_id, "label": "great"})
        assert labelled.status_code == 200

    content = asyncio.run(_content(database, [ids["cheap", PROMPTS[1]], ids["strong", PROMPTS[1]], tools_id,
                                              claude_id]))  # fmt: skip
    assert content[ids["cheap", PROMPTS[1]]] == {
        "messages": [{"role": "system", "content": "Be exact."}, {"role": "user", "content": PROMPTS[1]}],
        "response": "A short cheap answer."}  # fmt: skip
    assert content[ids["strong", PROMPTS[1]]]["response"] == "A careful strong answer."  # put together from chunks
    assert content[tools_id]["response"] is None
    assert content[tools_id]["tool_calls"] == [{"id": "call_7", "type": "function",
                                                "function": {"name": "lookup", "arguments": '{"q": "routers"}'}}]
    assert content[claude_id]["messages"][-1]["content"] == PROMPTS[0]  # the Anthropic request, in the OpenAI shape
    assert content[claude_id]["response"] == "A short cheap answer."

    exported = tmp_path / "logged.jsonl"
    capsys.readouterr()
    assert main(["export", "--db", f"sqlite:///{database}", "--since", "1h", "--out", str(exported),
                 "--label", "good=1"]) == 0  # fmt: skip
    summary = capsys.readouterr().err
    assert "exported 4 rows from 9 of 10 requests with feedback" in summary
    assert "left out: 1 had feedback without a score or a --label mapping" in summary
    rows = [orjson.loads(line) for line in exported.read_bytes().splitlines()]
    assert [r["prompt"] for r in rows] == PROMPTS
    assert rows[0]["scores"] == {"cheap": 1.0, "strong": 1.0}  # two cheap requests (OpenAI and Anthropic API)
    assert rows[0]["meta"]["requests"] == 3
    assert [r["scores"] for r in rows[1:]] == [{"cheap": 0.0, "strong": 1.0}, {"cheap": 1.0, "strong": 1.0},
                                               {"cheap": 0.0, "strong": 1.0}]  # fmt: skip
    assert all(r["cost"]["strong"] > r["cost"]["cheap"] > 0 for r in rows)

    artifact = tmp_path / "router.json.gz"
    assert main(["train", str(exported), "--router", "mf", "--out", str(artifact)]) == 0
    capsys.readouterr()
    assert main(["eval", str(exported), "--router", str(artifact), "--strong", "strong", "--weak", "cheap",
                 "--bootstrap", "10", "--json"]) == 0  # fmt: skip
    report = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["apgr"] is not None and "baselines" in report


def test_export_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "logs.db"
    asyncio.run(_migrate(database))
    db = f"sqlite:///{database}"
    assert main(["export", "--db", db, "--score-range", "1"]) == 2
    assert "--score-range must be LOW,HIGH" in capsys.readouterr().err
    assert main(["export", "--db", db, "--label", "good"]) == 2
    assert "--label must be LABEL=SCORE" in capsys.readouterr().err
    assert main(["export", "--db", db, "--label", "good=3"]) == 2
    assert "label 'good' must be between 0 and 1" in capsys.readouterr().err
    assert main(["export", "--db", db, "--since", "yesterday-ish"]) == 2
    assert "--since" in capsys.readouterr().err
    assert main(["export", "--db", f"sqlite:///{tmp_path / 'none.db'}"]) == 1
    assert "no log database" in capsys.readouterr().err
    assert main(["export", "--db", db, "--out", str(tmp_path / "empty.jsonl")]) == 0
    assert "exported 0 rows from 0 of 0 requests" in capsys.readouterr().err
    assert (tmp_path / "empty.jsonl").read_bytes() == b""


async def _migrate(database: Path) -> None:
    store = SQLiteStore(str(database))
    try:
        await store.migrate()
    finally:
        await store.close()
