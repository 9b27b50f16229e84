"""A hostile writer against a real room server, fuzzed: random schemas, random raw pycrdt updates.

The hostile participant edits a plain pycrdt copy of the document, outside the document API: element
trees of any tag and depth, attribute writes of any name and value (null included), id rewrites and
removals, text nodes, top-level maps, texts and arrays, root deletion and second roots, and raw items
(characters, values, elements, text nodes, maps) put straight into any item the document holds, by
its item id or beside it. An honest
participant edits through the API meanwhile. Afterwards the honest replica, the server's stored copy
(after a restart) and a fresh replica must be valid and equal, and every honest element must still be
there under its id and tag.
"""

from __future__ import annotations

import asyncio
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText, create_update_message

from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.document._layout import attribute_items
from mesh_tools.document._yjs_update import TypeRef, decode_state_vector, decode_update
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.server import RoomServer

from ..support import MakeToken, RawClient, RawDocument, RawItem, craft_update

_TAGS = ["a", "b", "c"]
_TYPES = ["string", "number", "boolean"]
_VALUES: list[Any] = ["text", "", 3, 2.5, -1, True, False, None, "x" * 300]


@st.composite
def schemas(draw: st.DrawFn) -> MeshSchema:
    tags = ["root", *draw(st.lists(st.sampled_from(_TAGS), min_size=1, max_size=3, unique=True))]
    elements = []
    for tag in tags:
        properties: list[ValueProperty | ChildProperty] = [
            ValueProperty(name=name, type=draw(st.sampled_from(_TYPES)))
            for name in draw(st.lists(st.sampled_from(["x", "y", "z"]), max_size=3, unique=True))
        ]
        children = draw(st.lists(st.sampled_from(tags[1:]), max_size=3, unique=True))
        if tag == "root" or children:
            properties.append(ChildProperty(name="children", child_tag_names=children or tags[1:]))
        elements.append(ElementType(tag_name=tag, properties=properties))
    return MeshSchema(root_tag_name="root", elements=elements)


def _elements(fragment: XmlFragment) -> list[XmlElement]:
    """Every element under the fragment, depth first, without recursion."""
    out: list[XmlElement] = []
    stack = [child for child in fragment.children if isinstance(child, XmlElement)]
    while stack:
        element = stack.pop()
        out.append(element)
        stack.extend(child for child in element.children if isinstance(child, XmlElement))
    return out


def _hostile_edit(draw: st.DrawFn, ydoc: Doc[Any], schema: MeshSchema, own: list[str]) -> bytes | None:
    """One raw edit of the plain pycrdt copy; ``own`` collects the ids of elements it inserts.

    Returns the update to send when it is built byte by byte (pycrdt itself may refuse to apply it).
    """
    fragment = ydoc.get(FRAGMENT_NAME, type=XmlFragment)
    elements = _elements(fragment)
    ids = [element.attributes.get("$id") for element in elements]
    target = draw(st.sampled_from(elements)) if elements else None
    kind = draw(
        st.sampled_from(
            [
                "insert",
                "deep",
                "attribute",
                "rename",
                "drop id",
                "remove attribute",
                "text node",
                "top level",
                "delete root",
                "second root",
                "delete own",
                "raw into held",
            ]
        )
    )
    tags = [*schema.tag_names, "evil"]
    if kind in ("insert", "deep") and target is not None:
        depth = 1 if kind == "insert" else draw(st.integers(2, 60))
        parent = target
        for _ in range(depth):
            id_choice = draw(st.sampled_from(["fresh", "taken", "junk", "none"]))
            attributes: dict[str, Any] = {}
            if id_choice == "fresh":
                attributes["$id"] = draw(st.text(string.ascii_lowercase + "234567", min_size=8, max_size=8))
            elif id_choice == "taken" and ids:
                attributes["$id"] = draw(st.sampled_from(ids))
            elif id_choice == "junk":
                attributes["$id"] = draw(st.sampled_from(["", "has space", "root", "é" * 3]))
            for name in draw(st.lists(st.sampled_from(["x", "y", "z", "w"]), max_size=2, unique=True)):
                attributes[name] = draw(st.sampled_from(_VALUES))
            parent = parent.children.append(XmlElement(draw(st.sampled_from(tags)), attributes))
            if id_choice == "fresh" and attributes["$id"] not in ids:
                own.append(attributes["$id"])  # only its own elements: deleting others' is a writer's right
    elif kind == "attribute" and target is not None:
        target.attributes[draw(st.sampled_from(["x", "y", "z", "w"]))] = draw(st.sampled_from(_VALUES))
    elif kind == "rename" and target is not None:
        target.attributes["$id"] = draw(st.sampled_from([*[i for i in ids if i], "zzzzzzzz", "", "bad id"]))
    elif kind == "drop id" and target is not None:
        del target.attributes["$id"]
    elif kind == "remove attribute" and target is not None:
        names = [name for name, _ in attribute_items(target) if name != "$id"]
        if names:
            del target.attributes[draw(st.sampled_from(names))]
    elif kind == "text node" and target is not None:
        target.children.append(XmlText("hidden"))
    elif kind == "top level":
        shared = draw(st.sampled_from(["map", "text", "array"]))
        if shared == "map":
            ydoc.get("side", type=Map)["k"] = "v"
        elif shared == "text":
            ydoc.get("notes", type=Text).insert(0, "hidden")
        else:
            ydoc.get("list", type=Array).append(1)
    elif kind == "delete root" and len(fragment.children):
        del fragment.children[0]
    elif kind == "second root":
        position = draw(st.sampled_from([0, len(fragment.children)]))
        fragment.children.insert(position, XmlElement("root", {"$id": "root"}))
    elif kind == "raw into held":
        return _raw_into_held(draw, ydoc)
    elif kind == "delete own":
        for parent in elements:
            for position, child in enumerate(parent.children):
                if isinstance(child, XmlElement) and child.attributes.get("$id") in own:
                    del parent.children[position]
                    return None
    return None


def _raw_into_held(draw: st.DrawFn, ydoc: Doc[Any]) -> bytes:
    """An item built byte by byte into (or beside) any item the copy holds, as the copy's own next write."""
    held = [item for item in decode_update(ydoc.get_update()).items if item.content not in (0, 10)]
    target = draw(st.sampled_from(held))
    offset = draw(st.integers(0, target.length - 1))
    place = (target.id[0], target.id[1] + offset)
    beside = draw(st.booleans())
    key = None if beside else draw(st.sampled_from([None, "x"]))
    content = draw(
        st.sampled_from(
            [
                {"text": "hidden"},
                {"values": ("x",)},
                {"type_ref": TypeRef.XML_ELEMENT, "type_name": draw(st.sampled_from(_TAGS))},
                {"type_ref": TypeRef.XML_TEXT},
                {"type_ref": TypeRef.MAP},
            ]
        )
    )
    client = ydoc.client_id
    clock = decode_state_vector(ydoc.get_state()).get(client, 0)
    return craft_update(client, clock, [RawItem(place, key=key, origin=beside, **content)])


def _honest_edit(draw: st.DrawFn, doc: MeshDocument, honest: dict[str, str]) -> None:
    candidates = [
        element
        for element in doc
        if element.element_type.child_property is not None
        and element.element_type.child_property.child_tag_names
    ]
    if not candidates:
        return
    parent = draw(st.sampled_from(candidates))
    child_property = parent.element_type.child_property
    assert child_property is not None
    tag = draw(st.sampled_from(child_property.child_tag_names))
    values = {"string": "honest", "number": 7, "boolean": True}
    attributes = {
        name: values[prop.type]  # type: ignore[index]
        for name, prop in doc.schema.element(tag).attributes.items()
        if prop.type in values
    }
    child = parent.append_child(tag, attributes)
    honest[child.id] = tag


async def _quiet(*documents: RawDocument) -> None:
    """Every frame sent before this call has been handled and its fan-out read by each client."""
    for document in documents:
        await document.client.request("sync.flush", channel=document.channel)


async def _scenario(schema: MeshSchema, draw: st.DrawFn, data_dir: Path, secret: str, token: str) -> None:
    honest: dict[str, str] = {"root": "root"}
    own: list[str] = []
    async with (
        RoomServer(data_dir=data_dir, secret=secret) as server,
        RawClient.connect(server.url, token=token) as alice,
        RawClient.connect(server.url, token=token) as mallory,
    ):
        await alice.request("schema.put", name="doc", schema=schema.to_json())
        good = await alice.open("fuzz.doc")
        bad = await mallory.open("fuzz.doc")
        for _ in range(draw(st.integers(1, 8))):
            if draw(st.booleans()):
                _honest_edit(draw, good.doc, honest)
                await _quiet(good, bad)
                continue
            ydoc: Doc[Any] = Doc()
            ydoc.apply_update(bad.doc.get_update())
            state = ydoc.get_state()
            raw = _hostile_edit(draw, ydoc, schema, own)
            update = raw if raw is not None else ydoc.get_update(state)
            await mallory.send_frame(bad.channel, create_update_message(update))
            await _quiet(bad, good)
        assert good.doc.validate() == []
        final = good.doc.to_json(include_ids=True)
        assert (await alice.request("sync.describe", path="fuzz.doc"))["json"] == final
    for element_id, tag in honest.items():
        element = good.doc.get_element(element_id)
        assert element is not None and element.tag_name == tag, f"honest <{tag}> {element_id} was lost"
    async with (
        RoomServer(data_dir=data_dir, secret=secret) as restarted,
        RawClient.connect(restarted.url, token=token) as fresh,
    ):
        stored = await fresh.open("fuzz.doc", create=False)
        assert stored.doc.validate() == []
        assert stored.doc.to_json(include_ids=True) == final
        assert list(stored.doc.ydoc.keys()) == [FRAGMENT_NAME]


@pytest.mark.slow
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schema=schemas(), data=st.data())
def test_hostile_raw_updates_never_break_or_lose_honest_content(
    schema: MeshSchema,
    data: st.DataObject,
    tmp_path_factory: pytest.TempPathFactory,
    secret: str,
    make_token: MakeToken,
) -> None:
    asyncio.run(_scenario(schema, data.draw, tmp_path_factory.mktemp("fuzz"), secret, make_token()))
