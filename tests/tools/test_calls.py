"""Running tool calls: results, every error a model can get (exact text), describe budgets, notices."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mesh_tools.document import MeshDocument
from mesh_tools.schema import MeshSchema
from mesh_tools.tools import DocumentToolkit, InMemorySource, Toolkit

from ..support.replicas import replica_of
from .examples import BOARD, HTML, args, loads, rich


def kit_for(schema: MeshSchema, path: str | None = "doc") -> tuple[DocumentToolkit, InMemorySource]:
    source = InMemorySource(schema)
    return DocumentToolkit(source, schema=schema, path=path, allow_create=path is None), source


def error(code: str, message: str, hint: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, "hint": hint}}


def paragraph(text: str | None = "hi", style: str | None = None) -> dict[str, Any]:
    return {"$tag": "paragraph", "text": text, "style": style}


async def call(kit: DocumentToolkit, tool: str, /, **arguments: Any) -> Any:
    """The result, less the version every successful call carries (tests/tools/test_change_feed.py)."""
    result = loads(await kit.call(tool, args(**arguments)))
    if result["ok"]:
        assert isinstance(result.pop("version"), str)
    return result


async def append(
    kit: DocumentToolkit, element: dict[str, Any], parent: str = "root", position: int | None = None
) -> Any:
    return await call(kit, "append_child", parent_id=parent, position=position, element=element)


# -- successful calls ---------------------------------------------------------------------------


async def test_open_describe_and_edit_a_document_by_path() -> None:
    kit, source = kit_for(rich(), path=None)
    assert await call(kit, "open_document", path="notes.doc") == {
        "ok": True,
        "path": "notes.doc",
        "root": {"id": "root", "tag": "document"},
        "elements": 1,
    }
    table = {
        "$tag": "table",
        "caption": "Plan",
        "rows": [{"$tag": "row", "cells": [{"$tag": "cell", "text": "a"}, {"$tag": "cell", "text": None}]}],
    }
    result = await call(kit, "append_child", path="notes.doc", parent_id="root", position=None, element=table)
    ids = list(result["ids"])
    assert result == {
        "ok": True,
        "id": ids[0],
        "ids": dict(zip(ids, ["table", "row", "cell", "cell"], strict=True)),
    }
    assert await call(
        kit, "set_attribute", path="notes.doc", id="root", attribute={"name": "title", "value": "T"}
    ) == {
        "ok": True,
        "previous": None,
    }
    assert await call(kit, "describe_document", path="notes.doc", id="root", depth=None) == {
        "ok": True,
        "element": {
            "$tag": "document",
            "$id": "root",
            "title": "T",
            "blocks": [
                {
                    "$tag": "table",
                    "$id": ids[0],
                    "caption": "Plan",
                    "rows": [
                        {
                            "$tag": "row",
                            "$id": ids[1],
                            "cells": [
                                {"$tag": "cell", "$id": ids[2], "text": "a"},
                                {"$tag": "cell", "$id": ids[3]},
                            ],
                        }
                    ],
                }
            ],
        },
    }
    document = source.documents["notes.doc"]
    assert document.to_json() == {
        "document": {
            "title": "T",
            "blocks": [
                {
                    "table": {
                        "caption": "Plan",
                        "rows": [{"row": {"cells": [{"cell": {"text": "a"}}, {"cell": {}}]}}],
                    }
                }
            ],
        }
    }
    assert await call(kit, "remove_attribute", path="notes.doc", id="root", name="title") == {
        "ok": True,
        "previous": "T",
    }
    assert await call(kit, "delete_element", path="notes.doc", id=ids[0]) == {"ok": True, "deleted": 4}
    assert document.to_json() == {"document": {"blocks": []}}


async def test_a_nested_insert_is_one_transaction() -> None:
    kit, source = kit_for(BOARD)
    await call(kit, "describe_document", id="root", depth=0)
    updates: list[bytes] = []
    source.documents["doc"].on_update(lambda update, origin: updates.append(update))
    card = {
        "$tag": "card",
        "title": "Ship",
        "priority": "high",
        "done": False,
        "estimate": 2.5,
        "parts": [
            {"$tag": "summary", "text": "why"},
            {"$tag": "checklist", "checks": [{"$tag": "check", "text": "tests", "done": True}]},
        ],
    }
    column = {"$tag": "column", "name": "Doing", "wip_limit": 3, "cards": [card]}
    result = await append(kit, column)
    assert list(result["ids"].values()) == ["column", "card", "summary", "checklist", "check"]
    assert len(updates) == 1


async def test_positions_insert_among_existing_children() -> None:
    kit, source = kit_for(rich())
    first = (await append(kit, paragraph("first")))["id"]
    last = (await append(kit, paragraph("last")))["id"]
    middle = (await append(kit, paragraph("middle"), position=1))["id"]
    top = (await append(kit, paragraph("top"), position=0))["id"]
    children = source.documents["doc"].root.get_children()
    assert [child.id for child in children] == [top, first, middle, last]


async def test_parallel_calls_open_the_document_once() -> None:
    opened: list[str] = []

    class CountingSource(InMemorySource):
        async def open(self, path: str) -> MeshDocument:
            opened.append(path)
            await asyncio.sleep(0)
            return await super().open(path)

    kit = DocumentToolkit(CountingSource(rich()), schema=rich(), path="doc")
    results = await asyncio.gather(*(append(kit, paragraph(str(i))) for i in range(5)))
    assert [result["ok"] for result in results] == [True] * 5
    assert opened == ["doc"]


# -- describe: depth, budget and what was left out ----------------------------------------------


async def filled(count: int) -> tuple[DocumentToolkit, list[str]]:
    kit, _ = kit_for(rich())
    ids = []
    for i in range(count):
        lst = {
            "$tag": "list",
            "ordered": None,
            "items": [{"$tag": "item", "text": f"{i}.{j}", "done": None} for j in range(3)],
        }
        ids.append((await append(kit, lst))["id"])
    return kit, ids


async def test_describe_limits_depth_and_marks_hidden_children() -> None:
    kit, ids = await filled(2)
    document = next(iter(kit._documents.values())).document
    items = [document.element_by_id(list_id).get_children()[0].id for list_id in ids]
    result = await call(kit, "describe_document", id="root", depth=1)
    assert result == {
        "ok": True,
        "element": {
            "$tag": "document",
            "$id": "root",
            "blocks": [
                {"$tag": "list", "$id": ids[0], "items": [], "$more": 3, "$next": f"{ids[0]}@0:{items[0]}"},
                {"$tag": "list", "$id": ids[1], "items": [], "$more": 3, "$next": f"{ids[1]}@0:{items[1]}"},
            ],
        },
        "hidden": 6,
        "note": '6 of 9 elements are not shown; an element with "$more": n has n hidden children: '
        "describe_document with its id (or its $next, to continue where the listing was cut) shows them",
    }
    subtree = await call(kit, "describe_document", id=ids[1], depth=0)
    assert subtree["element"] == {
        "$tag": "list",
        "$id": ids[1],
        "items": [],
        "$more": 3,
        "$next": f"{ids[1]}@0:{items[1]}",
    }
    assert subtree["hidden"] == 3
    whole = await call(kit, "describe_document", id=ids[1], depth=None)
    assert [item["text"] for item in whole["element"]["items"]] == ["1.0", "1.1", "1.2"]
    assert "hidden" not in whole


async def test_describe_stays_within_its_budget_breadth_first() -> None:
    kit, ids = await filled(40)
    kit.describe_budget = 5_000
    result = await call(kit, "describe_document", id="root", depth=None)
    rendered = json.dumps(result["element"], separators=(",", ":"))
    assert len(rendered) <= 5_000
    blocks = result["element"]["blocks"]
    # Breadth first: every list is shown before any item, then items fill what is left.
    assert [block["$id"] for block in blocks] == ids
    assert sum(len(block["items"]) for block in blocks) < 120
    assert result["hidden"] == 161 - 1 - 40 - sum(len(block["items"]) for block in blocks)
    assert all(block.get("$more", 0) + len(block["items"]) == 3 for block in blocks)
    kit.describe_budget = 200
    tiny = await call(kit, "describe_document", id="root", depth=None)
    [block] = tiny["element"]["blocks"]
    assert block == {"$tag": "list", "$id": ids[0], "items": [], "$more": 3, "$next": block["$next"]}
    assert tiny["element"]["$next"] == f"root@1:{ids[1]}"
    assert tiny["element"]["$more"] == 39
    assert tiny["hidden"] == 159
    kit.describe_budget = 10
    assert (await call(kit, "describe_document", id=ids[0], depth=None))["element"]["$more"] == 3


# -- every error a model can get, with the exact text it reads ----------------------------------


async def test_malformed_calls() -> None:
    kit, _ = kit_for(rich())
    signature = "delete_element takes id (string), if_unchanged_since (string or null)"
    cases = {
        '{"id": ': error(
            "invalid_value",
            "the arguments are not valid JSON: Expecting value: line 1 column 8 (char 7)",
            "send one JSON object",
        ),
        '{"id": NaN}': error(
            "invalid_value",
            "the arguments are not valid JSON: NaN is not a JSON number",
            "send one JSON object",
        ),
        '{"id": "x"} {}': error(
            "invalid_value",
            "the arguments are not valid JSON: Extra data: line 1 column 13 (char 12)",
            "send one JSON object",
        ),
        ' \n{"id": 5}\t': error("invalid_value", "/id: 5 is not valid; expected string", signature),
        "[1]": error("invalid_value", "the arguments must be a JSON object, not [1]", signature),
        "": error("invalid_value", "missing argument 'id'", signature),
        '{"id": "x", "force": true}': error("invalid_value", "unexpected argument 'force'", signature),
        '{"id": 5}': error("invalid_value", "/id: 5 is not valid; expected string", signature),
        "[" * 100_000: error("invalid_value", "the arguments nest too deeply", "send one JSON object"),
    }
    for arguments, expected in cases.items():
        assert loads(await kit.call("delete_element", arguments)) == expected, arguments
    assert loads(await kit.call("redo", "{}")) == error(
        "invalid_operation",
        "there is no tool 'redo'",
        "tools: describe_document, append_child, set_attribute, remove_attribute, delete_element, "
        "move_element, apply_edits, undo, search_elements, changes_since, wait_for_changes",
    )
    assert await call(kit, "describe_document", id="root", depth=-1) == error(
        "invalid_value", "depth -1 is negative", "use 0 or more, or null for all"
    )


async def test_element_errors_name_what_is_allowed_there() -> None:
    kit, source = kit_for(rich())
    table_hint = (
        "attributes of <table> (list each, null when unset): caption: string; "
        "children go in 'rows' ([] for none): row"
    )
    cases = [
        (
            {
                "$tag": "table",
                "caption": None,
                "rows": [{"$tag": "row", "cells": [{"$tag": "cel", "text": "a"}]}],
            },
            error("unknown_tag", "/element/rows/0/cells/0: unknown tag 'cel'", "tags allowed here: cell"),
        ),
        (
            {"$tag": "table", "caption": None, "rows": [{"$tag": "cell", "text": "a"}]},
            error(
                "child_not_allowed",
                "/element/rows/0: <cell> is not allowed inside <table>",
                "children of <table>: row",
            ),
        ),
        (
            {"$tag": "document", "title": None, "blocks": []},
            error(
                "child_not_allowed",
                "/element: <document> cannot be inserted",
                "elements you can insert: heading, paragraph, list, item, table, row, cell",
            ),
        ),
        (
            {"table": {"caption": None, "rows": []}},
            error(
                "invalid_value",
                "/element: an element is an object with '$tag' naming its tag, "
                'not {"table": {"caption": null, "rows": []}}',
                "tags allowed here: heading, paragraph, list, item, table, row, cell",
            ),
        ),
        (
            {"$tag": "table", "caption": 5, "rows": []},
            error(
                "invalid_value",
                "/element/caption: 5 is not a valid value for table.caption",
                "expected caption: string, or null to leave it unset",
            ),
        ),
        (
            paragraph(style="loud"),
            error(
                "invalid_value",
                '/element/style: "loud" is not a valid value for paragraph.style',
                'expected style: one of "normal", "quote", "note", or null to leave it unset',
            ),
        ),
        (
            {"$tag": "table", "caption": None, "rows": [], "border": 1},
            error("unknown_attribute", "/element: <table> has no attribute 'border'", table_hint),
        ),
        (
            {"$tag": "table", "rows": []},
            error("invalid_value", "/element: <table> is missing 'caption'", table_hint),
        ),
        (
            {"$tag": "table", "caption": None, "rows": {}},
            error(
                "invalid_value",
                "/element/rows: must be a list of elements, not {}",
                "children of <table>: row",
            ),
        ),
        (
            {"$tag": "table", "$id": "mine", "caption": None, "rows": []},
            error(
                "reserved_attribute",
                "/element: $id cannot be set",
                "omit it; append_child returns the new ids",
            ),
        ),
        (
            {"$tag": "row", "cells": []},  # schema-valid, but the root does not take rows
            error(
                "child_not_allowed",
                "<row> is not allowed inside <document>",
                "children of <document>: heading, paragraph, list, table",
            ),
        ),
    ]
    for element, expected in cases:
        assert await append(kit, element) == expected, element
    assert await append(kit, paragraph(), position=3) == error(
        "invalid_operation",
        "position 3 is outside 0..0 for element 'root'",
        "use a position from 0 to 0, or omit it to append",
    )
    assert source.documents["doc"].to_json() == {"document": {"blocks": []}}


async def test_ordered_children_errors() -> None:
    kit, _ = kit_for(BOARD)
    column = (await append(kit, {"$tag": "column", "name": None, "wip_limit": None, "cards": []}))["id"]

    def card(parts: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "$tag": "card",
            "title": None,
            "priority": None,
            "done": None,
            "estimate": None,
            "parts": parts,
        }

    summary = {"$tag": "summary", "text": None}
    checklist = {"$tag": "checklist", "checks": []}
    assert await append(kit, card([checklist, summary]), parent=column) == error(
        "child_not_allowed",
        "<card> takes its children in order; position 0 must be summary",
        "children of <card> in order: summary, checklist",
    )
    assert await append(kit, card([summary, checklist, summary]), parent=column) == error(
        "child_not_allowed",
        "/element/parts: <card> takes at most 2 children",
        "children of <card> in order: summary, checklist",
    )
    assert (await append(kit, card([summary, checklist]), parent=column))["ok"] is True


async def test_attribute_errors() -> None:
    kit, _ = kit_for(rich())
    attributes_hint = (
        "attributes: <document> title: string; <heading> text: string, level: number; "
        '<paragraph> text: string, style: one of "normal", "quote", "note"; <list> ordered: boolean; '
        "<item> text: string, done: boolean; <table> caption: string; <cell> text: string"
    )
    cases = [
        (
            {"name": "level", "value": "two"},
            error(
                "invalid_value",
                "/attribute/value: \"two\" is not a valid value for 'level'",
                "expected level: number on <heading>",
            ),
        ),
        (
            {"name": "text", "value": 1},
            error(
                "invalid_value",
                "/attribute/value: 1 is not a valid value for 'text'",
                "expected text: string on <heading>; text: string on <paragraph>; text: string on <item>; "
                "text: string on <cell>",
            ),
        ),
        (
            {"name": "colour", "value": "red"},
            error(
                "unknown_attribute", '/attribute/name: no element has an attribute "colour"', attributes_hint
            ),
        ),
        (
            {"name": "$id", "value": "x"},
            error(
                "reserved_attribute",
                "/attribute/name: $id is managed by the document",
                "ids cannot be set or removed",
            ),
        ),
        (
            {"value": "x"},
            error(
                "invalid_value",
                '/attribute: expected {"name": <attribute>, "value": <value>}, not {"value": "x"}',
                attributes_hint,
            ),
        ),
        (
            {"name": "title", "value": "x", "why": "y"},
            error(
                "invalid_value",
                '/attribute: expected exactly {"name", "value"}, '
                'not {"name": "title", "value": "x", "why": "y"}',
                attributes_hint,
            ),
        ),
        (
            {"name": "level", "value": 2},  # schema-valid, but the root has no level
            error(
                "unknown_attribute",
                "<document> has no attribute 'level'",
                "attributes of <document>: title: string",
            ),
        ),
    ]
    for attribute, expected in cases:
        assert await call(kit, "set_attribute", id="root", attribute=attribute) == expected, attribute
    assert await call(kit, "remove_attribute", id="root", name="$id") == error(
        "reserved_attribute", "/name: $id is managed by the document", "ids cannot be set or removed"
    )
    assert await call(kit, "remove_attribute", id="root", name="colour") == error(
        "unknown_attribute", '/name: no element has an attribute "colour"', attributes_hint
    )
    assert await call(kit, "remove_attribute", id="root", name="done") == error(
        "unknown_attribute", "<document> has no attribute 'done'", "attributes of <document>: title: string"
    )


async def test_id_errors_say_whether_the_element_was_deleted_and_by_whom() -> None:
    kit, source = kit_for(rich())
    mine = (await append(kit, paragraph()))["id"]
    theirs = (await append(kit, paragraph()))["id"]
    other = replica_of(source.documents["doc"])
    other.element_by_id(theirs).delete()
    deleted = await call(kit, "delete_element", id=mine)
    # The edit's result also tells of the other's deletion; a deletion alone advances no clock, so it
    # names no author (never this replica's own client, whose edits came before).
    [change] = deleted.pop("changes")
    assert deleted == {"ok": True, "deleted": 1}
    assert change == {"op": "delete", "ids": [theirs]}
    not_found_hint = "call describe_document to see the current elements and ids"
    assert await call(kit, "set_attribute", id=mine, attribute={"name": "text", "value": "x"}) == error(
        "not_found", f"element '{mine}' was deleted by you", not_found_hint
    )
    assert await call(kit, "delete_element", id=theirs) == error(
        "not_found", f"element '{theirs}' was deleted by another participant", not_found_hint
    )
    assert await call(kit, "describe_document", id="nope", depth=None) == error(
        "not_found", "no element has id 'nope'", 'ids come from describe_document; the root\'s id is "root"'
    )
    assert await call(kit, "delete_element", id="root") == error(
        "invalid_operation", "the root element cannot be deleted", "delete its children"
    )


async def test_source_errors_come_back_as_results() -> None:
    kit, source = kit_for(HTML, path=None)
    assert await call(kit, "open_document", path="") == error(
        "invalid_path", "a document path cannot be empty", "use a path such as 'notes.html'"
    )
    source.documents["other.doc"] = MeshDocument(schema=rich())
    assert await call(kit, "describe_document", path="other.doc", id="root", depth=None) == error(
        "invalid_operation",
        "other.doc is a <document> document; these tools edit <html> documents",
        "open a document of this toolkit's type",
    )

    class BrokenSource:
        async def open(self, path: str) -> MeshDocument:
            raise RuntimeError("disk on fire")

    broken = DocumentToolkit(BrokenSource(), schema=HTML, path="page.html")
    assert await call(broken, "delete_element", id="x") == error(
        "internal_error",
        "the tool failed: RuntimeError: disk on fire",
        "this is not caused by your arguments; try again",
    )


# -- what others changed ------------------------------------------------------------------------


async def test_change_notice_reports_only_others_edits_once() -> None:
    kit, source = kit_for(rich())
    assert kit.change_notice() is None  # nothing open yet
    mine = (await append(kit, paragraph("mine")))["id"]
    other = replica_of(source.documents["doc"])
    assert kit.change_notice() is None  # its own edits are not news to the agent
    new = other.root.append_json({"list": {"items": [{"item": {"text": "a"}}]}})
    other.element_by_id(mine).set_attribute("style", "quote")
    other.element_by_id(mine).set_attribute("text", "edited")
    new.set_attribute("ordered", True)  # inside an insertion: already covered by it
    assert kit.change_notice() == (
        f"Other participants edited doc since you last looked: 1 element inserted (ids: {new.id}), "
        f"2 attribute changes on 1 element (ids: {mine}). Call describe_document to see the current state."
    )
    assert kit.change_notice() is None
    other.element_by_id(mine).delete()
    gone = other.root.append_json({"paragraph": {"text": "brief"}})
    gone.delete()  # inserted and deleted while the agent was not looking: not worth a word
    assert kit.change_notice() == (
        f"Other participants edited doc since you last looked: 1 element deleted (ids: {mine}). "
        "Call describe_document to see the current state."
    )
    for i in range(7):
        other.root.append_json({"paragraph": {"text": str(i)}})
    await call(kit, "describe_document", id="root", depth=0)
    assert kit.change_notice() is None  # describing resets it too
    added = [other.root.append_json({"paragraph": {"text": str(i)}}).id for i in range(7)]
    notice = kit.change_notice()
    assert notice is not None
    assert f"7 elements inserted (ids: {', '.join(added[:5])} and 2 more)" in notice


async def test_change_notice_covers_every_open_document() -> None:
    kit, source = kit_for(rich(), path=None)
    await call(kit, "open_document", path="a")
    await call(kit, "open_document", path="b")
    replica_of(source.documents["a"]).root.set_attribute("title", "A")
    replica_of(source.documents["b"]).root.set_attribute("title", "B")
    assert kit.change_notice() == (
        "Other participants edited a since you last looked: 1 attribute change on 1 element (ids: root). "
        "Call describe_document to see the current state. "
        "Other participants edited b since you last looked: 1 attribute change on 1 element (ids: root). "
        "Call describe_document to see the current state."
    )


async def test_closing_stops_tracking() -> None:
    kit, source = kit_for(rich())
    await append(kit, paragraph())
    other = replica_of(source.documents["doc"])
    async with kit:
        pass
    other.root.set_attribute("title", "late")
    assert kit.change_notice() is None


def test_the_document_toolkit_is_what_the_agent_loop_takes() -> None:
    kit, _ = kit_for(HTML)
    assert isinstance(kit, Toolkit)
