"""split_update: the pieces of an update, applied in order, amount to the update."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from mesh_tools.document._update_split import split_update
from mesh_tools.document._yjs_update import UpdateFormatError, decode_state_vector, decode_update

Op = tuple[int, str, int, str]
operations = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["insert", "delete", "attribute", "text", "sync"]),
        st.integers(0, 50),
        st.text(max_size=30),
    ),
    max_size=40,
)


def _edited(ops: list[Op]) -> Doc:
    """Three replicas edit an XML tree (elements, attributes, text, deletes) and sync now and then."""
    docs: list[Doc] = [Doc(client_id=client + 1) for client in range(3)]
    for who, op, at, value in ops:
        fragment = docs[who].get("mesh", type=XmlFragment)
        children = fragment.children
        if op == "insert":
            element = XmlElement("p", {"v": value})
            children.insert(at % (len(children) + 1), element)
            element.children.append(XmlText(value or "x"))
        elif op == "delete" and len(children):
            del children[at % len(children)]
        elif op == "attribute" and len(children):
            child = children[at % len(children)]
            assert isinstance(child, XmlElement)
            child.attributes["v"] = value
        elif op == "text" and len(children):
            child = children[at % len(children)]
            assert isinstance(child, XmlElement) and len(child.children)
            text = child.children[0]
            assert isinstance(text, XmlText)
            current = str(text)
            # pycrdt counts offsets in UTF-8 bytes; inside a character it would write a broken item.
            text.insert(len(current[: at % (len(current) + 1)].encode()), value or "x")
        elif op == "sync":
            other = docs[at % 3]
            other.apply_update(docs[who].get_update(other.get_state()))
    for doc in docs[1:]:
        docs[0].apply_update(doc.get_update(docs[0].get_state()))
    return docs[0]


def _content(doc: Doc) -> str:
    return str(doc.get("mesh", type=XmlFragment))


@settings(max_examples=150)
@given(operations, st.integers(1, 6))
def test_pieces_applied_in_order_amount_to_the_update(ops: list[Op], size: int) -> None:
    source = _edited(ops)
    update = source.get_update()
    pieces = split_update(update, size)
    assert all(len(decode_update(piece).items) <= size for piece in pieces)
    # In order: yrs (pycrdt 0.14) can leave structs pending for good when several pieces arrive
    # before one they build on, so the pieces are not a way to reorder an update.
    copy: Doc = Doc()
    for piece in pieces:
        copy.apply_update(piece)
    assert copy.get_state() == source.get_state()
    assert _content(copy) == _content(source)


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x05\x01\x00\x04", b"\x00\x00\xff"])
def test_what_is_not_an_update_is_refused(data: bytes) -> None:
    with pytest.raises(UpdateFormatError):
        split_update(data, 10)


def _every_content_kind() -> Doc:
    """A document whose update holds every content kind an editor writes: elements, attributes of each
    value type, long and non-ASCII strings, formatting and embeds, multi-value runs, deleted items."""
    doc: Doc = Doc(client_id=2**53 - 1)  # an 8-byte client id, as random ones mostly are
    other: Doc = Doc(client_id=7)
    other.get("mesh", type=XmlFragment).children.append(XmlElement("q", {"from": "other"}))
    doc.apply_update(other.get_update())
    fragment = doc.get("mesh", type=XmlFragment)
    values: dict[str, Any] = {
        "short": "x",
        "long": "é" * 200,
        "int": -(2**40),
        "float": 1.5,
        "true": True,
        "false": False,
        "null": None,
        "nested": {"list": [1, "two", {"three": [3.0]}], "empty": {}},
        "bytes": b"\x00\xff" * 100,
    }
    element = fragment.children.append(XmlElement("p", values))
    text = element.children.append(XmlText("hello 👋 wörld " * 20))
    text.format(0, 5, {"bold": True})
    text.insert_embed(3, {"image": "a.png"})
    doomed = fragment.children.insert(0, XmlElement("gone", {"v": 1}))
    doomed.children.append(XmlText("bye"))
    del fragment.children[0]
    doc.get("list", type=Array).extend([1, "two", 3.0, None, [4], {"five": 5}])
    doc.get("map", type=Map).update({"a": "b", "c": [1, 2]})
    doc.get("text", type=Text).insert(0, "𝄞 clef " * 40)
    return doc


def _tree(node: XmlFragment | XmlElement | XmlText) -> Any:
    if isinstance(node, XmlText):
        return node.diff()
    children = [_tree(child) for child in node.children]
    return (node.tag, dict(node.attributes), children) if isinstance(node, XmlElement) else children


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_every_content_kind_survives_the_split(size: int) -> None:
    source = _every_content_kind()
    update = source.get_update()
    pieces = split_update(update, size)
    assert len(pieces) > 2 if size == 1 else len(pieces) >= 2
    copy: Doc = Doc()
    for piece in pieces:
        copy.apply_update(piece)
    assert decode_state_vector(copy.get_state()) == decode_state_vector(source.get_state())
    assert _tree(copy.get("mesh", type=XmlFragment)) == _tree(source.get("mesh", type=XmlFragment))
    assert copy.get("list", type=Array).to_py() == source.get("list", type=Array).to_py()
    assert copy.get("map", type=Map).to_py() == source.get("map", type=Map).to_py()
    assert copy.get("text", type=Text).diff() == source.get("text", type=Text).diff()
    assert decode_update(b"".join(pieces[:1])).items  # the first piece holds structs


def test_a_big_update_of_few_structs_applied_whole_gives_what_its_pieces_give() -> None:
    from mesh_tools.document import MeshDocument

    from ..support import DOC_SCHEMA

    # Plain pycrdt, so that one paragraph can break the schema (a size that is not a number).
    source: Doc = Doc()
    source.apply_update(MeshDocument(schema=DOC_SCHEMA).get_update())
    root = source.get("mesh", type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    with source.transaction():
        for i in range(300):
            root.children.append(XmlElement("p", {"$id": f"p{i}", "text": "x" * 4_000, "size": i}))
        root.children.append(XmlElement("p", {"$id": "bad", "size": "not a number"}))
    update = source.get_update()
    assert len(update) > 1 << 20 and len(decode_update(update).items) < 8_000
    whole, pieces = MeshDocument(schema=DOC_SCHEMA), MeshDocument(schema=DOC_SCHEMA)
    found_whole = whole.apply_update(update, structs=len(decode_update(update).items))
    found_in_pieces = pieces.apply_update(update)
    assert [(v.code, v.element_id) for v in found_whole] == [(v.code, v.element_id) for v in found_in_pieces]
    assert found_whole and whole.to_json(include_ids=True) == pieces.to_json(include_ids=True)
