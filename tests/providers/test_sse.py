"""SSE splitting: whole events only, whatever the read boundaries and line endings."""

from __future__ import annotations

import pytest

from switchpoint.providers.sse import SSEBuffer, event_data

STREAM_LF = (
    b": keep-alive\n\n"
    b'data: {"id":"1","choices":[{"delta":{"content":"Hel"}}]}\n\n'
    b"event: message\ndata: line one\ndata: line two\n\n"
    b"data:nospace\n\n"
    b"data: [DONE]\n\n"
)
EVENTS = [
    b": keep-alive",
    b'data: {"id":"1","choices":[{"delta":{"content":"Hel"}}]}',
    b"event: message\ndata: line one\ndata: line two",
    b"data:nospace",
    b"data: [DONE]",
]


def _feed_all(chunks: list[bytes]) -> tuple[list[bytes], bytes]:
    buffer = SSEBuffer()
    events: list[bytes] = []
    for chunk in chunks:
        events.extend(buffer.feed(chunk))
    return events, buffer.flush()


def _payloads(events: list[bytes]) -> list[bytes | None]:
    return [event_data(e) for e in events]


# --- SSEBuffer ---------------------------------------------------------------------------------


def test_whole_stream_in_one_feed() -> None:
    assert _feed_all([STREAM_LF]) == (EVENTS, b"")


def test_byte_by_byte() -> None:
    assert _feed_all([bytes([b]) for b in STREAM_LF]) == (EVENTS, b"")


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_every_single_split_point(newline: bytes) -> None:
    stream = STREAM_LF.replace(b"\n", newline)
    for i in range(len(stream) + 1):
        assert _feed_all([stream[:i], stream[i:]]) == (EVENTS, b""), f"split at {i}"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_every_pair_of_split_points(newline: bytes) -> None:
    stream = (b"data: a\n\n: c\n\ndata: b1\ndata: b2\n\n").replace(b"\n", newline)
    expected = [b"data: a", b": c", b"data: b1\ndata: b2"]
    for i in range(len(stream) + 1):
        for j in range(i, len(stream) + 1):
            assert _feed_all([stream[:i], stream[i:j], stream[j:]]) == (expected, b""), f"split at {i}, {j}"


def test_every_split_point_cr_only_gives_same_payloads() -> None:
    # With bare CR endings a trailing CR is ambiguous (its LF may follow), so the last event may only
    # come out at flush; the payloads must still be the same whatever the split.
    stream = STREAM_LF.replace(b"\n", b"\r")
    whole_events, whole_rest = _feed_all([stream])
    whole = _payloads([*whole_events, whole_rest] if whole_rest else whole_events)
    assert whole == [
        None,
        b'{"id":"1","choices":[{"delta":{"content":"Hel"}}]}',
        b"line one\nline two",
        b"nospace",
        b"[DONE]",
    ]
    for i in range(len(stream) + 1):
        events, rest = _feed_all([stream[:i], stream[i:]])
        assert _payloads([*events, rest] if rest else events) == whole, f"split at {i}"


def test_crlf_events() -> None:
    assert _feed_all([b"data: a\r\n\r\ndata: b\r\n\r\n"]) == ([b"data: a", b"data: b"], b"")


def test_cr_events() -> None:
    events, _ = _feed_all([b"data: a\r\rdata: b\r\rdata: c\r\r"])
    assert events[:2] == [b"data: a", b"data: b"]


def test_crlf_split_between_cr_and_lf() -> None:
    buffer = SSEBuffer()
    assert buffer.feed(b"data: a\r") == []
    assert buffer.feed(b"\n\r") == []
    assert buffer.feed(b"\ndata: b\r\n") == [b"data: a"]
    assert buffer.feed(b"\r\n") == [b"data: b"]
    assert buffer.flush() == b""


def test_cr_held_then_cr() -> None:
    buffer = SSEBuffer()
    assert buffer.feed(b"data: a\r") == []
    assert buffer.feed(b"\rdata: b\n\n") == [b"data: a", b"data: b"]


def test_mixed_line_endings() -> None:
    assert _feed_all([b"data: a\r\n\ndata: b\n\r\ndata: c\r\r\n"]) == ([b"data: a", b"data: b", b"data: c"], b"")


def test_multiple_events_per_feed_and_partial_tail() -> None:
    buffer = SSEBuffer()
    assert buffer.feed(b"data: 1\n\ndata: 2\n\ndata: 3") == [b"data: 1", b"data: 2"]
    assert buffer.feed(b"\n") == []
    assert buffer.feed(b"\ndata: 4\n\n") == [b"data: 3", b"data: 4"]


def test_blank_lines_do_not_make_empty_events() -> None:
    assert _feed_all([b"\n\n\n\ndata: a\n\n\n\ndata: b\n\n"]) == ([b"data: a", b"data: b"], b"")
    assert _feed_all([b"\r\n\r\n"]) == ([], b"")
    assert _feed_all([b"\n\n", b"\n\n"]) == ([], b"")


@pytest.mark.parametrize(
    "stream",
    [b"data: a\n\n\ndata: b\n\n", b"data: a\n\n\n\n\ndata: b\n\n", b"data: a\r\n\r\n\r\ndata: b\r\n\r\n"],
    ids=["3-LF", "5-LF", "3-CRLF"],
)
def test_odd_runs_of_blank_lines_give_clean_events(stream: bytes) -> None:
    # Legal SSE: any number of blank lines may separate events. A stray leading newline breaks
    # callers that match on the event start, e.g. openai_compat's b"data: [DONE]" check.
    assert _feed_all([stream]) == ([b"data: a", b"data: b"], b"")


def test_comments_are_events() -> None:
    assert _feed_all([b": ping\n\n:\n\ndata: x\n\n"]) == ([b": ping", b":", b"data: x"], b"")


def test_flush_returns_unterminated_last_event_once() -> None:
    buffer = SSEBuffer()
    assert buffer.feed(b"data: 1\n\ndata: 2\ndata: 3\n") == [b"data: 1"]
    assert buffer.flush() == b"data: 2\ndata: 3"
    assert buffer.flush() == b""
    assert buffer.feed(b"data: 4\n\n") == [b"data: 4"]


def test_flush_of_crlf_terminated_line() -> None:
    buffer = SSEBuffer()
    assert buffer.feed(b"data: 1\r\n") == []
    assert buffer.flush() == b"data: 1"


def test_flush_empty() -> None:
    assert SSEBuffer().flush() == b""


def test_feed_empty_bytes() -> None:
    buffer = SSEBuffer()
    assert buffer.feed(b"") == []
    assert buffer.feed(b"data: a") == []
    assert buffer.feed(b"") == []
    assert buffer.feed(b"\n\n") == [b"data: a"]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [([b"data: a\r"], b"data: a"), ([b"data: a\r\r"], b"data: a"), ([b"data: a\r\n\r"], b"data: a")],
    ids=["CR-unterminated", "CR-terminated", "CRLF-half"],
)
def test_flush_normalises_a_held_cr(chunks: list[bytes], expected: bytes) -> None:
    events, rest = _feed_all(chunks)
    assert events == []
    assert rest == expected
    assert event_data(rest) == b"a"


# --- event_data --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        (b"data: hello", b"hello"),
        (b"data:hello", b"hello"),
        (b"data:  two spaces", b" two spaces"),
        (b"data: ", b""),
        (b"data:", b""),
        (b'data: {"a": 1}', b'{"a": 1}'),
        (b"data: a\ndata: b", b"a\nb"),
        (b"data:a\ndata: b\ndata:", b"a\nb\n"),
        (b"event: delta\ndata: x\nid: 7", b"x"),
        (b"id: 1\nretry: 10\ndata:[DONE]", b"[DONE]"),
        (b": comment\ndata: x", b"x"),
        # the two-line shortcut (``event:`` then ``data:``, as Anthropic sends events)
        (b'event: content_block_delta\ndata: {"a": 1}', b'{"a": 1}'),
        (b"event: x\ndata:nospace", b"nospace"),
        (b"event: x\ndata:  two", b" two"),
        (b"event: x\ndata:", b""),
        (b"event: x\ndata: a\ndata: b", b"a\nb"),
        (b"event: x\ndata: a\nid: 1", b"a"),
        (b"data: a\nevent: x", b"a"),
    ],
)
def test_event_data(event: bytes, payload: bytes) -> None:
    assert event_data(event) == payload


@pytest.mark.parametrize(
    "event",
    [b": ping", b":", b"event: ping", b"id: 3\nretry: 5", b"", b"dat: x", b" data: x", b"event: ping\nid: 1",
     b"event: x\n data: y", b"event: x\n"],
)
def test_event_without_data_is_none(event: bytes) -> None:
    assert event_data(event) is None
