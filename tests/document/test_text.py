"""Collaborative text in documents: the Element text API, marks, events, JSON, validate/repair, merges."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from mesh_tools.document import FRAGMENT_NAME, MarkSpan, MeshDocument, TextChanged
from mesh_tools.errors import (
    AmbiguousSnippetError,
    InvalidOperationError,
    InvalidValueError,
    MarkNotAllowedError,
    SnippetNotFoundError,
    TextNotAllowedError,
)

from ..support import ARTICLE


def _article(text: str = "") -> tuple[MeshDocument, Any]:
    doc = MeshDocument(schema=ARTICLE)
    return doc, doc.root.append_child("para", {"text": text})


def _sync(*docs: MeshDocument) -> None:
    """Exchange every replica's updates with every other, in both directions."""
    for source in docs:
        for target in docs:
            if source is not target:
                target.apply_update(source.get_update(target.get_state()))


def _raw(doc: MeshDocument) -> tuple[Doc[Any], XmlElement, XmlElement, XmlText]:
    """A plain pycrdt copy of ``doc`` (a foreign client that skips the schema): its root element, and
    the first paragraph with its text."""
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(doc.get_update())
    root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    para = root.children[0]
    assert isinstance(para, XmlElement)
    text = para.children[0]
    assert isinstance(text, XmlText)
    return ydoc, root, para, text


# -- reading and editing ----------------------------------------------------------------------------


def test_text_is_read_and_edited_in_characters_even_beyond_ascii() -> None:
    _, para = _article("héllo 😀 world")
    assert para.text == "héllo 😀 world"
    para.insert_text(8, "big ")
    assert para.text == "héllo 😀 big world"
    edit = para.replace_text(0, 5, "hi")
    assert (edit.at, edit.removed, edit.inserted) == (0, "héllo", "hi")
    para.delete_text(2, 4)
    assert para.text == "hi big world"
    assert para.set_text("new").removed == "hi big world"
    assert para.text == "new"


def test_marks_apply_and_clear_on_ranges_and_read_back_as_spans() -> None:
    _, para = _article("hello brave world")
    para.format_text(0, 5, {"bold": True})
    para.format_text(12, 17, {"link": {"href": "https://example.com"}, "italic": True})
    para.insert_text(5, "!", {"code": True})
    assert para.text_marks() == [
        MarkSpan("bold", 0, 5),
        MarkSpan("code", 5, 6),
        MarkSpan("italic", 13, 18),
        MarkSpan("link", 13, 18, {"href": "https://example.com"}),
    ]
    para.format_text(0, 3, {"bold": None})
    para.format_text(13, 18, {"italic": False})
    assert [span.to_json() for span in para.text_marks()] == [
        {"mark": "bold", "start": 3, "end": 5},
        {"mark": "code", "start": 5, "end": 6},
        {"mark": "link", "start": 13, "end": 18, "href": "https://example.com"},
    ]


def test_inserted_text_carries_only_the_marks_given() -> None:
    _, para = _article("bold")
    para.format_text(0, 4, {"bold": True})
    para.insert_text(4, " plain")
    assert para.text_marks() == [MarkSpan("bold", 0, 4)]


@pytest.mark.parametrize(
    ("marks", "error", "message"),
    [
        ({"underline": True}, MarkNotAllowedError, "does not allow the mark 'underline'"),
        ({"link": True}, MarkNotAllowedError, "not a valid value for mark 'link'"),
        ({"link": {"url": "x"}}, MarkNotAllowedError, "not a valid value for mark 'link'"),
        ({"bold": {"weight": "9"}}, MarkNotAllowedError, "not a valid value for mark 'bold'"),
        ({"underline": None}, MarkNotAllowedError, "does not allow the mark 'underline'"),
    ],
)
def test_marks_the_schema_does_not_allow_are_refused_and_change_nothing(
    marks: dict[str, Any], error: type[Exception], message: str
) -> None:
    doc, para = _article("text")
    before = doc.get_update()
    with pytest.raises(error, match=message):
        para.format_text(0, 4, marks)
    with pytest.raises(error, match=message):
        para.insert_text(0, "x", marks)
    assert doc.get_update() == before


def test_text_on_elements_without_text_and_bad_ranges_are_refused() -> None:
    doc, para = _article("abc")
    figure = doc.root.append_child("figure", {"src": "a.png"})
    with pytest.raises(TextNotAllowedError, match="<figure> holds no text") as info:
        figure.insert_text(0, "x")
    assert info.value.hint == "elements with text: para"
    with pytest.raises(TextNotAllowedError):
        _ = doc.root.text
    with pytest.raises(InvalidOperationError, match=r"range 2\.\.9 is outside"):
        para.delete_text(2, 9)
    with pytest.raises(InvalidOperationError):
        para.insert_text(-1, "x")
    with pytest.raises(InvalidValueError, match="expected a string"):
        doc.root.append_child("para", {"text": 5})


def test_snippets_must_occur_exactly_once() -> None:
    _, para = _article("the cat saw the dog")
    assert para.find_snippet("cat") == 4
    with pytest.raises(SnippetNotFoundError) as missing:
        para.find_snippet("bird")
    assert missing.value.hint == "the current text is 'the cat saw the dog'"
    with pytest.raises(AmbiguousSnippetError, match="'the' occurs 2 times"):
        para.find_snippet("the")


def test_edits_in_one_transaction_make_one_update_and_events_after_commit() -> None:
    doc, para = _article("")
    updates: list[bytes] = []
    events: list[Any] = []
    doc.on_update(lambda update, origin: updates.append(update))
    doc.observe(events.append)
    with doc.transaction():
        for i, char in enumerate("typing"):
            para.insert_text(i, char)
        para.format_text(0, 3, {"bold": True})
        assert events == []
    assert len(updates) == 1
    assert events and all(isinstance(e, TextChanged) and e.local and e.element is para for e in events)
    remote = MeshDocument(schema=ARTICLE)
    remote_events: list[Any] = []
    remote.observe(remote_events.append)
    assert remote.apply_update(doc.get_update()) == []
    remote_para = remote.root.get_children()[0]
    assert remote_para.text == "typing"
    state = remote.get_state()
    para.insert_text(6, "!")
    remote_events.clear()
    remote.apply_update(doc.get_update(state))
    assert remote_events == [TextChanged(remote_para, local=False)]


# -- JSON -------------------------------------------------------------------------------------------


def test_to_json_shows_plain_text_and_marks_and_round_trips() -> None:
    doc, para = _article("hello world")
    para.format_text(6, 11, {"link": {"href": "u"}})
    data = doc.to_json()
    assert data == {
        "article": {
            "blocks": [
                {
                    "para": {
                        "text": "hello world",
                        "$marks": [{"mark": "link", "start": 6, "end": 11, "href": "u"}],
                    }
                }
            ]
        }
    }
    assert MeshDocument.from_json(ARTICLE, data).to_json() == data
    plain = MeshDocument.from_json(ARTICLE, {"article": {"blocks": [{"para": {"style": "lead"}}]}})
    assert plain.to_json() == {"article": {"blocks": [{"para": {"style": "lead", "text": ""}}]}}


@pytest.mark.parametrize(
    ("marks", "message"),
    [
        ([{"mark": "bold", "start": 0, "end": 9}], "not a mark span over the text"),
        ([{"mark": "bold", "start": 2, "end": 2}], "not a mark span over the text"),
        ("bold", "must be a list of spans"),
        ([{"mark": "strike", "start": 0, "end": 1}], "does not allow the mark 'strike'"),
        ([{"mark": "link", "start": 0, "end": 1}], "not a valid value for mark 'link'"),
    ],
)
def test_json_marks_are_checked_before_anything_is_written(marks: Any, message: str) -> None:
    doc = MeshDocument(schema=ARTICLE)
    before = doc.get_update()
    with pytest.raises((InvalidValueError, MarkNotAllowedError), match=message):
        doc.root.append_json({"para": {"text": "abc", "$marks": marks}})
    assert doc.get_update() == before
    with pytest.raises(TextNotAllowedError):
        doc.root.append_json({"figure": {"$marks": []}})


# -- validate and repair ------------------------------------------------------------------------------


def test_foreign_text_breaking_the_schema_is_reported_and_repaired() -> None:
    doc, para = _article("keep these words")
    ydoc, root, raw_para, text = _raw(doc)
    state = ydoc.get_state()
    text.format(0, 4, {"underline": True})  # a mark the schema does not list
    text.format(5, 10, {"link": {"url": "x"}})  # an allowed mark with the wrong attributes
    text.insert_embed(0, {"image": "x.png"})  # not a character
    raw_para.children.append(XmlText("second"))  # a second text in one element
    root.children.insert(0, XmlText("stray"))  # text in an element that declares none
    violations = doc.apply_update(ydoc.get_update(state))
    assert sorted(v.code for v in violations) == [
        "mark_not_allowed",
        "mark_not_allowed",
        "text_not_allowed",
        "text_not_allowed",
        "text_not_allowed",
    ]
    assert sorted(v.code for v in doc.validate()) == sorted(v.code for v in violations)
    doc.repair()
    assert doc.validate() == []
    assert para.text == "keep these words"
    assert para.text_marks() == []
    assert doc.to_json() == {"article": {"blocks": [{"para": {"text": "keep these words"}}]}}


def test_two_servers_mending_one_broken_text_make_one_repair() -> None:
    doc, para = _article("keep these words")
    ydoc, root, raw_para, text = _raw(doc)
    text.format(0, 4, {"underline": True})
    text.insert_embed(5, {"image": "x.png"})
    raw_para.children.append(XmlText("second"))
    root.children.insert(0, XmlText("stray"))
    broken = ydoc.get_update()
    first, second = MeshDocument(schema=ARTICLE), MeshDocument(schema=ARTICLE)
    repairs = []
    for replica in (first, second):
        replica.apply_update(broken)
        before = replica.get_state()
        assert replica.repair()
        repairs.append(replica.get_update(before))
    first.apply_update(repairs[1])
    second.apply_update(repairs[0])
    for replica in (first, second):
        assert replica.validate() == []
        assert replica.to_json(include_ids=True) == first.to_json(include_ids=True)
        assert replica.element_by_id(para.id).text == "keep these words"


def test_allowed_marks_in_prosemirror_form_are_valid() -> None:
    doc, para = _article("pm")
    ydoc, _, _, text = _raw(doc)
    state = ydoc.get_state()
    text.format(0, 2, {"bold": {}})  # y-prosemirror writes marks without attributes as {}
    assert doc.apply_update(ydoc.get_update(state)) == []
    assert para.text_marks() == [MarkSpan("bold", 0, 2)]


# -- merging ----------------------------------------------------------------------------------------


def test_concurrent_edits_of_one_paragraph_both_survive() -> None:
    alice, para = _article("write the fox")
    bob = MeshDocument(schema=ARTICLE)
    _sync(alice, bob)
    bob_para = bob.element_by_id(para.id)
    para.insert_text(10, "brown ")
    bob_para.insert_text(13, ". It jumps.")
    _sync(alice, bob)
    assert para.text == bob_para.text == "write the brown fox. It jumps."


_EDITS = st.lists(
    st.tuples(
        st.integers(0, 2),  # which replica
        st.sampled_from(["insert", "delete", "bold"]),
        st.floats(0, 1),  # where, as a fraction of the replica's current text
        st.text(alphabet="abcé😀 ", min_size=1, max_size=4),
        st.booleans(),  # sync everyone after this edit
    ),
    max_size=30,
)


def test_typing_after_a_remote_edit_that_keeps_the_length_in_bytes_reads_the_text_again() -> None:
    alice, para = _article("café")
    bob = MeshDocument(schema=ARTICLE)
    _sync(alice, bob)
    para.insert_text(4, "!")  # alice's replica keeps "café!" for her next keystroke
    bob.apply_update(alice.get_update(bob.get_state()))
    bob.element_by_id(para.id).replace_text(3, 4, "ee")  # é and ee are both two bytes
    alice.apply_update(bob.get_update(alice.get_state()))
    assert para.insert_text(6, "?").removed == ""
    assert para.text == "cafee!?"
    para.delete_text(3, 5)
    assert para.text == "caf!?"


_SPLICES = st.lists(
    st.tuples(
        st.integers(0, 1),  # which replica
        st.sampled_from(["insert", "replace", "bold", "elsewhere"]),
        st.floats(0, 1),  # where, as a fraction of the replica's current text
        st.text(alphabet="abé😀", max_size=3),
        st.booleans(),  # sync both after this edit
    ),
    max_size=30,
)


@settings(max_examples=60)
@given(_SPLICES)
def test_each_edit_lands_at_the_offsets_of_the_text_as_read_just_before_it(
    edits: list[tuple[int, str, float, str, bool]],
) -> None:
    # Typing reuses the characters its previous edit left instead of reading the text back; whatever
    # ran in between (the other replica's edits, even one that kept the length in bytes, marks,
    # another element's edit) must not make an edit land anywhere but where the live text says.
    first, para = _article("seed é😀")
    replicas = [first, MeshDocument(schema=ARTICLE)]
    _sync(*replicas)
    for who, action, where, chars, sync in edits:
        element = replicas[who].element_by_id(para.id)
        text = element.text
        at = round(where * len(text))
        end = min(len(text), at + len(chars)) if action == "replace" else at
        if action in ("insert", "replace"):
            assert element.replace_text(at, end, chars).removed == text[at:end]
            text = text[:at] + chars + text[end:]
        elif action == "bold":
            element.format_text(at, min(len(text), at + 2), {"bold": True})
        else:
            replicas[who].root.append_child("para", {"text": chars})
        assert element.text == text
        if sync:
            _sync(*replicas)


@settings(max_examples=60)
@given(_EDITS)
def test_concurrent_text_edits_on_three_replicas_converge_without_losing_characters(
    edits: list[tuple[int, str, float, str, bool]],
) -> None:
    first, para = _article("seed")
    replicas = [first, MeshDocument(schema=ARTICLE), MeshDocument(schema=ARTICLE)]
    _sync(*replicas)
    inserted: list[str] = ["seed"]
    deleted = 0
    for who, action, where, chars, sync in edits:
        element = replicas[who].element_by_id(para.id)
        text = element.text
        at = round(where * len(text))
        if action == "insert":
            element.insert_text(at, chars)
            inserted.append(chars)
        elif action == "delete" and at < len(text):
            deleted += 1
            element.delete_text(at, at + 1)
        elif action == "bold" and at < len(text):
            element.format_text(at, min(len(text), at + 2), {"bold": True})
        if sync:
            _sync(*replicas)
    _sync(*replicas)
    results = [replica.element_by_id(para.id) for replica in replicas]
    assert all(r.text == results[0].text and r.text_marks() == results[0].text_marks() for r in results)
    assert all(replica.to_json() == replicas[0].to_json() for replica in replicas)
    final = Counter(results[0].text)
    typed = Counter("".join(inserted))
    # Only typed characters are there, and every one typed is there unless a delete took it (each
    # delete takes one character at most; concurrent deletes of the same one take it once).
    assert final <= typed
    assert typed.total() - final.total() <= deleted
    for replica in replicas:
        assert replica.validate() == []
