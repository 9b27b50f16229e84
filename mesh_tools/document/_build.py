"""Checked building: a local write is checked against the schema completely before it touches the CRDT.

A subtree in document JSON (``{tag: {attr: value, <child property>: [...]}}``) becomes a checked outline
(:data:`Built`) that the index then writes into the CRDT, so a rejected write leaves the document unchanged.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any, TypeAlias

from ..errors import InvalidValueError
from ..schema import ID_ATTRIBUTE, ElementType, MeshSchema, rules
from ._layout import new_element_id

__all__ = ["Builder", "Built", "unwrap"]

#: (id, tag, attributes with the id, children) of a checked subtree about to be inserted
Built: TypeAlias = tuple[str, str, dict[str, Any], list["Built"]]


class Builder:
    """Checks writes against one schema; ``taken`` holds the ids already in the document."""

    def __init__(self, schema: MeshSchema, taken: Container[str]) -> None:
        self.schema = schema
        self._taken = taken
        #: Element types by tag, for lookups on every write and check.
        self.element_types: Mapping[str, ElementType] = {e.tag_name: e for e in schema.elements}

    def element_type(self, tag_name: str) -> ElementType | None:
        """The element type of ``tag_name``, None for a tag the schema does not define."""
        return self.element_types.get(tag_name)

    def check_attribute(self, tag_name: str, name: str, value: Any) -> None:
        """Raise the schema's error if ``tag_name.name = value`` may not be written."""
        if name == ID_ATTRIBUTE:
            raise rules.id_not_settable()
        error = rules.attribute_error(self.element_types.get(tag_name), tag_name, name, value)
        if error is not None:
            raise error

    def split_body(
        self, element_type: ElementType, body: Mapping[str, Any], where: str
    ) -> tuple[dict[str, Any], list[Any]]:
        """An element's JSON body as checked attributes and the (unchecked) child list."""
        attributes: dict[str, Any] = {}
        children: list[Any] = []
        child_prop = element_type.child_property
        for name, value in body.items():
            if child_prop is not None and name == child_prop.name:
                if not isinstance(value, list):
                    raise InvalidValueError(
                        f"{where}: {element_type.tag_name}.{name} must be a list of child elements",
                        hint=f"write {name}: [{{tag: {{...}}}}, ...]",
                    )
                children = value
            elif name == ID_ATTRIBUTE:
                if not isinstance(value, str) or not value or value in self._taken:
                    raise rules.id_not_fresh(where, value)
                attributes[name] = value
            elif (
                value is None
                and name in element_type.attributes
                and element_type.attributes[name].type != "null"
            ):
                continue  # JSON null for an optional attribute means "not set"
            else:
                self.check_attribute(element_type.tag_name, name, value)
                attributes[name] = value
        return attributes, children

    def subtree(
        self,
        data: Mapping[str, Any],
        *,
        parent_tag: str,
        position: int | None,
        where: str = "element",
        taken: set[str] | None = None,
    ) -> Built:
        """Check a subtree completely; return its outline, ready to be written."""
        tag, body = unwrap(data, where)
        error = rules.child_error(self.schema, parent_tag, tag, position)
        if error is not None:
            raise error
        element_type = self.schema.element(tag)
        attributes, children = self.split_body(element_type, body, where)
        taken = set() if taken is None else taken
        element_id = attributes.get(ID_ATTRIBUTE) or self.fresh_id(taken)
        if element_id in taken:
            raise rules.id_reused(where, element_id)
        taken.add(element_id)
        attributes[ID_ATTRIBUTE] = element_id
        built = [
            self.subtree(child, parent_tag=tag, position=i, where=f"{where}.{tag}[{i}]", taken=taken)
            for i, child in enumerate(children)
        ]
        return element_id, tag, attributes, built

    def fresh_id(self, taken: set[str] | None = None) -> str:
        """An id neither in the document nor in ``taken``."""
        while True:
            candidate = new_element_id()
            if candidate not in self._taken and (taken is None or candidate not in taken):
                return candidate


def unwrap(data: Any, where: str) -> tuple[str, Mapping[str, Any]]:
    """The tag and body of one element in document JSON; raises if ``data`` is not that shape."""
    if not isinstance(data, Mapping) or len(data) != 1:
        raise InvalidValueError(
            f"{where} must be an object with exactly one key, the tag", hint='write {"<tag>": {...}}'
        )
    ((tag, body),) = data.items()
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise InvalidValueError(f"{where}: the value of {tag!r} must be an object of attributes")
    return str(tag), body
