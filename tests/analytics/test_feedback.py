"""Feedback: validation, attaching it to a request, and waiting for records still being batched."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

from switchpoint.analytics.feedback import Feedback, UnknownRequest, parse_feedback, record_feedback, submit_feedback
from switchpoint.errors import InvalidRequest
from switchpoint.storage.store import LogStore
from tests.storage.support import StoreTarget, record


def test_parse_feedback_accepts_each_field() -> None:
    assert parse_feedback({"request_id": "r1", "score": 1}) == Feedback("r1", 1.0)
    assert parse_feedback({"request_id": "r1", "label": "good", "comment": "fine", "score": None}) == Feedback(
        "r1", None, "good", "fine")
    assert parse_feedback({"request_id": "r1", "score": -0.5}).score == -0.5


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"request_id": "", "score": 1}, "request_id"),
        ({"score": 1}, "request_id"),
        ({"request_id": 5, "score": 1}, "request_id"),
        ({"request_id": "r" * 257, "score": 1}, "request_id"),
        ({"request_id": "r1", "score": True}, "score"),
        ({"request_id": "r1", "score": "high"}, "score"),
        ({"request_id": "r1", "score": math.inf}, "score"),
        ({"request_id": "r1", "score": math.nan}, "score"),
        ({"request_id": "r1", "label": 3}, "label"),
        ({"request_id": "r1", "label": "x" * 129}, "label"),
        ({"request_id": "r1", "comment": "x" * 8193}, "comment"),
        ({"request_id": "r1"}, "score"),
        ({"request_id": "r1", "score": 1, "scroe": 2}, "scroe"),
    ],
)
def test_parse_feedback_names_the_bad_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_feedback(body)
    assert error.value.param == param


def test_parse_feedback_wants_an_object() -> None:
    with pytest.raises(InvalidRequest):
        parse_feedback(["request_id"])


async def _with_store(target: StoreTarget, body: Any) -> Any:
    store = target.make()
    try:
        await store.migrate()
        return await body(store)
    finally:
        await store.close()


def test_feedback_attaches_to_a_stored_request(target: StoreTarget) -> None:
    async def body(store: LogStore) -> None:
        await store.write([record(1)])
        feedback_id = await submit_feedback(store, Feedback("req-1", 0.8, "good", "right answer"))
        second = await record_feedback(store, "req-1", label="reviewed")
        stored = await store.get_request("req-1")
        assert stored is not None
        assert [(f["feedback_id"], f["score"], f["label"], f["comment"]) for f in stored["feedback"]] == [
            (feedback_id, 0.8, "good", "right answer"), (second, None, "reviewed", None)]

    asyncio.run(_with_store(target, body))


def test_feedback_waits_for_a_request_still_being_batched(target: StoreTarget) -> None:
    async def body(store: LogStore) -> None:
        async def write_late() -> None:
            await asyncio.sleep(0.3)
            await store.write([record("late")])

        writer = asyncio.create_task(write_late())
        start = time.monotonic()
        feedback_id = await submit_feedback(store, Feedback("req-late", 1.0), wait=5.0)
        waited = time.monotonic() - start
        await writer
        assert 0.3 <= waited < 2.0
        stored = await store.get_request("req-late")
        assert stored is not None and [f["feedback_id"] for f in stored["feedback"]] == [feedback_id]

    asyncio.run(_with_store(target, body))


def test_feedback_for_an_unknown_request_is_refused_after_the_wait(target: StoreTarget) -> None:
    async def body(store: LogStore) -> None:
        start = time.monotonic()
        with pytest.raises(UnknownRequest) as error:
            await submit_feedback(store, Feedback("never", 1.0), wait=0.25)
        assert 0.25 <= time.monotonic() - start < 1.5
        assert (error.value.status, error.value.code, error.value.param) == (404, "request_not_found", "request_id")
        assert await store.count("feedback") == 0  # nothing orphaned
        with pytest.raises(InvalidRequest):
            await record_feedback(store, "req-1", score="high")  # type: ignore[arg-type]

    asyncio.run(_with_store(target, body))
