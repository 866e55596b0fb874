"""Feedback on a request: validation, and attaching it to the request in the log store.

Used by ``POST /v1/feedback`` and meant for the SDK (``Router.feedback``): both call
:func:`record_feedback` (or :func:`submit_feedback` with a parsed :class:`Feedback`).

**Records are written in batches**, so a client that rates an answer right after receiving it
may ask about a request whose record is still in the writer's queue. Feedback therefore waits
for the request to appear: it looks the id up, and while it is missing, looks again after 50,
100, 200... ms until ``wait`` seconds (default 3; the writer flushes every 100 ms by default)
have passed. Only then is the id unknown (:class:`UnknownRequest`, HTTP 404). Feedback is stored
only for requests that exist, so a typo never leaves orphan rows; while the store is down and
records are spooled to disk, feedback on the newest requests answers 404 and can be retried.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from switchpoint.errors import InvalidRequest, RequestError
from switchpoint.storage.store import LogStore

__all__ = ["DEFAULT_WAIT", "Feedback", "UnknownRequest", "parse_feedback", "record_feedback", "submit_feedback"]

DEFAULT_WAIT = 3.0
MAX_REQUEST_ID = 256
MAX_LABEL = 128
MAX_COMMENT = 8_192
_FIELDS = ("request_id", "score", "label", "comment")

Sleep = Callable[[float], Awaitable[None]]


class UnknownRequest(RequestError):
    status = 404
    code = "request_not_found"


@dataclass(frozen=True, slots=True)
class Feedback:
    request_id: str
    score: float | None = None
    label: str | None = None
    comment: str | None = None


def _text(body: Mapping[str, object], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string.", param=name)
    if len(value) > limit:
        raise InvalidRequest(f"'{name}' is longer than {limit} characters.", param=name)
    return value


def parse_feedback(body: object) -> Feedback:
    """Validate a feedback object: ``request_id`` (required), ``score`` (a finite number),
    ``label`` and ``comment`` (strings); at least one of the last three. Unknown fields are refused."""
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    for name in body:
        if name not in _FIELDS:
            raise InvalidRequest(
                f"Unknown field '{name}'; feedback has request_id, score, label and comment.", param=str(name)
            )
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip():
        raise InvalidRequest("'request_id' must be a non-empty string.", param="request_id")
    if len(request_id) > MAX_REQUEST_ID:
        raise InvalidRequest(f"'request_id' is longer than {MAX_REQUEST_ID} characters.", param="request_id")
    score = body.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        raise InvalidRequest("'score' must be a number.", param="score")
    if score is not None and not math.isfinite(score):
        raise InvalidRequest("'score' must be a finite number.", param="score")
    label = _text(body, "label", MAX_LABEL)
    comment = _text(body, "comment", MAX_COMMENT)
    if score is None and label is None and comment is None:
        raise InvalidRequest("Feedback needs at least one of 'score', 'label' or 'comment'.", param="score")
    return Feedback(request_id, None if score is None else float(score), label, comment)


async def submit_feedback(
    store: LogStore, feedback: Feedback, *, wait: float = DEFAULT_WAIT, sleep: Sleep = asyncio.sleep
) -> str:
    """Attach ``feedback`` to its request once the request is in the store; the feedback id.

    Raises :class:`UnknownRequest` when the request has not appeared after ``wait`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.05
    while await store.get_request(feedback.request_id) is None:
        left = deadline - loop.time()
        if left <= 0:
            raise UnknownRequest(f"No request with id '{feedback.request_id}'.", param="request_id")
        await sleep(min(delay, left))
        delay *= 2
    return await store.add_feedback(feedback.request_id, feedback.score, feedback.label, feedback.comment)


async def record_feedback(
    store: LogStore,
    request_id: str,
    score: float | None = None,
    label: str | None = None,
    comment: str | None = None,
    *,
    wait: float = DEFAULT_WAIT,
) -> str:
    """The SDK's call: validate like the HTTP API, then :func:`submit_feedback`."""
    body = {"request_id": request_id, "score": score, "label": label, "comment": comment}
    return await submit_feedback(store, parse_feedback(body), wait=wait)
