"""apply_edits: a batch is planned whole against the document as each edit leaves it, then written in
one transaction; a failing edit changes nothing and is named; the inverse reverts the batch."""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from mesh_tools.document import (
    DeleteEdit,
    Edit,
    InsertEdit,
    MeshDocument,
    MoveEdit,
    RemoveAttributeEdit,
    ReplaceTextEdit,
    SetAttributeEdit,
    SpliceTextEdit,
    apply_edits,
)
from mesh_tools.errors import (
    ChildNotAllowedError,
    ElementNotFoundError,
    InvalidOperationError,
    MeshError,
    SnippetNotFoundError,
)

from .test_move import OUTLINE, outline


def test_a_batch_builds_a_subtree_with_refs_and_lands_as_one_update() -> None:
    doc = outline()
    updates: list[bytes] = []
    doc.on_update(lambda update, origin: updates.append(update))
    result = apply_edits(
        doc,
        [
            InsertEdit("root", {"section": {"title": "C"}}, 0, ref="c"),
            InsertEdit("@c", {"para": {"text": "first words"}}, ref="p"),
            ReplaceTextEdit("@p", "first", "opening"),
            MoveEdit("b1", "@c", 0),
            SetAttributeEdit("a", "title", "A!"),
            RemoveAttributeEdit("a1", "tone"),
            DeleteEdit("a2"),
        ],
    )
    assert len(updates) == 1
    section = doc.element_by_id(result.refs["c"])
    assert [e.id for e in doc.root.get_children()] == [section.id, "a", "b"]
    assert [e.id for e in section.get_children()] == ["b1", result.refs["p"]]
    assert doc.element_by_id(result.refs["p"]).text == "opening words"
    assert doc.element_by_id("a").get_attribute("title") == "A!"
    assert doc.get_element("a2") is None and doc.get_element("a21") is None
    assert [element.id for element in result.inserted] == [result.refs["c"], result.refs["p"]]
    assert doc.validate() == []


@pytest.mark.parametrize(
    ("edits", "error", "words"),
    [
        ([DeleteEdit("a2"), SetAttributeEdit("a21", "tone", "x")], ElementNotFoundError, "edit 1 \\(set\\)"),
        ([InsertEdit("root", {"section": {}}), MoveEdit("a1", "@nope")], ElementNotFoundError, "'nope'"),
        ([MoveEdit("a2", "b"), MoveEdit("b", "a21")], InvalidOperationError, "edit 1 \\(move\\).*itself"),
        ([SetAttributeEdit("a", "title", "x"), MoveEdit("a1", "root")], ChildNotAllowedError, "edit 1"),
        (
            [ReplaceTextEdit("a1", "hello", "bye"), ReplaceTextEdit("a1", "hello", "x")],
            SnippetNotFoundError,
            "edit 1",
        ),
        ([InsertEdit("b", {"para": {}}), InsertEdit("b", {"para": {}}, 3)], InvalidOperationError, "0..2"),
        ([DeleteEdit("root")], InvalidOperationError, "edit 0 \\(delete\\): the root"),
    ],
)
def test_a_failing_edit_is_named_and_nothing_changes(
    edits: list[Edit], error: type[MeshError], words: str
) -> None:
    doc = outline()
    state, data = doc.get_state(), doc.to_json(include_ids=True)
    with pytest.raises(error, match=words) as raised:
        apply_edits(doc, edits)
    assert raised.value.hint is not None and "nothing was changed" in raised.value.hint
    assert doc.get_state() == state and doc.to_json(include_ids=True) == data


def test_the_inverse_reverts_every_kind_of_edit_with_ids_text_and_marks() -> None:
    doc = outline()
    before = doc.to_json(include_ids=True)
    result = apply_edits(
        doc,
        [
            SpliceTextEdit("a1", 3, 8, "p! W"),  # cuts into the bold "hello"
            DeleteEdit("a2"),
            MoveEdit("b1", "a", 0),
            SetAttributeEdit("b", "title", "new"),
            RemoveAttributeEdit("a1", "tone"),
            InsertEdit("b", {"para": {"text": "x"}}),
        ],
    )
    assert doc.to_json(include_ids=True) != before
    apply_edits(doc, result.inverse)
    assert doc.to_json(include_ids=True) == before
    assert doc.validate() == []


# -- atomicity, as a property ------------------------------------------------------------------------

_IDS = ["root", "a", "a1", "a2", "a21", "b", "b1", "@n0", "@n1", "nope"]
_edit = st.one_of(
    st.builds(
        InsertEdit,
        st.sampled_from(_IDS),
        st.sampled_from([{"section": {"title": "t"}}, {"para": {"text": "new text"}}, {"p": {}}]),
        st.none() | st.integers(-2, 3),
    ),
    st.builds(SetAttributeEdit, st.sampled_from(_IDS), st.sampled_from(["title", "tone"]), st.just("v")),
    st.builds(RemoveAttributeEdit, st.sampled_from(_IDS), st.sampled_from(["title", "tone", "$id"])),
    st.builds(DeleteEdit, st.sampled_from(_IDS)),
    st.builds(MoveEdit, st.sampled_from(_IDS), st.sampled_from(_IDS), st.none() | st.integers(-1, 2)),
    st.builds(
        ReplaceTextEdit, st.sampled_from(_IDS), st.sampled_from(["hello", "b", "new", "o"]), st.just("X")
    ),
)


def _with_refs(edits: list[Edit]) -> list[Edit]:
    """Name the first two inserts n0 and n1, so later edits can use them."""
    out: list[Edit] = []
    count = 0
    for edit in edits:
        if isinstance(edit, InsertEdit) and count < 2:
            edit = InsertEdit(edit.parent, edit.element, edit.position, ref=f"n{count}")
            count += 1
        out.append(edit)
    return out


@settings(max_examples=150)
@given(st.lists(_edit, min_size=1, max_size=6).map(_with_refs))
def test_a_batch_applies_whole_and_valid_or_not_at_all(edits: list[Edit]) -> None:
    doc = outline()
    state, before = doc.get_state(), doc.to_json(include_ids=True)
    try:
        result = apply_edits(doc, edits)
    except MeshError as error:
        assert error.message.startswith("edit ")
        assert doc.get_state() == state and doc.to_json(include_ids=True) == before
        return
    event("applied")
    assert doc.validate() == []
    replica = MeshDocument(schema=OUTLINE)
    replica.apply_update(doc.get_update())
    assert replica.validate() == [] and replica.to_json(include_ids=True) == doc.to_json(include_ids=True)
    apply_edits(doc, result.inverse)
    assert doc.to_json(include_ids=True) == before
