"""A fake OpenAI-compatible upstream: real HTTP on loopback, scripted per model.

::

    with FakeOpenAIUpstream() as upstream:
        upstream.script("gpt-x", reply="Hi there", latency=0.05)
        upstream.script("broken", status=500, fail_times=2)   # fails twice, then answers
        ... point a deployment's api_base at upstream.base_url ...
        assert upstream.requests[-1].body["model"] == "gpt-x"

It runs its own event loop in a background thread, so it serves sync and async tests alike.
Replies follow the Chat Completions wire format: ``chat.completion`` objects, or SSE
``chat.completion.chunk`` events ending in ``data: [DONE]``, with usage when asked.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from aiohttp import web

__all__ = ["Behavior", "FakeOpenAIUpstream", "ReceivedRequest"]


@dataclass(frozen=True)
class Behavior:
    """What the fake does for one model.

    ``latency``: seconds before the response starts. ``chunk_delay``: seconds between stream
    events. ``status``/``error``: answer with this HTTP error (``fail_times`` > 0: only for the
    first N requests, then succeed). ``drop_after``: close the connection after N stream events.
    ``error_event_after``: send an error event after N stream events. ``hang``: never answer.
    ``raw``: send these exact bytes as a 200 body (for protocol-error tests).
    """

    reply: str = "Hello from the fake upstream."
    chunks: tuple[str, ...] | None = None
    tool_calls: tuple[dict[str, Any], ...] | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    status: int = 200
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fail_times: int | None = None
    latency: float = 0.0
    chunk_delay: float = 0.0
    drop_after: int | None = None
    error_event_after: int | None = None
    hang: bool = False
    raw: bytes | None = None


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


class FakeOpenAIUpstream:
    """An OpenAI-compatible server on 127.0.0.1 whose answers are scripted per model."""

    def __init__(self, default: Behavior | None = None, *, port: int = 0) -> None:
        self.default = default or Behavior()
        self.behaviors: dict[str, Behavior] = {}
        self.requests: list[ReceivedRequest] = []
        self.aborted_streams = 0
        self.abort_times: list[float] = []
        self._port = port
        self._failures: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    # -- scripting -------------------------------------------------------------------------

    def script(self, model: str, **behavior: Any) -> Behavior:
        """Set the behaviour for ``model`` (keyword arguments of :class:`Behavior`)."""
        chunks = behavior.get("chunks")
        if chunks is not None:
            behavior["chunks"] = tuple(chunks)
        if behavior.get("tool_calls") is not None:
            behavior["tool_calls"] = tuple(behavior["tool_calls"])
        with self._lock:
            self.behaviors[model] = replace(self.default, **behavior)
            self._failures.pop(model, None)
        return self.behaviors[model]

    def reset(self) -> None:
        """Forget every script, request and counter (between tests)."""
        with self._lock:
            self.behaviors.clear()
            self.requests.clear()
            self._failures.clear()
            self.aborted_streams = 0
            self.abort_times.clear()

    def requests_for(self, model: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if isinstance(r.body, dict) and r.body.get("model") == model]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def port(self) -> int:
        if not self._ready.is_set():
            raise RuntimeError("the fake upstream is not running; use it as a context manager or call start()")
        return self._port

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeOpenAIUpstream:
        self._thread = threading.Thread(target=self._run, name="fake-openai-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake upstream did not start")
        return self

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        future.result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeOpenAIUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self._startup())
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handlers --------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": name, "object": "model", "owned_by": "fake"} for name in sorted(self.behaviors)]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw
        self.requests.append(ReceivedRequest(request.path, dict(request.headers), body, time.monotonic()))
        if not isinstance(body, dict):
            return _error(400, "invalid JSON body")
        model = str(body.get("model", ""))
        behavior = self.behaviors.get(model, self.default)
        if behavior.hang:
            await asyncio.sleep(3600)
        if behavior.latency:
            await asyncio.sleep(behavior.latency)
        if behavior.status != 200 and self._should_fail(model, behavior):
            error = behavior.error or {"message": f"scripted failure {behavior.status}", "type": "server_error"}
            return web.json_response({"error": error}, status=behavior.status, headers=behavior.headers)
        if behavior.raw is not None:
            return web.Response(body=behavior.raw, content_type="application/json", headers=behavior.headers)
        if body.get("stream"):
            return await self._stream(request, body, behavior)
        return web.Response(
            body=orjson.dumps(self._completion(body, behavior)),
            content_type="application/json",
            headers=behavior.headers,
        )

    def _should_fail(self, model: str, behavior: Behavior) -> bool:
        if behavior.fail_times is None:
            return True
        with self._lock:
            done = self._failures.get(model, 0)
            if done >= behavior.fail_times:
                return False
            self._failures[model] = done + 1
            return True

    def _completion(self, body: dict[str, Any], behavior: Behavior) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": behavior.reply}
        finish = behavior.finish_reason or "stop"
        if behavior.tool_calls:
            message = {"role": "assistant", "content": None, "tool_calls": list(behavior.tool_calls)}
            finish = behavior.finish_reason or "tool_calls"
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": self._usage(body, behavior),
        }

    def _usage(self, body: dict[str, Any], behavior: Behavior) -> dict[str, int]:
        prompt = behavior.prompt_tokens
        if prompt is None:
            prompt = sum(
                len(str(m.get("content", "")).split()) + 4 for m in body.get("messages", []) if isinstance(m, dict)
            )
        completion = len(self._pieces(behavior))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    @staticmethod
    def _pieces(behavior: Behavior) -> list[str]:
        if behavior.chunks is not None:
            return list(behavior.chunks)
        words = behavior.reply.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    async def _stream(self, request: web.Request, body: dict[str, Any], behavior: Behavior) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **behavior.headers})
        await response.prepare(request)
        base = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
            "system_fingerprint": "fp_fake",
        }
        events = self._events(body, behavior, base)
        try:
            for i, event in enumerate(events):
                if behavior.drop_after is not None and i >= behavior.drop_after:
                    request.transport.close()  # type: ignore[union-attr]
                    return response
                if behavior.error_event_after is not None and i == behavior.error_event_after:
                    error = {"error": {"message": "scripted mid-stream failure", "type": "server_error"}}
                    await response.write(b"data: " + orjson.dumps(error) + b"\n\n")
                    return response
                if i and behavior.chunk_delay:
                    await asyncio.sleep(behavior.chunk_delay)
                await response.write(event)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.aborted_streams += 1
            self.abort_times.append(time.monotonic())
            raise
        return response

    def _events(self, body: dict[str, Any], behavior: Behavior, base: dict[str, Any]) -> list[bytes]:
        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return b"data: " + orjson.dumps({**base, "choices": choices, **extra}) + b"\n\n"

        events = [event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
        finish = behavior.finish_reason or "stop"
        if behavior.tool_calls:
            finish = behavior.finish_reason or "tool_calls"
            for index, call in enumerate(behavior.tool_calls):
                arguments = call["function"].get("arguments", "")
                head = {
                    "index": index,
                    "id": call.get("id", f"call_{index}"),
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                events.append(event([{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}]))
                half = len(arguments) // 2
                for part in (arguments[:half], arguments[half:]):
                    delta = {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
                    events.append(event([{"index": 0, "delta": delta, "finish_reason": None}]))
        else:
            for piece in self._pieces(behavior):
                events.append(event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
        events.append(event([{"index": 0, "delta": {}, "finish_reason": finish}]))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            events.append(event([], usage=self._usage(body, behavior)))
        events.append(b"data: [DONE]\n\n")
        return events


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=status)
