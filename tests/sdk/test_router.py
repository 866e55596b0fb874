"""The in-process SDK: same engine, no HTTP in front."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import switchpoint
from switchpoint.analytics.feedback import UnknownRequest
from switchpoint.storage.sinks import MemorySink
from switchpoint.storage.sqlite import SQLiteStore
from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import chat_config

MESSAGES = [{"role": "user", "content": "hello"}]


def test_async_chat_and_stream(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", reply="hi from sdk", prompt_tokens=2)
    sink = MemorySink()

    async def run() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        async with switchpoint.Router(chat_config(upstream), sink=sink) as router:
            reply = await router.chat(model="chat", messages=MESSAGES, temperature=0)
            chunks = [c async for c in await router.chat(model="chat", messages=MESSAGES, stream=True)]
            more = [c async for c in router.stream(model="chat", messages=MESSAGES)]
            return reply, chunks, more

    reply, chunks, more = asyncio.run(run())
    assert reply["choices"][0]["message"]["content"] == "hi from sdk"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "hi from sdk"
    assert len(more) == len(chunks)
    assert [r.stream for r in sink.records] == [False, True, True]
    assert sink.records[0].cost > 0


def test_sync_router(upstream: FakeOpenAIUpstream, tmp_path: Any) -> None:
    upstream.script("up-chat", reply="sync works")
    config = tmp_path / "switchpoint.yaml"
    config.write_text(
        "models:\n  - name: chat\n    provider: openai_compat\n    model: up-chat\n"
        f"    api_base: {upstream.base_url}\n"
    )
    with switchpoint.SyncRouter(str(config)) as router:
        assert router.models == ["chat"]
        reply = router.chat(model="chat", messages=MESSAGES)
        assert reply["choices"][0]["message"]["content"] == "sync works"
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in router.chat(
            model="chat", messages=MESSAGES, stream=True))
        assert text == "sync works"


def test_errors_are_switchpoint_errors(upstream: FakeOpenAIUpstream) -> None:
    with switchpoint.SyncRouter(chat_config(upstream)) as router:
        with pytest.raises(switchpoint.UnknownModel):
            router.chat(model="nope", messages=MESSAGES)
        with pytest.raises(switchpoint.InvalidRequest):
            router.chat(model="chat", messages=[])
        upstream.script("up-chat", status=500)
        with pytest.raises(switchpoint.ProviderError):
            router.chat(model="chat", messages=MESSAGES)


def test_two_routers_do_not_share_state(upstream: FakeOpenAIUpstream) -> None:
    config_a = chat_config(upstream)
    config_b = chat_config(upstream)
    config_b["models"] = config_b["models"][:1]
    config_b["models"][0]["name"] = "only-b"
    a, b = switchpoint.SyncRouter(config_a), switchpoint.SyncRouter(config_b)
    try:
        assert a.models == ["chat", "pair"] and b.models == ["only-b"]
        with pytest.raises(switchpoint.UnknownModel):
            b.chat(model="chat", messages=MESSAGES)
        assert a.chat(model="chat", messages=MESSAGES)["object"] == "chat.completion"
    finally:
        a.close()
        b.close()


def test_answers_carry_the_request_id_of_their_record(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", reply="with an id")
    sink = MemorySink()

    async def run() -> tuple[str, str, int]:
        async with switchpoint.Router(chat_config(upstream), sink=sink) as router:
            reply = await router.chat(model="chat", messages=MESSAGES)
            chunks = await router.chat(model="chat", messages=MESSAGES, stream=True)
            count = len([c async for c in chunks])
            return reply.request_id, chunks.request_id, count

    plain, streamed, count = asyncio.run(run())
    assert count > 0
    assert [r.request_id for r in sink.records] == [plain, streamed]
    assert plain != streamed and all(len(i) == 24 and int(i, 16) >= 0 for i in (plain, streamed))
    assert plain[:12] <= streamed[:12]  # time-ordered ids: milliseconds first (storage/ids.py)


def _logged_config(upstream: FakeOpenAIUpstream, tmp_path: Path) -> dict[str, Any]:
    return {**chat_config(upstream), "logs": {"url": f"sqlite:///{tmp_path / 'logs.db'}",
                                              "spool_dir": str(tmp_path / "spool")}}  # fmt: skip


def test_feedback_goes_to_the_request_log_like_the_http_api(upstream: FakeOpenAIUpstream, tmp_path: Path) -> None:
    upstream.script("up-chat", reply="rate me")

    async def run() -> tuple[str, str, str]:
        async with switchpoint.Router(_logged_config(upstream, tmp_path)) as router:
            reply = await router.chat(model="chat", messages=MESSAGES)
            first = await router.feedback(reply.request_id, score=1.0, label="good")
            second = await router.feedback(reply.request_id, comment="a bit short")
            with pytest.raises(UnknownRequest):
                await router.feedback("no-such-request", score=0.0, wait=0.05)
            with pytest.raises(switchpoint.InvalidRequest):
                await router.feedback(reply.request_id)  # nothing to attach
            return reply.request_id, first, second

    request_id, first, second = asyncio.run(run())
    assert first != second

    async def stored() -> dict[str, Any] | None:
        store = SQLiteStore(tmp_path / "logs.db")  # a separate reader, as the dashboard would be
        try:
            return await store.get_request(request_id)
        finally:
            await store.close()

    row = asyncio.run(stored())
    assert row is not None and row["model"] == "chat"
    assert [(f["feedback_id"], f["score"], f["label"], f["comment"]) for f in row["feedback"]] == [
        (first, 1.0, "good", None), (second, None, None, "a bit short")]  # fmt: skip


def test_sync_feedback_and_streamed_request_ids(upstream: FakeOpenAIUpstream, tmp_path: Path) -> None:
    upstream.script("up-chat", reply="streamed")
    with switchpoint.SyncRouter(_logged_config(upstream, tmp_path)) as router:
        chunks = router.chat(model="chat", messages=MESSAGES, stream=True)
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "streamed"
        feedback_id = router.feedback(chunks.request_id, score=0.5)
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        rows = conn.execute("SELECT feedback_id, request_id, score FROM feedback").fetchall()
    assert rows == [(feedback_id, chunks.request_id, 0.5)]


def test_feedback_without_a_request_log_says_how_to_turn_it_on(upstream: FakeOpenAIUpstream) -> None:
    with switchpoint.SyncRouter(chat_config(upstream)) as router:
        reply = router.chat(model="chat", messages=MESSAGES)
        with pytest.raises(switchpoint.ConfigError, match="logs.url"):
            router.feedback(reply.request_id, score=1.0)
