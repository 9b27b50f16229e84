"""Document JSON out of the CRDT: ``{tag: {attributes in schema order..., <child property>: [...]}}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment

from ..errors import InvalidValueError
from ..schema import ElementType, MeshSchema, rules
from ._layout import FRAGMENT_NAME, gc_paused
from ._pycrdt import JsonLayout, subtree_json

__all__ = ["JsonWriter", "state_json"]


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


def state_json(schema: MeshSchema, state: bytes) -> dict[str, Any]:
    """Document JSON (with ids) of a document's full state, read without a live replica.

    A plain pycrdt Doc: no index and no observers, so a worker thread can write a big document's JSON
    while the live replica keeps serving (the room server's describe).
    """
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(state)
    root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    if not isinstance(root, XmlElement):
        raise InvalidValueError("the state holds no root element")
    types = {element.tag_name: element for element in schema.elements}
    return JsonWriter(ydoc, types.get).subtree(root, include_ids=True)
