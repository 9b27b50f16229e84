"""The room server over real WebSockets: auth, requests, sync, schema enforcement and bad input."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Awareness, Doc, XmlElement, XmlFragment, create_awareness_message, create_update_message
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.errors import (
    DocumentExistsError,
    DocumentNotFoundError,
    InvalidPathError,
    PermissionDeniedError,
    ProtocolError,
    SchemaError,
)
from mesh_tools.server import RoomServer
from mesh_tools.sync import PushType, awareness_clocks

from ..support import DOC_SCHEMA, ROOM, MakeToken, RawConnector


async def _refusal(url: str, **kwargs: object) -> tuple[int, dict[str, str]]:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, **kwargs):  # type: ignore[arg-type]
            pass
    response = info.value.response
    return response.status_code, json.loads(response.body or b"{}")


# -- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "status", "code", "message"),
    [
        (None, 401, "unauthorized", "no participant token"),
        ("garbage", 401, "unauthorized", "not a JWT"),
        ({"secret": "another-secret-0123456789abcdef0123456"}, 401, "unauthorized", "signature"),
        ({"expiration": timedelta(hours=-1)}, 401, "unauthorized", "expired"),
        ({"room": "elsewhere"}, 403, "forbidden", "room 'lab'"),
    ],
)
async def test_bad_tokens_are_refused_at_the_handshake(
    server: RoomServer,
    make_token: MakeToken,
    token: str | dict[str, Any] | None,
    status: int,
    code: str,
    message: str,
) -> None:
    if isinstance(token, dict):  # the claims of a token minted for this test
        token = make_token(**token)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    got_status, body = await _refusal(f"{server.url}/rooms/{ROOM}", additional_headers=headers)
    assert (got_status, body["code"]) == (status, code)
    assert message in body["message"]


async def test_token_in_query_string_and_unknown_url(server: RoomServer, make_token: MakeToken) -> None:
    async with connect(f"{server.url}/rooms/{ROOM}?token={make_token()}") as connection:
        await connection.send(json.dumps({"id": 1, "type": "sync.list"}))
        assert json.loads(await connection.recv()) == {"id": 1, "result": {"paths": []}}
    status, body = await _refusal(f"{server.url}/elsewhere", additional_headers={})
    assert (status, body["code"]) == (404, "invalid_path")


async def test_keys_rotate_by_kid(tmp_path: Path, make_token: MakeToken, raw_client: RawConnector) -> None:
    keys = {"old": "old-" + "o" * 40, "new": "new-" + "n" * 40}
    async with RoomServer(data_dir=tmp_path, secrets=keys) as server:
        for kid, key in keys.items():
            async with raw_client(server.url, token=make_token(secret=key, kid=kid)) as client:
                assert await client.request("sync.list") == {"paths": []}
        status, body = await _refusal(
            f"{server.url}/rooms/{ROOM}",
            additional_headers={"Authorization": f"Bearer {make_token(kid='retired')}"},
        )
        assert (status, body["code"]) == (401, "unauthorized")
        assert "unknown key 'retired'" in body["message"]


async def test_session_is_closed_when_the_token_expires(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    # from_jwt allows 10 s of clock skew, so a token 9 s past expiry still opens and then expires.
    token = make_token(expiration=timedelta(seconds=-9))
    async with raw_client(server.url, token=token) as client:
        async with asyncio.timeout(10):
            await client.connection.wait_closed()
        assert client.connection.close_code == 4401


async def test_read_only_tokens_cannot_write(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as writer:
        doc = await writer.open("shared.doc")
        doc.doc.root.append_child("p", {"text": "from the writer"})
        await writer.request("sync.flush", channel=doc.channel)
    async with raw_client(server.url, token=make_token(name="reader", read_only=True)) as reader:
        replica = await reader.open("shared.doc")
        assert len(replica.doc) == 2  # reading works
        replica.doc.root.append_child("p", {"text": "sneaky"})
        push = await reader.next_push()
        assert push.type == PushType.ERROR and push.fields["error"]["code"] == "forbidden"
        assert push.fields["channel"] == replica.channel
        for request, params in [
            ("sync.create", {"path": "new.doc"}),
            ("sync.open", {"path": "missing.doc"}),
            ("schema.put", {"name": "x", "schema": DOC_SCHEMA.to_json()}),
            ("sync.sync", {"path": "shared.doc", "data": ""}),
        ]:
            with pytest.raises(PermissionDeniedError):
                await reader.request(request, **params)
        described = await reader.request("sync.describe", path="shared.doc")
    texts = [child["p"]["text"] for child in described["json"]["doc"]["children"]]
    assert texts == ["from the writer"]


async def test_path_scopes_limit_documents(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as admin:
        for path in ("notes/a.doc", "notes/deep/b.doc", "secret.doc"):
            await admin.request("sync.create", path=path)
    async with raw_client(server.url, token=make_token(paths=["notes/*"])) as scoped:
        assert await scoped.request("sync.list") == {"paths": ["notes/a.doc", "notes/deep/b.doc"]}
        with pytest.raises(PermissionDeniedError, match=r"secret\.doc"):
            await scoped.open("secret.doc")
        await scoped.open("notes/deep/b.doc")


# -- requests -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../x.doc", "/abs.doc", "a/../../x.doc", "a\\b.doc", "a\x00.doc", "a//b.doc", ".schemas/doc.json", ""],
)
async def test_bad_paths_are_refused(server: RoomServer, path: str, raw_client: RawConnector) -> None:
    async with raw_client(server.url) as client:
        for request in ("sync.create", "sync.open", "sync.describe"):
            with pytest.raises(InvalidPathError):
                await client.request(request, path=path)
        assert await client.request("sync.list") == {"paths": []}


async def test_create_describe_list_and_errors(server: RoomServer, raw_client: RawConnector) -> None:
    content = {"doc": {"title": "Plan", "children": [{"p": {"text": "one", "size": 2}}]}}
    async with raw_client(server.url) as client:
        assert await client.request("sync.create", path="plan.doc", json=content) == {"path": "plan.doc"}
        with pytest.raises(DocumentExistsError):
            await client.request("sync.create", path="plan.doc")
        described = await client.request("sync.describe", path="plan.doc")
        assert MeshDocument.from_json(DOC_SCHEMA, described["json"]).to_json() == content
        with pytest.raises(DocumentNotFoundError):
            await client.request("sync.describe", path="nothing.doc")
        with pytest.raises(DocumentNotFoundError):
            await client.request("sync.open", path="nothing.doc", create=False)
        with pytest.raises(SchemaError, match=r"\.schemas/txt\.json"):
            await client.request("sync.open", path="notes.txt")
        with pytest.raises(SchemaError):
            await client.request("schema.put", name="bad", schema={"nope": 1})
        # An explicit schema works for any extension, and travels with the document.
        await client.request("sync.create", path="notes.txt", schema=DOC_SCHEMA.to_json())
        opened = await client.open("notes.txt")
        assert opened.doc.schema == DOC_SCHEMA
        assert await client.request("sync.list") == {"paths": ["notes.txt", "plan.doc"]}
        assert await client.request("schema.list") == {"names": ["doc"]}
        with pytest.raises(ProtocolError, match="unknown request type"):
            await client.request("sync.explode")
        with pytest.raises(ProtocolError, match="'path' must be a string"):
            await client.request("sync.open", path=3)


async def test_two_clients_converge_and_flush(server: RoomServer, raw_client: RawConnector) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as bob:
        a = await alice.open("live.doc")
        b = await bob.open("live.doc")
        assert a.epoch == b.epoch
        a.doc.root.set_attribute("title", "T")
        for i in range(20):
            (a if i % 2 else b).doc.root.append_child("p", {"text": f"p{i}", "size": i})
        await a.wait_for(lambda d: len(d) == 21, what="it holds the root and all 20 paragraphs")
        await b.wait_for(lambda d: len(d) == 21, what="it holds the root and all 20 paragraphs")
        assert a.doc.to_json() == b.doc.to_json()
        assert await alice.request("sync.flush", channel=a.channel) == {}
        assert await alice.request("sync.close", channel=a.channel) == {}
        with pytest.raises(ProtocolError, match="channel"):
            await alice.request("sync.flush", channel=a.channel)


async def test_sync_request_applies_raw_updates(server: RoomServer, raw_client: RawConnector) -> None:
    async with raw_client(server.url) as client:
        doc = await client.open("raw.doc")
        source = MeshDocument(schema=DOC_SCHEMA)
        source.root.append_child("p", {"text": "via sync.sync"})
        data = base64.b64encode(source.get_update()).decode()
        assert await client.request("sync.sync", path="raw.doc", data=data) == {"violations": []}
        await doc.wait_for(lambda d: len(d) == 2, what="it holds two elements")
        with pytest.raises(ProtocolError, match="base64"):
            await client.request("sync.sync", path="raw.doc", data="%%%")
        with pytest.raises(ProtocolError, match="cannot be applied"):
            await client.request("sync.sync", path="raw.doc", data=base64.b64encode(b"\x05\x07").decode())


async def test_awareness_is_relayed_and_removed_when_the_channel_closes(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as bob:
        a = await alice.open("presence.doc")
        b = await bob.open("presence.doc")
        presence = Awareness(a.doc.ydoc)
        presence.set_local_state({"user": "alice", "cursor": 3})
        message = create_awareness_message(presence.encode_awareness_update([a.doc.ydoc.client_id]))
        await alice.send_frame(a.channel, message)
        for client, channel in ((alice, a.channel), (bob, b.channel)):  # the sender gets the echo
            async with asyncio.timeout(5):
                assert await client.awareness.get() == (channel, message)
        await alice.request("sync.close", channel=a.channel)
        async with asyncio.timeout(5):
            channel, removal = await bob.awareness.get()
        assert channel == b.channel
        assert awareness_clocks(removal) == {a.doc.ydoc.client_id: None}


# -- schema enforcement ----------------------------------------------------------------------------


def _raw_append(base: MeshDocument, tag: str, attributes: dict[str, object]) -> bytes:
    """An update, made with plain pycrdt, that appends an element the schema may not allow."""
    ydoc: Doc = Doc()
    ydoc.apply_update(base.get_update())
    root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    state = ydoc.get_state()
    root.children.append(XmlElement(tag, {"$id": f"evil-{tag}-{len(attributes)}", **attributes}))
    return ydoc.get_update(state)


async def test_schema_breaking_update_is_compensated_everywhere(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as bob:
        a = await alice.open("guarded.doc")
        b = await bob.open("guarded.doc")
        a.doc.root.append_child("p", {"text": "valid"})
        await b.wait_for(lambda d: len(d) == 2, what="it holds two elements")
        for tag, attributes, code in [
            ("script", {}, "unknown_tag"),
            ("p", {"size": "big"}, "invalid_value"),
            ("p", {"size": 1, "color": "red"}, "unknown_attribute"),
        ]:
            update = _raw_append(b.doc, tag, attributes)
            # Like a misbehaving client: apply locally (without the schema check) and send.
            assert b.doc.apply_update(update)
            await bob.send_frame(b.channel, create_update_message(update))
            push = await bob.next_push()
            assert push.type == PushType.SYNC_REJECTED
            assert [v["code"] for v in push.fields["violations"]] == [code]
            # The sender got the repair; the others never saw the bad state and stay equal.
            await b.wait_for(lambda d: not d.validate(), what="the server's repair arrived")
            await asyncio.sleep(0.05)
            for replica in (a, b):
                assert replica.doc.validate() == []
            assert a.doc.to_json() == b.doc.to_json()
        assert await alice.request("sync.flush", channel=a.channel) == {}
        described = await alice.request("sync.describe", path="guarded.doc")
    stored = MeshDocument.from_json(DOC_SCHEMA, described["json"])
    assert stored.validate() == []
    assert [child.attributes for child in stored.root.get_children()] == [{"text": "valid"}, {}, {"size": 1}]


# -- bad frames ---------------------------------------------------------------------------------


async def test_bad_frames_hurt_only_their_sender(server: RoomServer, raw_client: RawConnector) -> None:
    async with raw_client(server.url) as bad, raw_client(server.url) as good:
        channel = (await bad.open("busy.doc")).channel
        other = await good.open("busy.doc")
        frames: list[str | bytes] = [
            b"\xff\xff",  # undecodable
            b"\x63\x00\x02\x00",  # unknown channel 99
            bytes([channel, 0, 2, 3, 1, 2, 3]),  # an update that is not one
            bytes([channel, 2, 0]),  # unknown y-message type
            "not json",
            json.dumps({"id": 5}),  # neither request nor anything else
        ]
        for frame in frames:
            await bad.connection.send(frame)
            push = await bad.next_push()
            assert push.type == PushType.ERROR
            assert push.fields["error"]["code"] == "protocol_error"
        other.doc.root.append_child("p", {"text": "still syncing"})
        replica = bad.documents[channel]
        await replica.wait_for(lambda d: len(d) == 2, what="it holds two elements")
        assert good.pushes.empty()


async def test_endless_bad_frames_close_with_1008(
    tmp_path: Path, secret: str, raw_client: RawConnector
) -> None:
    async with (
        RoomServer(data_dir=tmp_path, secret=secret, max_errors=3) as server,
        raw_client(server.url) as client,
    ):
        for _ in range(3):
            await client.connection.send(b"\x00")
        async with asyncio.timeout(5):
            await client.connection.wait_closed()
        assert client.connection.close_code == 1008


async def test_oversized_frame_closes_only_that_connection(
    tmp_path: Path, secret: str, raw_client: RawConnector
) -> None:
    async with (
        RoomServer(data_dir=tmp_path, secret=secret, max_message_size=64 * 1024) as server,
        raw_client(server.url) as admin,
    ):
        await admin.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        watcher = await admin.open("big.doc")
        async with raw_client(server.url) as big:
            await big.connection.send(b"\x01" + b"\x00" * 100_000)
            async with asyncio.timeout(5):
                await big.connection.wait_closed()
            assert big.connection.close_code == 1009
        async with raw_client(server.url) as writer:
            (await writer.open("big.doc")).doc.root.append_child("p", {"text": "after"})
            await watcher.wait_for(lambda d: len(d) == 2, what="it holds two elements")


async def test_frames_in_flight_behind_sync_close_are_dropped_quietly(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice:
        doc = await alice.open("closing.doc")
        presence = Awareness(doc.doc.ydoc)
        presence.set_local_state({"user": "alice"})
        closing = asyncio.create_task(alice.request("sync.close", channel=doc.channel))
        await asyncio.sleep(0)  # the request is queued first; these frames leave behind it
        awareness = create_awareness_message(presence.encode_awareness_update([doc.doc.ydoc.client_id]))
        await alice.send_frame(doc.channel, awareness)
        doc.doc.root.append_child("p", {"text": "after the close"})
        await closing
        # Answered after the frames above were handled: none of them earned an error push.
        await alice.open("other.doc")
        assert alice.pushes.empty()
        # A channel this connection never opened is still an error.
        await alice.send_frame(doc.channel + 100, awareness)
        push = await alice.next_push()
        assert push.fields["error"]["code"] == "protocol_error"
