"""``server/asgi.py``: the client-disconnect watch, and that a finished request leaves nothing for the garbage
collector (one reference cycle per request made its collections the gateway's p99 latency)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from switchpoint.server.asgi import DisconnectWatch
from tests.helpers import in_cycles


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Automatic collection off, and what is garbage already collected: what a test leaves in cycles is its own."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Client:
    """An ASGI ``receive`` whose ``http.disconnect`` arrives when the test says so."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}


@pytest.mark.parametrize("started", [True, False])
def test_a_finished_request_leaves_no_reference_cycle(no_gc: None, started: bool) -> None:
    """Stopped after its task ran (waiting on ``receive``) or before it ever ran: either way the watch, its task and
    the cancelled task's error are freed by reference counting alone."""

    async def request() -> None:
        async with DisconnectWatch(_Client().receive):
            if started:
                await asyncio.sleep(0)  # the watch's task starts and waits for the client
        await asyncio.sleep(0)  # the cancelled watch task finishes

    async def main() -> None:
        for _ in range(50):
            await asyncio.create_task(request())

    asyncio.run(main())
    assert in_cycles(lambda o: isinstance(o, DisconnectWatch)) == 0
    assert in_cycles(lambda o: isinstance(o, asyncio.CancelledError)) == 0


def test_a_client_that_leaves_cancels_the_request_quietly() -> None:
    """``http.disconnect`` before the answer is complete cancels the request's task; the ``async with`` block ends
    without an error (nothing is left to answer), and a disconnect after ``finished`` cancels nothing."""

    async def main() -> tuple[bool, bool, bool]:
        client = _Client()
        reached_end = False

        async def request() -> bool:
            nonlocal reached_end
            async with DisconnectWatch(client.receive) as watch:
                client.gone.set()
                await asyncio.sleep(10)
                reached_end = True
            return watch.disconnected

        disconnected = await asyncio.wait_for(asyncio.create_task(request()), 5)
        late = _Client()

        async def finished_request() -> bool:
            async with DisconnectWatch(late.receive) as watch:
                watch.finished = True
                late.gone.set()
                await asyncio.sleep(0.01)
            return watch.disconnected

        return disconnected, reached_end, await finished_request()

    disconnected, reached_end, late_disconnected = asyncio.run(main())
    assert disconnected and not reached_end
    assert not late_disconnected


def test_stop_twice_is_harmless() -> None:
    async def main() -> None:
        watch = DisconnectWatch(_Client().receive)
        watch.stop()
        watch.stop()
        await asyncio.sleep(0)

    asyncio.run(main())
