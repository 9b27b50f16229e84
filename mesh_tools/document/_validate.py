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
from ._index import Integration
from ._layout import ELEMENT_ID_PATTERN, attribute_items, gc_paused, id_of, read_value
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
    #: For a duplicate id: the path of the element that came first with it.
    first: tuple[int, ...] | None = None


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
            _check_tree(doc, node, parent.tag_name, position, (), out, None, element.depth)
    return [finding.violation for finding in out]


def check_changes(doc: MeshDocument, changes: list[DocumentEvent]) -> list[Violation]:
    """The violations that remote ``changes`` brought in: inserted subtrees and attributes set."""
    inserted = [c.element for c in changes if isinstance(c, ElementInserted) and c.element.is_alive]
    violations = validate(doc, inserted) if inserted else []
    for change in changes:
        if not isinstance(change, AttributeChanged) or not change.element.is_alive:
            continue
        element = change.element
        if change.new_value is None and change.name not in dict(attribute_items(element._xml)):
            continue  # removed, not set to null
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
    """Mend every violation with the smallest edit that keeps honest content.

    First what the last remote update did to ids is undone: an element whose ``$id`` was rewritten or
    removed gets its id back, and an inserted element carrying an id another element has gets a fresh
    one (never the other way round). Then each violation is mended: an attribute the last update made
    invalid gets its previous value back when that was valid, else it is dropped; an element that
    breaks the schema or the depth limit is deleted with its subtree.
    """
    integration, doc._integration = doc._integration, Integration()
    with doc.transaction(origin=origin):
        mended = _restore_ids(doc, integration)
        findings = _findings(doc)
        if not findings and not mended:
            return []
        previous = {
            (change.element.id, change.name): change.old_value
            for change in reversed(integration.changes)
            if isinstance(change, AttributeChanged)
        }
        deletions: dict[tuple[int, ...], list[int]] = {}
        for finding in findings:
            attribute = finding.violation.attribute
            if attribute is None:
                deletions.setdefault(finding.path[:-1], []).append(finding.path[-1])
                continue
            xml = _node_at(doc, finding.path)
            if attribute == ID_ATTRIBUTE:
                xml.attributes[ID_ATTRIBUTE] = doc._builder.fresh_id()
                continue
            old = previous.get((finding.violation.element_id or "", attribute))
            tag = xml.tag or ""
            if (
                old is not None
                and rules.attribute_error(doc._builder.element_type(tag), tag, attribute, old) is None
            ):
                xml.attributes[attribute] = old
            else:
                del xml.attributes[attribute]
        # Deepest parents first and from the back, so the paths still to visit stay valid.
        for parent_path in sorted(deletions, key=len, reverse=True):
            parent = _node_at(doc, parent_path) if parent_path else doc._fragment
            for position in sorted(deletions[parent_path], reverse=True):
                del parent.children[position]
        doc._index.rebuild(doc._fragment, local=doc._origin is None)
    return mended + [finding.violation for finding in findings]


def _restore_ids(doc: MeshDocument, integration: Integration) -> list[Violation]:
    mended = []
    for xml, old_id in integration.renamed:
        if id_of(xml) != old_id:
            xml.attributes[ID_ATTRIBUTE] = old_id
            mended.append(
                Violation(
                    rules.id_not_settable().code, f"the id {old_id!r} was changed", old_id, ID_ATTRIBUTE
                )
            )
    for xml in integration.imposters:
        taken = id_of(xml)
        if taken is not None and taken in doc._elements:
            xml.attributes[ID_ATTRIBUTE] = doc._builder.fresh_id()
            mended.append(
                Violation(
                    rules.missing_id(xml.tag or "").code,
                    f"the id {taken!r} was already taken",
                    taken,
                    ID_ATTRIBUTE,
                )
            )
    return mended


def _node_at(doc: MeshDocument, path: tuple[int, ...]) -> XmlElement:
    node: Any = doc._fragment
    for position in path:
        node = node.children[position]
    return cast(XmlElement, node)


def _findings(doc: MeshDocument) -> list[_Finding]:
    with gc_paused():
        out: list[_Finding] = []
        seen: dict[str, tuple[int, ...]] = {}
        root_tag = doc.schema.root_tag_name
        for count, (raw, node) in enumerate(fragment_nodes(doc._fragment, doc.ydoc)):
            tag, attributes, _ = node
            element_id = node_id(attributes)
            if count > 0:
                out.append(_Finding(_violation(rules.extra_root(tag), element_id), (raw,)))
            elif tag != root_tag:
                out.append(_Finding(_violation(rules.wrong_root(tag, root_tag), element_id), (raw,)))
            else:
                _check_tree(doc, node, None, 0, (raw,), out, seen, 1)
        return _keep_owners(doc, out)


def _keep_owners(doc: MeshDocument, findings: list[_Finding]) -> list[_Finding]:
    """Of two elements with one id, the one the index holds keeps it, wherever it stands in the document.

    The walk flags whichever comes second; when that is the indexed element, the flag moves to the
    element that came first, which is the newcomer.
    """
    out = []
    for finding in findings:
        duplicate = finding.violation.attribute == ID_ATTRIBUTE and finding.first is not None
        element_id = finding.violation.element_id
        if duplicate and element_id is not None and element_id in doc._elements:
            owner = doc._elements[element_id]._xml
            if owner.integrated == _node_at(doc, finding.path).integrated:
                assert finding.first is not None
                out.append(_Finding(finding.violation, finding.first))
                continue
        out.append(finding)
    return out


def _check_tree(
    doc: MeshDocument,
    node: Node,
    parent_tag: str | None,
    position: int | None,
    path: tuple[int, ...],
    out: list[_Finding],
    seen: dict[str, tuple[int, ...]] | None,
    depth: int,
) -> None:
    """Check a subtree, depth first in document order, with a stack: any nesting is walked."""
    max_depth = doc.limits.max_depth
    stack = [(node, parent_tag, position, path, depth)]
    while stack:
        (tag, attributes, children), parent_tag, position, path, depth = stack.pop()
        element_id = node_id(attributes)
        if parent_tag is not None:
            error = rules.child_error(doc.schema, parent_tag, tag, position)
            if error is not None:
                out.append(_Finding(_violation(error, element_id), path))
                continue
        if depth > max_depth:
            out.append(_Finding(_violation(rules.too_deep(tag, max_depth), element_id), path))
            continue
        if element_id is None or ELEMENT_ID_PATTERN.fullmatch(element_id) is None:
            out.append(_Finding(_violation(rules.missing_id(tag), element_id, ID_ATTRIBUTE), path))
        elif seen is not None and element_id in seen:
            first = seen[element_id]
            out.append(_Finding(_violation(rules.missing_id(tag), element_id, ID_ATTRIBUTE), path, first))
        elif seen is not None:
            seen[element_id] = path
        element_type = doc._builder.element_type(tag)
        for name, value in attributes:
            error = (
                None
                if name == ID_ATTRIBUTE
                else rules.attribute_error(element_type, tag, name, read_value(value))
            )
            if error is not None:
                out.append(_Finding(_violation(error, element_id, name), path))
        # Pushed last to first, so they are checked first to last.
        for index in range(len(children) - 1, -1, -1):
            raw, child = children[index]
            stack.append((child, tag, index, (*path, raw), depth + 1))


def _violation(error: DocumentError, element_id: str | None, attribute: str | None = None) -> Violation:
    return Violation(error.code, error.message, element_id, attribute)
