"""to_json lays each element out as its schema lists it, whatever the CRDT holds and in whichever order."""

from __future__ import annotations

import json

import pytest

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.document import MeshDocument

SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(
            tag_name="p",
            properties=[
                ValueProperty(name="text", type="string"),
                ValueProperty(name="n", type="number"),
                ValueProperty(name="flag", type="boolean"),
            ],
        ),
    ],
)


@pytest.mark.parametrize("include_ids", [True, False])
def test_attributes_come_in_schema_order_then_unlisted_ones_sorted(include_ids: bool) -> None:
    document = MeshDocument(schema=SCHEMA)
    full = document.root.append_child("p", {"flag": True, "n": 2, "text": "all"})
    partial = document.root.append_child("p", {"n": 2.5})
    beside = document.root.append_child("p", {"text": "extra", "n": 1, "flag": False})
    # Written beside the API, as a raw update can: names the schema does not list, an integral float
    # where a string belongs.
    beside._xml.attributes["zz"] = 4.0
    beside._xml.attributes["aa"] = "first"
    beside._xml.attributes["text"] = 7.0

    children = document.to_json(include_ids=include_ids)["doc"]["children"]

    def ids(element_id: str) -> dict[str, str]:
        return {"$id": element_id} if include_ids else {}

    expected = [
        {"p": {**ids(full.id), "text": "all", "n": 2, "flag": True}},
        {"p": {**ids(partial.id), "n": 2.5}},
        {"p": {**ids(beside.id), "text": 7, "n": 1, "flag": False, "aa": "first", "zz": 4}},
    ]
    # Compared as text: the order of the keys is part of what to_json promises.
    assert json.dumps(children) == json.dumps(expected)
    assert [type(child["p"].get("n")) for child in children] == [int, float, int]
