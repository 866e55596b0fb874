"""Hedged requests: race a slow first attempt against a second one; the first answer wins.

After "The Tail at Scale" (Dean & Barroso, 2013). For LLM calls a hedge can double the token
cost, so it is opt-in per group, starts only after a delay, is paid from the retry budget and
covers only the time to first byte of a stream. The loser is cancelled (its upstream connection
closed), and recorded as a ``cancelled`` attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["race"]

R = TypeVar("R")


async def race(
    first: Coroutine[Any, Any, R],
    second: Callable[[], Coroutine[Any, Any, R] | None],
    delay: float,
    discard: Callable[[R], Awaitable[None]],
) -> tuple[R, bool]:
    """Run ``first``; if it has not finished after ``delay`` seconds, start ``second()`` (which
    may decline by returning None) and return the first success, with whether the hedge won.

    When both fail, the last failure is raised. When both succeed at once, ``discard`` receives
    the result that is not used (e.g. to close a stream). Losers still running are cancelled.
    """
    tasks: list[asyncio.Task[R]] = [asyncio.ensure_future(first)]
    try:
        done, _ = await asyncio.wait(tasks, timeout=delay)
        if not done:
            hedge = second()
            if hedge is not None:
                tasks.append(asyncio.ensure_future(hedge))
        error: BaseException | None = None
        pending: set[asyncio.Task[R]] = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task in done and task.exception() is None:
                    return task.result(), task is not tasks[0]
            for task in done:
                error = task.exception()
        assert error is not None
        raise error
    finally:
        await _settle(tasks, discard)


async def _settle(tasks: list[asyncio.Task[R]], discard: Callable[[R], Awaitable[None]]) -> None:
    for task in tasks:
        if not task.done():
            task.cancel()
    kept = False
    for task in tasks:
        try:
            result = await task
        except BaseException:  # the loser's failure is already recorded on its attempt
            continue
        if kept:
            await discard(result)
        kept = True
