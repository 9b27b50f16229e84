"""Reading documents of any size: $next continuations, search, addressing by id and by path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mesh_tools.document import MeshDocument
from mesh_tools.tools import DocumentToolkit, InMemorySource

from .examples import args, loads, rich

# Room around the element budget for the result's other fields (hidden, note, version).
_ENVELOPE = 600


def board_of_lists(lists: int, items: int) -> MeshDocument:
    """A rich document: ``lists`` lists of ``items`` items, item i of list l saying ``l.i``."""
    blocks = [
        {"list": {"ordered": False, "items": [{"item": {"text": f"item {n}.{i}"}} for i in range(items)]}}
        for n in range(lists)
    ]
    return MeshDocument.from_json(rich(), {"document": {"title": "big", "blocks": blocks}})


def kit_over(document: MeshDocument, budget: int = 12_000) -> DocumentToolkit:
    source = InMemorySource(rich())
    source.documents["big.doc"] = document
    return DocumentToolkit(source, schema=rich(), path="big.doc", describe_budget=budget)


async def call(kit: DocumentToolkit, tool: str, /, **arguments: Any) -> tuple[Any, int]:
    text = await kit.call(tool, args(**arguments))
    return loads(text), len(text)


def _walk(element: dict[str, Any], seen: set[str], todo: list[str]) -> None:
    seen.add(element["$id"])
    if "$next" in element:
        todo.append(element["$next"])
    for value in element.values():
        if isinstance(value, list):
            for child in value:
                _walk(child, seen, todo)


async def crawl(kit: DocumentToolkit) -> tuple[set[str], int, int]:
    """Every id a model reaches by following $next from the root; the calls and the largest result."""
    seen: set[str] = set()
    todo = ["root"]
    calls = largest = 0
    while todo:
        result, size = await call(kit, "describe_document", id=todo.pop(), depth=None)
        assert result["ok"], result
        calls += 1
        largest = max(largest, size)
        _walk(result["element"], seen, todo)
    return seen, calls, largest


@pytest.mark.slow
async def test_every_element_of_a_100k_element_document_is_reachable_within_the_budget() -> None:
    document = board_of_lists(100, 999)
    assert len(document) == 100_001
    kit = kit_over(document)
    seen, calls, largest = await crawl(kit)
    assert seen == {element.id for element in document}
    assert largest <= kit.describe_budget + _ENVELOPE
    whole = len(json.dumps(document.to_json(include_ids=True), separators=(",", ":")))
    # Each page is nearly full: the number of calls is bounded by the document's size over the budget.
    assert calls <= 2 * whole // kit.describe_budget + 1
    # One search finds any element; its path addresses it like its id.
    result, size = await call(
        kit,
        "search_elements",
        tag=None,
        attribute=None,
        equals=None,
        text="item 73.512",
        under=None,
        cursor=None,
    )
    assert size <= kit.describe_budget + _ENVELOPE
    [match] = result["matches"]
    assert match["path"] == "/list[73]/item[512]"
    edited = await call(kit, "set_attribute", id=match["path"], attribute={"name": "text", "value": "found"})
    assert edited[0]["previous"] == "item 73.512"
    assert document.element_by_id(match["id"]).get_attribute("text") == "found"


async def test_a_wide_parent_reads_page_by_page_and_resumes_at_its_anchor() -> None:
    document = board_of_lists(1, 600)
    kit = kit_over(document, budget=3_000)
    first, _ = await call(kit, "describe_document", id="root", depth=None)
    listing = first["element"]["blocks"][0]
    shown = len(listing["items"])
    assert listing["$more"] == 600 - shown
    token = listing["$next"]
    assert token == f"{listing['$id']}@{shown}:{document.root.get_children()[0].get_children()[shown].id}"
    # Someone inserts two items at the top meanwhile: the continuation still starts at the first unread item.
    items = document.root.get_children()[0]
    items.insert_child(0, "item", {"text": "new a"})
    items.insert_child(0, "item", {"text": "new b"})
    second, _ = await call(kit, "describe_document", id=token, depth=None)
    assert second["element"]["$from"] == shown + 2
    assert second["element"]["items"][0]["text"] == f"item 0.{shown}"
    seen, _, largest = await crawl(kit)
    assert seen == {element.id for element in document}
    assert largest <= 3_000 + _ENVELOPE


async def test_search_filters_by_tag_attribute_value_and_text_and_pages() -> None:
    document = board_of_lists(3, 40)
    document.root.append_child("heading", {"text": "Item overview", "level": 2})
    kit = kit_over(document, budget=1_500)
    blank = {"tag": None, "attribute": None, "equals": None, "text": None, "under": None, "cursor": None}
    headings, _ = await call(kit, "search_elements", **{**blank, "tag": "heading"})
    assert [(m["tag"], m["path"], m["parent"], m["preview"]) for m in headings["matches"]] == [
        ("heading", "/heading[3]", "root", '{"text":"Item overview","level":2}')
    ]
    assert "next" not in headings
    level, _ = await call(kit, "search_elements", **{**blank, "attribute": "level", "equals": 2})
    assert [m["tag"] for m in level["matches"]] == ["heading"]
    wrong_type, _ = await call(kit, "search_elements", **{**blank, "attribute": "level", "equals": "2"})
    assert wrong_type["matches"] == []
    second_list = document.root.get_children()[1].id
    pages: list[str] = []
    query = {**blank, "text": "ITEM 1.", "under": second_list}
    while True:
        page, size = await call(kit, "search_elements", **query)
        assert size <= 1_500 + _ENVELOPE
        pages += [m["preview"] for m in page["matches"]]
        if "next" not in page:
            break
        query["cursor"] = page["next"]
    assert pages == [f'{{"text":"item 1.{i}"}}' for i in range(40)]
    bad, _ = await call(kit, "search_elements", **{**blank, "equals": 2})
    assert bad["error"]["code"] == "invalid_value"


async def test_paging_resumes_the_search_until_the_document_changes() -> None:
    document = board_of_lists(4, 30)
    kit = kit_over(document, budget=1_000)
    query = {"tag": "item", "attribute": None, "equals": None, "text": None, "under": None, "cursor": None}
    first, _ = await call(kit, "search_elements", **query)
    second, _ = await call(kit, "search_elements", **{**query, "cursor": first["next"]})
    # Another page asked for again (a retried call) is answered the same by a new walk.
    again, _ = await call(kit, "search_elements", **{**query, "cursor": first["next"]})
    assert again["matches"] == second["matches"] and again["next"] == second["next"]
    # An edit between pages: the next page reads the document as it is now, not the kept walk.
    shown = [m["id"] for m in first["matches"] + second["matches"]]
    document.get_element(shown[0]).delete()
    document.root.get_children()[0].insert_child(0, "item", {"text": "new first"})
    third, _ = await call(kit, "search_elements", **{**query, "cursor": second["next"]})
    skip = int(second["next"].removeprefix("page:"))
    expected = [element.id for element in document if element.tag_name == "item"][
        skip : skip + len(third["matches"])
    ]
    assert [m["id"] for m in third["matches"]] == expected and expected
    # Paging every match agrees with a plain walk of the document, whatever the page size.
    ids: list[str] = []
    page = {"next": None}
    while "next" in page:
        page, _ = await call(kit, "search_elements", **{**query, "cursor": page["next"]})
        ids += [m["id"] for m in page["matches"]]
    assert ids == [element.id for element in document if element.tag_name == "item"]


async def test_paths_address_elements_and_say_where_they_went_wrong() -> None:
    document = board_of_lists(2, 3)
    kit = kit_over(document)
    item = document.root.get_children()[1].get_children()[2]
    described, _ = await call(kit, "describe_document", id="/list[1]/item[2]", depth=None)
    assert described["element"]["$id"] == item.id
    whole, _ = await call(kit, "describe_document", id="/", depth=0)
    assert whole["element"]["$id"] == "root"
    wrong_tag, _ = await call(kit, "delete_element", id="/heading[0]")
    assert wrong_tag["error"] == {
        "code": "not_found",
        "message": "/ has a <list> at position 0, not a <heading>",
        "hint": "its path is /list[0]; paths move when siblings change",
    }
    past, _ = await call(kit, "delete_element", id="/list[1]/item[3]")
    assert past["error"]["message"] == "/list[1] has 3 children; item[3] is past the end"
    malformed, _ = await call(kit, "delete_element", id="/list")
    assert malformed["error"]["code"] == "invalid_value"
