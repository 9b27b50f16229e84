"""Python predicate expressions over a final document, evaluated in a restricted namespace.

A suite may state a check no declarative check covers as one Python *expression*, for example::

    all(t["points"] <= 8 for t in select("task")) and count("column:first > task") == 2

It is parsed as an expression only (no statements, so no imports or assignments), checked against a
whitelist of syntax nodes (no lambdas, no ``**``, no walrus, no names or attributes starting with
``_``, which closes the ``().__class__.__bases__`` escape, and no ``str.format``), and run with no
builtins but a fixed set of pure functions. Suites are reviewed data, not untrusted input: this keeps
mistakes and casual escapes out; it is not a sandbox against a hostile author (a huge ``range`` still
burns CPU).

Names available: ``doc`` and ``start`` (final and starting document JSON, without ids), ``root`` (the
final document as a :class:`~mesh_tools.evaluation._selectors.Node` tree), ``select(sel)``,
``count(sel)``, ``first(sel)`` (a Node or None), and the builtins listed in :data:`SAFE_BUILTINS`.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any

from ._selectors import select, tree

__all__ = ["SAFE_BUILTINS", "ExpressionError", "Predicate", "compile_predicate"]

#: Builtins a predicate may call: pure functions over values.
SAFE_BUILTINS: Mapping[str, Any] = {
    name: getattr(builtins, name)
    for name in (
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "enumerate",
        "float",
        "int",
        "isinstance",
        "len",
        "list",
        "max",
        "min",
        "range",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
    )
}

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.keyword,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.And,
    ast.Or,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)


# str.format reads attributes named in the format string ("{0.__globals__}"), past the AST check.
_BLOCKED_ATTRIBUTES = frozenset({"format", "format_map"})


class ExpressionError(ValueError):
    """A predicate that is not allowed or does not compile."""


@dataclass(frozen=True, slots=True)
class Predicate:
    """A checked, compiled predicate; call :meth:`evaluate` on a final document."""

    source: str
    _code: CodeType

    def evaluate(self, final: Mapping[str, Any], start: Mapping[str, Any]) -> bool:
        """The predicate's value; raises ExpressionError when it fails or returns a non-boolean."""
        root = tree(final)
        # One globals dict and no locals: comprehensions are nested scopes that see globals only.
        namespace: dict[str, Any] = {
            "__builtins__": dict(SAFE_BUILTINS),
            "doc": final,
            "start": start,
            "root": root,
            "select": lambda selector: select(root, selector),
            "count": lambda selector: len(select(root, selector)),
            "first": lambda selector: next(iter(select(root, selector)), None),
        }
        try:
            value = eval(self._code, namespace)
        except Exception as error:
            raise ExpressionError(f"{type(error).__name__}: {error}") from error
        if not isinstance(value, bool):
            raise ExpressionError(f"the expression gave {value!r}, not True or False")
        return value


def compile_predicate(source: str) -> Predicate:
    """Check and compile a predicate; raises ExpressionError naming what is not allowed."""
    try:
        parsed = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"not a Python expression: {error.msg} (column {error.offset})") from error
    for node in ast.walk(parsed):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(f"{type(node).__name__} is not allowed in a check expression")
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        if name.startswith("_") or (isinstance(node, ast.Attribute) and name in _BLOCKED_ATTRIBUTES):
            raise ExpressionError(f"the name {name!r} is not allowed in a check expression")
    return Predicate(source, compile(parsed, "<check expression>", "eval"))
