"""The replica: a live, schema-typed document over a pycrdt ``Doc``, its transactions and its updates.

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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeAlias

from pycrdt import Doc, Subscription, Transaction, TransactionEvent, XmlFragment

from .._gc_pause import gc_paused
from ..errors import ElementNotFoundError, InvalidOperationError, PermissionDeniedError
from ..schema import ID_ATTRIBUTE, MeshSchema, rules
from . import _validate
from ._build import Builder, DocumentLimits, PendingMarks, check_limits, unwrap
from ._element import Element
from ._events import DocumentEvent, ElementInserted
from ._index import ElementIndex, Integration
from ._json import JsonWriter
from ._layout import FRAGMENT_NAME, ROOT_ID, root_update
from ._move import RecentMoves, index_moved
from ._pycrdt import DeepObserver, XmlChange, attribute_values, state_vector
from ._text import LastTyped, apply_marks, collect_text_changes, record_text_changes
from ._update_effects import UpdateEffects
from ._update_split import split_update
from ._validate import Violation
from ._yjs_update import decode_delete_set

__all__ = ["REMOTE", "EventListener", "MeshDocument", "UpdateListener"]

logger = logging.getLogger(__name__)

#: Default origin of updates applied with :meth:`MeshDocument.apply_update`.
REMOTE = "remote"

#: A load applies an update this big in pieces of so many structs: in one call pycrdt holds the GIL
#: for ~35 ms a MiB (161 ms for a 60k-element document), so no other thread, a server's event loop
#: included, runs meanwhile; a piece takes 2-4 ms. Cutting costs Python time (~2 us a struct), which
#: lets other threads in every switch interval, so smaller updates are applied whole.
_SPLIT_BYTES = 1 << 20
_STRUCTS_PER_PIECE = 2000
#: What pycrdt's apply costs grows with the structs, not the bytes: an update known to hold at most this
#: many (8 MiB of 2,000 elements with long values holds 6,000) is applied in one call of a few
#: milliseconds, rather than cut in Python first (50-70 ms of CPU for that update).
_STRUCTS_APPLIED_WHOLE = 8000

UpdateListener: TypeAlias = Callable[[bytes, Any], None]
EventListener: TypeAlias = Callable[[DocumentEvent], None]


class MeshDocument:
    """A live, schema-typed document replica.

    Reads are local. Writes are checked against the schema, then applied to the local CRDT; the
    resulting updates (see :meth:`on_update`) are what replicas exchange. With ``read_only=True``
    every write through this API raises PermissionDeniedError before touching the CRDT, while
    :meth:`apply_update` still brings in everyone else's changes.
    """

    def __init__(
        self,
        *,
        schema: MeshSchema,
        client_id: int | None = None,
        read_only: bool = False,
        limits: DocumentLimits | None = None,
    ) -> None:
        self.schema = schema
        #: How deep and large the document may grow (local writes raise DocumentLimitError beyond it).
        self.limits = limits or DocumentLimits()
        self._read_only = read_only
        self.ydoc: Doc[Any] = Doc(client_id=client_id) if client_id is not None else Doc()
        self._fragment = self.ydoc.get(FRAGMENT_NAME, type=XmlFragment)
        self._depth = 0
        self._origin: Any = None
        #: Transactions entered so far (nested ones too): what a cached read of the CRDT checks that
        #: nothing can have changed since.
        self._transactions = 0
        #: The text the API edited last, kept for the next keystroke (see LastTyped).
        self._last_typed: LastTyped | None = None
        #: Events of the current transaction, delivered to listeners once it commits.
        self._pending: list[DocumentEvent] = []
        self._index = ElementIndex(self, self._pending)
        #: Element handles by id: the index's dict, looked up directly on every read.
        self._elements = self._index.elements
        self._builder = Builder(schema, self._elements)
        self._json = JsonWriter(self.ydoc, self._builder.element_type)
        self._event_listeners: list[EventListener] = []
        self._update_listeners: list[UpdateListener] = []
        self._doc_subscription: Subscription | None = None
        self._deep_observer = DeepObserver(self._fragment, self.ydoc, self._on_xml_changes)
        self._integration = Integration()
        #: Elements seen moving, whose identical copies a repair settles (see ``_move``).
        self._moves = RecentMoves()
        self.apply_update(root_update(schema.root_tag_name), origin=None)

    # -- reading ----------------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        """True when this replica only follows others: local writes through the API are refused."""
        return self._read_only

    @property
    def root(self) -> Element:
        try:
            return self._elements[ROOT_ID]
        except KeyError:
            raise ElementNotFoundError("the document has no root element") from None

    def element_by_id(self, element_id: str) -> Element:
        """The element with this id, in O(1); raises ElementNotFoundError if there is none."""
        try:
            return self._elements[element_id]
        except (KeyError, TypeError):
            raise ElementNotFoundError(
                f"no element has id {element_id!r}",
                hint="ids come from describe/to_json(include_ids=True); the element may have been deleted",
            ) from None

    def get_element(self, element_id: str) -> Element | None:
        return self._elements.get(element_id)

    def __len__(self) -> int:
        """Number of elements, the root included."""
        return len(self._elements)

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
        tag, body = unwrap(data, "document JSON")
        if tag != self.schema.root_tag_name:
            raise rules.json_root_mismatch(tag, self.schema.root_tag_name)
        root = self.root
        if root.get_children() or root.attributes:
            raise InvalidOperationError("load_json needs an empty document", hint="use a new MeshDocument")
        element_type = self.schema.root
        # The root's id is fixed; JSON written with include_ids=True carries it and that is fine.
        body = {k: v for k, v in body.items() if not (k == ID_ATTRIBUTE and v == ROOT_ID)}
        attributes, children, text, root_marks = self._builder.split_body(element_type, body, "root")
        marks: PendingMarks = [(ROOT_ID, root_marks)] if root_marks else []
        # One set of new ids for all the subtrees: 40-bit random ids collide about once in 200 documents
        # of 100k elements, and two subtrees drawing the same one would index as one element.
        taken: set[str] = set()
        checked = [
            self._builder.subtree(child, parent_tag=tag, position=i, taken=taken, marks=marks)
            for i, child in enumerate(children)
        ]
        check_limits(self.limits, 1, len(self._elements), checked)
        with self._api_write():
            for name, value in attributes.items():
                root._xml.attributes[name] = value
            if text:
                root.insert_text(0, text)
            # After any text; insert_built_run writes them in linear time.
            at = len(self._index.kids.get(ROOT_ID, ()))
            inserted = self._index.insert_built_run(ROOT_ID, at, checked)
            self._pending.extend(ElementInserted(element, True) for element in inserted)
            apply_marks(self, marks)

    def transaction(self, origin: Any = None) -> AbstractContextManager[None]:
        """Batch edits into one CRDT transaction: one update, and events delivered after it commits.

        Note that pycrdt has no rollback: edits made before an exception inside the block stay.
        """
        return _Transaction(self, origin)

    def _api_write(self) -> AbstractContextManager[None]:
        """A local write through this API, which keeps the index and emits events itself."""
        return _Transaction(self, None)

    # -- replication ------------------------------------------------------------------------

    def get_state(self) -> bytes:
        """The state vector: what this replica has seen."""
        return state_vector(self.ydoc)

    def get_update(self, state: bytes | None = None) -> bytes:
        """Everything this replica has that a replica with ``state`` lacks (all of it if None)."""
        return self.ydoc.get_update(state)

    def apply_update(
        self,
        update: bytes,
        origin: Any = REMOTE,
        *,
        check: bool = True,
        as_is: bool = False,
        effects: UpdateEffects | None = None,
        structs: int | None = None,
        pieces: Sequence[bytes] | None = None,
    ) -> list[Violation]:
        """Integrate an update from another replica and return the schema violations it brought in.

        Only what the update touched is checked (inserted subtrees, changed attributes), so this stays
        cheap on large documents; ``repair()`` mends what it reports. ``check=False`` skips the check
        (and returns no violations) for updates an authority already checked, such as the room
        server's. Raises ValueError if the update cannot be decoded, leaving the document as it was.
        ``as_is``: the caller knows the update holds only structs this replica lacks (the update guard
        read it: ``CheckedUpdate.new_only``), so :meth:`on_update` listeners get its bytes instead of
        pycrdt's costly re-encoding of them.
        ``effects``: what the update does, as ``UpdateGuard.check`` read it from the update just before;
        the index and events then come from it instead of pycrdt's events, whose cost grows with the
        width of the parents they touch (docs/adr/0018-remote-changes-without-deep-events.md).
        ``structs``: how many structs the update holds, when the caller's reading of it counted them.
        ``pieces``: with ``effects``, the update cut in pieces that amount to it (``CheckedUpdate.pieces``:
        planned by the guard's reading, which read every struct), applied one after another in its one
        transaction, so no pycrdt call holds the GIL for long.
        """
        whole = structs is not None and structs <= _STRUCTS_APPLIED_WHOLE
        if effects is None:
            return self.apply_updates([update], origin, check=check, as_is=as_is, whole=whole)
        self._check_outside_transaction()
        # Read before: what the attributes were is not in the update. Before the inserts are placed
        # too: a handle not read yet finds its element by its position, which they move.
        reached = [
            (element, name, written)
            for (element_id, name), written in effects.attributes.items()
            if (element := self._elements.get(element_id)) is not None
        ]
        before = attribute_values(
            self.ydoc, [(element._xml.integrated, name) for element, name, _ in reached]
        )
        touched = [(*entry, old) for entry, old in zip(reached, before, strict=True)]
        placed = self._index.place_inserted(effects.inserted, effects.deleted) if effects.inserted else []
        if placed is None:  # an insert only the events can place
            return self.apply_updates([update], origin, check=check, as_is=as_is, whole=whole)
        # Which of its text cuts are new, and whether a write won, shows only in the transaction's own
        # delete set (a write that loses to a concurrent one is deleted as it integrates).
        deleted: list[bytes] = []
        watching = None
        if effects.cuts or any(effects.attributes.values()):
            watching = self.ydoc.observe(lambda event: deleted.append(event.delete_set))
        try:
            with _Transaction(self, origin, as_is=[update] if as_is else None):
                for piece in pieces or (update,):
                    self.ydoc.apply_update(piece)
        except BaseException:
            self._index.unplace(placed)
            raise
        finally:
            if watching is not None:
                self.ydoc.unobserve(watching)
        deleted_now = decode_delete_set(deleted[0]) if deleted else {}
        self._integration = integration = Integration()
        local = origin is None
        nodes = self._index.add_inserted(placed, local=local, into=integration)
        self._index.integrate_effects(effects, touched, deleted_now, local=local, into=integration)
        self._index.settle(placed)
        texts = effects.texts_changed(deleted_now)
        record_text_changes(self, texts, local=local, into=integration)
        self._dispatch()
        return _validate.check_changes(self, integration.changes, nodes) if check else []

    def apply_updates(
        self,
        updates: Iterable[bytes],
        origin: Any = REMOTE,
        *,
        check: bool = True,
        as_is: bool = False,
        whole: bool = False,
    ) -> list[Violation]:
        """Integrate updates in order, in one transaction, like :meth:`apply_update` does one.

        One transaction means one commit and one index pass for the lot: replaying a stored log of
        10k updates this way costs about what applying their merge does, without merging them
        (``merge_updates`` of that many takes seconds). An update that cannot be decoded raises
        ValueError and leaves the ones before it applied. ``whole``: each is known to hold few structs,
        so none is cut in pieces however big it is.
        """
        self._check_outside_transaction()
        self._integration = integration = Integration()
        # A document that holds only its root, with nobody listening to its events, is being loaded:
        # it is indexed in one pass over the tree once the updates are in. Every element would be an
        # insert anyway, and yrs computing a deep event per parent (each naming all its children), then
        # converting them, costs as much as that pass.
        loading = self._unfilled()
        # Observed only while remote changes integrate: converting deep events to Python would triple
        # the cost of local writes, which keep the index themselves.
        subscription = None if loading else self._deep_observer.subscribe()
        try:
            # A load indexes every element and records an event each, none in a reference cycle: the
            # cyclic GC's passes over that growing heap cost as much as the indexing.
            updates = list(updates)
            with gc_paused(), _Transaction(self, origin, as_is=updates if as_is else None):
                for update in updates:
                    if loading and not whole and len(update) >= _SPLIT_BYTES:
                        # Nothing observes the pieces, so the commit costs little: no call holds the
                        # GIL for long (this runs on a server's worker thread while others are served).
                        for piece in split_update(update, _STRUCTS_PER_PIECE):
                            self.ydoc.apply_update(piece)
                    else:
                        self.ydoc.apply_update(update)
                if loading:  # before the commit tells update listeners, as the deep events are
                    self._index.integrate_load(self._fragment, local=origin is None, into=integration)
            if integration.imposters:
                # After the commit: only then have the deep events told the index what arrived.
                index_moved(self, integration)
                self._dispatch()
        finally:
            if subscription is not None:
                subscription.drop()
        if not check:
            return []
        if integration.check_all or loading:
            return self.validate()
        return _validate.check_changes(self, integration.changes)

    def load_stored(self, updates: Iterable[bytes], origin: Any = REMOTE) -> bool:
        """Fill this document, which holds only its root and has no event listener, from updates an
        authority checked before storing them (a room server's own log): applied and indexed as
        :meth:`apply_updates` does, without checking the whole document against the schema.

        Returns True when the index walk found the layout off (the root's id rewritten, a second root,
        an element without an id or with another's, nesting past the limits): then :meth:`repair` must
        run before the document is used. Docs/adr/0019-trusted-loads.md says why the rest is not read.
        """
        if not self._unfilled():
            raise InvalidOperationError(
                "load_stored needs a document that holds only its root and has no event listener",
                hint="load into a new MeshDocument, then observe it",
            )
        self.apply_updates(updates, origin, check=False)
        return self._integration.check_all

    def _unfilled(self) -> bool:
        """Whether this is a fresh document (only its root) with nobody listening to its events."""
        return (
            not self._event_listeners
            and len(self._elements) == 1
            and ROOT_ID in self._elements
            and not self._index.kids.get(ROOT_ID)
        )

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

    def discard(self) -> None:
        """Close the document and free it at once: for an owner that drops it (a server unloading it).

        Breaks the cycles between the document, its index, its element handles and its observer, so
        reference counting frees them now; left to the cyclic collector, a dropped document's objects
        (several per element) waited for a full collection, which takes seconds on a server's heap.
        The document has no elements afterwards; a handle still held keeps only itself alive.
        """
        self.close()
        self._index.discard()
        self._pending.clear()
        self._integration = Integration()
        self._deep_observer.close()

    # -- validation -------------------------------------------------------------------------

    def validate(self, elements: Iterable[Element] | None = None) -> list[Violation]:
        """Every schema violation in the document, or in the subtrees of the given elements."""
        if elements is None:
            return _validate.find_violations(self)
        return _validate.validate(self, elements)

    def repair(self, origin: Any = None) -> list[Violation]:
        """Mend every violation with the smallest edit: drop the attribute, or delete the element.

        Runs in one transaction (one update for the replicas); returns what was mended. Afterwards
        ``validate()`` finds nothing. Of two elements with one id, the later in document order gets a
        new one, which every replica decides alike (several servers, docs/adr/0011-cluster.md).
        """
        self._check_writable()
        return _validate.repair(self, origin)

    # -- internals ----------------------------------------------------------------------------

    def _check_outside_transaction(self) -> None:
        if self._depth:
            raise InvalidOperationError(
                "apply_update cannot run inside a transaction", hint="apply updates between transactions"
            )

    def _check_writable(self) -> None:
        # First thing every API write does: a refused write must not even open a transaction.
        if self._read_only:
            raise self._read_only_error()

    def _read_only_error(self) -> PermissionDeniedError:
        """The error a refused write raises; a replica that knows its path names it."""
        return PermissionDeniedError(
            "this document is read-only", hint="edit a replica that was not opened read-only"
        )

    def _on_xml_changes(self, changes: list[XmlChange]) -> None:
        start = len(self._pending)
        self._index.integrate(changes, local=self._origin is None, into=self._integration)
        self._moves.notice(self._pending[start:])
        collect_text_changes(self, changes, local=self._origin is None, into=self._integration)

    def _on_transaction(self, event: TransactionEvent) -> None:
        self._tell_update_listeners(event.update)

    def _tell_update_listeners(self, update: bytes) -> None:
        if update == b"\x00\x00" or not self._update_listeners:
            return
        for listener in list(self._update_listeners):
            listener(update, self._origin)

    def _dispatch(self) -> None:
        if not self._pending:
            return
        # Cleared in place: the index appends to this very list.
        pending = list(self._pending)
        self._pending.clear()
        for event in pending:
            for listener in list(self._event_listeners):
                try:
                    listener(event)
                except Exception:
                    logger.exception("document event listener failed")


class _Transaction:
    """One :meth:`MeshDocument.transaction`: the CRDT transaction, and the events dispatched once the
    outermost one commits.

    ``as_is``: updates it applies that update listeners get as they are. pycrdt encodes every observed
    transaction's update in Rust, holding the GIL in proportion to its size (30 ms for 8 MiB, during
    which no other thread runs). Updates that hold only what this replica lacks are that encoding
    already, so the document observer is off meanwhile.

    A class rather than a generator context manager: every local write opens one, and the generator's
    machinery cost as much as the rest of the bookkeeping.
    """

    __slots__ = ("_as_is", "_before", "_crdt", "_document", "_origin", "_outermost", "_quiet")

    def __init__(self, document: MeshDocument, origin: Any, *, as_is: list[bytes] | None = None) -> None:
        self._document = document
        self._origin = origin
        self._as_is = as_is
        self._outermost = False
        self._quiet = False
        self._before = b""
        self._crdt: Transaction | None = None

    def __enter__(self) -> None:
        document = self._document
        self._outermost = outermost = document._depth == 0
        self._quiet = self._as_is is not None and outermost and document._doc_subscription is not None
        if outermost:
            document._origin = self._origin
        if self._quiet:
            assert document._doc_subscription is not None
            document.ydoc.unobserve(document._doc_subscription)
            self._before = document.ydoc.get_state()
        document._depth += 1
        document._transactions += 1
        try:
            crdt = document.ydoc.transaction(origin=document._origin)
            crdt.__enter__()
        except BaseException:
            self._end(failed=True)
            raise
        self._crdt = crdt

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self._crdt is not None
        failed = exc_type is not None
        try:
            self._crdt.__exit__(exc_type, exc, traceback)
        except BaseException:
            failed = True
            raise
        finally:
            self._end(failed=failed)

    def _end(self, *, failed: bool) -> None:
        document = self._document
        if failed and self._quiet:  # some may have integrated: tell what did, as the observer would have
            self._as_is = [document.ydoc.get_update(self._before)]
        document._depth -= 1
        if self._outermost:
            if self._quiet:
                document._doc_subscription = document.ydoc.observe(document._on_transaction)
                for update in self._as_is or ():
                    document._tell_update_listeners(update)
            document._origin = None
            document._dispatch()
