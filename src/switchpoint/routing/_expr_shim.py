"""TEMPORARY stand-in for ``switchpoint.routing.expr`` (branch ``expr``), with the contract's API.

A tiny safe evaluator over Python's own parser (no ``eval``): dotted names, literals, comparisons,
``in``, ``and``/``or``/``not``. Deleted once branch ``expr`` is merged.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Collection, Mapping
from typing import Any

__all__ = ["Condition", "ExpressionError", "compile_condition"]


class ExpressionError(ValueError):
    def __init__(self, message: str, column: int = 1) -> None:
        super().__init__(message)
        self.column = column


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip


class Condition:
    def __init__(self, source: str, tree: ast.expr, names: frozenset[str]) -> None:
        self.source = source
        self.names = names
        self._tree = tree

    def evaluate(self, env: Mapping[str, Any]) -> bool:
        try:
            return bool(_eval(self._tree, env))
        except TypeError:
            return False


def compile_condition(source: str, *, roots: Collection[str] | None = None) -> Condition:
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}", exc.offset or 1) from None
    names: set[str] = set()
    _check(tree, names, roots)
    return Condition(source, tree, frozenset(names))


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _check(node: ast.expr, names: set[str], roots: Collection[str] | None) -> None:
    column = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.Name) and node.id in ("true", "false", "null"):
        return
    dotted = _dotted(node)
    if dotted is not None:
        if roots is not None and dotted.split(".")[0] not in roots:
            raise ExpressionError(f"unknown name '{dotted.split('.')[0]}' (known: {', '.join(sorted(roots))})", column)
        names.add(dotted)
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool | type(None)):
        return
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, names, roots)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        _check(node.operand, names, roots)
    elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        for part in (node.left, *node.comparators):
            _check(part, names, roots)
    elif isinstance(node, ast.List | ast.Tuple):
        for element in node.elts:
            _check(element, names, roots)
    else:
        raise ExpressionError(f"unsupported expression '{ast.unparse(node)}'", column)


def _eval(node: ast.expr, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Name) and node.id in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[node.id]
    dotted = _dotted(node)
    if dotted is not None:
        value: Any = env
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BoolOp):
        values = (bool(_eval(v, env)) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, env)
        return not operand if isinstance(node.op, ast.Not) else -operand
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, env)
            equality = isinstance(op, ast.Eq | ast.NotEq)
            if (left is None and not equality and not isinstance(op, ast.In | ast.NotIn)) or (
                right is None and not equality
            ):
                return False
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, env) for e in node.elts]
    raise TypeError("unsupported")
