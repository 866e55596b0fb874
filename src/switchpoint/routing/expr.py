"""The condition language of routing rules: a small, safe expression language.

::

    cond = compile_condition('features.task_type.label == "coding" and features.complexity > 0.6')
    cond.evaluate({"features": {"task_type": {"label": "coding"}, "complexity": 0.8}})   # True
    cond.names    # frozenset({'features.task_type.label', 'features.complexity'})

The text is read by a hand-written tokenizer and a recursive-descent parser into a small tree,
which is then compiled into nested closures. Nothing of Python is reachable from the text: there
is no ``eval``/``exec``/``compile``, no attribute access, no indexing of Python objects and no
imports. A name is a dotted path looked up through *mappings only* (``features.pii.found`` is
``env["features"]["pii"]["found"]``); a missing key, or a step through something that is not a
mapping, gives ``None``.

Grammar, loosest binding first (``docs/routing-conditions.md`` is the user guide)::

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") operand)*
    operand    := number | string | true | false | null | name | call | "(" or ")" | "[" [or ("," or)* [","]] "]"
    call       := function "(" [or ("," or)*] ")"
    name       := word ("." part)*      word: a letter or "_" then letters, digits, "_"
                                        part: letters, digits, "_", with single "-" inside (x-team)

There is no arithmetic, so ``-`` is never an operator: it joins the parts of a name after the
first dot (``headers.x-team``) or starts a negative number (``-1``); anywhere else it is an error.

Evaluation never raises: a missing name is ``None``; ``==`` between different types is false
(``1 == "1"``, ``true == 1``); ``<``-style comparisons are true only between two numbers or two
strings (``bool`` is not a number); ``!=`` and ``not in`` are the negations of ``==`` and ``in``.
"""

from __future__ import annotations

import math
import operator
import re
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FUNCTIONS",
    "MATCH_WINDOW",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Condition",
    "ExpressionError",
    "compile_condition",
]

MAX_LENGTH = 2000
"""The longest condition accepted, in characters."""
MAX_DEPTH = 32
"""The deepest nesting accepted: each ``(``, ``[``, function call and ``not`` is one level."""
MATCH_WINDOW = 4096
"""``matches()`` searches a text of at most this many characters whole; a longer one is searched in
its first and its last ``MATCH_WINDOW // 2`` characters, separately. Python's ``re`` cannot be
interrupted, and even ordinary patterns (``\\w+@\\w+\\.com``) are quadratic on text that almost
matches: capping the text bounds that cost."""

Env = Mapping[str, Any]
_Fn = Callable[[Env], Any]


class ExpressionError(ValueError):
    """A condition that cannot be compiled. ``column`` is 1-based, counted from the start of the text.

    ``str(error)`` reads ``"<reason> at column <n>: <source>"``; :attr:`pointer` is the source with a
    caret under the column, for multi-line error reports.
    """

    def __init__(self, reason: str, column: int, source: str) -> None:
        self.reason = reason
        self.column = column
        self.source = source
        super().__init__(f"{reason} at column {column}: {_one_line(source)}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (ExpressionError, (self.reason, self.column, self.source))

    @property
    def pointer(self) -> str:
        return _one_line(self.source) + "\n" + " " * (self.column - 1) + "^"


def _one_line(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ").replace("\t", " ")


# ----------------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "name", "number", "string", "const", "kw", "op", "(", ")", "[", "]", ",", "end"
    value: Any
    col: int  # 1-based
    text: str


_KEYWORDS = frozenset({"and", "or", "not", "in"})
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_NAME = re.compile(r"[^\W\d]\w*(?:\.\w+(?:-\w+)*)*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD_CHAR = re.compile(r"[\w.]")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"'}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_PUNCTUATION = frozenset("()[],")
_HINTS = {"=": "use '==' to compare", "!": "use 'not'", "&": "use 'and'", "|": "use 'or'"}
_OPERAND_ENDS = frozenset({"name", "number", "string", "const", ")", "]"})
_NO_ARITHMETIC = "'-' is allowed only inside a name (headers.x-team) or before a number (-1): there is no arithmetic"


class _Tokenizer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens: list[_Token] = []

    def fail(self, reason: str, index: int) -> ExpressionError:
        return ExpressionError(reason, index + 1, self.source)

    def run(self) -> list[_Token]:
        src, i, n = self.source, 0, len(self.source)
        while i < n:
            c = src[i]
            if c.isspace():
                i += 1
            elif c.isalpha() or c == "_":
                i = self.name(i)
            elif "0" <= c <= "9":
                i = self.number(i, i)
            elif c == "-":
                if (self.tokens and self.tokens[-1].kind in _OPERAND_ENDS) or not src[i + 1: i + 2].isdigit():
                    raise self.fail(_NO_ARITHMETIC, i)
                i = self.number(i, i + 1)
            elif c in "'\"":
                i = self.string(i)
            elif c in _PUNCTUATION:
                self.tokens.append(_Token(c, c, i + 1, c))
                i += 1
            else:
                i = self.operator(i)
        self.tokens.append(_Token("end", None, n + 1, ""))
        return self.tokens

    def name(self, i: int) -> int:
        match = _NAME.match(self.source, i)
        assert match is not None  # the caller saw a letter or "_"
        end = match.end()
        if self.source[end: end + 1] == ".":
            raise self.fail("expected a name part after '.'", end + 1)
        text = match.group()
        parts = tuple(text.split("."))
        offset = i
        for part in parts:
            if part.startswith("__"):
                raise self.fail(f"name parts cannot start with '__' ({part!r})", offset)
            offset += len(part) + 1
        if len(parts) == 1 and text in _KEYWORDS:
            self.tokens.append(_Token("kw", text, i + 1, text))
        elif len(parts) == 1 and text in _CONSTANTS:
            self.tokens.append(_Token("const", _CONSTANTS[text], i + 1, text))
        elif parts[0] in _KEYWORDS or parts[0] in _CONSTANTS:
            raise self.fail(f"'{parts[0]}' is a keyword and cannot start a name", i)
        else:
            self.tokens.append(_Token("name", parts, i + 1, text))
        return end

    def number(self, start: int, digits: int) -> int:
        match = _NUMBER.match(self.source, digits)
        if match is None:
            raise self.fail(_NO_ARITHMETIC, start)
        end = match.end()
        if end < len(self.source) and _WORD_CHAR.match(self.source, end):
            raise self.fail("invalid number", start)
        text = self.source[start:end]
        value: int | float
        if "." in text or "e" in text or "E" in text:
            value = float(text)
            if not math.isfinite(value):
                raise self.fail("number out of range", start)
        else:
            value = int(text)
        self.tokens.append(_Token("number", value, start + 1, text))
        return end

    def string(self, start: int) -> int:
        src, n = self.source, len(self.source)
        quote, j = src[start], start + 1
        parts: list[str] = []
        while j < n:
            c = src[j]
            if c == quote:
                self.tokens.append(_Token("string", "".join(parts), start + 1, src[start: j + 1]))
                return j + 1
            if c != "\\":
                parts.append(c)
                j += 1
                continue
            escape = src[j + 1: j + 2]
            if escape in _ESCAPES:
                parts.append(_ESCAPES[escape])
                j += 2
            elif escape in _HEX_ESCAPES:
                digits = src[j + 2: j + 2 + _HEX_ESCAPES[escape]]
                if len(digits) != _HEX_ESCAPES[escape] or not _HEX.issuperset(digits) or int(digits, 16) > 0x10FFFF:
                    raise self.fail(f"invalid \\{escape} escape", j)
                parts.append(chr(int(digits, 16)))
                j += 2 + len(digits)
            elif escape:
                parts.append("\\" + escape)  # kept as written, so that regexes read naturally: "\d+"
                j += 2
            else:
                break
        raise self.fail("unterminated string", start)

    def operator(self, i: int) -> int:
        for op in _OPERATORS:
            if self.source.startswith(op, i):
                self.tokens.append(_Token("op", op, i + 1, op))
                return i + len(op)
        c = self.source[i]
        hint = _HINTS.get(c)
        raise self.fail(f"unexpected character {c!r}" + (f" ({hint})" if hint else ""), i)


# ----------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any  # a list literal of literals is folded into a tuple
    col: int


@dataclass(frozen=True, slots=True)
class _Name:
    path: tuple[str, ...]
    col: int


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[_Node, ...]
    col: int


@dataclass(frozen=True, slots=True)
class _Call:
    function: str
    args: tuple[_Node, ...]
    col: int
    pattern: re.Pattern[str] | None = None  # matches(): compiled once, by the parser


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node
    col: int


@dataclass(frozen=True, slots=True)
class _BoolOp:
    op: str  # "and" | "or"
    operands: tuple[_Node, ...]
    col: int


@dataclass(frozen=True, slots=True)
class _Compare:
    first: _Node
    rest: tuple[tuple[str, _Node], ...]
    col: int


_Node = _Literal | _Name | _List | _Call | _Not | _BoolOp | _Compare


class _Parser:
    def __init__(self, source: str, tokens: list[_Token], roots: Collection[str] | None) -> None:
        self.source = source
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.roots = roots
        self.names: set[str] = set()

    def fail(self, reason: str, col: int) -> ExpressionError:
        return ExpressionError(reason, col, self.source)

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def nest(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested too deeply (more than {MAX_DEPTH} levels)", col)

    def parse(self) -> _Node:
        node = self.or_()
        token = self.peek()
        if token.kind != "end":
            raise self.fail(f"expected 'and', 'or' or a comparison, got {_describe(token)}", token.col)
        return node

    def or_(self) -> _Node:
        return self.bool_op("or", self.and_)

    def and_(self) -> _Node:
        return self.bool_op("and", self.not_)

    def bool_op(self, op: str, operand: Callable[[], _Node]) -> _Node:
        first = operand()
        operands = [first]
        while self.peek().kind == "kw" and self.peek().value == op:
            self.take()
            operands.append(operand())
        return first if len(operands) == 1 else _BoolOp(op, tuple(operands), first.col)

    def not_(self) -> _Node:
        token = self.peek()
        if token.kind == "kw" and token.value == "not":
            self.take()
            self.nest(token.col)
            node = _Not(self.not_(), token.col)
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> _Node:
        first = self.operand()
        rest: list[tuple[str, _Node]] = []
        while True:
            token = self.peek()
            if token.kind == "op":
                op = token.value
            elif token.kind == "kw" and token.value == "in":
                op = "in"
            elif token.kind == "kw" and token.value == "not" and self._next_is_in():
                self.take()
                op = "not in"
            elif token.kind == "kw" and token.value == "not":
                raise self.fail("expected 'in' after 'not' here", self.tokens[self.pos + 1].col)
            else:
                break
            self.take()
            rest.append((op, self.operand()))
        return first if not rest else _Compare(first, tuple(rest), first.col)

    def _next_is_in(self) -> bool:
        token = self.tokens[self.pos + 1]
        return token.kind == "kw" and token.value == "in"

    def operand(self) -> _Node:
        token = self.take()
        if token.kind in ("number", "string", "const"):
            return _Literal(token.value, token.col)
        if token.kind == "name":
            if self.peek().kind == "(":
                return self.call(token)
            return self.name(token)
        if token.kind == "(":
            self.nest(token.col)
            node = self.or_()
            self.close(")", token)
            return node
        if token.kind == "[":
            return self.list_(token)
        raise self.fail(f"expected an operand, got {_describe(token)}", token.col)

    def close(self, kind: str, opening: _Token) -> None:
        token = self.take()
        if token.kind != kind:
            raise self.fail(f"expected '{kind}' to close the '{opening.kind}' at column {opening.col}, "
                            f"got {_describe(token)}", token.col)
        self.depth -= 1

    def items(self, closing: str, opening: _Token) -> tuple[_Node, ...]:
        """Comma-separated expressions up to ``closing`` (a trailing comma is allowed)."""
        self.nest(opening.col)
        items: list[_Node] = []
        while self.peek().kind != closing:
            items.append(self.or_())
            token = self.peek()
            if token.kind == ",":
                self.take()
            elif token.kind != closing:
                raise self.fail(f"expected ',' or '{closing}', got {_describe(token)}", token.col)
        self.close(closing, opening)
        return tuple(items)

    def list_(self, opening: _Token) -> _Node:
        items = self.items("]", opening)
        if all(isinstance(item, _Literal) for item in items):
            return _Literal(tuple(item.value for item in items if isinstance(item, _Literal)), opening.col)
        return _List(items, opening.col)

    def name(self, token: _Token) -> _Name:
        path: tuple[str, ...] = token.value
        if self.roots is not None and path[0] not in self.roots:
            known = ", ".join(sorted(self.roots)) or "none"
            raise self.fail(f"unknown name '{token.text}' (names start with one of: {known})", token.col)
        self.names.add(token.text)
        return _Name(path, token.col)

    def call(self, token: _Token) -> _Call:
        function = token.text
        spec = FUNCTIONS.get(function)
        if spec is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.fail(f"unknown function '{function}' (functions: {known})", token.col)
        args = self.items(")", self.take())
        if len(args) != spec.arity:
            plural = "" if spec.arity == 1 else "s"
            raise self.fail(f"{function}() takes {spec.arity} argument{plural}, got {len(args)}", token.col)
        if function == "exists" and not isinstance(args[0], _Name):
            raise self.fail("exists() takes a name, e.g. exists(metadata.tier)", args[0].col)
        if function == "matches":
            pattern = args[1]
            if not isinstance(pattern, _Literal) or not isinstance(pattern.value, str):
                raise self.fail("matches() needs a string literal as its pattern", pattern.col)
            return _Call(function, args, token.col, _compile_regex(pattern.value, pattern.col, self.source))
        return _Call(function, args, token.col)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the condition"
    if token.kind in ("name", "number", "string"):
        return f"{token.kind} {token.text}"
    return f"'{token.text}'"


# ----------------------------------------------------------------------------------------------
# Regular expressions


_BRACES = re.compile(r"\{([0-9]*)(,([0-9]*))?\}")


def _compile_regex(pattern: str, col: int, source: str) -> re.Pattern[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. FutureWarning "possible nested set": still a valid pattern
            compiled = re.compile(pattern)
    except re.error as exc:
        raise ExpressionError(f"invalid regular expression {pattern!r} ({exc.msg} at position {exc.pos})",
                              col, source) from None
    nested = _nested_repetition(pattern)
    if nested is not None:
        raise ExpressionError(f"regular expression {pattern!r} repeats a repetition ({nested!r}), which can "
                              "backtrack catastrophically; make the inner one possessive (a++) or the group "
                              "atomic ((?>...))", col, source)
    return compiled


def _quantifier(pattern: str, i: int) -> tuple[int, bool]:
    """The end of the quantifier at ``i`` (``i`` if none) and whether it is unbounded and may backtrack."""
    c = pattern[i: i + 1]
    if c in ("*", "+"):
        end, unbounded = i + 1, True
    elif c == "?":
        end, unbounded = i + 1, False
    elif c == "{" and (braces := _BRACES.match(pattern, i)) is not None:
        end, unbounded = braces.end(), braces.group(2) is not None and braces.group(3) == ""
    else:
        return i, False
    if pattern[end: end + 1] == "+":
        return end + 1, False  # possessive: never gives back what it took
    if pattern[end: end + 1] == "?":
        end += 1  # lazy
    return end, unbounded


def _skip_class(pattern: str, i: int) -> int:
    j = i + 1
    if pattern[j: j + 1] == "^":
        j += 1
    if pattern[j: j + 1] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _nested_repetition(pattern: str) -> str | None:
    """The first group repeated without bound that itself holds an unbounded repetition (``(a+)+``).

    A heuristic over an already compiled pattern: it catches the classic exponential shapes, not
    every slow pattern (``(a|a)*`` passes); :data:`MATCH_WINDOW` bounds the rest.
    """
    stack: list[list[Any]] = [[0, False, False]]  # [start, holds an unbounded repetition, atomic]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("(?#", i):  # a comment
            i = pattern.find(")", i) + 1 or n
            continue
        if c == "(":
            stack.append([i, False, pattern.startswith("(?>", i)])
            i += 2 if pattern[i + 1: i + 2] == "?" else 1
            continue
        if c == ")" and len(stack) > 1:
            start, inner, atomic = stack.pop()
            i, unbounded = _quantifier(pattern, i + 1)
            if unbounded and inner and not atomic:
                return pattern[start:i]
            stack[-1][1] = stack[-1][1] or unbounded or (inner and not atomic)
            continue
        if c == "[":
            i = _skip_class(pattern, i)
        else:
            i += 2 if c == "\\" else 1
        i, unbounded = _quantifier(pattern, i)
        stack[-1][1] = stack[-1][1] or unbounded
    return None


# ----------------------------------------------------------------------------------------------
# Values: equality, ordering and membership that never raise


_NUMBERS = (int, float)
_SEQUENCES = (list, tuple)
_COLLECTIONS = (list, tuple, set, frozenset)


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBERS) and not isinstance(value, bool)


def _family(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, _NUMBERS):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, _SEQUENCES):
        return 4
    if isinstance(value, Mapping):
        return 5
    return 6


def _eq(a: Any, b: Any) -> bool:
    """Equality within one type family; numbers compare across int/float; bool is not a number."""
    ta = type(a)
    if ta is type(b) and (ta is str or ta is int or ta is float or ta is bool):
        return bool(a == b)
    family = _family(a)
    if family != _family(b):
        return False
    if family == 4:
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    if family == 5:
        return len(a) == len(b) and all(key in b and _eq(value, b[key]) for key, value in a.items())
    if family == 6:
        return a is b
    return bool(a == b)


def _orderable(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return True
    if ta is str and tb is str:
        return True
    return (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))


def _in(x: Any, y: Any) -> bool:
    """``x in y``: substring of a string, element of a list (by :func:`_eq`), key of a mapping."""
    if isinstance(y, str):
        return isinstance(x, str) and x in y
    if isinstance(y, _COLLECTIONS):
        if type(x) is str:
            return x in y  # a str equals nothing but a str: the built-in test is exact here
        return any(_eq(x, item) for item in y)
    if isinstance(y, Mapping) and (isinstance(x, str) or _is_number(x)):
        return x in y
    return False


class _Members:
    """Membership in a literal list, precomputed per type family."""

    __slots__ = ("bools", "has_null", "items", "numbers", "strings")

    def __init__(self, items: tuple[Any, ...]) -> None:
        self.items = items
        self.strings = frozenset(item for item in items if isinstance(item, str))
        self.numbers = frozenset(item for item in items if _is_number(item) and not math.isnan(item))
        self.bools = frozenset(item for item in items if isinstance(item, bool))
        self.has_null = any(item is None for item in items)

    def __contains__(self, value: Any) -> bool:
        t = type(value)
        if t is str:
            return value in self.strings
        if t is int or t is float:
            return value in self.numbers
        if t is bool:
            return value in self.bools
        if value is None:
            return self.has_null
        return any(_eq(value, item) for item in self.items)


# ----------------------------------------------------------------------------------------------
# Functions


@dataclass(frozen=True, slots=True)
class _Function:
    arity: int
    doc: str


FUNCTIONS: Mapping[str, _Function] = {
    "len": _Function(1, "length of a string, list or mapping; null otherwise"),
    "lower": _Function(1, "a string in lower case; null if not a string"),
    "upper": _Function(1, "a string in upper case; null if not a string"),
    "number": _Function(1, "a number, or a string holding one (\" 42 \", \"0.5\"), as a number; null otherwise"),
    "contains": _Function(2, "contains(a, b) is b in a"),
    "startswith": _Function(2, "a string starts with a string (or with any string of a list)"),
    "endswith": _Function(2, "a string ends with a string (or with any string of a list)"),
    "matches": _Function(2, "the regex (a string literal, Python syntax) is found in the string"),
    "any_of": _Function(2, "two lists share at least one element"),
    "exists": _Function(1, "the name is present (its value may be null)"),
}
"""The whitelisted functions: name → arity and one line of documentation."""


def _len(value: Any) -> int | None:
    if isinstance(value, (str, *_COLLECTIONS, Mapping)):
        return len(value)
    return None


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _upper(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) else None


def _number(value: Any) -> int | float | None:
    if _is_number(value):
        return value  # type: ignore[no-any-return]
    if not isinstance(value, str) or len(value) > 100:
        return None
    text = value.strip()
    if "_" in text:  # int() and float() accept "1_000"; a header value should not
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _affix(method: Callable[[str, tuple[str, ...]], bool]) -> Callable[[Any, Any], bool]:
    def test(text: Any, affix: Any) -> bool:
        if not isinstance(text, str):
            return False
        if isinstance(affix, str):
            return method(text, (affix,))
        if isinstance(affix, _SEQUENCES) and all(isinstance(item, str) for item in affix):
            return method(text, tuple(affix))
        return False

    return test


def _any_of(a: Any, b: Any) -> bool:
    if not isinstance(a, _COLLECTIONS) or not isinstance(b, _COLLECTIONS):
        return False
    return any(_in(item, b) for item in a)


def _search(pattern: re.Pattern[str], text: Any) -> bool:
    if not isinstance(text, str):
        return False
    if len(text) <= MATCH_WINDOW:
        return pattern.search(text) is not None
    half = MATCH_WINDOW // 2
    return pattern.search(text, 0, half) is not None or pattern.search(text, len(text) - half) is not None


_UNARY: dict[str, Callable[[Any], Any]] = {"len": _len, "lower": _lower, "upper": _upper, "number": _number}
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "contains": lambda a, b: _in(b, a),
    "startswith": _affix(str.startswith),
    "endswith": _affix(str.endswith),
    "any_of": _any_of,
}


# ----------------------------------------------------------------------------------------------
# Compilation to closures

_MISSING = object()
_ORDER: dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                  ">=": operator.ge}


def _test(op: str) -> Callable[[Any, Any], bool]:
    """The two-value test of one comparison operator."""
    if op == "==":
        return _eq
    if op == "!=":
        return lambda a, b: not _eq(a, b)
    if op == "in":
        return _in
    if op == "not in":
        return lambda a, b: not _in(a, b)
    order = _ORDER[op]
    return lambda a, b: _orderable(a, b) and order(a, b)


def _lookup(path: tuple[str, ...]) -> _Fn:
    if len(path) == 1:
        key = path[0]
        return lambda env: env.get(key)
    if len(path) == 2:
        first, second = path

        def get2(env: Env) -> Any:
            value = env.get(first)
            return value.get(second) if type(value) is dict or isinstance(value, Mapping) else None

        return get2

    def get(env: Env) -> Any:
        value: Any = env
        for key in path:
            if type(value) is not dict and not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value

    return get


def _exists(path: tuple[str, ...]) -> _Fn:
    def exists(env: Env) -> bool:
        value: Any = env
        for key in path:
            if not isinstance(value, Mapping):
                return False
            value = value.get(key, _MISSING)
            if value is _MISSING:
                return False
        return True

    return exists


def _compile(node: _Node) -> _Fn:
    """A closure computing the node's value."""
    if isinstance(node, _Literal):
        value = node.value
        return lambda env: value
    if isinstance(node, _Name):
        return _lookup(node.path)
    if isinstance(node, _List):
        fns = [_compile(item) for item in node.items]
        return lambda env: [fn(env) for fn in fns]
    if isinstance(node, _Call):
        return _compile_call(node)
    return _compile_bool(node)


def _compile_bool(node: _Node) -> Callable[[Env], bool]:
    """A closure computing the node's truth, always a ``bool``."""
    if isinstance(node, _Compare):
        return _compile_compare(node)
    if isinstance(node, _Not):
        inner = _compile_bool(node.operand)
        return lambda env: not inner(env)
    if isinstance(node, _BoolOp):
        return _compile_bool_op(node)
    if isinstance(node, _Literal):
        truth = bool(node.value)
        return lambda env: truth
    if isinstance(node, _Call) and node.function in ("contains", "startswith", "endswith", "matches", "any_of",
                                                     "exists"):
        return _compile_call(node)  # already a bool
    fn = _compile(node)
    return lambda env: bool(fn(env))


def _compile_bool_op(node: _BoolOp) -> Callable[[Env], bool]:
    fns = [_compile_bool(operand) for operand in node.operands]
    if node.op == "and":
        if len(fns) == 2:
            a, b = fns
            return lambda env: a(env) and b(env)

        def all_(env: Env) -> bool:
            for fn in fns:
                if not fn(env):
                    return False
            return True

        return all_
    if len(fns) == 2:
        a, b = fns
        return lambda env: a(env) or b(env)

    def any_(env: Env) -> bool:
        for fn in fns:
            if fn(env):
                return True
        return False

    return any_


def _compile_compare(node: _Compare) -> Callable[[Env], bool]:
    if len(node.rest) == 1:
        op, right = node.rest[0]
        if isinstance(right, _Literal):
            return _compare_constant(_compile(node.first), op, right.value)
        left, right_fn, test = _compile(node.first), _compile(right), _test(op)
        return lambda env: test(left(env), right_fn(env))
    first = _compile(node.first)
    steps = [(_test(op), _compile(operand)) for op, operand in node.rest]

    def chain(env: Env) -> bool:  # a < b < c is a < b and b < c, each operand computed once
        a = first(env)
        for test, fn in steps:
            b = fn(env)
            if not test(a, b):
                return False
            a = b
        return True

    return chain


def _compare_constant(left: _Fn, op: str, constant: Any) -> Callable[[Env], bool]:
    """``left <op> constant``: the common case, with the constant's type checked once here."""
    if op in ("==", "!=") and isinstance(constant, str):
        if op == "==":
            return lambda env: (value := left(env)) is constant or (isinstance(value, str) and value == constant)
        return lambda env: not ((value := left(env)) is constant or (isinstance(value, str) and value == constant))
    if op in _ORDER and _is_number(constant):
        order = _ORDER[op]

        def number_order(env: Env) -> bool:
            value = left(env)
            t = type(value)
            if t is float or t is int:
                return order(value, constant)
            return _is_number(value) and order(value, constant)

        return number_order
    if op in ("in", "not in") and isinstance(constant, tuple):
        members = _Members(constant)
        if op == "in":
            return lambda env: left(env) in members
        return lambda env: left(env) not in members
    test = _test(op)
    return lambda env: test(left(env), constant)


def _compile_call(node: _Call) -> _Fn:
    name, args = node.function, node.args
    if name == "exists":
        assert isinstance(args[0], _Name)  # checked by the parser
        return _exists(args[0].path)
    if name == "matches":
        pattern = node.pattern
        assert pattern is not None  # compiled by the parser
        text = _compile(args[0])
        return lambda env: _search(pattern, text(env))
    if name == "any_of" and isinstance(args[1], _Literal) and isinstance(args[1].value, tuple):
        members, items = _Members(args[1].value), _compile(args[0])

        def any_of(env: Env) -> bool:
            values = items(env)
            return isinstance(values, _COLLECTIONS) and any(value in members for value in values)

        return any_of
    if name in _UNARY:
        unary, arg = _UNARY[name], _compile(args[0])
        return lambda env: unary(arg(env))
    binary, a, b = _BINARY[name], _compile(args[0]), _compile(args[1])
    return lambda env: binary(a(env), b(env))


# ----------------------------------------------------------------------------------------------
# The public API


class Condition:
    """A compiled condition. Build one with :func:`compile_condition`."""

    __slots__ = ("_fn", "names", "source")

    def __init__(self, source: str, names: frozenset[str], fn: Callable[[Env], bool]) -> None:
        self.source = source
        self.names = names
        self._fn = fn

    def evaluate(self, env: Mapping[str, Any]) -> bool:
        """The condition's truth for ``env``. Never raises: missing data is ``None``, mismatches are false."""
        try:
            return self._fn(env)
        except Exception:  # env is arbitrary data: a condition must never fail a request
            return False

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (compile_condition, (self.source,))  # closures do not pickle; the text recompiles

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def compile_condition(source: str, *, roots: Collection[str] | None = None) -> Condition:
    """Compile ``source`` or raise :class:`ExpressionError` (with the 1-based column).

    ``roots``, if given, is the set of allowed first name parts (``{"features", "tags", ...}``).
    """
    if not isinstance(source, str):
        raise ExpressionError(f"a condition must be a string, got {type(source).__name__}", 1, repr(source))
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"condition too long ({len(source)} characters; the limit is {MAX_LENGTH})",
                              MAX_LENGTH + 1, source[:60] + "...")
    tokens = _Tokenizer(source).run()
    parser = _Parser(source, tokens, roots)
    tree = parser.parse()
    return Condition(source, frozenset(parser.names), _compile_bool(tree))

