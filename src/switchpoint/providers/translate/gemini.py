"""OpenAI Chat Completions ⇄ Gemini ``generateContent`` / ``streamGenerateContent`` (v1beta).

Requests: ``assistant`` becomes role ``model``; system and developer messages become
``systemInstruction``; tools become ``functionDeclarations`` (their JSON Schema sent as
``parametersJsonSchema``); assistant tool calls become ``functionCall`` parts and tool messages
``functionResponse`` parts, found by function name since Gemini has no call ids.

Responses: Gemini gives function calls no ids, so each gets a stable one, ``call_<index>_<name>``
(its position in the answer and its name), from which a later tool message maps back to the name.
A call's ``thoughtSignature`` travels to the client as ``extra_content.google.thought_signature``
on the tool call (the convention of Google's own OpenAI-compatible endpoint) and back again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from switchpoint.errors import InvalidRequest
from switchpoint.providers.translate.common import (
    MalformedUpstream,
    UpstreamErrorEvent,
    chunk,
    encode_events,
    parse_data_url,
    stop_list,
    text_parts,
    tool_arguments,
    usage_chunk,
)
from switchpoint.types import Usage

__all__ = [
    "SKIP_SIGNATURE",
    "STATUS_CODES",
    "GeminiStreamTranslator",
    "finish_reason",
    "response_from_gemini",
    "to_gemini_request",
    "usage_from_gemini",
]

CONTENT_FILTER_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT"}
)
# google.rpc status names and the HTTP status each stands for.
STATUS_CODES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
# Gemini's documented stand-in for a missing thought signature (e.g. tool calls made by another model).
SKIP_SIGNATURE = "skip_thought_signature_validator"
_OUR_ID = re.compile(r"call_\d+_(.+)")
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
                ".gif": "image/gif", ".heic": "image/heic", ".heif": "image/heif"}


def to_gemini_request(body: Mapping[str, Any], *, signature_fallback: bool = True) -> dict[str, Any]:
    """An OpenAI chat-completions body as a Gemini request body (the model goes in the URL)."""
    system, contents = _contents(body.get("messages") or [], signature_fallback)
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    tools = body.get("tools")
    if tools:
        out["tools"] = [{"functionDeclarations": [_declaration(t, f"tools[{j}]") for j, t in enumerate(tools)]}]
        config = _tool_config(body.get("tool_choice"))
        if config is not None:
            out["toolConfig"] = {"functionCallingConfig": config}
    generation = _generation_config(body)
    if generation:
        out["generationConfig"] = generation
    for name in ("safetySettings", "cachedContent"):  # native fields sent through (e.g. ``extra_body``)
        if body.get(name) is not None:
            out[name] = body[name]
    return out


# -- contents ---------------------------------------------------------------------------------


def _contents(messages: list[Any], signature_fallback: bool) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool-call id → function name, latest first
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(text for text in text_parts(message.get("content"), where) if text)
            continue
        if role == "user":
            parts, gemini_role = _user_parts(message.get("content"), where), "user"
        elif role == "assistant":
            parts, gemini_role = _model_parts(message, where, names, signature_fallback), "model"
        elif role == "tool":
            parts, gemini_role = [_function_response(message, where, names)], "user"
        else:
            raise InvalidRequest(
                f"{where}.role '{role}' is not supported by Gemini deployments; use 'tool' messages.",
                param=f"{where}.role",
            )
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    return system, contents


def _user_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    return [_user_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]


def _user_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str):
            raise InvalidRequest(f"{where}.image_url.url must be a string.", param=f"{where}.image_url")
        data = parse_data_url(url)
        if data is not None:
            return {"inlineData": {"mimeType": data[0], "data": data[1]}}
        suffix = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
        return {"fileData": {"mimeType": _IMAGE_TYPES.get("." + suffix, "image/jpeg"), "fileUri": url}}
    if kind == "input_audio":
        audio = part.get("input_audio")
        if isinstance(audio, Mapping) and isinstance(audio.get("data"), str):
            return {"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio["data"]}}
    if kind == "file":
        file = part.get("file")
        data = parse_data_url(file.get("file_data", "")) if isinstance(file, Mapping) else None
        if data is not None:
            return {"inlineData": {"mimeType": data[0], "data": data[1]}}
    raise InvalidRequest(f"{where}: content parts of type '{kind}' are not supported by Gemini here.", param=where)


def _model_parts(
    message: Mapping[str, Any], where: str, names: dict[str, str], signature_fallback: bool
) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, list):
        content = [p for p in content if p.get("type") != "refusal"]
    parts: list[dict[str, Any]] = [{"text": text} for text in text_parts(content, where) if text]
    calls: list[dict[str, Any]] = []
    for j, call in enumerate(message.get("tool_calls") or []):
        call_id, name, arguments = tool_arguments(call, f"{where}.tool_calls[{j}]")
        if call_id:
            names[call_id] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": arguments}}
        signature = _signature_of(call)
        if signature:
            part["thoughtSignature"] = signature
        calls.append(part)
    if calls and signature_fallback and not any("thoughtSignature" in c for c in calls):
        calls[0]["thoughtSignature"] = SKIP_SIGNATURE
    return parts + calls


def _signature_of(call: Mapping[str, Any]) -> str | None:
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    signature = google.get("thought_signature") if isinstance(google, Mapping) else None
    return signature if isinstance(signature, str) and signature else None


def _function_response(message: Mapping[str, Any], where: str, names: Mapping[str, str]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    if name is None and isinstance(message.get("name"), str):
        name = message["name"]
    if name is None and isinstance(call_id, str):
        ours = _OUR_ID.fullmatch(call_id)
        name = ours.group(1) if ours else None
    if not name:
        raise InvalidRequest(
            f"{where}: no earlier assistant tool call has id '{call_id}', so its function is unknown.",
            param=f"{where}.tool_call_id",
        )
    text = "".join(text_parts(message.get("content"), where))
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    response = value if isinstance(value, dict) else {"output": value}
    return {"functionResponse": {"name": name, "response": response}}


# -- tools and generation config --------------------------------------------------------------


def _declaration(tool: Mapping[str, Any], where: str) -> dict[str, Any]:
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, Mapping):
        raise InvalidRequest(f"{where}: Gemini deployments take only function tools.", param=where)
    out: dict[str, Any] = {"name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    if function.get("parameters"):
        out["parametersJsonSchema"] = function["parameters"]
    return out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice in ("auto", "none"):
        return {"mode": str(choice).upper()}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name")]}
    raise InvalidRequest("'tool_choice' must be auto, none, required or a function.", param="tool_choice")


def _generation_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("thinkingConfig", "thinkingConfig"),
    ):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    stops = stop_list(body.get("stop"))
    if stops:
        config["stopSequences"] = stops
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        config["candidateCount"] = n
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = response_format.get("json_schema") if isinstance(response_format, Mapping) else None
        if isinstance(spec, Mapping) and isinstance(spec.get("schema"), dict):
            config["responseJsonSchema"] = spec["schema"]
    return config


# -- responses --------------------------------------------------------------------------------


def finish_reason(reason: Any, has_tool_calls: bool = False) -> str | None:
    if reason is None or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    if reason in CONTENT_FILTER_REASONS:
        return "content_filter"
    if reason == "MAX_TOKENS":
        return "length"
    return "tool_calls" if has_tool_calls else "stop"


def usage_from_gemini(metadata: Any) -> Usage | None:
    """Prompt tokens include cached ones; thinking tokens are billed as output, so they count as completion."""
    if not isinstance(metadata, Mapping):
        return None
    prompt = _int(metadata.get("promptTokenCount")) + _int(metadata.get("toolUsePromptTokenCount"))
    completion = _int(metadata.get("candidatesTokenCount")) + _int(metadata.get("thoughtsTokenCount"))
    cached = _int(metadata.get("cachedContentTokenCount"))
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                 cached_tokens=cached)


def _usage_dict(metadata: Mapping[str, Any]) -> dict[str, Any]:
    usage = usage_from_gemini(metadata)
    out = usage.to_openai() if usage is not None else {}
    thoughts = _int(metadata.get("thoughtsTokenCount"))
    if thoughts:
        out["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _parts(candidate: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    return [p for p in parts if isinstance(p, Mapping)] if isinstance(parts, list) else []


def _tool_call(part: Mapping[str, Any], position: int) -> dict[str, Any]:
    call = part["functionCall"]
    name = call.get("name") if isinstance(call, Mapping) else None
    args = call.get("args") if isinstance(call, Mapping) else None
    call_id = call.get("id") if isinstance(call, Mapping) else None
    out: dict[str, Any] = {
        "id": call_id if isinstance(call_id, str) and call_id else f"call_{position}_{name}",
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(args if isinstance(args, dict) else {}).decode()},
    }
    if isinstance(part.get("thoughtSignature"), str):
        out["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return out


def response_from_gemini(
    data: Any, *, model: str, created: int, response_id: str
) -> tuple[dict[str, Any], Usage | None, str | None]:
    """A ``generateContent`` response as an OpenAI ``chat.completion`` dict, with usage and finish reason."""
    if not isinstance(data, dict):
        raise MalformedUpstream("returned a response that is not an object")
    candidates = data.get("candidates")
    feedback = data.get("promptFeedback")
    blocked = isinstance(feedback, Mapping) and bool(feedback.get("blockReason"))
    if not isinstance(candidates, list) and not blocked:
        raise MalformedUpstream("returned no candidates")
    choices: list[dict[str, Any]] = []
    finishes: list[str] = []
    for position, candidate in enumerate(candidates or []):
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in _parts(candidate):
            if "functionCall" in part:
                calls.append(_tool_call(part, len(calls)))
            elif isinstance(part.get("text"), str):
                (thoughts if part.get("thought") else texts).append(part["text"])
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
        if calls:
            message["tool_calls"] = calls
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        finish = finish_reason(candidate.get("finishReason"), bool(calls)) or "stop"
        finishes.append(finish)
        index = candidate.get("index")
        choices.append({"index": index if isinstance(index, int) else position, "message": message,
                        "logprobs": None, "finish_reason": finish})
    if not choices:
        finishes.append("content_filter")
        message = {"role": "assistant", "content": ""}
        choices.append({"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"})
    metadata = data.get("usageMetadata")
    body: dict[str, Any] = {
        "id": data.get("responseId") or response_id,
        "object": "chat.completion",
        "created": created,
        "model": data.get("modelVersion") or model,
        "choices": choices,
    }
    if isinstance(metadata, Mapping):
        body["usage"] = _usage_dict(metadata)
    return body, usage_from_gemini(metadata), finishes[0]


# -- streams ----------------------------------------------------------------------------------


class GeminiStreamTranslator:
    """Turns streamed ``GenerateContentResponse`` objects into ``chat.completion.chunk`` SSE events.

    Gemini streams have no end event: the stream is complete once a finish reason has arrived.
    """

    def __init__(self, *, created: int, model: str, response_id: str, include_usage: bool = False) -> None:
        self.finish_reason: str | None = None
        self.done = False  # Gemini sends no end event; the stream ends with the body
        self._base: dict[str, Any] = {"id": response_id, "created": created, "model": model}
        self._include_usage = include_usage
        self._metadata: Mapping[str, Any] | None = None
        self._started = False
        self._role = b""  # the role chunk, until it goes out with the next one
        self._usage_sent = False
        self._tool_calls: dict[int, int] = {}  # candidate index → tool calls so far

    @property
    def usage(self) -> Usage | None:
        return usage_from_gemini(self._metadata)

    @property
    def complete(self) -> bool:
        return self.finish_reason is not None

    def feed(self, event: Mapping[str, Any]) -> bytes:
        """The SSE events this object makes; the role chunk waits for the first chunk after it."""
        chunks = self._chunks(event)
        if not chunks:
            return b""
        out, self._role = self._role + encode_events(chunks), b""
        return out

    def _chunks(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        error = event.get("error")
        if isinstance(error, Mapping):
            status = error.get("code")
            if not isinstance(status, int):
                status = STATUS_CODES.get(str(error.get("status")), 500)
            raise UpstreamErrorEvent(status, str(error.get("message", "")), str(error.get("status") or ""))
        out: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            self._base["id"] = event.get("responseId") or self._base["id"]
            self._base["model"] = event.get("modelVersion") or self._base["model"]
            self._role = encode_events((chunk(self._base, {"role": "assistant", "content": ""}),))
        if isinstance(event.get("usageMetadata"), Mapping):
            self._metadata = event["usageMetadata"]
        candidates = event.get("candidates")
        for position, candidate in enumerate(candidates if isinstance(candidates, list) else []):
            if isinstance(candidate, Mapping):
                out.extend(self._candidate(candidate, position))
        feedback = event.get("promptFeedback")
        if not candidates and isinstance(feedback, Mapping) and feedback.get("blockReason"):
            self.finish_reason = "content_filter"
            out.append(chunk(self._base, {}, "content_filter"))
        return out

    def end(self) -> bytes:
        """A held role chunk, and the usage chunk at the end of a complete stream if the client asked for it."""
        out, self._role = self._role, b""
        if not self._include_usage or self._usage_sent or self._metadata is None or not self.complete:
            return out
        self._usage_sent = True
        return out + encode_events((usage_chunk(self._base, _usage_dict(self._metadata)),))

    def _candidate(self, candidate: Mapping[str, Any], position: int) -> list[dict[str, Any]]:
        index = candidate.get("index")
        index = index if isinstance(index, int) else position
        out = []
        for part in _parts(candidate):
            if "functionCall" in part:
                count = self._tool_calls.get(index, 0)
                self._tool_calls[index] = count + 1
                call = {"index": count, **_tool_call(part, count)}
                out.append(chunk(self._base, {"tool_calls": [call]}, None, index))
            elif isinstance(part.get("text"), str) and part["text"]:
                key = "reasoning_content" if part.get("thought") else "content"
                out.append(chunk(self._base, {key: part["text"]}, None, index))
        finish = finish_reason(candidate.get("finishReason"), bool(self._tool_calls.get(index)))
        if finish is not None:
            out.append(chunk(self._base, {}, finish, index))
            if index == 0 or self.finish_reason is None:
                self.finish_reason = finish
        return out
