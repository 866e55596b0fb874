"""The in-process SDK: same engine, no HTTP in front."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import switchpoint
from switchpoint.storage.sinks import MemorySink
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
