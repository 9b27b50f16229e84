"""Undo in a wide list: the elements a toolkit inserts there are deleted by their item id (ADR 0018,
"Deletes"), and undoing and redoing those deletes leaves every replica as it was."""

from __future__ import annotations

from typing import Any

from mesh_tools.document import MeshDocument
from mesh_tools.tools import DocumentToolkit, InMemorySource

from .examples import HTML, args, loads

#: Wide enough that the index keeps the item ids of what is inserted there (ElementIndex).
WIDTH = 4100


async def call(kit: DocumentToolkit, tool: str, **arguments: Any) -> Any:
    return loads(await kit.call(tool, args(**arguments)))


async def test_undoing_an_insert_and_a_delete_in_a_wide_list_leaves_every_replica_as_it_was() -> None:
    paragraphs = [{"p": {"$id": f"w{i}", "class": "loaded"}} for i in range(WIDTH)]
    document = MeshDocument.from_json(
        HTML, {"html": {"children": [{"body": {"$id": "body", "children": paragraphs}}]}}
    )
    source = InMemorySource(HTML)
    source.documents["d"] = document
    kit = DocumentToolkit(source, schema=HTML, path="d", participant="ana")
    follower = MeshDocument(schema=HTML)
    follower.apply_update(document.get_update())
    document.on_update(lambda update, origin: follower.apply_update(update))
    created = await call(
        kit,
        "append_child",
        parent_id="body",
        position=2000,
        element={"$tag": "p", "class": "mine"},
        if_unchanged_since=None,
    )
    element_id = created["id"]
    after_append = document.to_json(include_ids=True)
    assert element_id in document._index._items  # inserted into a wide parent: its item id is kept
    await call(kit, "delete_element", id=element_id, if_unchanged_since=None)
    assert document.get_element(element_id) is None and follower.get_element(element_id) is None

    assert (await call(kit, "undo"))["undone"] == "delete_element"
    assert document.to_json(include_ids=True) == follower.to_json(include_ids=True) == after_append
    assert document._index.position(element_id) == 2000 and element_id in document._index._items
    assert (await call(kit, "undo"))["undone"] == "append_child"
    assert document.get_element(element_id) is None
    assert follower.to_json(include_ids=True) == document.to_json(include_ids=True)
    assert len(document.element_by_id("body").get_children()) == WIDTH
    fresh = MeshDocument(schema=HTML)
    fresh.apply_update(document.get_update())
    assert document._index.kids == fresh._index.kids == follower._index.kids
