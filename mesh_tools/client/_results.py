"""Reading fields out of a server's result object without trusting its shape."""

from __future__ import annotations

from typing import Any, TypeVar

from ..errors import ProtocolError

__all__ = ["result_field"]

_T = TypeVar("_T")


def result_field(result: dict[str, Any], name: str, kind: type[_T]) -> _T:
    """``result[name]`` checked to be a ``kind``; ProtocolError (naming the field) otherwise."""
    value = result.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            f"the server's answer has no valid {name!r} ({kind.__name__} expected, got {value!r:.60})",
            hint="the server and client versions may not match",
        )
    return value
