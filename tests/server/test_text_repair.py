"""Collaborative text through the room server over real sockets: merges, and repair of broken text."""

from __future__ import annotations

import asyncio
from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment, XmlText, create_update_message

from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.server import RoomServer
from mesh_tools.sync import PushType

from ..support import ARTICLE, ROOM, RawConnector


def _foreign_edit(base: MeshDocument, element_id: str) -> bytes:
    """An update from a plain Yjs-style client that ignores the schema: an unknown mark, a link without
    its href and an embed, all in a text the server holds (placed by their neighbours, so the server's
    guard finds the text through its record of the document). Text in an element that declares none is
    refused whole: test_hostile_updates.py."""
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(base.get_update())
    root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    state = ydoc.get_state()
    para = next(c for c in root.children if isinstance(c, XmlElement) and c.attributes["$id"] == element_id)
    text = para.children[0]
    assert isinstance(text, XmlText)
    text.format(0, 5, {"blink": True})
    text.format(6, 11, {"link": {"target": "_blank"}})
    text.insert_embed(11, {"image": "x.png"})
    return ydoc.get_update(state)


async def test_invalid_marks_are_repaired_by_the_server_and_the_characters_kept(
    server: RoomServer, raw_client: RawConnector
) -> None:
    await server.storage.put_schema(ROOM, "article", ARTICLE.to_json())
    async with raw_client(server.url) as alice, raw_client(server.url) as mallory:
        a = await alice.open("marks.article")
        m = await mallory.open("marks.article")
        para = a.doc.root.append_child("para", {"text": "hello world"})
        para.format_text(0, 5, {"bold": True})
        await m.wait_for(lambda d: d.get_element(para.id) is not None, what="the paragraph arrived")
        update = _foreign_edit(m.doc, para.id)
        m.doc.apply_update(update)  # like a misbehaving client: apply without the schema check, then send
        await mallory.send_frame(m.channel, create_update_message(update))
        push = await mallory.next_push()
        assert push.type == PushType.SYNC_REJECTED
        assert sorted(v["code"] for v in push.fields["violations"]) == [
            "mark_not_allowed",
            "mark_not_allowed",
            "text_not_allowed",
        ]
        await m.wait_for(lambda d: not d.validate(), what="the server's repair arrived")
        await asyncio.sleep(0.05)
        for replica in (a, m):
            assert replica.doc.validate() == []
            assert replica.doc.to_json() == {
                "article": {
                    "blocks": [
                        {"para": {"text": "hello world", "$marks": [{"mark": "bold", "start": 0, "end": 5}]}}
                    ]
                }
            }


async def test_two_replicas_typing_into_one_paragraph_through_the_server_converge(
    server: RoomServer, raw_client: RawConnector
) -> None:
    await server.storage.put_schema(ROOM, "article", ARTICLE.to_json())
    async with raw_client(server.url) as alice, raw_client(server.url) as bob:
        a = await alice.open("typing.article")
        b = await bob.open("typing.article")
        para = a.doc.root.append_child("para", {"text": "[]"})
        await b.wait_for(lambda d: d.get_element(para.id) is not None, what="the paragraph arrived")
        bob_para = b.doc.element_by_id(para.id)
        for i, (left, right) in enumerate(zip("alice types", "bob typing!", strict=True)):
            para.insert_text(i, left)  # alice types in front of "["
            bob_para.insert_text(len(bob_para.text) - 1, right)  # bob types before "]"
            await asyncio.sleep(0)
        for replica in (a, b):
            await replica.wait_for(
                lambda d: len(d.element_by_id(para.id).text) == 24, what="all 22 keystrokes arrived"
            )
        # Each one's keystrokes land where that one typed them, whatever arrived in between.
        assert para.text == bob_para.text == "alice types[bob typing!]"
