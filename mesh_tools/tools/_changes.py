"""What other participants changed in a document since the agent last looked, in a sentence."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from ..document import (
    AttributeChanged,
    DocumentEvent,
    ElementDeleted,
    ElementInserted,
    TextChanged,
)

__all__ = ["ChangeTracker"]

_IDS_SHOWN = 5


class ChangeTracker:
    """Collects remote edits to one document; :meth:`notice` reports and forgets them.

    Only events from other participants count (``local`` is False); the agent's own edits are already
    in its context. Also remembers which ids were deleted and by whom, so a later call on a stale id
    can say "deleted by another participant" instead of "no such id".
    """

    def __init__(self, path: str, *, remember: int = 10_000) -> None:
        self.path = path
        self._remember = remember
        self._inserted: dict[str, None] = {}
        self._fresh: set[str] = set()  # every id inside the subtrees in _inserted
        self._deleted: dict[str, None] = {}
        self._changed: dict[str, int] = {}
        self._texts: dict[str, None] = {}
        self._gone: OrderedDict[str, bool] = OrderedDict()

    def on_event(self, event: DocumentEvent) -> None:
        """Take one event of the document (the toolkit passes them on)."""
        if isinstance(event, ElementDeleted):
            self._gone[event.element_id] = not event.local
            if len(self._gone) > self._remember:
                self._gone.popitem(last=False)
            if event.local:
                return
            self._changed.pop(event.element_id, None)
            self._texts.pop(event.element_id, None)
            if event.element_id in self._fresh:
                # Inserted and deleted while the agent was not looking: it never needs to know.
                self._fresh.discard(event.element_id)
                self._inserted.pop(event.element_id, None)
            else:
                self._deleted[event.element_id] = None
        elif event.local:
            return
        elif isinstance(event, ElementInserted):
            self._inserted[event.element.id] = None
            stack = [event.element]
            while stack:
                element = stack.pop()
                self._fresh.add(element.id)
                if element.is_alive:  # events arrive after the update; it may have gone again
                    stack.extend(element.get_children())
        elif isinstance(event, AttributeChanged) and event.element.id not in self._fresh:
            self._changed[event.element.id] = self._changed.get(event.element.id, 0) + 1
        elif isinstance(event, TextChanged) and event.element.id not in self._fresh:
            self._texts[event.element.id] = None

    def deleted_by_other(self, element_id: str) -> bool | None:
        """True if another participant deleted the element, False if this one did, None if unknown."""
        return self._gone.get(element_id)

    def notice(self) -> str | None:
        """A sentence about the remote edits since the last notice or :meth:`clear`; None if none."""
        parts = []
        if self._inserted:
            parts.append(f"{_count(len(self._inserted), 'element')} inserted ({_ids(self._inserted)})")
        if self._deleted:
            parts.append(f"{_count(len(self._deleted), 'element')} deleted ({_ids(self._deleted)})")
        if self._changed:
            changes = sum(self._changed.values())
            parts.append(
                f"{_count(changes, 'attribute change')} on {_count(len(self._changed), 'element')} "
                f"({_ids(self._changed)})"
            )
        if self._texts:
            parts.append(f"text edited in {_count(len(self._texts), 'element')} ({_ids(self._texts)})")
        self.clear()
        if not parts:
            return None
        return (
            f"Other participants edited {self.path} since you last looked: {', '.join(parts)}. "
            "Call describe_document to see the current state."
        )

    def clear(self) -> None:
        """Forget collected edits (the agent has just read the document)."""
        self._inserted.clear()
        self._fresh.clear()
        self._deleted.clear()
        self._changed.clear()
        self._texts.clear()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ids(ids: Iterable[str]) -> str:
    listed = list(ids)
    shown = ", ".join(listed[:_IDS_SHOWN])
    more = f" and {len(listed) - _IDS_SHOWN} more" if len(listed) > _IDS_SHOWN else ""
    return f"ids: {shown}{more}"
