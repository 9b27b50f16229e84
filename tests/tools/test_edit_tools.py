"""apply_edits, move_element and undo through the real toolkit: atomic batches built with refs, moves,
and undo of the toolkit's own edits that never rewrites another participant's."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_tools.document import MeshDocument
from mesh_tools.schema import MeshSchema
from mesh_tools.tools import DocumentToolkit, InMemorySource, lint_strict

from ..support import ARTICLE
from .examples import BOARD, HTML, args, loads, rich


async def call(kit: DocumentToolkit, tool: str, **arguments: Any) -> Any:
    return loads(await kit.call(tool, args(**arguments)))


def toolkits(schema: MeshSchema, *names: str) -> tuple[MeshDocument, list[DocumentToolkit]]:
    """Toolkits of several participants sharing one replica (each its own undo history)."""
    source = InMemorySource(schema)
    kits = [DocumentToolkit(source, schema=schema, path="d", participant=name) for name in names]
    return source.documents.setdefault("d", MeshDocument(schema=schema)), kits


def insert(parent: str, element: dict[str, Any], ref: str | None = None, position: int | None = None) -> Any:
    return {"op": "insert", "parent": parent, "position": position, "ref": ref, "element": element}


def paragraph(text: str, style: str | None = None) -> dict[str, Any]:
    return {"$tag": "paragraph", "text": text, "style": style}


async def test_a_batch_builds_a_table_with_refs_in_one_call_and_one_update() -> None:
    document, [kit] = toolkits(rich(), "ana")
    # The first edit also writes the participant register: out of the way before counting updates.
    await call(
        kit, "set_attribute", id="root", attribute={"name": "title", "value": "t"}, if_unchanged_since=None
    )
    updates: list[bytes] = []
    document.on_update(lambda update, origin: updates.append(update))
    result = await call(
        kit,
        "apply_edits",
        edits=[
            insert("root", {"$tag": "table", "caption": "Plan"}, ref="t"),
            insert("@t", {"$tag": "row"}, ref="r"),
            insert("@r", {"$tag": "cell", "text": "a"}),
            insert("@r", {"$tag": "cell", "text": "b"}, ref="b", position=0),
            {"op": "set", "id": "@b", "attribute": {"name": "text", "value": "first"}},
        ],
        if_unchanged_since=None,
    )
    assert result["ok"] and result["applied"] == 5
    assert len(updates) == 1
    table_id, row_id, cell_b = result["refs"]["t"], result["refs"]["r"], result["refs"]["b"]
    assert list(result["ids"].values()) == ["table", "row", "cell", "cell"]
    table = document.element_by_id(table_id).to_json()
    assert table == {
        "table": {
            "caption": "Plan",
            "rows": [{"row": {"cells": [{"cell": {"text": "first"}}, {"cell": {"text": "a"}}]}}],
        }
    }
    assert document.element_by_id(cell_b).parent is document.element_by_id(row_id)


async def test_a_failing_batch_names_its_edit_and_changes_nothing() -> None:
    document, [kit] = toolkits(rich(), "ana")
    before = document.to_json(include_ids=True)
    result = await call(
        kit,
        "apply_edits",
        edits=[
            insert("root", paragraph("kept?"), ref="p"),
            {"op": "move", "id": "@p", "parent": "@p", "position": None},
        ],
        if_unchanged_since=None,
    )
    assert result["ok"] is False
    assert result["error"]["message"].startswith("edit 1 (move): element")
    assert "nothing was changed" in result["error"]["hint"]
    assert document.to_json(include_ids=True) == before
    # A path works as an address; an unknown one is named with its edit.
    result = await call(
        kit, "apply_edits", edits=[{"op": "delete", "id": "/paragraph[4]"}], if_unchanged_since=None
    )
    assert result["error"]["code"] == "not_found" and result["error"]["message"].startswith("edit 0 (delete)")


async def test_move_element_moves_and_answers_without_batch_wording() -> None:
    document, [kit] = toolkits(rich(), "ana")
    made = await call(
        kit,
        "apply_edits",
        edits=[
            insert("root", {"$tag": "list", "ordered": None}, ref="l"),
            insert("root", paragraph("p")),
            insert("@l", {"$tag": "item", "text": "i", "done": None}, ref="i"),
        ],
        if_unchanged_since=None,
    )
    list_id, item_id = made["refs"]["l"], made["refs"]["i"]
    paragraph_id = next(i for i, tag in made["ids"].items() if tag == "paragraph")
    moved = await call(
        kit, "move_element", id=list_id, parent_id="root", position=None, if_unchanged_since=None
    )
    assert moved["ok"] and (moved["parent"], moved["position"]) == ("root", 1)
    assert [e.id for e in document.root.get_children()] == [paragraph_id, list_id]
    assert document.element_by_id(item_id).parent is document.element_by_id(list_id)
    refused = await call(
        kit, "move_element", id=item_id, parent_id="root", position=0, if_unchanged_since=None
    )
    assert refused["error"]["code"] == "child_not_allowed"
    assert not refused["error"]["message"].startswith("edit")


async def test_undo_reverts_each_kind_of_edit_newest_first() -> None:
    document, [kit] = toolkits(rich(), "ana")
    empty = document.to_json(include_ids=True)
    created = await call(
        kit,
        "append_child",
        parent_id="root",
        position=None,
        element=paragraph("one", "note"),
        if_unchanged_since=None,
    )
    after_append = document.to_json(include_ids=True)
    element_id = created["id"]
    await call(
        kit,
        "set_attribute",
        id=element_id,
        attribute={"name": "text", "value": "two"},
        if_unchanged_since=None,
    )
    await call(kit, "remove_attribute", id=element_id, name="style", if_unchanged_since=None)
    await call(
        kit,
        "apply_edits",
        edits=[
            insert("root", paragraph("b"), position=0),
            {"op": "move", "id": element_id, "parent": "root", "position": 0},
        ],
        if_unchanged_since=None,
    )
    await call(kit, "delete_element", id=element_id, if_unchanged_since=None)
    assert document.get_element(element_id) is None

    answers = [await call(kit, "undo") for _ in range(4)]
    assert [a["undone"] for a in answers] == [
        "delete_element",
        "apply_edits",
        "remove_attribute",
        "set_attribute",
    ]
    assert document.to_json(include_ids=True) == after_append  # the same id is back, as it was
    assert (await call(kit, "undo"))["undone"] == "append_child"
    assert document.to_json(include_ids=True) == empty
    nothing = await call(kit, "undo")
    assert nothing["error"]["code"] == "invalid_operation"


async def test_undo_of_a_text_edit_restores_characters_and_marks() -> None:
    document, [kit] = toolkits(ARTICLE, "ana")
    para = document.root.append_json(
        {"para": {"text": "hello brave world", "$marks": [{"mark": "bold", "start": 0, "end": 11}]}}
    )
    before = para.to_json()
    await call(kit, "replace_text", id=para.id, snippet="brave", text="new", if_unchanged_since=None)
    await call(
        kit,
        "format_text",
        id=para.id,
        snippet="world",
        mark="italic",
        on=True,
        href=None,
        if_unchanged_since=None,
    )
    await call(kit, "set_text", id=para.id, text="gone", if_unchanged_since=None)
    for _ in range(3):
        assert (await call(kit, "undo"))["ok"]
    assert para.to_json() == before


async def test_undo_never_rewrites_another_participants_later_edit() -> None:
    document, (ana, bo) = toolkits(rich(), "ana", "bo")
    mine = await call(
        ana,
        "append_child",
        parent_id="root",
        position=None,
        element=paragraph("ana's"),
        if_unchanged_since=None,
    )
    theirs = await call(
        bo,
        "append_child",
        parent_id="root",
        position=None,
        element=paragraph("bo's"),
        if_unchanged_since=None,
    )
    await call(
        ana,
        "set_attribute",
        id=mine["id"],
        attribute={"name": "text", "value": "ana 2"},
        if_unchanged_since=None,
    )
    await call(
        bo,
        "set_attribute",
        id=theirs["id"],
        attribute={"name": "text", "value": "bo 2"},
        if_unchanged_since=None,
    )
    # Bo's edits elsewhere do not stand in the way, and stay.
    assert (await call(ana, "undo"))["undone"] == "set_attribute"
    assert document.element_by_id(mine["id"]).get_attribute("text") == "ana's"
    assert document.element_by_id(theirs["id"]).get_attribute("text") == "bo 2"
    # Bo then edits the element Ana made: undoing Ana's insert would delete Bo's text with it.
    await call(
        bo,
        "set_attribute",
        id=mine["id"],
        attribute={"name": "style", "value": "quote"},
        if_unchanged_since=None,
    )
    refused = await call(ana, "undo")
    assert refused["error"]["code"] == "conflict"
    assert (
        "another participant changed" in refused["error"]["message"]
        or "inside" in refused["error"]["message"]
    )
    assert document.element_by_id(mine["id"]).get_attribute("style") == "quote"
    # The refused step left Ana's history: nothing older is left, and Bo's undo is his own.
    assert (await call(ana, "undo"))["error"]["code"] == "invalid_operation"
    assert (await call(bo, "undo"))["undone"] == "set_attribute"
    assert document.element_by_id(mine["id"]).get_attribute("style") is None


async def test_undo_refuses_to_reset_an_attribute_someone_set_after() -> None:
    document, (ana, bo) = toolkits(rich(), "ana", "bo")
    document.root.set_attribute("title", "start")
    await call(
        ana, "set_attribute", id="root", attribute={"name": "title", "value": "ana"}, if_unchanged_since=None
    )
    await call(
        bo, "set_attribute", id="root", attribute={"name": "title", "value": "bo"}, if_unchanged_since=None
    )
    refused = await call(ana, "undo")
    assert refused["error"]["code"] == "conflict" and "title" in refused["error"]["message"]
    assert document.root.get_attribute("title") == "bo"


async def test_if_unchanged_since_guards_every_element_a_batch_addresses() -> None:
    document, [ana] = toolkits(rich(), "ana")
    read = await call(ana, "describe_document", id="root", depth=None)
    # Another participant's replica changes the root's title; its update reaches this one.
    other = MeshDocument(schema=rich())
    other.apply_update(document.get_update())
    state = other.get_state()
    other.root.set_attribute("title", "bo")
    document.apply_update(other.get_update(state))
    stale = await call(
        ana, "apply_edits", edits=[insert("root", paragraph("late"))], if_unchanged_since=read["version"]
    )
    assert stale["error"]["code"] == "conflict" and "title" in stale["error"]["message"]
    assert len(document.root.get_children()) == 0


@pytest.mark.parametrize("schema", [HTML, BOARD, ARTICLE, rich()], ids=["html", "board", "article", "rich"])
def test_the_new_tools_are_strict_clean_and_reach_the_agents_adapter(schema: MeshSchema) -> None:
    kit = DocumentToolkit(InMemorySource(schema), schema=schema, path="d")
    tools = {t["name"]: t for t in kit.responses_tools()}
    for name in ("apply_edits", "move_element", "undo"):
        assert lint_strict(tools[name]["parameters"]) == [], name
        assert tools[name]["strict"] is True
    assert {"apply_edits", "move_element", "undo"} <= {tool.name for tool in kit.agents_sdk_tools()}
