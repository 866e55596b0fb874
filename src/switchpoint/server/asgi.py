"""Small ASGI helpers shared by the endpoints: types, reading a bounded body, sending JSON,
and cancelling a request's work when its client disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any

import orjson

from switchpoint.errors import InvalidRequest, PayloadTooLarge

__all__ = [
    "DisconnectWatch",
    "Headers",
    "Receive",
    "Scope",
    "Send",
    "header",
    "json_body",
    "read_body",
    "send_bytes",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (``name`` in lower case)."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing more than ``limit`` bytes before reading them."""
    length = header(scope, b"content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise InvalidRequest("The Content-Length header is not a number.") from None
        if declared > limit:
            raise PayloadTooLarge(f"The request body is {declared} bytes; the limit is {limit} bytes.")
    message = await receive()
    body: bytes = message.get("body", b"")
    size = len(body)
    if size > limit:
        raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("The client disconnected while sending the body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
        parts.append(chunk)
    return b"".join(parts)


async def send_bytes(send: Send, status: int, body: bytes, headers: Headers, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class DisconnectWatch:
    """Waits for ``http.disconnect`` and cancels the request's task when the client has gone.

    Call :meth:`stop` when the request is done, or use it as ``async with DisconnectWatch(receive)``,
    which also ends quietly when the client's leaving cancelled the block. Set ``finished`` once the
    answer is complete, so that a disconnect after it cancels nothing.
    """

    __slots__ = ("_task", "disconnected", "finished")

    def __init__(self, receive: Receive) -> None:
        self.disconnected = False
        self.finished = False
        owner = asyncio.current_task()
        self._task: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(self._watch(receive, owner))

    async def _watch(self, receive: Receive, owner: asyncio.Task[object] | None) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self.finished and owner is not None:
                    self.disconnected = True
                    owner.cancel()
                return

    def stop(self) -> None:
        # Forget the task as it is cancelled: a cancelled task keeps its CancelledError, whose traceback holds the
        # watch's frame and so this watch; were the watch still to hold the task, every request would leave a
        # reference cycle that only the garbage collector frees, and its collections were the gateway's p99.
        task, self._task = self._task, None
        if task is not None:
            task.cancel()

    async def __aenter__(self) -> DisconnectWatch:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        self.stop()
        if kind is None or not issubclass(kind, asyncio.CancelledError) or not self.disconnected:
            return False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # the cancellation was ours, for a client that has gone: it ends here
        return True


def json_body(raw: bytes) -> Any:
    """The JSON value of a request body, or a 400 that says what is wrong with it."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        problem = "empty; expected a JSON object" if not raw else f"not valid JSON: {exc.msg} (position {exc.pos})"
        raise InvalidRequest(f"The request body is {problem}.") from None
