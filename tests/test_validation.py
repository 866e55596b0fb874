"""Request validation: each bad input gives InvalidRequest with the right param and message."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from switchpoint.errors import InvalidRequest
from switchpoint.validation import parse_chat_request, validate_chat_body

USER = {"role": "user", "content": "hi"}


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [USER], **fields}


def _invalid(body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        validate_chat_body(body)
    assert info.value.status == 400
    assert info.value.error_type == "invalid_request_error"
    assert info.value.code == "invalid_request"
    return info.value


def _raw_invalid(raw: bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(raw)
    return info.value


# --- body --------------------------------------------------------------------------------------


def test_empty_body() -> None:
    error = _raw_invalid(b"")
    assert error.message == "The request body is empty; expected a JSON object."
    assert error.param is None


@pytest.mark.parametrize("raw", [b"{", b"{'model': 'm'}", b"not json", b'{"model": "m",}', b"\xff\xfe"])
def test_invalid_json(raw: bytes) -> None:
    error = _raw_invalid(raw)
    assert error.message.startswith("The request body is not valid JSON: ")
    assert "(position " in error.message
    assert error.param is None


@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b"42", b"3.5", b'"text"', b"null", b"true"])
def test_non_object_json(raw: bytes) -> None:
    error = _raw_invalid(raw)
    assert error.message == "The request body must be a JSON object."
    assert error.param is None


# --- model and messages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [{"messages": [USER]}, _body(model=""), _body(model=3), _body(model=None), _body(model=["m"])]
)
def test_bad_model(body: dict[str, Any]) -> None:
    error = _invalid(body)
    assert error.param == "model"
    assert error.message == "'model' is required and must be a non-empty string."


@pytest.mark.parametrize("messages", [None, [], "hi", {"role": "user"}, 0])
def test_bad_messages(messages: Any) -> None:
    body = {"model": "m"} if messages is None else {"model": "m", "messages": messages}
    error = _invalid(body)
    assert error.param == "messages"
    assert error.message == "'messages' is required and must be a non-empty array."


def test_model_checked_before_messages() -> None:
    assert _invalid({}).param == "model"


@pytest.mark.parametrize("message", ["hi", 1, None, ["user", "hi"]])
def test_message_not_an_object(message: Any) -> None:
    error = _invalid(_body(messages=[USER, message]))
    assert error.param == "messages[1]"
    assert error.message == "messages[1] must be an object."


@pytest.mark.parametrize(("role", "shown"), [("robot", '"robot"'), (None, "nothing"), (1, "1"), ("USER", '"USER"')])
def test_bad_role(role: Any, shown: str) -> None:
    message = {"content": "x"} if role is None else {"role": role, "content": "x"}
    error = _invalid(_body(messages=[message]))
    assert error.param == "messages[0].role"
    assert error.message == (
        "messages[0].role must be one of assistant, developer, function, system, tool, user; got " + shown + "."
    )


def test_long_role_is_truncated_in_message() -> None:
    error = _invalid(_body(messages=[{"role": "x" * 100, "content": "hi"}]))
    assert error.message.endswith('got "' + "x" * 36 + "....")
    assert len(error.message) < 150


@pytest.mark.parametrize("role", ["user", "system", "developer"])
def test_missing_content(role: str) -> None:
    for message in ({"role": role}, {"role": role, "content": None}):
        error = _invalid(_body(messages=[USER, message]))
        assert error.param == "messages[1].content"
        assert error.message == "messages[1].content is required."


@pytest.mark.parametrize("role", ["assistant", "tool", "function"])
def test_content_optional_for_other_roles(role: str) -> None:
    request = validate_chat_body(_body(messages=[USER, {"role": role, "content": None}]))
    assert request.body["messages"][1] == {"role": role, "content": None}


@pytest.mark.parametrize("content", [1, 1.5, True, {"type": "text", "text": "hi"}])
def test_content_of_wrong_type(content: Any) -> None:
    error = _invalid(_body(messages=[{"role": "user", "content": content}]))
    assert error.param == "messages[0].content"
    assert error.message == "messages[0].content must be a string or an array of content parts."


@pytest.mark.parametrize("part", ["text", {"text": "hi"}, {"type": 1}, None])
def test_content_part_without_type(part: Any) -> None:
    content = [{"type": "text", "text": "a"}, part]
    error = _invalid(_body(messages=[USER, {"role": "user", "content": content}]))
    assert error.param == "messages[1].content[1]"
    assert error.message == "messages[1].content[1] must be an object with a 'type'."


def test_empty_string_and_empty_parts_are_allowed() -> None:
    validate_chat_body(_body(messages=[{"role": "user", "content": ""}]))
    validate_chat_body(_body(messages=[{"role": "user", "content": []}]))


# --- scalars -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "bounds", "shown"),
    [
        ("temperature", 2.5, "0 and 2", "2.5"),
        ("temperature", -0.1, "0 and 2", "-0.1"),
        ("temperature", True, "0 and 2", "true"),
        ("temperature", "0.5", "0 and 2", '"0.5"'),
        ("temperature", [1], "0 and 2", "[1]"),
        ("top_p", 1.01, "0 and 1", "1.01"),
        ("top_p", -1, "0 and 1", "-1"),
        ("top_p", False, "0 and 1", "false"),
        ("top_p", "1", "0 and 1", '"1"'),
        ("presence_penalty", 3, "-2 and 2", "3"),
        ("frequency_penalty", -2.5, "-2 and 2", "-2.5"),
    ],
)
def test_number_out_of_range_or_wrong_type(name: str, value: Any, bounds: str, shown: str) -> None:
    error = _invalid(_body(**{name: value}))
    assert error.param == name
    assert error.message == f"'{name}' must be a number between {bounds}; got {shown}."


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", 0),
        ("temperature", 2),
        ("temperature", 0.7),
        ("top_p", 0),
        ("top_p", 1),
        ("presence_penalty", -2),
        ("frequency_penalty", 2.0),
    ],
)
def test_number_bounds_are_inclusive(name: str, value: float) -> None:
    assert validate_chat_body(_body(**{name: value})).body[name] == value


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens", "n"])
@pytest.mark.parametrize(
    ("value", "shown"), [(0, "0"), (-5, "-5"), (1.0, "1.0"), (2.5, "2.5"), (True, "true"), ("10", '"10"')]
)
def test_positive_ints(name: str, value: Any, shown: str) -> None:
    error = _invalid(_body(**{name: value}))
    assert error.param == name
    assert error.message == f"'{name}' must be a positive integer; got {shown}."


def test_huge_integer_from_json_is_a_clean_400() -> None:
    raw = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":-100000000000000000000}'
    error = _raw_invalid(raw)
    assert error.param == "max_tokens"
    assert error.message.startswith("'max_tokens' must be a positive integer; got -1")


@pytest.mark.parametrize("name", ["stream", "logprobs", "parallel_tool_calls", "store"])
@pytest.mark.parametrize(("value", "shown"), [("true", '"true"'), (1, "1"), (0, "0"), ({}, "{}")])
def test_bools(name: str, value: Any, shown: str) -> None:
    error = _invalid(_body(**{name: value}))
    assert error.param == name
    assert error.message == f"'{name}' must be a boolean; got {shown}."


@pytest.mark.parametrize("stop", [1, ["a", 1], {"a": 1}, [None], True])
def test_bad_stop(stop: Any) -> None:
    error = _invalid(_body(stop=stop))
    assert error.param == "stop"
    assert error.message == "'stop' must be a string or an array of strings."


@pytest.mark.parametrize("stop", ["\n", ["a", "b"], []])
def test_good_stop(stop: Any) -> None:
    assert validate_chat_body(_body(stop=stop)).body["stop"] == stop


@pytest.mark.parametrize("seed", [1.5, "1", True, [1]])
def test_bad_seed(seed: Any) -> None:
    error = _invalid(_body(seed=seed))
    assert error.param == "seed"
    assert error.message == "'seed' must be an integer."


@pytest.mark.parametrize("seed", [0, -1, 2**62])
def test_good_seed(seed: int) -> None:
    validate_chat_body(_body(seed=seed))


@pytest.mark.parametrize("user", [1, ["u"], {"id": "u"}, True])
def test_user_not_string(user: Any) -> None:
    error = _invalid(_body(user=user))
    assert error.param == "user"
    assert error.message == "'user' must be a string."


@pytest.mark.parametrize("metadata", ["x", [1], 1, True])
def test_metadata_not_object(metadata: Any) -> None:
    error = _invalid(_body(metadata=metadata))
    assert error.param == "metadata"
    assert error.message == "'metadata' must be an object."


# --- tools, response_format, stream_options ----------------------------------------------------


@pytest.mark.parametrize("tools", [{"type": "function"}, "f", 1])
def test_tools_not_a_list(tools: Any) -> None:
    error = _invalid(_body(tools=tools))
    assert error.param == "tools"
    assert error.message == "'tools' must be an array."


@pytest.mark.parametrize(
    "tool",
    [
        "f",
        {"type": "function"},
        {"type": "function", "function": "f"},
        {"type": "function", "function": {}},
        {"type": "function", "function": {"name": 3}},
    ],
)
def test_tool_without_function_name(tool: Any) -> None:
    good = {"type": "function", "function": {"name": "ok"}}
    error = _invalid(_body(tools=[good, tool]))
    assert error.param == "tools[1]"
    assert error.message == "tools[1] must be an object with a 'function' that has a 'name'."


@pytest.mark.parametrize("response_format", ["json", {}, {"type": 1}, ["json_object"]])
def test_response_format_without_type(response_format: Any) -> None:
    error = _invalid(_body(response_format=response_format))
    assert error.param == "response_format"
    assert error.message == "'response_format' must be an object with a 'type'."


@pytest.mark.parametrize("stream_options", [True, "usage", ["include_usage"]])
def test_stream_options_not_object(stream_options: Any) -> None:
    error = _invalid(_body(stream=True, stream_options=stream_options))
    assert error.param == "stream_options"
    assert error.message == "'stream_options' must be an object."


# --- positive cases ----------------------------------------------------------------------------


def test_minimal_request_defaults() -> None:
    request = parse_chat_request(orjson.dumps(_body()))
    assert request.model == "m"
    assert request.body == _body()
    assert (request.stream, request.include_usage, request.has_tools, request.has_images, request.wants_json) == (
        False,
        False,
        False,
        False,
        False,
    )
    assert (request.tags, request.request_id) == ((), "")


def test_nulls_are_treated_as_absent() -> None:
    fields = [
        "temperature",
        "top_p",
        "max_tokens",
        "n",
        "stream",
        "stop",
        "seed",
        "user",
        "metadata",
        "tools",
        "response_format",
        "stream_options",
    ]
    request = validate_chat_body(_body(**dict.fromkeys(fields)))
    assert not request.stream and not request.has_tools and not request.wants_json


def test_has_tools() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    assert validate_chat_body(_body(tools=tools)).has_tools is True
    assert validate_chat_body(_body(tools=[])).has_tools is False


def test_has_images() -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    request = validate_chat_body(
        _body(messages=[{"role": "system", "content": "s"}, {"role": "user", "content": parts}])
    )
    assert request.has_images is True
    text_only = [{"type": "text", "text": "hello"}]
    assert validate_chat_body(_body(messages=[{"role": "user", "content": text_only}])).has_images is False


def test_has_images_from_an_earlier_message() -> None:
    image = [{"type": "image_url", "image_url": {"url": "http://x/cat.png"}}]
    messages = [{"role": "user", "content": image}, {"role": "assistant", "content": "a cat"}, USER]
    assert validate_chat_body(_body(messages=messages)).has_images is True


@pytest.mark.parametrize(
    ("response_format", "wants_json"),
    [
        ({"type": "json_object"}, True),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}, True),
        ({"type": "text"}, False),
    ],
)
def test_wants_json(response_format: dict[str, Any], wants_json: bool) -> None:
    assert validate_chat_body(_body(response_format=response_format)).wants_json is wants_json


def test_stream_and_include_usage() -> None:
    request = validate_chat_body(_body(stream=True, stream_options={"include_usage": True}))
    assert request.stream is True
    assert request.include_usage is True
    request = validate_chat_body(_body(stream=True, stream_options={"include_usage": False}))
    assert (request.stream, request.include_usage) == (True, False)
    request = validate_chat_body(_body(stream=False, stream_options={"include_usage": "yes"}))
    assert (request.stream, request.include_usage) == (False, False)
    assert validate_chat_body(_body(stream=True)).include_usage is False


def test_tags_and_request_id_carried() -> None:
    request = parse_chat_request(orjson.dumps(_body()), request_id="req-123", tags=("team:a", "exp"))
    assert request.request_id == "req-123"
    assert request.tags == ("team:a", "exp")
    request = validate_chat_body(_body(), request_id="r2", tags=("t",))
    assert (request.request_id, request.tags) == ("r2", ("t",))


def test_unknown_fields_kept_untouched() -> None:
    extra = {
        "x_vendor_flag": {"nested": [1, 2, {"a": None}]},
        "logit_bias": {"50256": -100},
        "reasoning_effort": "low",
        "temperature": 0.2,
    }
    raw = orjson.dumps(_body(**extra))
    request = parse_chat_request(raw)
    assert request.body == orjson.loads(raw)
    for key, value in extra.items():
        assert request.body[key] == value


def test_body_is_the_same_object() -> None:
    body = _body(extra=1)
    assert validate_chat_body(body).body is body


@pytest.mark.parametrize(
    "fields",
    [{"temperature": Decimal("0.5")}, {"max_tokens": Decimal(5)}, {"messages": [{"role": object(), "content": "x"}]}],
    ids=["decimal-temperature", "decimal-max_tokens", "object-role"],
)
def test_non_json_python_values_give_invalid_request(fields: dict[str, Any]) -> None:
    # The SDK (sdk/router.py) passes Python keyword arguments straight to validate_chat_body.
    with pytest.raises(InvalidRequest):
        validate_chat_body(_body(**fields))
