"""Checked building: a local write is checked against the schema completely before it touches the CRDT.

A subtree in document JSON (``{tag: {attr: value, <child property>: [...]}}``) becomes a checked outline
(:class:`Built`) that the index then writes into the CRDT, so a rejected write leaves the document unchanged.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from ..errors import InvalidValueError
from ..schema import ID_ATTRIBUTE, ElementType, MeshSchema, ValueProperty, rules
from ._layout import new_element_id
from ._marks import MARKS_KEY, MarkSpan
from ._text import parse_spans

__all__ = ["Body", "Builder", "Built", "DocumentLimits", "PendingMarks", "check_limits", "unwrap"]


class Built(NamedTuple):
    """A checked subtree about to be inserted, which the index writes into the CRDT."""

    id: str
    tag: str
    #: Its attributes, the id included.
    attributes: dict[str, Any]
    #: The text of an element whose type declares one (its only child, created with it), else None.
    text: str | None
    children: list[Built]
    #: Elements in the subtree, itself included.
    size: int = 1
    #: Levels in the subtree, itself being one.
    height: int = 1


#: Marks to apply once a built subtree is in the CRDT (pycrdt cannot format unintegrated text), by id.
PendingMarks: TypeAlias = list[tuple[str, list[MarkSpan]]]


class Body(NamedTuple):
    """An element's JSON body, checked: attributes, the (unchecked) child list, its text and marks."""

    attributes: dict[str, Any]
    children: list[Any]
    text: str | None
    marks: list[MarkSpan]


class Builder:
    """Checks writes against one schema; ``taken`` holds the ids already in the document."""

    def __init__(self, schema: MeshSchema, taken: Container[str]) -> None:
        self.schema = schema
        self._taken = taken
        #: Element types by tag, for lookups on every write and check.
        self.element_types: Mapping[str, ElementType] = {e.tag_name: e for e in schema.elements}
        #: The attributes each tag may carry, by tag ($marks, which a body reserves, aside).
        self._plain_attributes: Mapping[str, Mapping[str, ValueProperty]] = {
            e.tag_name: {n: p for n, p in e.attributes.items() if n != MARKS_KEY} for e in schema.elements
        }

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

    def split_body(self, element_type: ElementType, body: Mapping[str, Any], where: str) -> Body:
        """An element's JSON body as checked attributes, text and marks, and the (unchecked) child list."""
        attributes: dict[str, Any] = {}
        children: list[Any] = []
        child_prop = element_type.child_property
        text_prop = element_type.text_property
        text: str | None = None
        plain = self._plain_attributes[element_type.tag_name]
        for name, value in body.items():
            prop = plain.get(name)
            if prop is not None and value is not None and prop.accepts(value):
                # Most of a body: a valid attribute value, which the checks below would keep too.
                attributes[name] = value
            elif text_prop is not None and name == text_prop.name:
                if value is not None and not isinstance(value, str):
                    raise rules.invalid_value(
                        element_type.tag_name, name, repr(value), hint="expected a string: the element's text"
                    )
                text = value
            elif name == MARKS_KEY:
                continue  # read below, once the text is known
            elif child_prop is not None and name == child_prop.name:
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
        marks: list[MarkSpan] = []
        if body.get(MARKS_KEY) is not None:
            error = rules.text_error(self.schema, element_type, element_type.tag_name)
            if error is not None:
                raise error
            assert text_prop is not None
            marks = parse_spans(text_prop, element_type.tag_name, body[MARKS_KEY], text or "", where)
        return Body(attributes, children, text, marks)

    def subtree(
        self,
        data: Mapping[str, Any],
        *,
        parent_tag: str,
        position: int | None,
        where: str = "element",
        taken: set[str] | None = None,
        marks: PendingMarks | None = None,
    ) -> Built:
        """Check a subtree completely; return its outline, ready to be written.

        Marks in the subtree's JSON are appended to ``marks``, to apply once it is integrated.
        """
        tag, body = unwrap(data, where)
        error = rules.child_error(self.schema, parent_tag, tag, position)
        if error is not None:
            raise error
        element_type = self.element_types[tag]  # child_error named any tag the schema lacks
        attributes, children, text, text_marks = self.split_body(element_type, body, where)
        taken = set() if taken is None else taken
        element_id = attributes.get(ID_ATTRIBUTE) or self.fresh_id(taken)
        if element_id in taken:
            raise rules.id_reused(where, element_id)
        taken.add(element_id)
        attributes[ID_ATTRIBUTE] = element_id
        if text_marks and marks is not None:
            marks.append((element_id, text_marks))
        if element_type.text_property is not None:
            # Created with the element, so every replica's edits land in this one Yjs text.
            return Built(element_id, tag, attributes, text or "", [])
        if not children:
            return Built(element_id, tag, attributes, None, [])
        child_outlines = [
            self.subtree(
                child, parent_tag=tag, position=i, where=f"{where}.{tag}[{i}]", taken=taken, marks=marks
            )
            for i, child in enumerate(children)
        ]
        size = 1 + sum(child.size for child in child_outlines)
        height = 1 + max(child.height for child in child_outlines)
        return Built(element_id, tag, attributes, None, child_outlines, size, height)

    def fresh_id(self, taken: set[str] | None = None) -> str:
        """An id neither in the document nor in ``taken``."""
        while True:
            candidate = new_element_id()
            if candidate not in self._taken and (taken is None or candidate not in taken):
                return candidate


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """How deep and how large one document may grow: checked on local writes, and on remote updates
    (repaired when too deep; refused by the room server when too large). See docs/document-layout.md."""

    #: Element nesting, the root being level 1.
    max_depth: int = 512
    #: Elements in the document, the root included.
    max_elements: int = 1_000_000


def check_limits(limits: DocumentLimits, parent_depth: int, size: int, subtrees: list[Built]) -> None:
    """Refuse subtrees about to go under an element at ``parent_depth`` of a ``size``-element document
    when they would take it past its limits (before anything is written)."""
    height, added = 0, 0
    for built in subtrees:
        height = max(height, built.height)
        added += built.size
    if subtrees and parent_depth + height > limits.max_depth:
        raise rules.too_deep(subtrees[0].tag, limits.max_depth)
    if size + added > limits.max_elements:
        raise rules.too_many_elements(limits.max_elements)


def unwrap(data: Any, where: str) -> tuple[str, Mapping[str, Any]]:
    """The tag and body of one element in document JSON; raises if ``data`` is not that shape."""
    # dict first: an abstract-class check alone cost more than the rest of this function.
    if not isinstance(data, (dict, Mapping)) or len(data) != 1:
        raise InvalidValueError(
            f"{where} must be an object with exactly one key, the tag", hint='write {"<tag>": {...}}'
        )
    ((tag, body),) = data.items()
    if body is None:
        body = {}
    if not isinstance(body, (dict, Mapping)):
        raise InvalidValueError(f"{where}: the value of {tag!r} must be an object of attributes")
    return str(tag), body
