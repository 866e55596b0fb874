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
import base64
import contextlib
import hashlib
import itertools
import random
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Self

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

    Fault scripts (``fail_rate`` and ``faults`` draw from the upstream's seeded RNG):

    - ``fail_rate``: each request fails with this probability; the failure is drawn from ``faults``
      (``"429"``, ``"500"``, ``"502"``, ``"503"``, ``"529"``, any status, ``"reset"``, ``"timeout"``),
      or is ``status`` when ``faults`` is empty.
    - ``reset``: close the connection without answering. ``reset_after_bytes``: send the headers
      and the first N bytes of a non-streamed body, then close.
    - ``stall_after``: send N stream events, then go silent. ``stream_raw``: send these bytes as
      the SSE body. ``redirect``: answer 307 to this URL. ``oversize``: pad a 200 body to N bytes.
    - ``fault_delay``: how long a ``"timeout"`` fault waits before answering.
    - ``logprobs``: token logprobs to return when the request asks for them.
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
    fail_rate: float = 0.0
    faults: tuple[str, ...] = ()
    fault_delay: float = 30.0
    reset: bool = False
    reset_after_bytes: int | None = None
    stall_after: int | None = None
    stream_raw: bytes | None = None
    redirect: str | None = None
    oversize: int | None = None
    logprobs: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


class FakeOpenAIUpstream:
    """An OpenAI-compatible server on 127.0.0.1 whose answers are scripted per model."""

    def __init__(self, default: Behavior | None = None, *, port: int = 0, seed: int | None = None) -> None:
        self.default = default or Behavior()
        self.models_status = 200
        self.faults_injected: dict[str, int] = {}
        self._rng = random.Random(seed)
        self.behaviors: dict[str, Behavior] = {}
        self.requests: list[ReceivedRequest] = []
        self.aborted_streams = 0
        self.abort_times: list[float] = []
        self.cancel_times: list[float] = []
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
        for name in ("chunks", "faults", "logprobs"):
            if behavior.get(name) is not None:
                behavior[name] = tuple(behavior[name])
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
            self.cancel_times.clear()
            self.models_status = 200
            self.faults_injected.clear()

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

    def start(self) -> Self:
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

    def __enter__(self) -> Self:
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

    def _routes(self, router: web.UrlDispatcher) -> None:
        """The wire format's endpoints (the other fakes override this)."""
        router.add_post("/v1/chat/completions", self._chat)
        router.add_post("/chat/completions", self._chat)
        router.add_get("/v1/models", self._models)
        router.add_post("/v1/embeddings", self._embeddings)
        router.add_post("/embeddings", self._embeddings)
        router.add_get("/health", self._health)

    async def _startup(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self._routes(app.router)
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
        if self.models_status != 200:
            return _error(self.models_status, "scripted health-check failure")
        data = [{"id": name, "object": "model", "owned_by": "fake"} for name in sorted(self.behaviors)]
        return web.json_response({"object": "list", "data": data})

    async def _embeddings(self, request: web.Request) -> web.Response:
        """Deterministic vectors (:func:`fake_embedding`); ``status``/``fail_times``/``latency`` apply."""
        body = await self._received(request)
        if not isinstance(body, dict) or not isinstance(body.get("input"), str | list):
            return _error(400, "'input' is required")
        model = str(body.get("model", ""))
        behavior = self.behaviors.get(model, self.default)
        if behavior.latency:
            await asyncio.sleep(behavior.latency)
        if behavior.status != 200 and self._should_fail(model, behavior):
            error = behavior.error or {"message": f"scripted failure {behavior.status}", "type": "server_error"}
            return web.json_response({"error": error}, status=behavior.status, headers=behavior.headers)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if inputs and all(isinstance(i, int) for i in inputs):
            inputs = [inputs]  # one array of tokens
        dimensions = body.get("dimensions") or 8
        data = []
        for index, item in enumerate(inputs):
            vector = fake_embedding(item if isinstance(item, str) else orjson.dumps(item).decode(), dimensions)
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(i.split()) if isinstance(i, str) else len(i) for i in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})

    async def _received(self, request: web.Request) -> Any:
        """Read and record a request; its body is parsed when it is JSON, and returned."""
        raw = await request.read()
        body: Any = raw
        with contextlib.suppress(orjson.JSONDecodeError):
            body = orjson.loads(raw)
        self.requests.append(ReceivedRequest(request.path, dict(request.headers), body, time.monotonic()))
        return body

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._answer(request)
        except asyncio.CancelledError:
            # The client (the gateway) closed the connection before the answer was complete.
            self.cancel_times.append(time.monotonic())
            raise

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await self._received(request)
        if not isinstance(body, dict):
            return _error(400, "invalid JSON body")
        model = str(body.get("model", ""))
        behavior = self.behaviors.get(model, self.default)
        faulted = await self._delay_or_fault(request, behavior)
        if faulted is not None:
            return faulted
        if behavior.status != 200 and behavior.fail_rate == 0 and self._should_fail(model, behavior):
            error = behavior.error or {"message": f"scripted failure {behavior.status}", "type": "server_error"}
            return web.json_response({"error": error}, status=behavior.status, headers=behavior.headers)
        if behavior.raw is not None:
            return web.Response(body=behavior.raw, content_type="application/json", headers=behavior.headers)
        if body.get("stream"):
            return await self._stream(request, body, behavior)
        payload = orjson.dumps(self._completion(body, behavior))
        if behavior.oversize is not None and behavior.oversize > len(payload):
            payload += b" " * (behavior.oversize - len(payload))
        if behavior.reset_after_bytes is not None:
            return await _cut(request, payload, behavior.reset_after_bytes)
        return web.Response(body=payload, content_type="application/json", headers=behavior.headers)

    async def _delay_or_fault(self, request: web.Request, behavior: Behavior) -> web.StreamResponse | None:
        """The behaviour's hang and latency, then its scripted fault, if any (every fake's handlers)."""
        if behavior.hang:
            await asyncio.sleep(3600)
        if behavior.latency:
            await asyncio.sleep(behavior.latency)
        return await self._fault(request, behavior)

    async def _fault(self, request: web.Request, behavior: Behavior) -> web.StreamResponse | None:
        """The scripted fault for this request, if any (None: answer normally)."""
        if behavior.reset:
            return _reset(request)
        if behavior.redirect is not None:
            return web.Response(status=307, headers={"Location": behavior.redirect})
        if not behavior.fail_rate:
            return None
        with self._lock:
            if self._rng.random() >= behavior.fail_rate:
                return None
            fault = self._rng.choice(behavior.faults) if behavior.faults else str(behavior.status)
            self.faults_injected[fault] = self.faults_injected.get(fault, 0) + 1
        if fault == "reset":
            return _reset(request)
        if fault == "timeout":
            await asyncio.sleep(behavior.fault_delay)
            return None
        status = int(fault) if fault.isdigit() and fault != "200" else 500
        error = behavior.error or {"message": f"scripted failure {status}", "type": "server_error"}
        headers = behavior.headers if status == behavior.status else {}
        return web.json_response({"error": error}, status=status, headers=headers)

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
        logprobs: dict[str, Any] | None = None
        if behavior.logprobs is not None and body.get("logprobs"):
            tokens = self._pieces(behavior)
            logprobs = {"content": [
                {"token": tokens[i % len(tokens)] if tokens else "", "logprob": lp, "bytes": None, "top_logprobs": []}
                for i, lp in enumerate(behavior.logprobs)
            ]}
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish}],
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
        if behavior.stream_raw is not None:
            await response.write(behavior.stream_raw)
            await response.write_eof()
            return response
        base = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
            "system_fingerprint": "fp_fake",
        }
        error = {"error": {"message": "scripted mid-stream failure", "type": "server_error"}}
        return await self._play(request, response, self._events(body, behavior, base), behavior,
                                b"data: " + orjson.dumps(error) + b"\n\n")

    async def _play(
        self, request: web.Request, response: web.StreamResponse, events: Sequence[bytes], behavior: Behavior,
        error_event: bytes,
    ) -> web.StreamResponse:
        """Write prepared SSE events with the behaviour's delays, drops, stalls and error event;
        count the streams the client abandons."""
        try:
            for i, event in enumerate(events):
                if behavior.drop_after is not None and i >= behavior.drop_after:
                    request.transport.close()  # type: ignore[union-attr]
                    return response
                if behavior.stall_after is not None and i >= behavior.stall_after:
                    await asyncio.sleep(3600)
                if behavior.error_event_after is not None and i == behavior.error_event_after:
                    await response.write(error_event)
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


def _reset(request: web.Request) -> web.Response:
    """Close the connection without answering (the client sees a disconnect)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)


async def _cut(request: web.Request, payload: bytes, keep: int) -> web.StreamResponse:
    """Send the headers and the first ``keep`` bytes of the body, then close the connection."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(payload)
    await response.prepare(request)
    await response.write(payload[:keep])
    if request.transport is not None:
        request.transport.close()
    return response


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=status)


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit-free vector for ``text``: the same text always gets the same vector."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[i % len(digest)] - 128) / 128 for i in range(dimensions)]
