"""The routing condition language: parsing, semantics, errors, limits and safety."""

from __future__ import annotations

import pickle
import random
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import pytest

from switchpoint.routing import expr
from switchpoint.routing.expr import (
    MATCH_WINDOW,
    MAX_DEPTH,
    MAX_LENGTH,
    Condition,
    ExpressionError,
    compile_condition,
)

ENV: dict[str, Any] = {
    "features": {
        "task_type": {"label": "coding", "probs": {"coding": 0.7, "math": 0.2}},
        "complexity": 0.8,
        "pii": {"found": False, "kinds": []},
        "prompt_tokens": 1200,
        "has_images": False,
        "language": {"code": "fr", "confidence": 0.9},
    },
    "metadata": {"tier": "gold", "région": "île-de-france", "empty": "", "nothing": None},
    "tags": ["premium", "batch"],
    "headers": {"x-team": "ads", "x-priority": "3", "content-type": "application/json"},
    "request": {"temperature": 0.1, "stream": False, "n": 1, "model": "auto"},
    "last_user_message": "Hello, I need a REFUND for my last invoice, please.",
}


def ev(source: str, env: Mapping[str, Any] = ENV) -> bool:
    return compile_condition(source).evaluate(env)


def error(source: str, **kwargs: Any) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        compile_condition(source, **kwargs)
    return info.value


# ---------------------------------------------------------------------------------------------
# The rules of the issue, and evaluation


@pytest.mark.parametrize(("source", "expected"), [
    ('features.task_type.label == "coding" and features.complexity > 0.6', True),
    ("features.pii.found", False),
    ("'premium' in tags or metadata.tier == 'gold'", True),
    ("features.prompt_tokens > 100000", False),
    ('headers.x-team in ["search", "ads"] and request.temperature <= 0.2', True),
    ('matches(last_user_message, "(?i)refund|invoice") and not request.stream', True),
])
def test_the_rules_of_the_issue(source: str, expected: bool) -> None:
    assert ev(source) is expected


@pytest.mark.parametrize(("source", "names"), [
    ('features.task_type.label == "coding" and features.complexity > 0.6',
     {"features.task_type.label", "features.complexity"}),
    ("'premium' in tags or metadata.tier == 'gold'", {"tags", "metadata.tier"}),
    ('headers.x-team in ["search", "ads"]', {"headers.x-team"}),
    ("exists(metadata.tier) and len(tags) > 1", {"metadata.tier", "tags"}),
    ("matches(last_user_message, 'x') or [request.model, 'a'] == []", {"last_user_message", "request.model"}),
    ("true", set()),
])
def test_names_lists_every_dotted_name(source: str, names: set[str]) -> None:
    assert compile_condition(source).names == frozenset(names)


def test_conditions_and_errors_pickle() -> None:
    condition = compile_condition("matches(last_user_message, '(?i)refund') and 'premium' in tags")
    copy = pickle.loads(pickle.dumps(condition))
    assert copy == condition and copy.names == condition.names
    assert copy.evaluate(ENV) and not copy.evaluate({})
    err = pickle.loads(pickle.dumps(error("a ==")))
    assert (err.reason, err.column, err.source) == ("expected an operand, got the end of the condition", 5, "a ==")
    assert str(err) == "expected an operand, got the end of the condition at column 5: a =="


def test_source_repr_and_equality() -> None:
    condition = compile_condition("features.pii.found")
    assert condition.source == "features.pii.found"
    assert repr(condition) == "Condition('features.pii.found')"
    assert condition == compile_condition("features.pii.found")
    assert condition != compile_condition("not features.pii.found")
    assert len({condition, compile_condition("features.pii.found")}) == 1


@pytest.mark.parametrize(("source", "expected"), [
    # not binds looser than comparisons: not (a == b)
    ("not request.model == 'auto'", False),
    ("not request.model == 'other'", True),
    # and binds tighter than or: a or (b and c)
    ("true or false and false", True),
    ("(true or false) and false", False),
    ("false and true or true", True),
    ("false and (true or true)", False),
    # not binds tighter than and/or
    ("not false and false", False),
    ("not (false and false)", True),
    ("not true or true", True),
    ("not not true", True),
    ("not not not true", False),
    # longer and/or chains
    ("true and true and true and false", False),
    ("false or false or false or true", True),
    ("true and true and true", True),
    ("false or false or false", False),
])
def test_precedence(source: str, expected: bool) -> None:
    assert ev(source) is expected


@pytest.mark.parametrize(("source", "expected"), [
    # numbers: int and float compare naturally; negatives; exponents
    ("features.prompt_tokens == 1200", True),
    ("features.prompt_tokens == 1200.0", True),
    ("features.complexity > 0.6", True),
    ("features.complexity >= 0.8", True),
    ("features.complexity < 0.8", False),
    ("features.complexity <= 8e-1", True),
    ("features.complexity > -1", True),
    ("-0.5 < features.complexity", True),
    ("1e3 < features.prompt_tokens", True),
    ("request.n != 2", True),
    # strings compare with strings, in code-point order
    ("request.model < 'b'", True),
    ("request.model >= 'auto'", True),
    ("'b' > 'a'", True),
    # mismatched types: ordering is false, == is false, != is true
    ("request.model > 3", False),
    ("request.model < 3", False),
    ("3 < request.model", False),
    ("missing > 3", False),
    ("missing < 3", False),
    ("missing <= 3", False),
    ("headers.x-priority > 2", False),          # a header is a string
    ("number(headers.x-priority) > 2", True),    # ... unless converted
    ("headers.x-priority == 3", False),
    ("features.prompt_tokens == '1200'", False),
    ("features.prompt_tokens != '1200'", True),
    # bool is not a number
    ("request.stream == 0", False),
    ("request.stream < 1", False),
    ("true > false", False),
    ("request.n == true", False),
    ("request.stream == false", True),
    ("request.stream == False", True),
    ("request.stream != true", True),
    # null
    ("missing == null", True),
    ("missing == None", True),
    ("metadata.nothing == null", True),
    ("missing != null", False),
    ("metadata.tier != null", True),
    ("missing == 0", False),
    ("missing == ''", False),
    ("missing == false", False),
    # lists and mappings compare by value, with the same type rules
    ("tags == ['premium', 'batch']", True),
    ("tags == ['batch', 'premium']", False),
    ("[1, 2.0] == [1.0, 2]", True),
    ("[1, true] == [1, 1]", False),
    ("[] == []", True),
    ("features.pii.kinds == []", True),
    ("features.language == features.language", True),
    ("features.language == features.pii", False),
    ("[request.model, 1] == ['auto', 1]", True),
    # chained comparisons: a < b < c is a < b and b < c
    ("0 < features.complexity < 1", True),
    ("0 < features.complexity < 0.5", False),
    ("1 < features.complexity < 2", False),
    ("0 < missing < 1", False),
    ("1 == 1 == 1", True),
    ("1 == 1 != 2", True),
    ("request.model == 'auto' in ['auto', 'x']", True),
    ("0.5 < features.complexity <= 0.8 < 1", True),
    ("0.1 < 0.2 < 0.3 < 0.4 < 0.2", False),
])
def test_comparisons(source: str, expected: bool) -> None:
    assert ev(source) is expected


@pytest.mark.parametrize(("source", "expected"), [
    # list membership
    ("'premium' in tags", True),
    ("'free' in tags", False),
    ("'free' not in tags", True),
    ("'premium' not in tags", False),
    ("request.n in [1, 2]", True),
    ("request.n in [1.0]", True),
    ("request.n in ['1']", False),
    ("request.n in [true]", False),          # bool is not a number, even in lists
    ("request.stream in [0, 1]", False),
    ("request.stream in [false]", True),
    ("missing in [null]", True),
    ("missing in [1, 'a']", False),
    ("tags in [['premium', 'batch'], 'x']", True),
    ("1 in [request.n, 5]", True),
    ("true in [request.n]", False),
    ("'premium' in [request.model, 'premium']", True),
    ("request.model in []", False),
    ("request.model not in []", True),
    # substring
    ("'REFUND' in last_user_message", True),
    ("'refund' in last_user_message", False),
    ("'refund' in lower(last_user_message)", True),
    ("'' in request.model", True),
    ("1 in request.model", False),
    # mapping keys
    ("'coding' in features.task_type.probs", True),
    ("'roleplay' in features.task_type.probs", False),
    ("'x-team' in headers", True),
    ("'roleplay' not in features.task_type.probs", True),
    ("1 in features.task_type.probs", False),
    ("tags in headers", False),
    # anything else: false, and not in is its negation
    ("'a' in missing", False),
    ("'a' not in missing", True),
    ("'a' in request.n", False),
    ("'a' in request.stream", False),
    ("'premium' in 'premium'", True),
    ("'x' not in 'abc' in 'abc'", True),
])
def test_membership(source: str, expected: bool) -> None:
    assert ev(source) is expected


@pytest.mark.parametrize(("source", "expected"), [
    ("features.task_type.probs.coding > 0.5", True),
    ("features.task_type.probs.writing", False),
    ("headers.x-team == 'ads'", True),
    ("headers.content-type == 'application/json'", True),
    ("metadata.région == 'île-de-france'", True),
    ("metadata.tier", True),
    ("metadata.empty", False),
    ("metadata.nothing", False),
    ("tags", True),
    ("features.pii.kinds", False),
    ("features.prompt_tokens", True),
    ("features.complexity.deeper == null", True),    # a step through a number is null
    ("request.model.length == null", True),          # no attribute access on strings
    ("tags.0 == null", True),                        # no indexing of lists
    ("headers.X-Team == null", True),                # names are case-sensitive
    ("nowhere.at.all == null", True),
    ("_private == null", True),
])
def test_names_and_truthiness(source: str, expected: bool) -> None:
    assert ev(source) is expected


def test_lookup_goes_through_any_mapping_and_nothing_else() -> None:
    class Bag:
        found = True

        def get(self, key: str) -> Any:  # a get() method does not make a mapping
            return True

    env = {"features": MappingProxyType({"pii": MappingProxyType({"found": True}), "bag": Bag()})}
    assert ev("features.pii.found", env)
    assert ev("features.bag.found == null", env)
    assert not ev("features.bag.found", env)
    assert not ev("exists(features.bag.found)", env)


# ---------------------------------------------------------------------------------------------
# Literals


@pytest.mark.parametrize(("source", "value"), [
    ("0", 0), ("42", 42), ("-7", -7), ("3.25", 3.25), ("-0.5", -0.5), ("1e3", 1000.0), ("2E-2", 0.02),
    ("1.5e+2", 150.0), ("007", 7),
    ("'plain'", "plain"), ('"double"', "double"),
    (r"'it\'s'", "it's"), (r'"say \"hi\""', 'say "hi"'), ("\"it's\"", "it's"), ("'say \"hi\"'", 'say "hi"'),
    (r"'a\nb\tc\rd\0e'", "a\nb\tc\rd\x00e"), (r"'back\\slash'", "back\\slash"),
    (r"'\x41\u00e9\U0001F600'", "Aé\U0001F600"),
    (r"'\d+\.\w'", r"\d+\.\w"),                     # other escapes are kept as written (regex friendly)
    ("'héllo wörld 日本語 🙂'", "héllo wörld 日本語 🙂"),
    ("''", ""),
    ("true", True), ("True", True), ("false", False), ("False", False), ("null", None), ("None", None),
    ("[]", []), ("[1, 'a', null, [true]]", [1, "a", None, [True]]), ("[1, 2,]", [1, 2]),
])
def test_literals(source: str, value: Any) -> None:
    env = {"value": value}
    assert ev(f"value == {source}", env)
    assert ev(f"{source} == value", env)
    assert ev(f"[{source}] == [value]", env)


def test_unicode_strings_and_names() -> None:
    env = {"metadata": {"ville": "Zürich", "名前": "太郎"}, "last_user_message": "Привет, мир"}
    assert ev("metadata.ville == 'Zürich'", env)
    assert ev("metadata.名前 == '太郎'", env)
    assert ev("'мир' in last_user_message", env)
    assert ev("matches(last_user_message, '(?i)привет')", env)
    assert ev("upper(metadata.ville) == 'ZÜRICH'", env)
    assert ev("len('🙂🙂') == 2", env)


# ---------------------------------------------------------------------------------------------
# Functions


@pytest.mark.parametrize(("source", "expected"), [
    ("len(tags) == 2", True),
    ("len(request.model) == 4", True),
    ("len(features.task_type.probs) == 2", True),
    ("len(features.pii.kinds) == 0", True),
    ("len(request.n) == null", True),
    ("len(missing) == null", True),
    ("len(missing) > 0", False),
    ("len([1, 2, 3]) == 3", True),
    ("lower(headers.content-type) == 'application/json'", True),
    ("lower('ÀB') == 'àb'", True),
    ("upper(metadata.tier) == 'GOLD'", True),
    ("lower(request.n) == null", True),
    ("upper(missing) == null", True),
    ("number(headers.x-priority) == 3", True),
    ("number(' 0.25 ') == 0.25", True),
    ("number('-2') == -2", True),
    ("number(request.n) == 1", True),
    ("number('abc') == null", True),
    ("number('inf') == null", True),
    ("number('nan') == null", True),
    ("number('1_000') == null", True),
    ("number(true) == null", True),
    ("number(missing) == null", True),
    ("contains(tags, 'batch')", True),
    ("contains(last_user_message, 'invoice')", True),
    ("contains(features.task_type.probs, 'math')", True),
    ("contains(missing, 'x')", False),
    ("startswith(request.model, 'au')", True),
    ("startswith(request.model, ['x', 'a'])", True),
    ("startswith(request.model, 'to')", False),
    ("endswith(request.model, 'to')", True),
    ("endswith(request.model, ['x', 'y'])", False),
    ("startswith(request.model, 1)", False),
    ("startswith(request.model, ['a', 1])", False),
    ("startswith(missing, 'a')", False),
    ("endswith(request.n, '1')", False),
    ("matches(last_user_message, '(?i)refund|invoice')", True),
    ("matches(last_user_message, 'refund')", False),
    ("matches(last_user_message, '^Hello')", True),
    (r"matches(headers.x-priority, '^\d+$')", True),
    ("matches(missing, '.*')", False),
    ("matches(request.n, '1')", False),
    ("any_of(tags, ['premium', 'x'])", True),
    ("any_of(tags, ['free', 'x'])", False),
    ("any_of(['x', 'batch'], tags)", True),
    ("any_of(tags, [])", False),
    ("any_of(tags, missing)", False),
    ("any_of(missing, ['a'])", False),
    ("any_of(tags, 'premium')", False),
    ("any_of([1, 2], [2.0])", True),
    ("any_of([true], [1])", False),
    ("any_of([request.n], [1])", True),
    ("exists(metadata.tier)", True),
    ("exists(metadata.nothing)", True),        # present, even if null
    ("exists(metadata.absent)", False),
    ("exists(metadata.tier.deeper)", False),
    ("exists(tags)", True),
    ("not exists(nowhere)", True),
    ("len (tags) == 2", True),
])
def test_functions(source: str, expected: bool) -> None:
    assert ev(source) is expected


def test_matches_compiles_its_regex_once(monkeypatch: pytest.MonkeyPatch) -> None:
    condition = compile_condition("matches(last_user_message, '(?i)refund')")

    def no_compile(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("re.compile called at evaluation")

    monkeypatch.setattr(re, "compile", no_compile)
    assert condition.evaluate(ENV)
    assert not condition.evaluate({"last_user_message": "thanks"})


def test_matches_searches_a_bounded_window_of_long_text() -> None:
    condition = compile_condition("matches(text, 'needle')")
    half = MATCH_WINDOW // 2
    assert condition.evaluate({"text": "x" * (MATCH_WINDOW - 6) + "needle"})        # short enough: whole text
    assert condition.evaluate({"text": "needle" + "x" * 100_000})                   # in the head
    assert condition.evaluate({"text": "x" * 100_000 + "needle"})                   # in the tail
    assert not condition.evaluate({"text": "x" * half + "needle" + "x" * half})     # in the middle: not searched
    anchored = compile_condition("matches(text, '^x+$')")
    assert anchored.evaluate({"text": "x" * 100_000})


@pytest.mark.parametrize("pattern", [
    "(a+)+", "(a*)*", "(a+)*b", r"(\w+\s?)+$", "(?:a|b+)+", "((ab)+c)+", "(x+x+)+y", "(a{1,}){2,}",
    "(?P<g>a+)+", "([a-z]+)*@",
])
def test_nested_repetition_is_refused(pattern: str) -> None:
    err = error(f"matches(x, '{pattern}')")
    assert "catastrophically" in err.reason
    assert err.column == 12


@pytest.mark.parametrize("pattern", [
    "(?i)refund|invoice", r"^\d{3}-\d{4}$", "(ab)+", "(a+)", "(a+)?", "(a+){2}", "(?>a+)+", "(a++)+", "(a+)++",
    r"[(+]+", r"\(a+\)+", "(a|b)*c", "(?:foo)+bar", "x*y+z?", "[a-z]+@[a-z]+", "(a{2,3})+", "((?#a+)x)+",
])
def test_ordinary_and_guarded_patterns_are_accepted(pattern: str) -> None:
    compile_condition(f"matches(x, '{pattern}')")


# ---------------------------------------------------------------------------------------------
# Errors: every path, with its column


@pytest.mark.parametrize(("source", "column", "reason"), [
    # operands
    ("", 1, "expected an operand, got the end of the condition"),
    ("   ", 4, "expected an operand"),
    ("features.x == ", 15, "expected an operand, got the end of the condition"),
    ("a and", 6, "expected an operand"),
    ("a or or b", 6, "expected an operand, got 'or'"),
    ("not", 4, "expected an operand"),
    ("a == not b", 6, "expected an operand, got 'not'"),
    ("in tags", 1, "expected an operand, got 'in'"),
    ("a == )", 6, "expected an operand, got ')'"),
    ("[1, , 2]", 5, "expected an operand, got ','"),
    ("a == ==", 6, "expected an operand, got '=='"),
    # what follows an operand
    ("a b", 3, "expected 'and', 'or' or a comparison, got name b"),
    ("a 'x'", 3, "got string 'x'"),
    ("a == 1 2", 8, "got number 2"),
    ("(a) (b)", 5, "got '('"),
    ("a )", 3, "got ')'"),
    ("a not b", 7, "expected 'in' after 'not' here"),
    ("a not 'in'", 7, "expected 'in' after 'not' here"),
    # brackets
    ("(a", 3, "expected ')' to close the '(' at column 1, got the end of the condition"),
    ("((a) or b", 10, "expected ')' to close the '(' at column 1"),
    ("[1, 2", 6, "expected ',' or ']', got the end of the condition"),
    ("[1 2]", 4, "expected ',' or ']', got number 2"),
    ("len(tags", 9, "expected ',' or ')', got the end of the condition"),
    ("len(tags]", 9, "expected ',' or ')', got ']'"),
    # characters
    ("a = 1", 3, "unexpected character '=' (use '==' to compare)"),
    ("!a", 1, "unexpected character '!' (use 'not')"),
    ("a && b", 3, "unexpected character '&' (use 'and')"),
    ("a || b", 3, "unexpected character '|' (use 'or')"),
    ("a @ b", 3, "unexpected character '@'"),
    ("a.b # comment", 5, "unexpected character '#'"),
    ("a + 1", 3, "unexpected character '+'"),
    ("`x`", 1, "unexpected character '`'"),
    (".5 > a", 1, "unexpected character '.'"),
    ("a == ½", 6, "unexpected character '½'"),
    # no arithmetic: '-'
    ("a - b", 3, "there is no arithmetic"),
    ("a -b", 3, "there is no arithmetic"),
    ("x-team", 2, "there is no arithmetic"),
    ("features.complexity -0.5 > 0", 21, "there is no arithmetic"),
    ("1 -1", 3, "there is no arithmetic"),
    ("-a", 1, "there is no arithmetic"),
    ("- 1", 1, "there is no arithmetic"),
    ("a == -", 6, "there is no arithmetic"),
    ("headers.x- == 1", 10, "there is no arithmetic"),
    ("headers.-x == 1", 9, "expected a name part after '.'"),
    ("[1] -[2]", 5, "there is no arithmetic"),
    # names
    ("a.", 3, "expected a name part after '.'"),
    ("a..b", 3, "expected a name part after '.'"),
    ("a. b", 3, "expected a name part after '.'"),
    ("features.__class__", 10, "name parts cannot start with '__'"),
    ("__import__('os')", 1, "name parts cannot start with '__'"),
    ("a.b.__dict__.x", 5, "name parts cannot start with '__'"),
    ("not.x", 1, "'not' is a keyword and cannot start a name"),
    ("true.x", 1, "'true' is a keyword and cannot start a name"),
    # numbers
    ("1.2.3 == a", 1, "invalid number"),
    ("3abc", 1, "invalid number"),
    ("1. == a", 1, "invalid number"),
    ("a == 1e999", 6, "number out of range"),
    ("a == -1e999", 6, "number out of range"),
    # strings
    ("a == 'open", 6, "unterminated string"),
    ('a == "open', 6, "unterminated string"),
    ("a == 'mixed\"", 6, "unterminated string"),
    ("a == 'trailing\\", 6, "unterminated string"),
    (r"a == '\x4'", 7, r"invalid \x escape"),
    (r"a == '\u00zz'", 7, r"invalid \u escape"),
    (r"a == '\UFFFFFFFF'", 7, r"invalid \U escape"),
    # functions
    ("foo(1)", 1, "unknown function 'foo' (functions: any_of, contains, endswith, exists, len, lower, matches,"),
    ("a and eval('1')", 7, "unknown function 'eval'"),
    ("tags.count('a')", 1, "unknown function 'tags.count'"),
    ("getattr(a, 'b')", 1, "unknown function 'getattr'"),
    ("len()", 1, "len() takes 1 argument, got 0"),
    ("a or len(tags, tags)", 6, "len() takes 1 argument, got 2"),
    ("contains(tags)", 1, "contains() takes 2 arguments, got 1"),
    ("exists('metadata.tier')", 8, "exists() takes a name, e.g. exists(metadata.tier)"),
    ("exists(len(tags))", 8, "exists() takes a name"),
    ("matches(a, b)", 12, "matches() needs a string literal as its pattern"),
    ("matches(a, 1)", 12, "matches() needs a string literal as its pattern"),
    ("matches(a, '(unclosed')", 12, "invalid regular expression '(unclosed' (missing ), unterminated subpattern"),
    ("matches(a, '[z-a]')", 12, "invalid regular expression '[z-a]' (bad character range z-a at position 1)"),
    ("matches(a, '*')", 12, "invalid regular expression '*' (nothing to repeat at position 0)"),
])
def test_errors_name_the_column(source: str, column: int, reason: str) -> None:
    err = error(source)
    assert reason in err.reason
    assert err.column == column
    assert str(err) == f"{err.reason} at column {column}: {source}"
    assert err.pointer.splitlines()[1] == " " * (column - 1) + "^"
    assert isinstance(err, ValueError)


def test_the_message_format_of_the_issue() -> None:
    err = error("features.x == ")
    assert str(err) == "expected an operand, got the end of the condition at column 15: features.x == "
    assert err.pointer == "features.x == \n              ^"


def test_columns_count_from_the_start_of_multi_line_text() -> None:
    err = error("a and\n  b ==")
    assert err.column == 13
    assert "at column 13: a and   b ==" in str(err)
    assert err.pointer == "a and   b ==\n            ^"


@pytest.mark.parametrize("value", [None, True, 1, ["a == 1"]])
def test_a_condition_must_be_text(value: Any) -> None:
    err = error(value)
    assert err.reason.startswith("a condition must be a string")


def test_roots_restrict_the_first_name_part() -> None:
    roots = {"features", "tags", "headers", "metadata", "request", "last_user_message"}
    for source in ["features.pii.found", "'a' in tags", "exists(metadata.tier)", "len(last_user_message) > 3"]:
        compile_condition(source, roots=roots)
    err = error("feature.pii.found", roots=roots)
    assert err.column == 1
    assert err.reason == ("unknown name 'feature.pii.found' (names start with one of: features, headers, "
                          "last_user_message, metadata, request, tags)")
    assert error("true and exists(meta.tier)", roots=roots).column == 17
    assert error("len > 3", roots=roots).column == 1
    assert error("x", roots=()).reason == "unknown name 'x' (names start with one of: none)"
    assert compile_condition("true", roots=()).evaluate({})


# ---------------------------------------------------------------------------------------------
# Limits


def test_length_limit() -> None:
    longest = "a == " + "'" + "x" * (MAX_LENGTH - 7) + "'"
    assert len(longest) == MAX_LENGTH
    assert compile_condition(longest).evaluate({"a": "x" * (MAX_LENGTH - 7)})
    err = error(longest + " ")
    assert err.column == MAX_LENGTH + 1
    assert err.reason == f"condition too long ({MAX_LENGTH + 1} characters; the limit is {MAX_LENGTH})"
    assert len(str(err)) < 200


@pytest.mark.parametrize(("opening", "closing", "at"), [("(", ")", 0), ("[", "]", 0), ("len(", ")", 3),
                                                      ("not ", "", 0)])
def test_nesting_depth_limit(opening: str, closing: str, at: int) -> None:
    deepest = opening * MAX_DEPTH + "true" + closing * MAX_DEPTH
    compile_condition(deepest)
    err = error(opening * (MAX_DEPTH + 1) + "true" + closing * (MAX_DEPTH + 1))
    assert err.reason == f"nested too deeply (more than {MAX_DEPTH} levels)"
    assert err.column == MAX_DEPTH * len(opening) + at + 1  # the 33rd '(', '[' or 'not'


def test_depth_counts_mixed_nesting_and_resets_between_siblings() -> None:
    half = MAX_DEPTH // 2
    mixed = "(not " * half + "true" + ")" * half
    compile_condition(mixed)
    assert error("[" + mixed + "]").reason.startswith("nested too deeply")
    siblings = " and ".join(["(" * 20 + "true" + ")" * 20] * 10)  # wide is fine, only depth counts
    assert compile_condition(siblings).evaluate({})


def test_long_flat_expressions_evaluate_without_recursion() -> None:
    many_ands = " and ".join(["true"] * 200)
    assert len(many_ands) < MAX_LENGTH
    assert compile_condition(many_ands).evaluate({})
    many_ors = " or ".join(["false"] * 150) + " or true"
    assert compile_condition(many_ors).evaluate({})
    chain = " < ".join(str(i) for i in range(300))
    assert len(chain) < MAX_LENGTH
    assert compile_condition(chain).evaluate({})


# ---------------------------------------------------------------------------------------------
# Safety: no Python internals, never a crash


@pytest.mark.parametrize("source", [
    "features.__class__",
    "().__class__",
    "''.__class__.__mro__",
    "[].__class__",
    "__builtins__",
    "a.__dict__",
    "__import__('os').system('true')",
    "eval('1')",
    "exec('x = 1')",
    "compile('1', 'f', 'eval')",
    "open('/etc/passwd')",
    "getattr(features, 'pii')",
    "features['pii']",
    "tags[0]",
    "lambda: 1",
    "import os",
    "len.__call__",
    "request.model.upper()",
    "{'a': 1}",
    "f'{x}'",
    "1 if a else 2",
    "a; b",
    "a := 1",
    "x.y = 1",
])
def test_python_syntax_and_internals_are_refused(source: str) -> None:
    error(source)


def test_underscore_names_read_only_mapping_keys() -> None:
    class Sneaky(dict[str, Any]):
        secret = "attribute"

    env = {"_x": {"secret": None}, "obj": Sneaky()}
    assert ev("_x.secret == null", env)
    assert ev("obj.secret == null", env)
    assert ev("obj.get == null", env)
    assert ev("obj.keys == null", env)


class Hostile(Mapping[str, Any]):
    """A mapping that fails on every read."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        raise RuntimeError("boom")


@pytest.mark.parametrize("env", [{"features": Hostile()}, Hostile(), None, [], "text", 3, {"features": [1, 2]}])
def test_evaluation_never_raises(env: Any) -> None:
    for source in ["features.pii.found", "'a' in features", "len(features) > 1", "features == features",
                   "exists(features.x)", "not features.x", "any_of(features, [1])", "features < 2"]:
        assert compile_condition(source).evaluate(env) in (True, False)


def test_evaluate_always_returns_a_bool() -> None:
    for source in ["tags", "metadata.tier", "len(tags)", "lower(request.model)", "number('1')", "[1]", "[]",
                   "1", "0", "'x'", "null", "missing", "tags and metadata", "tags or metadata", "not tags",
                   "contains(tags, 'x')", "matches(request.model, 'a')", "exists(tags)", "any_of(tags, tags)",
                   "[request.model]", "startswith(request.model, 'a')", "'a' in request.model",
                   "request.n == 1", "request.model == 'auto'", "request.n > 0", "request.n in [1]"]:
        assert type(compile_condition(source).evaluate(ENV)) is bool, source


_FUZZ_PIECES = [
    "a", "b.c", "headers.x-team", "tags", "'s'", '"d"', "'", '"', "\\", "1", "-2", "3.5", "1e5", "true", "null",
    "and", "or", "not", "in", "==", "!=", "<", "<=", ">", ">=", "=", "!", "(", ")", "[", "]", ",", ".", "-", "_",
    "len(", "matches(", "exists(", "any_of(", "foo(", "__class__", "é", "🙂", " ", " ", " ", "\n", "\t", "#", "@",
    "'(a+)+'", "'[z-a]'", "0x1", "1..2", "`", "{", "}", ":", ";", "*", "+", "%",
]
_FUZZ_ENVS: list[Any] = [
    ENV, {}, {"a": None, "b": {"c": [1, "x", None]}, "tags": "not a list"}, {"a": {"b": {"c": {}}}}, None,
]


def test_random_garbage_compiles_or_raises_expression_error_only() -> None:
    rng = random.Random(20240606)
    compiled = 0
    for _ in range(4000):
        if rng.random() < 0.5:
            source = "".join(rng.choice(_FUZZ_PIECES) for _ in range(rng.randint(0, 12)))
        else:
            source = "".join(chr(rng.randint(0, 0x2FF)) for _ in range(rng.randint(0, 30)))
        try:
            condition = compile_condition(source)
        except ExpressionError as exc:
            assert 1 <= exc.column <= len(source) + 1, (source, exc)
            continue
        compiled += 1
        for env in _FUZZ_ENVS:
            assert type(condition.evaluate(env)) is bool
    assert compiled > 100  # the fuzzing reaches the evaluator too, not only the error paths


def test_random_grammatical_conditions_agree_with_a_reference() -> None:
    """Random well-formed and/or/not trees over known booleans evaluate like Python's own logic."""
    rng = random.Random(7)
    values = {"t": True, "f": False}

    def tree(depth: int) -> tuple[str, bool]:
        roll = rng.random()
        if depth == 0 or roll < 0.3:
            name = rng.choice(["t", "f"])
            return (f"flags.{name}", values[name]) if rng.random() < 0.5 else (name == "t" and "true" or "false",
                                                                               values[name])
        if roll < 0.45:
            text, value = tree(depth - 1)
            return f"not {text}", not value
        left, lv = tree(depth - 1)
        right, rv = tree(depth - 1)
        op = rng.choice(["and", "or"])
        return f"({left} {op} {right})", (lv and rv) if op == "and" else (lv or rv)

    for _ in range(300):
        text, expected = tree(5)
        assert compile_condition(text).evaluate({"flags": values}) is expected, text


def test_public_names() -> None:
    assert set(expr.__all__) == {"FUNCTIONS", "MATCH_WINDOW", "MAX_DEPTH", "MAX_LENGTH", "Condition",
                                 "ExpressionError", "compile_condition"}
    assert set(expr.FUNCTIONS) == {"len", "lower", "upper", "number", "contains", "startswith", "endswith",
                                   "matches", "any_of", "exists"}
    assert isinstance(compile_condition("true"), Condition)
