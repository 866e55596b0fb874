"""A fake Gemini API upstream: real HTTP on loopback, scripted per model.

::

    with FakeGeminiUpstream(api_key="AIza-test") as upstream:
        upstream.script("gemini-x", reply="Hi there", cached_tokens=50)
        upstream.script("unsafe", stop_reason="SAFETY")
        ... point a ``gemini`` deployment's api_base at upstream.base_url ...
        assert upstream.requests[-1].headers["x-goog-api-key"] == "AIza-test"

Same scripting as :class:`FakeOpenAIUpstream` (``reply``, ``chunks``, ``tool_calls`` in OpenAI
form, ``latency``, ``status``/``error``/``fail_times``, ``drop_after``, ``error_event_after``,
``hang``, ``raw``), plus :class:`GeminiBehavior`'s native fields. It serves
``POST /v1beta/models/{model}:generateContent`` (one ``GenerateContentResponse``) and
``:streamGenerateContent`` (with ``?alt=sse``: ``data:`` events separated by CRLF blank lines;
without: one JSON array), and errors as ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from switchpoint.testing.fake_openai import Behavior, FakeOpenAIUpstream, ReceivedRequest, fake_embedding

__all__ = ["FakeGeminiUpstream", "GeminiBehavior"]

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True)
class GeminiBehavior(Behavior):
    """:class:`Behavior` plus Gemini's own fields.

    ``stop_reason``: the native ``finishReason`` (default ``STOP``; ``SAFETY`` and the other
    filter reasons come without content). ``completion_tokens``: ``candidatesTokenCount``
    (default: one per piece). ``cached_tokens`` / ``thoughts_tokens``: ``cachedContentTokenCount``
    and ``thoughtsTokenCount``. ``block_reason``: refuse the prompt (``promptFeedback.blockReason``,
    no candidates). ``thought_signature``: sent on the first function-call part.
    """

    stop_reason: str | None = None
    completion_tokens: int | None = None
    cached_tokens: int = 0
    thoughts_tokens: int = 0
    block_reason: str | None = None
    thought_signature: str | None = None


class FakeGeminiUpstream(FakeOpenAIUpstream):
    """A Gemini API server on 127.0.0.1 whose answers are scripted per model.

    With ``api_key`` set, a request without a key gets Gemini's 403 and one with a wrong key its
    400 ``API_KEY_INVALID``.
    """

    def __init__(self, default: GeminiBehavior | None = None, *, port: int = 0, api_key: str | None = None) -> None:
        super().__init__(default or GeminiBehavior(), port=port)
        self.api_key = api_key
        self._response_ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1beta"

    def requests_for(self, model: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path.rpartition("/")[2].partition(":")[0] == model]

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1beta/models/{model}:embedContent", self._embed)
        router.add_post("/v1beta/models/{model}:batchEmbedContents", self._embed)
        router.add_post("/v1beta/models/{target}", self._generate)
        router.add_post("/models/{target}", self._generate)

    # -- handler ---------------------------------------------------------------------------

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await self._received(request)
        model, _, method = request.match_info["target"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method or '(none)'} not found.")
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if self.api_key is not None and key != self.api_key:
            if not key:
                return _error(403, "Method doesn't allow unregistered callers. Please use an API key.")
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com"}]
            return _error(400, "API key not valid. Please pass a valid API key.", details=details)
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list) or not body["contents"]:
            return _error(400, "* GenerateContentRequest.contents: contents is not specified")
        behavior = self.behaviors.get(model, self.default)
        assert isinstance(behavior, GeminiBehavior)
        faulted = await self._delay_or_fault(request, behavior)
        if faulted is not None:
            return faulted
        if behavior.status != 200 and behavior.fail_rate == 0 and self._should_fail(model, behavior):
            error = behavior.error or {
                "code": behavior.status,
                "message": f"scripted failure {behavior.status}",
                "status": STATUS_NAMES.get(behavior.status, "UNKNOWN"),
            }
            return _json({"error": error}, behavior.status, behavior.headers)
        if behavior.raw is not None:
            return web.Response(body=behavior.raw, content_type="application/json", headers=behavior.headers)
        chunks = self._chunks(body, behavior, model, f"fake-response-{next(self._response_ids)}")
        if method == "generateContent":
            return _json(_merge(chunks), 200, behavior.headers)
        if request.query.get("alt") != "sse":
            return _json(chunks, 200, behavior.headers)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **behavior.headers})
        await response.prepare(request)
        events = [b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks]
        error = {"error": {"code": 503, "message": "scripted mid-stream failure", "status": "UNAVAILABLE"}}
        return await self._play(request, response, events, behavior, b"data: " + orjson.dumps(error) + b"\r\n\r\n")

    async def _embed(self, request: web.Request) -> web.Response:
        """``:embedContent`` and ``:batchEmbedContents`` with deterministic vectors (:func:`fake_embedding`)."""
        body = await self._received(request)
        if self.api_key is not None and request.headers.get("x-goog-api-key") != self.api_key:
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
            return _error(400, "API key not valid. Please pass a valid API key.", details=details)
        model = request.match_info["model"]
        behavior = self.behaviors.get(model, self.default)
        if behavior.status != 200 and self._should_fail(model, behavior):
            return _error(behavior.status, f"scripted failure {behavior.status}")
        batch = request.path.endswith(":batchEmbedContents")
        items = body.get("requests") if batch and isinstance(body, dict) else [body]
        embeddings = []
        for item in items if isinstance(items, list) else []:
            parts = item.get("content", {}).get("parts") if isinstance(item, dict) else None
            if not isinstance(parts, list) or not parts:
                return _error(400, "* EmbedContentRequest.content: contents is not specified")
            text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
            embeddings.append({"values": fake_embedding(text, item.get("outputDimensionality") or 8)})
        if not embeddings:
            return _error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
        return _json({"embeddings": embeddings} if batch else {"embedding": embeddings[0]}, 200)

    def _chunks(
        self, body: dict[str, Any], behavior: GeminiBehavior, model: str, response_id: str
    ) -> list[dict[str, Any]]:
        """The answer as the stream chunks that make it up (the non-streamed answer merges them)."""
        prompt = behavior.prompt_tokens
        if prompt is None:
            prompt = sum(len(str(c.get("parts", "")).split()) + 4 for c in body["contents"] if isinstance(c, dict))
        base = {"modelVersion": model, "responseId": response_id}
        if behavior.block_reason:
            blocked = {"promptTokenCount": prompt, "totalTokenCount": prompt}
            return [{"promptFeedback": {"blockReason": behavior.block_reason}, "usageMetadata": blocked, **base}]
        parts = _parts(behavior)
        finish = behavior.stop_reason or "STOP"
        if finish not in ("STOP", "MAX_TOKENS"):
            parts = []  # filtered: no content
        completion = behavior.completion_tokens
        if completion is None:
            completion = len(parts)
        usage: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": completion,
                                 "totalTokenCount": prompt + completion + behavior.thoughts_tokens}
        if behavior.cached_tokens:
            usage["cachedContentTokenCount"] = behavior.cached_tokens
        if behavior.thoughts_tokens:
            usage["thoughtsTokenCount"] = behavior.thoughts_tokens
        chunks: list[dict[str, Any]] = []
        pieces: list[dict[str, Any] | None] = [*parts] or [None]
        for part in pieces:
            candidate: dict[str, Any] = {"index": 0}
            if part is not None:
                candidate["content"] = {"parts": [part], "role": "model"}
            chunks.append({"candidates": [candidate], "usageMetadata": {"promptTokenCount": prompt,
                                                                        "totalTokenCount": prompt}, **base})
        chunks[-1]["candidates"][0]["finishReason"] = finish
        chunks[-1]["usageMetadata"] = usage
        return chunks


def _parts(behavior: GeminiBehavior) -> list[dict[str, Any]]:
    if not behavior.tool_calls:
        if behavior.chunks is not None:
            return [{"text": piece} for piece in behavior.chunks]
        words = behavior.reply.split(" ")
        return [{"text": w if i == 0 else " " + w} for i, w in enumerate(words)]
    parts = []
    for i, call in enumerate(behavior.tool_calls):
        args = orjson.loads(call["function"].get("arguments") or "{}")
        part: dict[str, Any] = {"functionCall": {"name": call["function"]["name"], "args": args}}
        if i == 0 and behavior.thought_signature:
            part["thoughtSignature"] = behavior.thought_signature
        parts.append(part)
    return parts


def _merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streamed answer: every chunk's parts in one candidate, with the last chunk's metadata."""
    last = chunks[-1]
    if "candidates" not in last:
        return last
    parts: list[dict[str, Any]] = []
    for c in chunks:
        parts.extend(c["candidates"][0].get("content", {}).get("parts", []))
    if parts and all("text" in p for p in parts):
        parts = [{"text": "".join(p["text"] for p in parts)}]
    candidate = {**last["candidates"][0]}
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    return {**last, "candidates": [candidate]}


def _json(data: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return _json({"error": error}, status)
