"""Live documents: a schema-checked element tree over a pycrdt ``Doc`` that replicas keep in sync.

The package is split by job (see docs/adr/0008-document-package.md):

- ``_replica``: :class:`MeshDocument`, its transactions, updates and listeners;
- ``_element``: :class:`Element`, the handle a program reads and edits an element through;
- ``_build``: checking a write completely before it touches the CRDT;
- ``_validate``: :class:`Violation`, finding and repairing what remote updates broke;
- ``_index``: the id index, kept in step with remote changes; ``_events``: what observers are told;
- ``_move``: moving an element (a copy that keeps its ids) and settling concurrent moves;
- ``_batch``: :func:`apply_edits`, several edits planned whole, then written in one transaction;
- ``_text``: an element's collaborative text, read and edited in characters; ``_marks``: text as a
  plain string and mark spans;
- ``_json``: document JSON out of the CRDT; ``_layout``: how a document sits in pycrdt;
- ``_pycrdt``: every use of pycrdt's private API; ``_view``: document JSON drawn as a rich tree;
- ``_update_guard``: :func:`check_update` and :class:`UpdateGuard`, refusing an incoming update that no
  repair could undo, read by ``_yjs_update`` without applying it and placed against the replica's
  items by ``_placements`` (docs/adr/0012-refusing-hostile-updates.md); :func:`merge_incoming` joins
  a run of incoming updates, each read first, to check as one; ``_update_effects``: what a checked
  update does to the elements (inserted subtrees included), so the server's replica applies it without
  pycrdt's deep events (docs/adr/0018-remote-changes-without-deep-events.md).

The schema rules themselves live in :mod:`mesh_tools.schema` (``rules``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._batch import (
    DeleteEdit,
    Edit,
    EditResult,
    FormatTextEdit,
    InsertEdit,
    MoveEdit,
    RemoveAttributeEdit,
    ReplaceTextEdit,
    SetAttributeEdit,
    SpliceTextEdit,
    apply_edits,
    edit_error,
)
from ._build import DocumentLimits
from ._element import Element
from ._events import AttributeChanged, DocumentEvent, ElementDeleted, ElementInserted, TextChanged
from ._layout import FRAGMENT_NAME, PARTICIPANTS_MAP, ROOT_ID
from ._marks import MARKS_KEY, MarkSpan
from ._participants import Claims, ParticipantRegister, decode_state_vector
from ._replica import REMOTE, EventListener, MeshDocument, UpdateListener
from ._text import MarkValue, TextEdit, read_text_delta
from ._update_guard import CheckedUpdate, GuardInput, UpdateGuard, check_update, merge_incoming
from ._validate import Violation

if TYPE_CHECKING:
    from ._view import document_tree, shorten

__all__ = [
    "FRAGMENT_NAME",
    "MARKS_KEY",
    "PARTICIPANTS_MAP",
    "REMOTE",
    "ROOT_ID",
    "AttributeChanged",
    "CheckedUpdate",
    "Claims",
    "DeleteEdit",
    "DocumentEvent",
    "DocumentLimits",
    "Edit",
    "EditResult",
    "Element",
    "ElementDeleted",
    "ElementInserted",
    "EventListener",
    "FormatTextEdit",
    "GuardInput",
    "InsertEdit",
    "MarkSpan",
    "MarkValue",
    "MeshDocument",
    "MoveEdit",
    "ParticipantRegister",
    "RemoveAttributeEdit",
    "ReplaceTextEdit",
    "SetAttributeEdit",
    "SpliceTextEdit",
    "TextChanged",
    "TextEdit",
    "UpdateGuard",
    "UpdateListener",
    "Violation",
    "apply_edits",
    "check_update",
    "decode_state_vector",
    "document_tree",
    "edit_error",
    "merge_incoming",
    "read_text_delta",
    "shorten",
]


def __getattr__(name: str) -> Any:
    # The tree view needs rich, which `mesh-tools --help` must not load (tests/test_cli_startup.py).
    if name in ("document_tree", "shorten"):
        from . import _view

        return getattr(_view, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
