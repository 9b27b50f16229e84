"""Several edits as one: planned completely against the document as each edit would leave it, then
written in one transaction, so a batch lands whole or not at all.

pycrdt cannot roll a transaction back, and undoing a half-written batch would rewrite what others
edited meanwhile; so :func:`apply_edits` first plays the batch on a plan (the elements it touches,
their children, attributes and texts, over the live document), with the same schema rules the
element API applies, and writes only when every edit fits. Each write also yields its inverse, which
is how a tool's ``undo`` reverts a batch (docs/adr/0016-move-and-undo.md).

Edits address elements by id, or by ``@ref`` for an element an earlier insert of the batch named
``ref``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias

from ..errors import ElementNotFoundError, InvalidOperationError, InvalidValueError, MeshError
from ..schema import ID_ATTRIBUTE, rules
from ._build import check_limits, unwrap
from ._marks import MarkSpan
from ._text import MarkValue, locate_snippet

if TYPE_CHECKING:
    from ._element import Element
    from ._replica import MeshDocument

__all__ = [
    "BatchPlan",
    "DeleteEdit",
    "Edit",
    "EditResult",
    "FormatTextEdit",
    "InsertEdit",
    "MoveEdit",
    "RemoveAttributeEdit",
    "ReplaceTextEdit",
    "SetAttributeEdit",
    "SpliceTextEdit",
    "apply_edits",
    "edit_error",
]

#: What marks an address as a reference to an element inserted earlier in the batch.
REF_PREFIX = "@"


@dataclass(frozen=True, slots=True)
class InsertEdit:
    """Insert a subtree (document JSON) under ``parent`` at ``position`` (None = last); ``ref`` names
    it for later edits of the batch (``@ref``)."""

    parent: str
    element: Mapping[str, Any]
    position: int | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class SetAttributeEdit:
    id: str
    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class RemoveAttributeEdit:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class DeleteEdit:
    id: str


@dataclass(frozen=True, slots=True)
class MoveEdit:
    """Move ``id`` under ``parent`` at ``position`` (None = last, counted without the element)."""

    id: str
    parent: str
    position: int | None = None


@dataclass(frozen=True, slots=True)
class ReplaceTextEdit:
    """Replace the one occurrence of ``snippet`` in the element's text."""

    id: str
    snippet: str
    text: str


@dataclass(frozen=True, slots=True)
class SpliceTextEdit:
    """Replace characters ``start`` to ``end`` (None = the end of the text) with ``text``."""

    id: str
    start: int
    end: int | None
    text: str


@dataclass(frozen=True, slots=True)
class FormatTextEdit:
    """Set (True or attributes) or clear (None) marks on characters ``start`` to ``end``."""

    id: str
    start: int
    end: int
    marks: Mapping[str, MarkValue]


Edit: TypeAlias = (
    InsertEdit
    | SetAttributeEdit
    | RemoveAttributeEdit
    | DeleteEdit
    | MoveEdit
    | ReplaceTextEdit
    | SpliceTextEdit
    | FormatTextEdit
)

_KINDS: dict[type, str] = {
    InsertEdit: "insert",
    SetAttributeEdit: "set",
    RemoveAttributeEdit: "remove",
    DeleteEdit: "delete",
    MoveEdit: "move",
    ReplaceTextEdit: "replace_text",
    SpliceTextEdit: "splice_text",
    FormatTextEdit: "format_text",
}


@dataclass(frozen=True, slots=True)
class EditResult:
    """What a batch did: the elements it inserted (in edit order), the ids its refs name, and the
    edits that revert it (in order, for :func:`apply_edits`)."""

    inserted: list[Element]
    refs: dict[str, str]
    inverse: list[Edit] = field(default_factory=list)


def apply_edits(document: MeshDocument, edits: Sequence[Edit]) -> EditResult:
    """Apply ``edits`` in order as one transaction, or raise and change nothing.

    The error is the failing edit's own (same class and code), its message prefixed with the edit's
    index and kind (``edit 2 (move): ...``); the unprefixed original is its ``__cause__``.
    """
    document._check_writable()
    plan = BatchPlan(document)
    resolved: list[Edit] = []
    for index, edit in enumerate(edits):
        try:
            resolved.append(plan.play(edit))
        except MeshError as error:
            raise edit_error(error, index, _KINDS[type(edit)]) from error
    inserted: list[Element] = []
    inverse: list[list[Edit]] = []
    with document.transaction():
        for edit in resolved:
            inverse.append(_write(document, edit, inserted))
    return EditResult(inserted, plan.refs, [step for steps in reversed(inverse) for step in steps])


def edit_error(error: MeshError, index: int, kind: str) -> MeshError:
    """``error`` as the failure of edit ``index`` of a batch: same class and code, the edit named."""
    hint = f"{error.hint + '; ' if error.hint else ''}nothing was changed: fix edit {index} and send all"
    return type(error)(f"edit {index} ({kind}): {error.message}", hint=hint)


class BatchPlan:
    """The document as the edits played so far leave it: overrides over the live elements."""

    def __init__(self, doc: MeshDocument) -> None:
        self.doc = doc
        self.refs: dict[str, str] = {}
        self.tags: dict[str, str] = {}  # elements inserted by the batch
        self.parents: dict[str, str] = {}  # inserted or moved elements
        self.kids: dict[str, list[str]] = {}  # children in order, for elements the batch touched
        self.gone: set[str] = set()  # deleted by the batch (with their subtrees)
        self.attributes: dict[tuple[str, str], Any] = {}
        self.texts: dict[str, str] = {}
        self.drawn: set[str] = set()  # ids drawn for inserted elements
        self.count = len(doc)

    # -- the plan's view ---------------------------------------------------------------------------

    def find(self, address: str) -> str:
        """The id an edit's address names, if that element exists in the plan."""
        if address.startswith(REF_PREFIX):
            element_id = self.refs.get(address[len(REF_PREFIX) :])
            if element_id is None:
                raise ElementNotFoundError(
                    f"no earlier insert of this batch has ref {address[len(REF_PREFIX) :]!r}",
                    hint="give the insert a ref and put it before the edits that use @ref",
                )
            if not self._alive(element_id):
                raise ElementNotFoundError(
                    f"{address} was deleted by an earlier edit of this batch (it or an ancestor)",
                    hint="reorder the batch's edits, or leave out the ones on deleted elements",
                )
            return element_id
        known = address in self.tags or address in self.doc._elements
        if not known or not self._alive(address):
            raise ElementNotFoundError(
                f"no element has id {address!r}"
                + (" (an earlier edit deleted it or an ancestor)" if known else ""),
                hint="ids come from describe_document; elements this batch inserts are @ref",
            )
        return address

    def _alive(self, element_id: str) -> bool:
        current: str | None = element_id
        while current is not None:
            if current in self.gone:
                return False
            current = self.parent(current)
        return True

    def tag(self, element_id: str) -> str:
        return self.tags.get(element_id) or self.doc._elements[element_id].tag_name

    def parent(self, element_id: str) -> str | None:
        if element_id in self.parents:
            return self.parents[element_id]
        return self.doc._index.parents.get(element_id)

    def children(self, element_id: str) -> list[str]:
        """The element's children in order (materialized from the live element on first touch)."""
        kids = self.kids.get(element_id)
        if kids is None:
            kids = self.kids[element_id] = [c.id for c in self.doc._elements[element_id].get_children()]
        return kids

    def _members(self, element_id: str) -> list[tuple[str, int]]:
        """(id, level) of the element's subtree, the element at level 1."""
        out = []
        stack = [(element_id, 1)]
        index_kids = self.doc._index.kids
        while stack:
            current, level = stack.pop()
            out.append((current, level))
            kids = self.kids.get(current)
            stack.extend(
                (kid, level + 1)
                for kid in (kids if kids is not None else index_kids.get(current, ()))
                if kid is not None
            )
        return out

    def depth(self, element_id: str) -> int:
        depth = 0
        current: str | None = element_id
        while current is not None:
            depth += 1
            current = self.parent(current)
        return depth

    def attribute(self, element_id: str, name: str) -> Any:
        if (element_id, name) in self.attributes:
            return self.attributes[(element_id, name)]
        element = self.doc._elements.get(element_id)
        return None if element is None else element.get_attribute(name)

    def text(self, element_id: str) -> str:
        if element_id in self.texts:
            return self.texts[element_id]
        error = rules.text_error(
            self.doc.schema, self.doc._builder.element_type(self.tag(element_id)), self.tag(element_id)
        )
        if error is not None:
            raise error
        return self.doc._elements[element_id].text

    # -- playing edits -----------------------------------------------------------------------------

    def play(self, edit: Edit) -> Edit:
        """Check ``edit`` against the plan, record its effect, and return it with ids resolved."""
        if isinstance(edit, InsertEdit):
            return self._insert(edit)
        if isinstance(edit, SetAttributeEdit | RemoveAttributeEdit):
            element_id = self.find(edit.id)
            tag = self.tag(element_id)
            if isinstance(edit, SetAttributeEdit):
                self.doc._builder.check_attribute(tag, edit.name, edit.value)
                self.attributes[(element_id, edit.name)] = edit.value
            else:
                if edit.name == ID_ATTRIBUTE:
                    raise rules.id_not_removable()
                if edit.name not in rules.attribute_props(self.doc._builder.element_type(tag)):
                    self.doc._builder.check_attribute(tag, edit.name, None)
                self.attributes[(element_id, edit.name)] = None
            return replace(edit, id=element_id)
        if isinstance(edit, DeleteEdit):
            return DeleteEdit(self._delete(edit.id))
        if isinstance(edit, MoveEdit):
            return self._move(edit)
        return self._text_edit(edit)

    def _insert(self, edit: InsertEdit) -> InsertEdit:
        parent = self.find(edit.parent)
        if edit.ref is not None and edit.ref in self.refs:
            raise InvalidValueError(f"ref {edit.ref!r} is used twice", hint="give each insert its own ref")
        kids = self.children(parent)
        at = self._position(edit.position, len(kids), parent)
        data = self._with_ids(edit.element)
        built = self.doc._builder.subtree(
            data, parent_tag=self.tag(parent), position=at, taken=set(self.tags)
        )
        check_limits(self.doc.limits, self.depth(parent), self.count, [built])
        stack = [(built, parent)]
        while stack:
            (element_id, tag, _, _, children, _, _), under = stack.pop()
            self.tags[element_id] = tag
            self.parents[element_id] = under
            self.kids[element_id] = [child[0] for child in children]
            self.count += 1
            stack.extend((child, element_id) for child in children)
        kids.insert(at, built[0])
        if edit.ref is not None:
            self.refs[edit.ref] = built[0]
        return InsertEdit(parent, data, at, edit.ref)

    def _with_ids(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The subtree with an id on every element (the ones it lacks drawn fresh), texts noted."""
        tag, body = unwrap(data, "element")
        out = dict(body)
        element_type = self.doc._builder.element_type(tag)
        if element_type is None:
            return {tag: out}
        element_id = out.get(ID_ATTRIBUTE)
        if element_id is None:
            element_id = out[ID_ATTRIBUTE] = self.doc._builder.fresh_id(self.drawn)
            self.drawn.add(element_id)
        text = element_type.text_property
        if text is not None and isinstance(element_id, str):
            self.texts[element_id] = out.get(text.name) or ""
        child = element_type.child_property
        if child is not None and isinstance(out.get(child.name), list):
            out[child.name] = [
                self._with_ids(item) if isinstance(item, Mapping) else item for item in out[child.name]
            ]
        return {tag: out}

    def _delete(self, address: str) -> str:
        element_id = self.find(address)
        parent = self.parent(element_id)
        if parent is None:
            raise InvalidOperationError("the root element cannot be deleted", hint="delete its children")
        self.count -= len(self._members(element_id))
        self.children(parent).remove(element_id)
        self.gone.add(element_id)
        return element_id

    def _move(self, edit: MoveEdit) -> MoveEdit:
        element_id, target = self.find(edit.id), self.find(edit.parent)
        source = self.parent(element_id)
        if source is None:
            raise InvalidOperationError("the root element cannot be moved", hint="move its children")
        ancestor: str | None = target
        while ancestor is not None:
            if ancestor == element_id:
                raise InvalidOperationError(
                    f"element {element_id!r} cannot move into itself or its own subtree",
                    hint="choose a parent outside the element",
                )
            ancestor = self.parent(ancestor)
        siblings = [kid for kid in self.children(target) if kid != element_id]
        at = self._position(edit.position, len(siblings), target, " (counted without the moved element)")
        tag = self.tag(element_id)
        error = rules.child_error(self.doc.schema, self.tag(target), tag, at)
        if error is not None:
            raise error
        height = max(level for _, level in self._members(element_id))
        if self.depth(target) + height > self.doc.limits.max_depth:
            raise rules.too_deep(tag, self.doc.limits.max_depth)
        self.children(source).remove(element_id)
        self.children(target).insert(at, element_id)
        self.parents[element_id] = target
        return MoveEdit(element_id, target, at)

    @staticmethod
    def _position(position: int | None, count: int, parent: str, counted: str = "") -> int:
        at = count if position is None else (position + count if position < 0 else position)
        if not 0 <= at <= count:
            raise InvalidOperationError(
                f"position {position} is outside 0..{count} for element {parent!r}",
                hint=f"use a position from 0 to {count}{counted}, or omit it to append",
            )
        return at

    def _text_edit(self, edit: ReplaceTextEdit | SpliceTextEdit | FormatTextEdit) -> Edit:
        element_id = self.find(edit.id)
        text = self.text(element_id)
        if isinstance(edit, ReplaceTextEdit):
            at = locate_snippet(text, edit.snippet, element_id)
            start, end, inserted = at, at + len(edit.snippet), edit.text
        elif isinstance(edit, SpliceTextEdit):
            start, end, inserted = edit.start, len(text) if edit.end is None else edit.end, edit.text
        else:
            start, end, inserted = edit.start, edit.end, text[edit.start : edit.end]
            self._check_marks(element_id, edit.marks)
        if not (isinstance(inserted, str) and 0 <= start <= end <= len(text)):
            raise InvalidOperationError(
                f"range {start}..{end} is outside the text of {element_id!r} (0..{len(text)})",
                hint=f"use 0 <= start <= end <= {len(text)}",
            )
        if isinstance(edit, FormatTextEdit):
            return replace(edit, id=element_id)
        self.texts[element_id] = text[:start] + inserted + text[end:]
        return SpliceTextEdit(element_id, start, end, inserted)

    def _check_marks(self, element_id: str, marks: Mapping[str, MarkValue]) -> None:
        tag = self.tag(element_id)
        element_type = self.doc._builder.element_type(tag)
        assert element_type is not None and element_type.text_property is not None
        prop = element_type.text_property
        for name, value in marks.items():
            if value is None and name in prop.allowed_marks:
                continue
            error = rules.mark_error(prop, tag, name, value)
            if error is not None:
                raise error


def _write(doc: MeshDocument, edit: Edit, inserted: list[Element]) -> list[Edit]:
    """Write one planned edit; return the edits that revert it."""
    elements = doc._elements
    if isinstance(edit, InsertEdit):
        element = elements[edit.parent].append_json(edit.element, edit.position)
        inserted.append(element)
        return [DeleteEdit(element.id)]
    if isinstance(edit, SetAttributeEdit | RemoveAttributeEdit):
        element = elements[edit.id]
        previous = element.get_attribute(edit.name)
        undo: Edit = (
            RemoveAttributeEdit(edit.id, edit.name)
            if previous is None
            else SetAttributeEdit(edit.id, edit.name, previous)
        )
        if isinstance(edit, SetAttributeEdit):
            element.set_attribute(edit.name, edit.value)
        else:
            element.remove_attribute(edit.name)
        return [undo]
    if isinstance(edit, DeleteEdit):
        element = elements[edit.id]
        parent = element.parent
        assert parent is not None
        position = [child.id for child in parent.get_children()].index(edit.id)
        data = element.to_json(include_ids=True)
        element.delete()
        return [InsertEdit(parent.id, data, position)]
    if isinstance(edit, MoveEdit):
        element = elements[edit.id]
        parent = element.parent
        assert parent is not None
        position = [child.id for child in parent.get_children()].index(edit.id)
        element.move_to(elements[edit.parent], edit.position)
        return [MoveEdit(edit.id, parent.id, position)]
    element = elements[edit.id]
    spans = element.text_marks()
    if isinstance(edit, SpliceTextEdit):
        end = len(element.text) if edit.end is None else edit.end
        done = element.replace_text(edit.start, end, edit.text)
        restore = SpliceTextEdit(edit.id, done.at, done.at + len(done.inserted), done.removed)
        return [restore, *_reformat(edit.id, spans, done.at, done.at + len(done.removed), None)]
    assert isinstance(edit, FormatTextEdit)
    element.format_text(edit.start, edit.end, edit.marks)
    clear = FormatTextEdit(edit.id, edit.start, edit.end, dict.fromkeys(edit.marks))
    return [clear, *_reformat(edit.id, spans, edit.start, edit.end, set(edit.marks))]


def _reformat(
    element_id: str, spans: list[MarkSpan], start: int, end: int, only: set[str] | None
) -> list[Edit]:
    """The formats that put back the marks ``spans`` had on characters ``start`` to ``end``."""
    out: list[Edit] = []
    for span in spans:
        low, high = max(span.start, start), min(span.end, end)
        if low < high and (only is None or span.mark in only):
            value: MarkValue = dict(span.attributes) if span.attributes else True
            out.append(FormatTextEdit(element_id, low, high, {span.mark: value}))
    return out
