"""Per-event cost of relaying a stream: OpenAI pass-through vs Anthropic translation.

Both paths get the same 16-token answer, split into SSE events as each provider sends it, and
do exactly what the gateway does per upstream read: cut whole events (``SSEBuffer``), then
either inspect and pass them through (OpenAI) or parse and translate them into OpenAI
chunk events (Anthropic); first with one upstream read per event, then with the whole answer
in one read. Run: ``PYTHONPATH=src python3 bench/stream_translation.py``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import orjson

from switchpoint.providers.anthropic import _event_error
from switchpoint.providers.native import TranslatedStream
from switchpoint.providers.openai_compat import OpenAIStream
from switchpoint.providers.sse import SSEBuffer
from switchpoint.providers.translate.anthropic import AnthropicStreamTranslator
from switchpoint.types import Deployment

TOKENS = [f" word{i}" for i in range(16)]
DEPLOYMENT = Deployment(id="bench", provider="bench", model="m", api_base="http://127.0.0.1:1/v1")


def sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def openai_events() -> list[bytes]:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    role = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    out = [sse({**base, "choices": [role]})]
    out += [sse({**base, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]}) for t in TOKENS]
    out.append(sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    out.append(sse({**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 16, "total_tokens": 25}}))
    out.append(b"data: [DONE]\n\n")
    return out


def anthropic_events() -> list[bytes]:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
               "stop_reason": None, "usage": {"input_tokens": 9, "output_tokens": 1}}
    out = [sse({"type": "message_start", "message": message}, "message_start"),
           sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
               "content_block_start")]
    out += [sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}},
                "content_block_delta") for t in TOKENS]
    out += [sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 16}},
                "message_delta"),
            sse({"type": "message_stop"}, "message_stop")]
    return out


def reads(events: list[bytes], one_read: bool) -> list[bytes]:
    """One upstream read per event (the worst case for per-read overhead), or the whole answer in
    one read (as a fast upstream such as the harness's nginx mock sends it)."""
    return [b"".join(events)] if one_read else events


def run_openai(events: list[bytes], one_read: bool = False) -> int:
    stream = OpenAIStream(None, DEPLOYMENT, hide_usage=True, first_deadline=0.0)  # type: ignore[arg-type]
    buffer = SSEBuffer()
    size = 0
    for raw in reads(events, one_read):
        size += len(stream._inspect(buffer.feed(raw))[0])
    return size


def run_anthropic(events: list[bytes], one_read: bool = False) -> int:
    translator = AnthropicStreamTranslator(created=1, model="m", include_usage=False)
    stream = TranslatedStream(None, DEPLOYMENT, translator, first_deadline=0.0,  # type: ignore[arg-type]
                              event_error=_event_error)
    buffer = SSEBuffer()
    size = 0
    for raw in reads(events, one_read):
        out, error = stream._translate(buffer.feed(raw))
        assert error is None
        size += len(out)
    return size


def measure(fn: Any, events: list[bytes], one_read: bool, rounds: int = 7, n: int = 2000) -> list[float]:
    per_event = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(n):
            fn(events, one_read)
        per_event.append((time.process_time() - started) / (n * len(events)) * 1e6)
    return per_event


def main() -> None:
    oa, an = openai_events(), anthropic_events()
    assert run_openai(oa) == run_openai(oa, True) > 0 and run_anthropic(an) == run_anthropic(an, True) > 0
    for one_read in (False, True):
        print("whole answer in one read:" if one_read else "one read per event:")
        results = {}
        for name, fn, events in (("openai pass-through", run_openai, oa),
                                 ("anthropic translation", run_anthropic, an)):
            samples = measure(fn, events, one_read)
            results[name] = statistics.median(samples)
            print(f"  {name:24s} {len(events):2d} events/stream  median {results[name]:.2f} us/event, "
                  f"{results[name] * len(events):.1f} us/stream  (min {min(samples):.2f}, max {max(samples):.2f} "
                  f"us/event; CPU time, {len(samples)} rounds)")
        extra = results["anthropic translation"] - results["openai pass-through"]
        per_stream = results["anthropic translation"] * len(an) - results["openai pass-through"] * len(oa)
        print(f"  translation adds {extra:.2f} us/event, {per_stream:.1f} us/stream "
              f"({results['anthropic translation'] / results['openai pass-through']:.1f}x the pass-through per event)")


if __name__ == "__main__":
    main()
