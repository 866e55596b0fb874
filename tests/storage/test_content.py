"""What a record keeps of the conversation (``logs.store_content``): the answer of a body, of a stream."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from switchpoint.errors import SwitchpointError
from switchpoint.storage.content import answer_content, stream_content
from switchpoint.testing import FakeOpenAIUpstream
from tests.engine.harness import Harness, dep


def _event(delta: dict[str, Any], index: int = 0) -> bytes:
    return b"data: " + orjson.dumps({"choices": [{"index": index, "delta": delta}]}) + b"\n\n"


def test_answer_content_of_a_body() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}
    assert answer_content(body) == {"response": "Paris."}
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assert answer_content({"choices": [{"message": {"content": None, "tool_calls": [call]}}]}) == {
        "response": None, "tool_calls": [call]}
    assert answer_content({"choices": []}) == {"response": None}
    assert answer_content({}) == {"response": None}


def test_stream_content_joins_deltas_across_blocks_and_ignores_the_rest() -> None:
    events = (_event({"role": "assistant", "content": ""}) + _event({"content": "Hel"}) + _event({"content": "x"}, 1)
              + b": keep-alive\n\n" + b"data: {not json}\n\n" + _event({"content": "lo"}).replace(b"\n\n", b"\r\n\r\n")
              + b"data: [DONE]\n\n")  # fmt: skip
    blocks = [events[i : i + 7] for i in range(0, len(events), 7)]  # events split at arbitrary points
    assert stream_content(blocks) == {"response": "Hello"}
    assert stream_content([]) == {"response": None}


def test_stream_content_puts_tool_calls_together() -> None:
    head = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    blocks = [_event({"role": "assistant", "content": ""}), _event({"tool_calls": [head]}),
              _event({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": '}}]}),
              _event({"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}),
              _event({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "other", "arguments": "{}"}}]})]
    assert stream_content(blocks) == {"response": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "other", "arguments": "{}"}}]}  # fmt: skip


def test_the_engine_attaches_content_only_when_asked(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up", reply="Hi there.", chunks=("Hi ", "there."))
    harness = Harness([{"name": "chat", "deployments": [dep(upstream, "up")]}])

    async def main() -> None:
        await harness.complete("chat")
        assert harness.last.content is None
        await harness.stream("chat")
        assert harness.last.content is None
        harness.gateway.store_content = True
        await harness.complete("chat")
        assert harness.last.content == {"messages": [{"role": "user", "content": "Say hello"}], "response": "Hi there."}
        await harness.stream("chat")
        assert harness.last.content == {"messages": [{"role": "user", "content": "Say hello"}], "response": "Hi there."}
        upstream.script("up", status=500, error={"message": "down", "type": "server_error"})
        with pytest.raises(SwitchpointError):
            await harness.complete("chat")
        assert harness.last.content == {"messages": [{"role": "user", "content": "Say hello"}], "response": None}

    asyncio.run(main())
