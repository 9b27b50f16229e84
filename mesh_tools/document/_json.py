"""Document JSON out of the CRDT: ``{tag: {attributes in schema order..., <child property>: [...]}}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pycrdt import Doc, XmlElement

from .._gc_pause import gc_paused
from ..schema import ElementType, rules
from ._pycrdt import JsonLayout, subtree_json

__all__ = ["JsonWriter"]


class JsonWriter:
    """Writes subtrees of one document as JSON, laying each tag out as its schema lists it."""

    def __init__(self, ydoc: Doc[Any], element_type: Callable[[str], ElementType | None]) -> None:
        self._ydoc = ydoc
        self._element_type = element_type
        self._layouts: dict[str, JsonLayout] = {}

    def subtree(self, xml: XmlElement, include_ids: bool) -> dict[str, Any]:
        """The subtree under ``xml``, with each element's ``$id`` when ``include_ids``."""
        with gc_paused():
            return subtree_json(xml, self._ydoc, self._layouts, self._layout, include_ids)

    def _layout(self, tag: str) -> JsonLayout:
        layout = self._layouts.get(tag)
        if layout is None:
            element_type = self._element_type(tag)
            child = element_type.child_property if element_type is not None else None
            text = element_type.text_property if element_type is not None else None
            layout = (
                tuple(rules.attribute_props(element_type)),
                child.name if child is not None else None,
                text.name if text is not None else None,
            )
            self._layouts[tag] = layout
        return layout
