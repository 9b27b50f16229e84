"""Validate and repair: how a document found to break its schema is reported and mended.

Local writes are checked before they happen (see ``_build``); what arrives in remote updates is not,
so the room server checks each update with these and repairs what they find. Every rule comes from
:mod:`mesh_tools.schema.rules`; this module walks the CRDT and applies them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pycrdt import XmlElement

from .._gc_pause import gc_paused
from ..errors import DocumentError
from ..schema import ID_ATTRIBUTE, ElementType, rules
from ._element import Element
from ._events import AttributeChanged, DocumentEvent, ElementInserted, TextChanged
from ._index import Integration
from ._layout import ELEMENT_ID_PATTERN, attribute_items, id_of, read_value, repair_element_id
from ._move import settle_copies
from ._pycrdt import Node, TextChunks, fragment_nodes, node_id, read_node

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
    """A violation with the path of child positions from the fragment to its element, for repair.

    A finding in an element's text has the text's path and says what to strip from it: ``marks`` to
    remove, or ``ranges`` (pycrdt offsets and lengths) of embedded objects to delete. Any other finding
    without an attribute deletes the node at its path.
    """

    violation: Violation
    path: tuple[int, ...]
    marks: tuple[str, ...] = ()
    ranges: tuple[tuple[int, int], ...] = ()


def find_violations(doc: MeshDocument) -> list[Violation]:
    """Every schema violation in the document."""
    return [finding.violation for finding in _findings(doc)]


def validate(
    doc: MeshDocument, elements: Iterable[Element], nodes: Mapping[str, Node] | None = None
) -> list[Violation]:
    """Every schema violation in the subtrees of ``elements`` (each checked against its parent).

    ``nodes``: subtrees known already by element id (read from the update that inserted them), so
    not read from the CRDT."""
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
            node = nodes.get(element.id) if nodes else None
            if node is None:
                node = read_node(element._xml, doc.ydoc)
            _check_tree(doc, node, parent.tag_name, position, (), out, None, element.depth)
    return [finding.violation for finding in out]


def check_changes(
    doc: MeshDocument, changes: list[DocumentEvent], nodes: Mapping[str, Node] | None = None
) -> list[Violation]:
    """The violations that remote ``changes`` brought in: inserted subtrees and attributes set
    (``nodes``: as :func:`validate` takes them)."""
    inserted = [c.element for c in changes if isinstance(c, ElementInserted) and c.element.is_alive]
    violations = validate(doc, inserted, nodes) if inserted else []
    texts = {c.element.id: c.element for c in changes if isinstance(c, TextChanged) and c.element.is_alive}
    for element in texts.values():
        found: list[_Finding] = []
        tag, _, _, text_nodes = read_node(element._xml, doc.ydoc)
        _check_texts(doc, doc._builder.element_type(tag), tag, element.id, text_nodes, (), found)
        violations.extend(finding.violation for finding in found)
    set_attributes = [c for c in changes if isinstance(c, AttributeChanged) and c.element.is_alive]
    if not set_attributes:
        return violations
    # One read transaction for them all: each read opening its own cost a commit (~25 us), and a burst
    # of tool calls sets a few hundred attributes.
    with doc.ydoc.transaction():
        for change in set_attributes:
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
    removed gets its id back. Of two elements with one id, the later in document order gets a new one:
    a rule of the state alone, not of the order updates arrived in, so every node and every replica
    picks the same element (the room server refuses a participant's update that would give an
    element the id another already holds, so what remains comes from concurrent edits, ADR 0011).
    Then each violation is mended: an attribute the last update made
    invalid gets its previous value back when that was valid, else it is dropped; text or marks the
    schema does not allow are stripped; an element that breaks the schema or the depth limit is deleted
    with its subtree.

    Deterministic: replicas in the same state make the same repair, so two servers mending one
    violation converge to a single repair (docs/adr/0011-cluster.md).
    """
    integration, doc._integration = doc._integration, Integration()
    assigned: set[str] = set()
    with doc.transaction(origin=origin):
        settled = settle_copies(doc, integration)
        mended = settled + _restore_ids(doc, integration)
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
            if finding.marks or finding.ranges:
                _strip_text(doc, finding)
                continue
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
    return mended


def _strip_text(doc: MeshDocument, finding: _Finding) -> None:
    text: Any = _node_at(doc, finding.path)
    if finding.marks:
        text.format(0, len(text), dict.fromkeys(finding.marks))
    for offset, length in sorted(finding.ranges, reverse=True):
        del text[offset : offset + length]


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
            tag, attributes = node[0], node[1]
            element_id = node_id(attributes)
            if count > 0:
                out.append(_Finding(_violation(rules.extra_root(tag), element_id), (raw,)))
            elif tag != root_tag:
                out.append(_Finding(_violation(rules.wrong_root(tag, root_tag), element_id), (raw,)))
            else:
                _check_tree(doc, node, None, 0, (raw,), out, seen, 1)
        return out


def _check_tree(
    doc: MeshDocument,
    node: Node,
    parent_tag: str | None,
    position: int | None,
    path: tuple[int, ...],
    out: list[_Finding],
    seen: set[str] | None,
    depth: int,
) -> None:
    """Check a subtree, depth first in document order, with a stack: any nesting is walked."""
    schema = doc.schema
    element_types = doc._builder.element_types
    max_depth = doc.limits.max_depth
    # (parent tag, tag) found allowed where the parent's children are unordered, so the answer holds at
    # every position: a whole-document check asks the same question once per element.
    allowed: set[tuple[str, str]] = set()
    stack = [(node, parent_tag, position, path, depth)]
    while stack:
        (tag, attributes, children, texts), parent_tag, position, path, depth = stack.pop()
        element_id = node_id(attributes)
        if parent_tag is not None and (parent_tag, tag) not in allowed:
            error = rules.child_error(schema, parent_tag, tag, position)
            if error is not None:
                out.append(_Finding(_violation(error, element_id), path))
                continue
            child_property = element_types[parent_tag].child_property
            if child_property is not None and not child_property.ordered:
                allowed.add((parent_tag, tag))
        if depth > max_depth:
            out.append(_Finding(_violation(rules.too_deep(tag, max_depth), element_id), path))
            continue
        if (
            element_id is None
            or ELEMENT_ID_PATTERN.fullmatch(element_id) is None
            or (seen is not None and element_id in seen)
        ):
            out.append(_Finding(_violation(rules.missing_id(tag), element_id, ID_ATTRIBUTE), path))
        elif seen is not None:
            seen.add(element_id)
        element_type = element_types.get(tag)
        props = rules.attribute_props(element_type)
        for name, raw_value in attributes:
            if name == ID_ATTRIBUTE:
                continue
            value = read_value(raw_value)
            prop = props.get(name)
            if prop is not None and prop.accepts(value):
                continue
            error = rules.attribute_error(element_type, tag, name, value)
            if error is not None:
                out.append(_Finding(_violation(error, element_id, name), path))
        if texts:
            _check_texts(doc, element_type, tag, element_id, texts, path, out)
        # Pushed last to first, so they are checked first to last.
        for index in range(len(children) - 1, -1, -1):
            raw, child = children[index]
            stack.append((child, tag, index, (*path, raw), depth + 1))


def _check_texts(
    doc: MeshDocument,
    element_type: ElementType | None,
    tag: str,
    element_id: str | None,
    texts: list[tuple[int, TextChunks]],
    path: tuple[int, ...],
    out: list[_Finding],
) -> None:
    """Text where none is declared, a second text, marks the text does not allow, embedded objects."""
    if not texts:
        return
    error = rules.text_error(doc.schema, element_type, tag)
    if error is not None or element_type is None or element_type.text_property is None:
        for raw, _ in texts:
            out.append(_Finding(_violation(error or rules.text_split(tag), element_id), (*path, raw)))
        return
    prop = element_type.text_property
    (raw, chunks), *extra = texts
    for extra_raw, _ in extra:
        # One text per element: a second one comes from a client that made its own; it is dropped.
        out.append(_Finding(_violation(rules.text_split(tag), element_id), (*path, extra_raw)))
    bad_marks: dict[str, DocumentError] = {}
    embeds: list[tuple[int, int]] = []
    offset = 0
    for value, marks in chunks:
        size = len(value.encode("utf-8")) if isinstance(value, str) else 1
        if not isinstance(value, str):
            embeds.append((offset, size))
        for name, mark in (marks or {}).items():
            refused = None if name in bad_marks else rules.mark_error(prop, tag, name, mark)
            if refused is not None:
                bad_marks[name] = refused
        offset += size
    for name, breach in bad_marks.items():
        out.append(_Finding(_violation(breach, element_id), (*path, raw), marks=(name,)))
    if embeds:
        out.append(
            _Finding(_violation(rules.text_embed(tag), element_id), (*path, raw), ranges=tuple(embeds))
        )


def _violation(error: DocumentError, element_id: str | None, attribute: str | None = None) -> Violation:
    return Violation(error.code, error.message, element_id, attribute)
