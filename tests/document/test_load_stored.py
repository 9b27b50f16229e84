"""MeshDocument.load_stored: a load of updates an authority checked trusts them, except where the index walk
sees the layout off (docs/adr/0019-trusted-loads.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from mesh_tools.document import FRAGMENT_NAME, DocumentLimits, MeshDocument
from mesh_tools.errors import InvalidOperationError
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty

from ..support import ARTICLE, DOC_SCHEMA

NESTED = MeshSchema(
    root_tag_name="outline",
    elements=[
        ElementType(tag_name="outline", properties=[ChildProperty(name="items", child_tag_names=["item"])]),
        ElementType(
            tag_name="item",
            properties=[
                ValueProperty(name="title", type="string"),
                ChildProperty(name="items", child_tag_names=["item"]),
            ],
        ),
    ],
)


def _stored_log() -> tuple[MeshDocument, list[bytes]]:
    """A document written through the API, and its updates as a room server would have stored them."""
    doc = MeshDocument(schema=DOC_SCHEMA)
    log = [doc.get_update()]
    doc.on_update(lambda update, origin: log.append(update))
    first = doc.root.append_child("p", {"text": "one", "size": 1})
    doc.root.append_child("p", {"text": "two"})
    first.set_attribute("size", 2)
    return doc, log


def _raw_edit(base: MeshDocument, edit: Callable[[XmlFragment, XmlElement], None]) -> bytes:
    """What a plain Yjs client that ignores the layout adds to ``base``."""
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(base.get_update())
    fragment = ydoc.get(FRAGMENT_NAME, type=XmlFragment)
    root = fragment.children[0]
    assert isinstance(root, XmlElement)
    state = ydoc.get_state()
    edit(fragment, root)
    return ydoc.get_update(state)


def _taken_id(base: MeshDocument) -> Callable[[XmlFragment, XmlElement], None]:
    taken = base.root.get_children()[0].id
    return lambda fragment, root: root.children.append(XmlElement("p", {"$id": taken, "text": "copy"}))


def _text_in_paragraph(base: MeshDocument) -> Callable[[XmlFragment, XmlElement], None]:
    def edit(fragment: XmlFragment, root: XmlElement) -> None:
        paragraph = next(c for c in root.children if isinstance(c, XmlElement))
        paragraph.children.append(XmlText("hidden"))

    return edit


LAYOUTS_OFF: dict[str, Callable[[MeshDocument], Callable[[XmlFragment, XmlElement], None]]] = {
    "an id another element holds": _taken_id,
    "an element without an id": lambda base: (
        lambda fragment, root: root.children.append(XmlElement("p", {"text": "anonymous"}))
    ),
    "an id that is not a string": lambda base: (
        lambda fragment, root: root.children.append(XmlElement("p", {"$id": 7, "text": "numbered"}))
    ),
    "a second root": lambda base: (
        lambda fragment, root: fragment.children.append(XmlElement("doc", {"$id": "other"}))
    ),
    "the root's id rewritten": lambda base: (
        lambda fragment, root: root.attributes.__setitem__("$id", "elsewhere")
    ),
    "a text in the root, whose type declares none": lambda base: (
        lambda fragment, root: root.children.append(XmlText("loose"))
    ),
    "a text in an element whose type declares none": _text_in_paragraph,
}


def test_a_checked_log_loads_unread_and_like_apply_updates() -> None:
    written, log = _stored_log()
    loaded = MeshDocument(schema=DOC_SCHEMA)
    assert loaded.load_stored(log) is False
    applied = MeshDocument(schema=DOC_SCHEMA)
    applied.apply_updates(log)
    assert loaded.to_json(include_ids=True) == applied.to_json(include_ids=True)
    assert loaded.to_json(include_ids=True) == written.to_json(include_ids=True)
    assert [e.id for e in loaded] == [e.id for e in written]
    # The index is live: the loaded document edits and reads like the written one.
    loaded.root.get_children()[1].set_attribute("size", 5)
    assert loaded.root.get_children()[1].get_attribute("size") == 5


def test_what_a_trusted_load_does_not_read_is_the_schema_of_a_sound_layout() -> None:
    # A value of the wrong type sits in a sound layout: only a room server's check on the way in catches
    # it (and mends it before storing, as one row with the update), so a load of its log does not look.
    written, log = _stored_log()
    element_id = written.root.get_children()[0].id

    def wrong_type(fragment: XmlFragment, root: XmlElement) -> None:
        paragraph = next(
            c for c in root.children if isinstance(c, XmlElement) and c.attributes["$id"] == element_id
        )
        paragraph.attributes["size"] = "big"

    loaded = MeshDocument(schema=DOC_SCHEMA)
    assert loaded.load_stored([*log, _raw_edit(written, wrong_type)]) is False
    assert [v.code for v in loaded.validate()] != []


@pytest.mark.parametrize("layout", sorted(LAYOUTS_OFF))
def test_a_layout_off_is_reported_and_the_repair_mends_it(layout: str) -> None:
    written, log = _stored_log()
    loaded = MeshDocument(schema=DOC_SCHEMA)
    assert loaded.load_stored([*log, _raw_edit(written, LAYOUTS_OFF[layout](written))]) is True
    loaded.repair()
    assert loaded.validate() == []
    assert loaded.root.id == "root"
    ids = [element.id for element in loaded]
    assert len(ids) == len(set(ids))
    assert {"one", "two"} <= {element.get_attribute("text") for element in loaded.root.get_children()}


def test_one_text_where_declared_loads_unread_and_a_second_one_is_reported() -> None:
    article = MeshDocument(schema=ARTICLE)
    log = [article.get_update()]
    article.on_update(lambda update, origin: log.append(update))
    para = article.root.append_child("para", {"text": "hello"})
    para.insert_text(5, " world")
    assert MeshDocument(schema=ARTICLE).load_stored(log) is False

    def second_text(fragment: XmlFragment, root: XmlElement) -> None:
        held = next(c for c in root.children if isinstance(c, XmlElement))
        held.children.append(XmlText("another"))

    loaded = MeshDocument(schema=ARTICLE)
    assert loaded.load_stored([*log, _raw_edit(article, second_text)]) is True
    loaded.repair()
    assert loaded.validate() == []
    assert loaded.get_element(para.id) is not None


def test_nesting_past_the_limits_is_reported() -> None:
    deep = MeshDocument(schema=NESTED)
    log = [deep.get_update()]
    deep.on_update(lambda update, origin: log.append(update))
    parent = deep.root
    for level in range(2, 6):
        parent = parent.append_child("item", {"title": f"level {level}"})
    within = MeshDocument(schema=NESTED, limits=DocumentLimits(max_depth=5))
    assert within.load_stored(log) is False
    beyond = MeshDocument(schema=NESTED, limits=DocumentLimits(max_depth=4))
    assert beyond.load_stored(log) is True
    beyond.repair()
    assert beyond.validate() == []
    assert len(beyond) == 4


def test_only_a_fresh_unobserved_document_loads_stored_updates() -> None:
    _, log = _stored_log()
    filled = MeshDocument(schema=DOC_SCHEMA)
    filled.apply_updates(log)
    with pytest.raises(InvalidOperationError):
        filled.load_stored(log)
    observed = MeshDocument(schema=DOC_SCHEMA)
    observed.observe(lambda event: None)
    with pytest.raises(InvalidOperationError):
        observed.load_stored(log)
