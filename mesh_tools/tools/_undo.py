"""Per-participant undo: one toolkit's own edits, reverted newest first, never over others' work.

Each write tool records the edits that revert it (a whole ``apply_edits`` batch is one step). Undo
applies them as one batch (:func:`~mesh_tools.document.apply_edits`), so it lands whole or not at all.
Before that it checks what happened since: if anyone else (another participant's update, or another
toolkit on the same replica) changed what the undo would rewrite — an attribute it would set back, a
text it would restore, anything inside an element it would delete — the undo is refused with the
reason, and the step leaves the history, so undo goes on with the step before it. See
docs/adr/0016-move-and-undo.md.
"""

from __future__ import annotations

from collections import deque
from contextlib import AbstractContextManager
from dataclasses import dataclass

from ..document import (
    AttributeChanged,
    DeleteEdit,
    DocumentEvent,
    Edit,
    EditResult,
    ElementDeleted,
    ElementInserted,
    FormatTextEdit,
    MeshDocument,
    RemoveAttributeEdit,
    SetAttributeEdit,
    SpliceTextEdit,
    TextChanged,
    apply_edits,
)
from ..errors import EditConflictError, InvalidOperationError, MeshError

__all__ = ["UndoLog"]

#: Steps one toolkit can undo per document.
UNDO_STEPS = 50
#: Others' changes remembered for the conflict check; a step older than them can no longer be checked.
_FOREIGN_LIMIT = 20_000

# What another participant's change touched: ("attribute", id, name), ("text", id, ""),
# ("inside", parent id, ""), ("deleted", id, "").
_Touch = tuple[str, str, str]


@dataclass(slots=True)  # not frozen: every edit records one, and a frozen one costs twice as much to make
class _Step:
    tool: str
    inverse: list[Edit]
    #: How many foreign changes had been seen when the step was recorded.
    since: int


class UndoLog:
    """The undo history of one toolkit on one document, and what others changed since each step."""

    def __init__(self, document: MeshDocument) -> None:
        self._document = document
        self._steps: deque[_Step] = deque(maxlen=UNDO_STEPS)
        self._foreign: deque[_Touch] = deque(maxlen=_FOREIGN_LIMIT)
        self._seen = 0  # foreign changes ever seen
        self._writing = False
        self._own_writes = _OwnWrites(self)

    def writing(self) -> AbstractContextManager[None]:
        """Mark the document events inside as this toolkit's own."""
        return self._own_writes

    def record(self, tool: str, inverse: list[Edit]) -> None:
        """Remember the edits that revert one tool call of this toolkit."""
        if inverse:
            self._steps.append(_Step(tool, inverse, self._seen))

    def undo(self) -> tuple[str, EditResult]:
        """Revert the newest step; returns the tool it reverts and what the revert did."""
        if not self._steps:
            raise InvalidOperationError(
                "there is nothing of yours to undo on this document",
                hint="undo reverts your own edits made through these tools, newest first",
            )
        step = self._steps.pop()
        conflict = self._conflict(step)
        if conflict is not None:
            raise EditConflictError(
                f"undo of your {step.tool} refused: {conflict}; undo never overwrites others' work, and "
                "this step left your undo history",
                hint="read the element again and edit it yourself if it still needs changing; undo again "
                "reverts your edit before this one",
            )
        try:
            with self.writing():
                result = apply_edits(self._document, step.inverse)
        except MeshError as error:
            raise type(error)(
                f"undo of your {step.tool} cannot be applied: {error.message}; it left your undo history",
                hint="read the document again and edit it yourself",
            ) from None
        return step.tool, result

    def _conflict(self, step: _Step) -> str | None:
        """What another participant changed that this step's revert would rewrite, if anything."""
        if self._seen - step.since > len(self._foreign):
            return "too many changes by others happened since to tell whether it is safe"
        touched = list(self._foreign)[len(self._foreign) - (self._seen - step.since) :]
        if not touched:
            return None
        attributes = {(key, name) for kind, key, name in touched if kind == "attribute"}
        texts = {key for kind, key, _ in touched if kind == "text"}
        inside = {key for kind, key, _ in touched if kind in ("inside", "attribute", "text")}
        for edit in step.inverse:
            if (
                isinstance(edit, SetAttributeEdit | RemoveAttributeEdit)
                and (edit.id, edit.name) in attributes
            ):
                return f"another participant changed {edit.name} of {edit.id!r} after you"
            if isinstance(edit, SpliceTextEdit | FormatTextEdit) and edit.id in texts:
                return f"another participant edited the text of {edit.id!r} after you"
            if isinstance(edit, DeleteEdit):
                element = self._document.get_element(edit.id)
                if element is not None and inside & _subtree_ids(element.id, self._document):
                    return f"another participant edited inside {edit.id!r}, which the undo would delete"
        return None

    def on_event(self, event: DocumentEvent) -> None:
        """Take one event of the document (the toolkit passes them on)."""
        if event.local and self._writing:
            return
        if isinstance(event, AttributeChanged):
            touch = ("attribute", event.element.id, event.name)
        elif isinstance(event, TextChanged):
            touch = ("text", event.element.id, "")
        elif isinstance(event, ElementInserted):
            parent = event.element.parent if event.element.is_alive else None
            touch = ("inside", parent.id if parent is not None else "", "")
        else:
            assert isinstance(event, ElementDeleted)
            touch = ("deleted", event.element_id, "")
        self._foreign.append(touch)
        self._seen += 1


class _OwnWrites:
    """What :meth:`UndoLog.writing` enters, made once per log: every edit enters it."""

    __slots__ = ("_log",)

    def __init__(self, log: UndoLog) -> None:
        self._log = log

    def __enter__(self) -> None:
        self._log._writing = True

    def __exit__(self, *exc_info: object) -> None:
        self._log._writing = False


def _subtree_ids(element_id: str, document: MeshDocument) -> set[str]:
    ids = set()
    stack = [document.element_by_id(element_id)]
    while stack:
        element = stack.pop()
        ids.add(element.id)
        stack.extend(element.get_children())
    return ids
