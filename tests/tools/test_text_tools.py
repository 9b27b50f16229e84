"""The text tools: edits anchored on snippets, their errors and results, strict schemas, live merges."""

from __future__ import annotations

import asyncio
from typing import Any

from mesh_tools.client import RoomClient
from mesh_tools.server import RoomServer
from mesh_tools.tools import DocumentToolkit, InMemorySource, ToolName

from ..support import ARTICLE, ROOM, ClientFactory
from .examples import args, loads


async def _kit_with(text: str) -> tuple[DocumentToolkit, str]:
    kit = DocumentToolkit(InMemorySource(ARTICLE), schema=ARTICLE, path="a.article")
    para = {"$tag": "para", "style": None, "text": text}
    created = loads(
        await kit.call(ToolName.APPEND_CHILD, args(parent_id="root", position=None, element=para))
    )
    return kit, created["id"]


def test_text_tools_are_strict_and_take_snippets_not_offsets() -> None:
    kit = DocumentToolkit(InMemorySource(ARTICLE), schema=ARTICLE, path="a.article")
    tools = {tool["name"]: tool for tool in kit.responses_tools()}
    assert all(tool["strict"] for tool in tools.values())
    assert tools["replace_text"]["parameters"]["required"] == ["id", "snippet", "text", "if_unchanged_since"]
    insert_required = tools["insert_text"]["parameters"]["required"]
    assert insert_required == ["id", "after", "before", "text", "if_unchanged_since"]
    assert tools["set_text"]["parameters"]["required"] == ["id", "text", "if_unchanged_since"]
    fmt = tools["format_text"]["parameters"]["properties"]
    assert fmt["mark"] == {"type": "string", "enum": ["bold", "italic", "code", "link"]}
    assert fmt["href"]["type"] == ["string", "null"]
    para = tools["append_child"]["parameters"]["$defs"]["para"]["properties"]
    assert para["text"] == {"type": ["string", "null"]}


async def test_replace_insert_and_set_say_what_changed() -> None:
    kit, pid = await _kit_with("the quick fox")
    replaced = loads(await kit.call(ToolName.REPLACE_TEXT, args(id=pid, snippet="quick", text="slow")))
    assert isinstance(replaced.pop("version"), str)  # like every edit's result (change feeds)
    assert replaced == {"ok": True, "at": 4, "removed": "quick", "inserted": "slow", "text": "the slow fox"}
    after = loads(await kit.call(ToolName.INSERT_TEXT, args(id=pid, after="fox", before=None, text=" ran")))
    assert (after["at"], after["text"]) == (12, "the slow fox ran")
    before = loads(await kit.call(ToolName.INSERT_TEXT, args(id=pid, after=None, before="the", text="See ")))
    assert before["text"] == "See the slow fox ran"
    end = loads(await kit.call(ToolName.INSERT_TEXT, args(id=pid, after=None, before=None, text=".")))
    assert end["text"] == "See the slow fox ran."
    deleted = loads(await kit.call(ToolName.REPLACE_TEXT, args(id=pid, snippet="slow ", text="")))
    assert (deleted["removed"], deleted["inserted"], deleted["text"]) == ("slow ", "", "See the fox ran.")
    whole = loads(await kit.call(ToolName.SET_TEXT, args(id=pid, text="Fresh.")))
    assert (whole["removed"], whole["text"]) == ("See the fox ran.", "Fresh.")


async def test_long_texts_answer_with_the_context_of_the_edit() -> None:
    kit, pid = await _kit_with("a" * 300 + " needle " + "b" * 300)
    result = loads(await kit.call(ToolName.REPLACE_TEXT, args(id=pid, snippet="needle", text="pin")))
    assert "text" not in result
    assert result["context"] == "…" + "a" * 79 + " pin " + "b" * 79 + "…"  # 80 characters each side


async def test_missing_or_repeated_snippets_fail_with_the_current_text() -> None:
    kit, pid = await _kit_with("the cat and the dog")
    missing = loads(await kit.call(ToolName.REPLACE_TEXT, args(id=pid, snippet="bird", text="x")))
    assert missing["error"]["code"] == "snippet_not_found"
    assert missing["error"]["hint"] == "the current text is 'the cat and the dog'"
    repeated = loads(await kit.call(ToolName.INSERT_TEXT, args(id=pid, after="the", before=None, text="x")))
    assert repeated["error"]["code"] == "ambiguous_snippet"
    assert "'the' occurs 2 times" in repeated["error"]["message"]
    assert repeated["error"]["hint"].endswith("the current text is 'the cat and the dog'")
    both = loads(await kit.call(ToolName.INSERT_TEXT, args(id=pid, after="cat", before="dog", text="x")))
    assert both["error"]["code"] == "invalid_value"
    no_text = loads(await kit.call(ToolName.SET_TEXT, args(id="root", text="x")))
    assert no_text["error"] == {
        "code": "text_not_allowed",
        "message": "<article> holds no text",
        "hint": "elements with text: para",
    }
    unchanged = loads(await kit.call(ToolName.DESCRIBE_DOCUMENT, args(id=pid, depth=None)))
    assert unchanged["element"]["text"] == "the cat and the dog"


async def test_format_text_sets_and_clears_marks_on_a_snippet() -> None:
    kit, pid = await _kit_with("see the docs now")

    async def fmt(snippet: str, mark: str, on: bool, href: str | None = None) -> dict[str, Any]:
        return loads(
            await kit.call(ToolName.FORMAT_TEXT, args(id=pid, snippet=snippet, mark=mark, on=on, href=href))
        )

    bold = await fmt("see", "bold", True)
    assert bold["marks"] == [{"mark": "bold", "start": 0, "end": 3}]
    needs_href = await fmt("docs", "link", True)
    assert needs_href["error"]["code"] == "invalid_value"
    assert "needs 'href'" in needs_href["error"]["message"]
    link = await fmt("docs", "link", True, "https://example.com")
    assert link["marks"][1] == {"mark": "link", "start": 8, "end": 12, "href": "https://example.com"}
    cleared = await fmt("see", "bold", False)
    assert cleared["marks"] == [{"mark": "link", "start": 8, "end": 12, "href": "https://example.com"}]
    described = loads(await kit.call(ToolName.DESCRIBE_DOCUMENT, args(id=pid, depth=None)))["element"]
    assert described == {
        "$tag": "para",
        "$id": pid,
        "text": "see the docs now",
        "$marks": [{"mark": "link", "start": 8, "end": 12, "href": "https://example.com"}],
    }


async def test_two_agents_editing_one_paragraph_through_the_tools_both_keep_their_intent(
    server: RoomServer, room_client: ClientFactory
) -> None:
    path = "story.article"
    await server.storage.put_schema(ROOM, "article", ARTICLE.to_json())
    alice_room: RoomClient = room_client(server.url, ROOM, "alice")
    bob_room: RoomClient = room_client(server.url, ROOM, "bob")
    async with alice_room, bob_room:
        alice = DocumentToolkit(alice_room, schema=ARTICLE, path=path)
        bob = DocumentToolkit(bob_room, schema=ARTICLE, path=path)
        para = {"$tag": "para", "style": None, "text": "write the fox"}
        created = await alice.call(ToolName.APPEND_CHILD, args(parent_id="root", position=None, element=para))
        pid = loads(created)["id"]
        alice_doc = await alice_room.sync.open(path)
        bob_doc = await bob_room.sync.open(path)
        await _until(lambda: bob_doc.get_element(pid) is not None, "bob sees the paragraph")
        # Both edit the same sentence at once, each from its own replica, before seeing the other's edit.
        results = await asyncio.gather(
            alice.call(ToolName.INSERT_TEXT, args(id=pid, after=None, before="fox", text="brown ")),
            bob.call(ToolName.INSERT_TEXT, args(id=pid, after="fox", before=None, text=". It jumps.")),
            bob.call(ToolName.FORMAT_TEXT, args(id=pid, snippet="write", mark="bold", on=True, href=None)),
        )
        assert all(loads(result)["ok"] for result in results)
        wanted = "write the brown fox. It jumps."
        for doc in (alice_doc, bob_doc):
            await _until(lambda doc=doc: doc.element_by_id(pid).text == wanted, f"{wanted!r} everywhere")
        for doc in (alice_doc, bob_doc):
            assert [span.to_json() for span in doc.element_by_id(pid).text_marks()] == [
                {"mark": "bold", "start": 0, "end": 5}
            ]
        assert "text edited in 1 element" in (alice.change_notice() or "")
        await alice.aclose()
        await bob.aclose()


async def _until(condition: Any, what: str) -> None:
    try:
        async with asyncio.timeout(10):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
