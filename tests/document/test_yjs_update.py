"""Reading a v1 update: what the decoder's shortcuts for common structs read is what pycrdt wrote."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment

from mesh_tools.document._yjs_update import Content, TypeRef, decode_update

# Short and long (a length past one varint byte) tags and strings, multi-byte characters, and every
# kind of value an attribute can hold.
_names = st.text(st.sampled_from("ab-é😀"), min_size=1, max_size=3).map(
    lambda name: name * 50 if name[0] == "-" else name
)
_values = st.one_of(
    _names,
    st.text(max_size=200),
    st.integers(-(2**31), 2**31 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.integers(0, 5), max_size=3),
    st.dictionaries(st.sampled_from("xy"), st.text(max_size=3), max_size=2),
)
_elements = st.lists(
    st.tuples(_names, st.dictionaries(st.sampled_from(["id", "n", "é"]), _values, max_size=3)), max_size=8
)


@settings(max_examples=60, deadline=None)
@given(first=_elements, second=_elements, overwrite=_values)
def test_every_tag_value_and_place_reads_as_written(
    first: list[tuple[str, dict[str, Any]]], second: list[tuple[str, dict[str, Any]]], overwrite: Any
) -> None:
    # Two clients write into one element, and the second overwrites an attribute of the first's: items
    # of either client name origins and parents of the other, which the decoder reads without a shortcut.
    doc: Doc = Doc(client_id=1)
    root = doc.get("mesh", type=XmlFragment).children.append(XmlElement("root"))
    for tag, attributes in first:
        root.children.append(XmlElement(tag, attributes))
    other: Doc = Doc(client_id=2**50)
    other.apply_update(doc.get_update())
    other_root = other.get("mesh", type=XmlFragment).children[0]
    for tag, attributes in second:
        other_root.children.insert(0, XmlElement(tag, attributes))
    if first:
        other_root.children[len(second)].attributes["n"] = overwrite
    doc.apply_update(other.get_update(doc.get_state()))

    items = decode_update(doc.get_update()).items

    elements = [item for item in items if item.content == Content.TYPE]
    assert all(item.type_ref == TypeRef.XML_ELEMENT for item in elements)
    written = [child for child in root.children if isinstance(child, XmlElement)]
    assert Counter(item.type_name for item in elements) == Counter(["root", *(c.tag for c in written)])
    live_values = [item.values[0] for item in items if item.content == Content.ANY]
    assert sorted(map(repr, live_values)) == sorted(
        repr(value) for child in written for _, value in child.attributes
    )
    # Every first write of an attribute names its element and key; every other item has an origin.
    by_id = {item.id: item for item in elements}
    for item in items:
        if item.origin is None and item.right_origin is None:
            assert item.parent == "mesh" or item.parent in by_id
            assert (item.key is not None) == (item.content != Content.TYPE)
