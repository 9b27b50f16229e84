"""Live documents: a schema-checked element tree over a pycrdt ``Doc`` that replicas keep in sync.

Layout in the CRDT (see docs/document-layout.md): the root ``XmlFragment`` named ``"mesh"`` holds exactly
one ``XmlElement`` whose tag is the schema's root tag; every element is an ``XmlElement`` named after its
schema tag; attribute values keep their JSON types; the attribute ``$id`` holds the element's id.

Every write is checked against the schema before it touches the CRDT, so a rejected write leaves the
document byte-for-byte unchanged. Remote updates are applied as they come and can be checked with
:meth:`MeshDocument.validate` and mended with :meth:`MeshDocument.repair` (the room server does this).
A read-only replica (``read_only=True``) refuses every write through this API with
PermissionDeniedError and still applies remote updates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any, TypeAlias, cast

from pycrdt import Doc, Subscription, TransactionEvent, XmlElement, XmlEvent, XmlFragment
from pycrdt._base import observe_deep_callback

from .crdt_layout import (
    FRAGMENT_NAME,
    ROOT_ID,
    IntegratedElement,
    Node,
    attribute_items,
    gc_paused,
    id_of,
    new_element_id,
    node_id,
    read_node,
    read_value,
    repair_element_id,
    root_update,
)
from .document_events import AttributeChanged, DocumentEvent, ElementDeleted, ElementInserted
from .errors import (
    ChildNotAllowedError,
    DocumentError,
    ElementNotFoundError,
    InvalidOperationError,
    InvalidValueError,
    PermissionDeniedError,
    ReservedAttributeError,
    UnknownAttributeError,
    UnknownTagError,
)
from .schema import ID_ATTRIBUTE, ElementType, MeshSchema, ValueProperty

__all__ = [
    "REMOTE",
    "ROOT_ID",
    "AttributeChanged",
    "DocumentEvent",
    "Element",
    "ElementDeleted",
    "ElementInserted",
    "MeshDocument",
    "Violation",
]

logger = logging.getLogger(__name__)

#: Default origin of updates applied with :meth:`MeshDocument.apply_update`.
REMOTE = "remote"

_MISSING = object()
_NO_ATTRIBUTES: Mapping[str, ValueProperty] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Violation:
    """One way the document breaks its schema, with the element it concerns."""

    code: str
    message: str
    element_id: str | None
    attribute: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "element_id": self.element_id}


class Element:
    """One element of a live document. Handles stay valid until the element is deleted."""

    __slots__ = ("_doc", "_xml", "id", "tag_name")

    def __init__(self, doc: MeshDocument, xml: XmlElement, element_id: str, tag_name: str) -> None:
        self._doc = doc
        self._xml = xml
        self.id = element_id
        self.tag_name = tag_name

    def __repr__(self) -> str:
        return f"<Element {self.tag_name} id={self.id!r}>"

    @property
    def element_type(self) -> ElementType:
        return self._doc.schema.element(self.tag_name)

    @property
    def is_alive(self) -> bool:
        """False once the element was deleted, locally or by another participant."""
        return self._doc._index.get(self.id) is self

    def _live(self) -> XmlElement:
        # Touching a deleted pycrdt XmlElement panics in Rust; never let a stale handle get that far.
        if not self.is_alive:
            raise ElementNotFoundError(
                f"element {self.id!r} ({self.tag_name}) was deleted",
                hint="read the document again to get current ids",
            )
        return self._xml

    @property
    def parent(self) -> Element | None:
        parent_id = self._doc._parents.get(self.id)
        return None if parent_id is None else self._doc._index.get(parent_id)

    def get_children(self) -> list[Element]:
        """The child elements in document order."""
        index = self._doc._index
        xml = self._live()
        # One transaction and no wrapper objects: this runs for every element a reader walks.
        with self._doc.ydoc.transaction() as txn:
            inner: Any = txn._txn
            ids = [
                child.attribute(inner, ID_ATTRIBUTE)
                for child in xml.integrated.children(inner)
                if isinstance(child, IntegratedElement)
            ]
        return [index[i] for i in ids if isinstance(i, str) and i in index]

    def count_descendants(self) -> int:
        """How many elements lie below this one, from the index (no CRDT read)."""
        kids = self._doc._kids
        stack = [self.id]
        count = -1
        while stack:
            count += 1
            stack.extend(kids.get(stack.pop(), ()))
        return count

    @property
    def attributes(self) -> dict[str, Any]:
        """A copy of the element's attributes (the id excluded)."""
        return {k: read_value(v) for k, v in attribute_items(self._live()) if k != ID_ATTRIBUTE}

    def get_attribute(self, name: str, default: Any = None) -> Any:
        raw = self._live().attributes.get(name)
        if raw is None:
            return default
        return read_value(raw)

    def __getitem__(self, name: str) -> Any:
        return self.get_attribute(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self.set_attribute(name, value)

    def set_attribute(self, name: str, value: Any) -> None:
        """Set one attribute; raises (and changes nothing) if the schema does not allow it."""
        self._doc._check_writable()
        xml = self._live()
        self._doc._check_attribute(self.tag_name, name, value)
        with self._doc._api_write():
            old = xml.attributes.get(name)
            xml.attributes[name] = value
            self._doc._pending.append(AttributeChanged(self, name, read_value(old), value, local=True))

    def remove_attribute(self, name: str) -> None:
        """Remove one attribute; a no-op if it is not set."""
        self._doc._check_writable()
        xml = self._live()
        if name == ID_ATTRIBUTE:
            raise ReservedAttributeError(
                f"{ID_ATTRIBUTE} cannot be removed", hint="delete the element instead"
            )
        if name not in self._doc._attribute_props(self.tag_name):
            self._doc._check_attribute(self.tag_name, name, None)
        old = xml.attributes.get(name)
        if old is None:
            return
        with self._doc._api_write():
            del xml.attributes[name]
            self._doc._pending.append(AttributeChanged(self, name, read_value(old), None, local=True))

    def append_child(self, tag_name: str, attributes: Mapping[str, Any] | None = None) -> Element:
        """Add a child element at the end and return it."""
        return self._insert(None, {tag_name: dict(attributes or {})})

    def insert_child(self, index: int, tag_name: str, attributes: Mapping[str, Any] | None = None) -> Element:
        """Add a child element at ``index`` (0 = first; negative counts from the end) and return it."""
        return self._insert(index, {tag_name: dict(attributes or {})})

    def append_json(self, data: Mapping[str, Any], index: int | None = None) -> Element:
        """Insert a whole subtree given in document JSON (``{tag: {attr: v, <children>: [...]}}``).

        The subtree is checked completely before anything is written and lands in one transaction.
        """
        return self._insert(index, data)

    def _insert(self, index: int | None, data: Mapping[str, Any]) -> Element:
        self._doc._check_writable()
        xml = self._live()
        # One transaction for the read and the write: pycrdt commits a transaction per bare read.
        with self._doc._api_write():
            count = len(xml.children)
            at = count if index is None else (index + count if index < 0 else index)
            if not 0 <= at <= count:
                raise InvalidOperationError(
                    f"position {index} is outside 0..{count} for element {self.id!r}",
                    hint=f"use a position from 0 to {count}, or omit it to append",
                )
            prelim, built = self._doc._build(data, parent_tag=self.tag_name, position=at)
            element = self._doc._index_built(xml.children.insert(at, prelim), built, self.id)
            self._doc._pending.append(ElementInserted(element, local=True))
            return element

    def delete(self) -> None:
        """Delete this element and its subtree; the root cannot be deleted."""
        self._doc._check_writable()
        self._live()
        parent = self.parent
        if parent is None:
            raise InvalidOperationError("the root element cannot be deleted", hint="delete its children")
        with self._doc._api_write():
            children = parent._xml.children
            for position, child in enumerate(children):
                if isinstance(child, XmlElement) and child.attributes.get(ID_ATTRIBUTE) == self.id:
                    del children[position]
                    break
            self._doc._forget(self.id, local=True)

    def to_json(self, include_ids: bool = False) -> dict[str, Any]:
        """The subtree in MeshAgent's document JSON shape: ``{tag: {attrs..., <child prop>: [...]}}``."""
        return self._doc._subtree_json(self._live(), include_ids)


# -- documents ----------------------------------------------------------------------------------

UpdateListener: TypeAlias = Callable[[bytes, Any], None]
EventListener: TypeAlias = Callable[[DocumentEvent], None]


class MeshDocument:
    """A live, schema-typed document replica.

    Reads are local. Writes are checked against the schema, then applied to the local CRDT; the
    resulting updates (see :meth:`on_update`) are what replicas exchange. With ``read_only=True``
    every write through this API raises PermissionDeniedError before touching the CRDT, while
    :meth:`apply_update` still brings in everyone else's changes.
    """

    def __init__(self, *, schema: MeshSchema, client_id: int | None = None, read_only: bool = False) -> None:
        self.schema = schema
        self._read_only = read_only
        self.ydoc: Doc[Any] = Doc(client_id=client_id) if client_id is not None else Doc()
        self._fragment = self.ydoc.get(FRAGMENT_NAME, type=XmlFragment)
        self._index: dict[str, Element] = {}
        self._parents: dict[str, str | None] = {}
        self._kids: dict[str, set[str]] = {}
        self._element_types = {element.tag_name: element for element in schema.elements}
        self._layouts: dict[str, tuple[tuple[str, ...], str | None]] = {}
        self._depth = 0
        self._origin: Any = None
        self._pending: list[DocumentEvent] = []
        self._event_listeners: list[EventListener] = []
        self._update_listeners: list[UpdateListener] = []
        self._doc_subscription: Subscription | None = None
        self._integrated: list[DocumentEvent] = []
        # pycrdt's own deep-event adapter, built once: its public observe_deep() inspects the callback's
        # signature on every call (~50 µs), too much to pay per applied update.
        self._deep_callback = partial(observe_deep_callback, self._on_xml_events, self.ydoc, 1)
        self._check_all = False
        self.apply_update(root_update(schema.root_tag_name), origin=None)

    # -- reading ----------------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        """True when this replica only follows others: local writes through the API are refused."""
        return self._read_only

    @property
    def root(self) -> Element:
        try:
            return self._index[ROOT_ID]
        except KeyError:
            raise ElementNotFoundError("the document has no root element") from None

    def element_by_id(self, element_id: str) -> Element:
        """The element with this id, in O(1); raises ElementNotFoundError if there is none."""
        try:
            return self._index[element_id]
        except (KeyError, TypeError):
            raise ElementNotFoundError(
                f"no element has id {element_id!r}",
                hint="ids come from describe/to_json(include_ids=True); the element may have been deleted",
            ) from None

    def get_element(self, element_id: str) -> Element | None:
        return self._index.get(element_id)

    def __len__(self) -> int:
        """Number of elements, the root included."""
        return len(self._index)

    def __iter__(self) -> Iterator[Element]:
        """Elements in document order (depth first)."""
        stack = [self.root]
        while stack:
            element = stack.pop()
            yield element
            stack.extend(reversed(element.get_children()))

    def to_json(self, include_ids: bool = False) -> dict[str, Any]:
        """The whole document in MeshAgent's document JSON shape."""
        return self.root.to_json(include_ids=include_ids)

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_json(cls, schema: MeshSchema, data: Mapping[str, Any]) -> MeshDocument:
        """A new document holding ``data`` (document JSON, ids optional); checked before writing."""
        doc = cls(schema=schema)
        doc.load_json(data)
        return doc

    def load_json(self, data: Mapping[str, Any]) -> None:
        """Fill an empty document from document JSON whose top key is the root tag."""
        self._check_writable()
        tag, body = _unwrap(data, "document JSON")
        if tag != self.schema.root_tag_name:
            raise UnknownTagError(
                f"the document JSON starts with {tag!r}, the schema's root is {self.schema.root_tag_name!r}",
                hint=f"wrap the content as {{{self.schema.root_tag_name!r}: {{...}}}}",
            )
        root = self.root
        if root.get_children() or root.attributes:
            raise InvalidOperationError("load_json needs an empty document", hint="use a new MeshDocument")
        element_type = self.schema.root
        # The root's id is fixed; JSON written with include_ids=True carries it and that is fine.
        body = {k: v for k, v in body.items() if not (k == ID_ATTRIBUTE and v == ROOT_ID)}
        attributes, children = self._split_body(element_type, body, "root")
        checked = [self._build(child, parent_tag=tag, position=i) for i, child in enumerate(children)]
        with self._api_write():
            for name, value in attributes.items():
                root._xml.attributes[name] = value
            for prelim, built in checked:
                self._pending.append(
                    ElementInserted(
                        self._index_built(root._xml.children.append(prelim), built, ROOT_ID), True
                    )
                )

    @contextmanager
    def transaction(self, origin: Any = None) -> Iterator[None]:
        """Batch edits into one CRDT transaction: one update, and events delivered after it commits.

        Note that pycrdt has no rollback: edits made before an exception inside the block stay.
        """
        outermost = self._depth == 0
        if outermost:
            self._origin = origin
        self._depth += 1
        try:
            with self.ydoc.transaction(origin=self._origin):
                yield
        finally:
            self._depth -= 1
            if outermost:
                self._origin = None
                self._dispatch()

    @contextmanager
    def _api_write(self) -> Iterator[None]:
        """A local write through this API, which keeps the index and emits events itself."""
        with self.transaction():
            yield

    # -- replication ------------------------------------------------------------------------

    def get_state(self) -> bytes:
        """The state vector: what this replica has seen."""
        return self.ydoc.get_state()

    def get_update(self, state: bytes | None = None) -> bytes:
        """Everything this replica has that a replica with ``state`` lacks (all of it if None)."""
        return self.ydoc.get_update(state)

    def apply_update(self, update: bytes, origin: Any = REMOTE) -> list[Violation]:
        """Integrate an update from another replica and return the schema violations it brought in.

        Only what the update touched is checked (inserted subtrees, changed attributes), so this stays
        cheap on large documents; ``repair()`` mends what it reports. Raises ValueError if the update
        cannot be decoded, leaving the document as it was.
        """
        if self._depth:
            raise InvalidOperationError(
                "apply_update cannot run inside a transaction", hint="apply updates between transactions"
            )
        # Observed only while remote changes integrate: pycrdt converts every deep event to Python
        # eagerly, which would triple the cost of local writes that keep the index themselves.
        subscription = self._fragment.integrated.observe_deep(self._deep_callback)
        self._integrated = []
        try:
            with self.transaction(origin=origin):
                self.ydoc.apply_update(update)
        finally:
            subscription.drop()
        changes, self._integrated = self._integrated, []
        if self._check_all:
            self._check_all = False
            return self.validate()
        return self._check_changes(changes)

    def _check_changes(self, changes: list[DocumentEvent]) -> list[Violation]:
        inserted = [c.element for c in changes if isinstance(c, ElementInserted) and c.element.is_alive]
        violations = self.validate(inserted) if inserted else []
        for change in changes:
            if (
                isinstance(change, AttributeChanged)
                and change.element.is_alive
                and change.new_value is not None
            ):
                element = change.element
                error = self._attribute_error(
                    element.tag_name, change.name, element.get_attribute(change.name)
                )
                if error is not None:
                    violations.append(Violation(error.code, error.message, element.id, change.name))
        return violations

    def on_update(self, listener: UpdateListener) -> Callable[[], None]:
        """Call ``listener(update, origin)`` after every transaction; ``origin`` is None for local edits.

        Returns a function that removes the listener.
        """
        self._update_listeners.append(listener)
        if self._doc_subscription is None:
            # Subscribed on demand: encoding every transaction's update costs time nobody may need.
            self._doc_subscription = self.ydoc.observe(self._on_transaction)

        def remove() -> None:
            self._update_listeners.remove(listener)

        return remove

    def observe(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for every element inserted, deleted or attribute changed.

        Events arrive after the transaction commits, so a listener may edit the document. Returns a
        function that removes the listener.
        """
        self._event_listeners.append(listener)
        return lambda: self._event_listeners.remove(listener)

    def close(self) -> None:
        """Drop CRDT subscriptions; a pycrdt Doc stays in memory while any observer is attached."""
        if self._doc_subscription is not None:
            self.ydoc.unobserve(self._doc_subscription)
            self._doc_subscription = None
        self._event_listeners.clear()
        self._update_listeners.clear()

    # -- validation -------------------------------------------------------------------------

    def validate(self, elements: Iterable[Element] | None = None) -> list[Violation]:
        """Every schema violation in the document, or in the subtrees of the given elements."""
        if elements is None:
            return [finding.violation for finding in self._findings()]
        out: list[_Finding] = []
        with self.ydoc.transaction() as txn:
            for element in elements:
                parent = element.parent
                if not element.is_alive or parent is None:
                    continue
                child_property = self._element_types[parent.tag_name].child_property
                position = None
                if child_property is not None and child_property.ordered:
                    # Only ordered children care where they stand; finding out costs a scan of the siblings.
                    siblings = [c for c in parent._xml.children if isinstance(c, XmlElement)]
                    position = next(i for i, c in enumerate(siblings) if id_of(c) == element.id)
                node = read_node(element._xml.integrated, txn._txn)
                self._check_tree(node, parent.tag_name, position, (), out, None)
        return [finding.violation for finding in out]

    def repair(self, origin: Any = None) -> list[Violation]:
        """Mend every violation with the smallest edit: drop the attribute, or delete the element.

        Deterministic: replicas in the same state make the same repair, so two servers mending one
        violation converge to a single repair (docs/adr/0011-cluster.md). Runs in one transaction
        (one update for the replicas); returns what was mended. Afterwards
        ``validate()`` finds nothing.
        """
        self._check_writable()
        findings = self._findings()
        if not findings:
            return []
        deletions: dict[tuple[int, ...], list[int]] = {}
        assigned: set[str] = set()
        with self.transaction(origin=origin):
            for finding in findings:
                attribute = finding.violation.attribute
                if attribute is None:
                    deletions.setdefault(finding.path[:-1], []).append(finding.path[-1])
                    continue
                xml = self._node_at(finding.path)
                if attribute == ID_ATTRIBUTE:
                    # Derived, not random: servers mending the same state write the same id.
                    seed = f"{finding.violation.element_id}@{finding.path}"
                    new_id = repair_element_id(seed, assigned.union(self._index))
                    assigned.add(new_id)
                    xml.attributes[ID_ATTRIBUTE] = new_id
                else:
                    del xml.attributes[attribute]
            # Deepest parents first and from the back, so the paths still to visit stay valid.
            for parent_path in sorted(deletions, key=len, reverse=True):
                parent = self._node_at(parent_path) if parent_path else self._fragment
                for position in sorted(deletions[parent_path], reverse=True):
                    del parent.children[position]
            self._rebuild_index()
        return [finding.violation for finding in findings]

    def _node_at(self, path: tuple[int, ...]) -> XmlElement:
        node: Any = self._fragment
        for position in path:
            node = node.children[position]
        return cast(XmlElement, node)

    # -- internals: checks ------------------------------------------------------------------

    def _check_writable(self) -> None:
        # First thing every API write does: a refused write must not even open a transaction.
        if self._read_only:
            raise self._read_only_error()

    def _read_only_error(self) -> PermissionDeniedError:
        """The error a refused write raises; a replica that knows its path names it."""
        return PermissionDeniedError(
            "this document is read-only", hint="edit a replica that was not opened read-only"
        )

    def _attribute_props(self, tag_name: str) -> Mapping[str, ValueProperty]:
        element_type = self._element_types.get(tag_name)
        return element_type.attributes if element_type is not None else _NO_ATTRIBUTES

    def _check_attribute(self, tag_name: str, name: str, value: Any) -> None:
        if name == ID_ATTRIBUTE:
            raise ReservedAttributeError(
                f"{ID_ATTRIBUTE} is managed by the document and cannot be set",
                hint="ids are assigned when elements are created",
            )
        error = self._attribute_error(tag_name, name, value)
        if error is not None:
            raise error

    def _attribute_error(self, tag_name: str, name: str, value: Any) -> DocumentError | None:
        props = self._attribute_props(tag_name)
        prop = props.get(name)
        if prop is None:
            allowed = ", ".join(p.describe_allowed() for p in props.values()) or "none"
            return UnknownAttributeError(
                f"<{tag_name}> has no attribute {name!r}", hint=f"attributes of <{tag_name}>: {allowed}"
            )
        if not prop.accepts(value):
            return InvalidValueError(
                f"{value!r} is not a valid value for {tag_name}.{name}",
                hint=f"expected {prop.describe_allowed()}",
            )
        return None

    def _child_error(self, parent_tag: str, tag: str, position: int | None) -> DocumentError | None:
        if tag not in self.schema:
            return UnknownTagError(
                f"unknown tag {tag!r}", hint=f"known tags: {', '.join(self.schema.tag_names)}"
            )
        parent_type = self.schema.element(parent_tag)
        child_prop = parent_type.child_property
        if child_prop is None:
            return ChildNotAllowedError(
                f"<{parent_tag}> cannot have children", hint="add the element to another parent"
            )
        if tag not in child_prop.child_tag_names:
            return ChildNotAllowedError(
                f"<{tag}> is not allowed inside <{parent_tag}>",
                hint=f"children of <{parent_tag}>: {', '.join(child_prop.child_tag_names)}",
            )
        if child_prop.ordered and position is not None:
            names = child_prop.child_tag_names
            if position >= len(names) or names[position] != tag:
                expected = names[position] if position < len(names) else "nothing (the list is full)"
                return ChildNotAllowedError(
                    f"<{parent_tag}> takes its children in order; position {position} must be {expected}",
                    hint=f"children of <{parent_tag}> in order: {', '.join(names)}",
                )
        return None

    def _split_body(
        self, element_type: ElementType, body: Mapping[str, Any], where: str
    ) -> tuple[dict[str, Any], list[Any]]:
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
                if not isinstance(value, str) or not value or value in self._index:
                    raise ReservedAttributeError(
                        f"{where}: {ID_ATTRIBUTE} {value!r} is not a fresh id",
                        hint="omit $id and let the document assign one",
                    )
                attributes[name] = value
            elif (
                value is None
                and name in element_type.attributes
                and element_type.attributes[name].type != "null"
            ):
                continue  # JSON null for an optional attribute means "not set"
            else:
                self._check_attribute(element_type.tag_name, name, value)
                attributes[name] = value
        return attributes, children

    def _build(
        self,
        data: Mapping[str, Any],
        *,
        parent_tag: str,
        position: int | None,
        where: str = "element",
        taken: set[str] | None = None,
    ) -> tuple[XmlElement, _Built]:
        """Check a subtree completely; return it as an unintegrated pycrdt element and its outline."""
        tag, body = _unwrap(data, where)
        error = self._child_error(parent_tag, tag, position)
        if error is not None:
            raise error
        element_type = self.schema.element(tag)
        attributes, children = self._split_body(element_type, body, where)
        taken = set() if taken is None else taken
        element_id = attributes.get(ID_ATTRIBUTE) or self._fresh_id(taken)
        if element_id in taken:
            raise ReservedAttributeError(f"{where}: id {element_id!r} is used twice", hint="omit $id")
        taken.add(element_id)
        attributes[ID_ATTRIBUTE] = element_id
        built = [
            self._build(child, parent_tag=tag, position=i, where=f"{where}.{tag}[{i}]", taken=taken)
            for i, child in enumerate(children)
        ]
        return XmlElement(tag, attributes, [b[0] for b in built]), (element_id, tag, [b[1] for b in built])

    def _fresh_id(self, taken: set[str] | None = None) -> str:
        while True:
            candidate = new_element_id()
            if candidate not in self._index and (taken is None or candidate not in taken):
                return candidate

    def _findings(self) -> list[_Finding]:
        with gc_paused():
            return self._find_violations()

    def _find_violations(self) -> list[_Finding]:
        out: list[_Finding] = []
        seen: set[str] = set()
        with self.ydoc.transaction() as txn:
            roots = [
                (raw, read_node(inner, txn._txn))
                for raw, inner in enumerate(self._fragment.integrated.children(txn._txn))
                if isinstance(inner, IntegratedElement)
            ]
        for count, (raw, node) in enumerate(roots):
            tag, attributes, _ = node
            element_id = node_id(attributes)
            if count > 0:
                out.append(_Finding(Violation("invalid_document", f"extra root <{tag}>", element_id), (raw,)))
            elif tag != self.schema.root_tag_name:
                message = f"the root is <{tag}>, not <{self.schema.root_tag_name}>"
                out.append(_Finding(Violation("unknown_tag", message, element_id), (raw,)))
            else:
                self._check_tree(node, None, 0, (raw,), out, seen)
        return out

    def _check_tree(
        self,
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
            error = self._child_error(parent_tag, tag, position)
            if error is not None:
                out.append(_Finding(Violation(error.code, error.message, element_id), path))
                return
        if element_id is None or (seen is not None and element_id in seen):
            message = f"<{tag}> has a missing or duplicate id"
            out.append(_Finding(Violation("reserved_attribute", message, element_id, ID_ATTRIBUTE), path))
        elif seen is not None:
            seen.add(element_id)
        for name, value in attributes:
            error = None if name == ID_ATTRIBUTE else self._attribute_error(tag, name, read_value(value))
            if error is not None:
                out.append(_Finding(Violation(error.code, error.message, element_id, name), path))
        for position, (raw, child) in enumerate(children):
            self._check_tree(child, tag, position, (*path, raw), out, seen)

    def _subtree_json(self, xml: XmlElement, include_ids: bool) -> dict[str, Any]:
        with gc_paused(), self.ydoc.transaction() as txn:
            return self._json_of(xml.integrated, txn._txn, include_ids)

    def _json_of(self, inner: Any, txn: Any, include_ids: bool) -> dict[str, Any]:
        # The hot loop of to_json(): it reads pycrdt's integrated objects straight into the output,
        # with no intermediate tree, so 10k elements cost little more than reading the CRDT.
        tag = inner.tag()
        order, child_name = self._layouts.get(tag) or self._json_layout(tag)
        raw = dict(inner.attributes(txn))
        element_id = raw.pop(ID_ATTRIBUTE, None)
        body: dict[str, Any] = {ID_ATTRIBUTE: element_id} if include_ids and element_id is not None else {}
        # Schema order, not the CRDT's hash order, so equal documents print identically everywhere.
        for name in order:
            value = raw.pop(name, _MISSING)
            if value is not _MISSING:
                body[name] = int(value) if type(value) is float and value.is_integer() else value
        for name in sorted(raw):
            body[name] = read_value(raw[name])
        if child_name is not None:
            body[child_name] = [
                self._json_of(child, txn, include_ids)
                for child in inner.children(txn)
                if type(child) is IntegratedElement
            ]
        return {tag: body}

    def _json_layout(self, tag: str) -> tuple[tuple[str, ...], str | None]:
        layout = self._layouts.get(tag)
        if layout is None:
            element_type = self._element_types.get(tag)
            child = element_type.child_property if element_type is not None else None
            layout = (tuple(self._attribute_props(tag)), child.name if child is not None else None)
            self._layouts[tag] = layout
        return layout

    # -- internals: index and events --------------------------------------------------------

    def _index_built(self, xml: XmlElement, built: _Built, parent_id: str) -> Element:
        """Index a subtree this replica just inserted, from the outline ``_build`` made of it."""
        element_id, tag, children = built
        element = self._index[element_id] = Element(self, xml, element_id, tag)
        self._parents[element_id] = parent_id
        self._kids.setdefault(parent_id, set()).add(element_id)
        if children:
            integrated = [c for c in xml.children if isinstance(c, XmlElement)]
            for child_xml, child in zip(integrated, children, strict=True):
                self._index_built(child_xml, child, element_id)
        return element

    def _index_subtree(
        self, xml: XmlElement, parent_id: str | None, previous: Mapping[str, Element] | None = None
    ) -> Element | None:
        element_id = id_of(xml)
        if element_id is None:
            # Only a raw update can create this; validate() reports it and repair() assigns an id.
            return None
        tag = xml.tag or ""
        element = (previous or self._index).get(element_id)
        if element is not None and element.tag_name == tag:
            element._xml = xml  # keep handles that callers hold alive across a re-index
        else:
            element = Element(self, xml, element_id, tag)
        self._index[element_id] = element
        self._parents[element_id] = parent_id
        if parent_id is not None:
            self._kids.setdefault(parent_id, set()).add(element_id)
        for child in xml.children:
            if isinstance(child, XmlElement):
                self._index_subtree(child, element_id, previous)
        return element

    def _forget(self, element_id: str, *, local: bool) -> None:
        element = self._index.pop(element_id, None)
        if element is None:
            return
        parent_id = self._parents.pop(element_id, None)
        if parent_id is not None:
            self._kids.get(parent_id, set()).discard(element_id)
        for child_id in self._kids.pop(element_id, set()):
            self._forget(child_id, local=local)
        self._pending.append(ElementDeleted(element_id, element.tag_name, local))

    def _rebuild_index(self) -> None:
        previous = self._index
        self._index = {}
        self._parents.clear()
        self._kids.clear()
        for xml in self._fragment.children:
            if isinstance(xml, XmlElement):
                self._index_subtree(xml, None, previous)
                break
        local = self._origin is None
        for gone in previous.keys() - self._index.keys():
            self._pending.append(ElementDeleted(gone, previous[gone].tag_name, local))

    def _on_xml_events(self, events: list[Any]) -> None:
        local = self._origin is None
        for xml_event in events:
            if not isinstance(xml_event, XmlEvent):
                continue
            event: Any = xml_event  # pycrdt's XmlEvent sets its fields dynamically
            target = event.target
            if isinstance(target, XmlFragment):
                if any("insert" in d or "delete" in d for d in event.delta):
                    self._rebuild_index()
                    self._check_all = True
                continue
            target_id = id_of(target)
            if target_id is None or target_id not in self._index:
                continue
            has_delete = False
            for delta in event.delta:
                for child in delta.get("insert", ()):
                    if not isinstance(child, XmlElement):
                        continue
                    inserted = None if id_of(child) in self._index else self._index_subtree(child, target_id)
                    if inserted is None:
                        # No id, or an id already taken: only a whole-document check can place it.
                        self._check_all = True
                    else:
                        self._pending.append(ElementInserted(inserted, local))
                        self._integrated.append(self._pending[-1])
                has_delete = has_delete or "delete" in delta
            if has_delete:
                current = {id_of(c) for c in target.children if isinstance(c, XmlElement)}
                for gone in self._kids.get(target_id, set()) - current:
                    self._forget(gone, local=local)
            element = self._index[target_id]
            for name, change in event.keys.items():
                if name == ID_ATTRIBUTE:
                    self._check_all = True  # an element renamed behind the API: re-check ids everywhere
                    continue
                old, new = read_value(change.get("oldValue")), read_value(change.get("newValue"))
                self._pending.append(AttributeChanged(element, name, old, new, local))
                self._integrated.append(self._pending[-1])

    def _on_transaction(self, event: TransactionEvent) -> None:
        update = event.update
        if update == b"\x00\x00" or not self._update_listeners:
            return
        for listener in list(self._update_listeners):
            listener(update, self._origin)

    def _dispatch(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        for event in pending:
            for listener in list(self._event_listeners):
                try:
                    listener(event)
                except Exception:
                    logger.exception("document event listener failed")


@dataclass(frozen=True, slots=True)
class _Finding:
    """A violation with the path of child positions from the fragment to its element, for repair."""

    violation: Violation
    path: tuple[int, ...]


_Built: TypeAlias = tuple[str, str, list["_Built"]]  # (id, tag, children) of a subtree being inserted


def _unwrap(data: Any, where: str) -> tuple[str, Mapping[str, Any]]:
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
