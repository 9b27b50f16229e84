"""Validate and repair: how a document found to break its schema is reported and mended.

Local writes are checked before they happen (see ``_build``); what arrives in remote updates is not,
so the room server checks each update with these and repairs what they find. Every rule comes from
:mod:`mesh_tools.schema.rules`; this module walks the CRDT and applies them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pycrdt import XmlElement

from ..errors import DocumentError
from ..schema import ID_ATTRIBUTE, rules
from ._element import Element
from ._events import AttributeChanged, DocumentEvent, ElementInserted
from ._layout import gc_paused, id_of, read_value, repair_element_id
from ._pycrdt import Node, fragment_nodes, node_id, read_node

if TYPE_CHECKING:
    from ._replica import MeshDocument

__all__ = ["Violation", "check_changes", "find_violations", "repair", "validate"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One way the document breaks its schema, with the element it concerns."""

    code: str
    message: str
    element_id: str | None
    attribute: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "element_id": self.element_id}


@dataclass(frozen=True, slots=True)
class _Finding:
    """A violation with the path of child positions from the fragment to its element, for repair."""

    violation: Violation
    path: tuple[int, ...]


def find_violations(doc: MeshDocument) -> list[Violation]:
    """Every schema violation in the document."""
    return [finding.violation for finding in _findings(doc)]


def validate(doc: MeshDocument, elements: Iterable[Element]) -> list[Violation]:
    """Every schema violation in the subtrees of ``elements`` (each checked against its parent)."""
    out: list[_Finding] = []
    with doc.ydoc.transaction():
        for element in elements:
            parent = element.parent
            if not element.is_alive or parent is None:
                continue
            child_property = doc._builder.element_types[parent.tag_name].child_property
            position = None
            if child_property is not None and child_property.ordered:
                # Only ordered children care where they stand; finding out costs a scan of the siblings.
                siblings = [c for c in parent._xml.children if isinstance(c, XmlElement)]
                position = next(i for i, c in enumerate(siblings) if id_of(c) == element.id)
            node = read_node(element._xml, doc.ydoc)
            _check_tree(doc, node, parent.tag_name, position, (), out, None)
    return [finding.violation for finding in out]


def check_changes(doc: MeshDocument, changes: list[DocumentEvent]) -> list[Violation]:
    """The violations that remote ``changes`` brought in: inserted subtrees and attributes set."""
    inserted = [c.element for c in changes if isinstance(c, ElementInserted) and c.element.is_alive]
    violations = validate(doc, inserted) if inserted else []
    for change in changes:
        if isinstance(change, AttributeChanged) and change.element.is_alive and change.new_value is not None:
            element = change.element
            error = rules.attribute_error(
                doc._builder.element_type(element.tag_name),
                element.tag_name,
                change.name,
                element.get_attribute(change.name),
            )
            if error is not None:
                violations.append(_violation(error, element.id, change.name))
    return violations


def repair(doc: MeshDocument, origin: Any) -> list[Violation]:
    """Mend every violation with the smallest edit: drop the attribute, or delete the element.

    Deterministic: replicas in the same state make the same repair, so two servers mending one
    violation converge to a single repair (docs/adr/0011-cluster.md).
    """
    findings = _findings(doc)
    if not findings:
        return []
    deletions: dict[tuple[int, ...], list[int]] = {}
    assigned: set[str] = set()
    with doc.transaction(origin=origin):
        for finding in findings:
            attribute = finding.violation.attribute
            if attribute is None:
                deletions.setdefault(finding.path[:-1], []).append(finding.path[-1])
                continue
            xml = _node_at(doc, finding.path)
            if attribute == ID_ATTRIBUTE:
                # Derived, not random: servers mending the same state write the same id.
                seed = f"{finding.violation.element_id}@{finding.path}"
                new_id = repair_element_id(seed, assigned.union(doc._elements))
                assigned.add(new_id)
                xml.attributes[ID_ATTRIBUTE] = new_id
            else:
                del xml.attributes[attribute]
        # Deepest parents first and from the back, so the paths still to visit stay valid.
        for parent_path in sorted(deletions, key=len, reverse=True):
            parent = _node_at(doc, parent_path) if parent_path else doc._fragment
            for position in sorted(deletions[parent_path], reverse=True):
                del parent.children[position]
        doc._index.rebuild(doc._fragment, local=doc._origin is None)
    return [finding.violation for finding in findings]


def _node_at(doc: MeshDocument, path: tuple[int, ...]) -> XmlElement:
    node: Any = doc._fragment
    for position in path:
        node = node.children[position]
    return cast(XmlElement, node)


def _findings(doc: MeshDocument) -> list[_Finding]:
    with gc_paused():
        out: list[_Finding] = []
        seen: set[str] = set()
        root_tag = doc.schema.root_tag_name
        for count, (raw, node) in enumerate(fragment_nodes(doc._fragment, doc.ydoc)):
            tag, attributes, _ = node
            element_id = node_id(attributes)
            if count > 0:
                out.append(_Finding(_violation(rules.extra_root(tag), element_id), (raw,)))
            elif tag != root_tag:
                out.append(_Finding(_violation(rules.wrong_root(tag, root_tag), element_id), (raw,)))
            else:
                _check_tree(doc, node, None, 0, (raw,), out, seen)
        return out


def _check_tree(
    doc: MeshDocument,
    node: Node,
    parent_tag: str | None,
    position: int | None,
    path: tuple[int, ...],
    out: list[_Finding],
    seen: set[str] | None,
) -> None:
    tag, attributes, children = node
    element_id = node_id(attributes)
    if parent_tag is not None:
        error = rules.child_error(doc.schema, parent_tag, tag, position)
        if error is not None:
            out.append(_Finding(_violation(error, element_id), path))
            return
    if element_id is None or (seen is not None and element_id in seen):
        out.append(_Finding(_violation(rules.missing_id(tag), element_id, ID_ATTRIBUTE), path))
    elif seen is not None:
        seen.add(element_id)
    element_type = doc._builder.element_type(tag)
    for name, value in attributes:
        error = (
            None
            if name == ID_ATTRIBUTE
            else rules.attribute_error(element_type, tag, name, read_value(value))
        )
        if error is not None:
            out.append(_Finding(_violation(error, element_id, name), path))
    for position, (raw, child) in enumerate(children):
        _check_tree(doc, child, tag, position, (*path, raw), out, seen)


def _violation(error: DocumentError, element_id: str | None, attribute: str | None = None) -> Violation:
    return Violation(error.code, error.message, element_id, attribute)
