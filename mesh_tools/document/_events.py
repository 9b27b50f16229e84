"""What a document tells its observers: elements inserted or deleted, attributes or text changed.

``local`` is True for edits made through this replica's API and False for changes that arrived as
updates from other participants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from ._element import Element

__all__ = ["AttributeChanged", "DocumentEvent", "ElementDeleted", "ElementInserted", "TextChanged"]


@dataclass(frozen=True, slots=True)
class ElementInserted:
    """An element (with its subtree) was inserted."""

    element: Element
    local: bool


@dataclass(frozen=True, slots=True)
class ElementDeleted:
    """An element was deleted; one event per element of a deleted subtree."""

    element_id: str
    tag_name: str
    local: bool


@dataclass(frozen=True, slots=True)
class AttributeChanged:
    """An attribute was set, changed or removed (``new_value`` None)."""

    element: Element
    name: str
    old_value: Any
    new_value: Any
    local: bool


@dataclass(frozen=True, slots=True)
class TextChanged:
    """The element's text or its marks changed: one event per local edit, one per element and update.

    Read the result with ``element.text`` and ``element.text_marks()``.
    """

    element: Element
    local: bool


DocumentEvent: TypeAlias = ElementInserted | ElementDeleted | AttributeChanged | TextChanged
