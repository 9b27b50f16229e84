"""YAML unions told apart by a key: a check by ``count:`` or ``expr:``, a goal change by ``set:`` or
``delete:``, a reference step by ``call:`` or ``wait:``. One discriminator for all of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Discriminator

__all__ = ["by_key"]


def by_key(keys: tuple[str, ...], *, error_type: str, what: str) -> Discriminator:
    """A pydantic discriminator picking the member whose tag is the first of ``keys`` the value has.

    Works on raw mappings (YAML) and on built models alike; an unknown shape fails with ``error_type``
    and a message listing ``keys`` for ``what``.
    """

    def kind(value: Any) -> str | None:
        present: Callable[[str], bool] = (
            value.__contains__ if isinstance(value, Mapping) else type(value).model_fields.__contains__
        )
        return next((key for key in keys if present(key)), None)

    return Discriminator(
        kind,
        custom_error_type=error_type,
        custom_error_message=f"{what} has one of the keys {', '.join(keys)}",
    )
