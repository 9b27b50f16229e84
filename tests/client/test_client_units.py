"""Client pieces that need no room server: URLs, the connect step, request correlation, document sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from pycrdt import Doc, YSyncMessageType, create_sync_message, merge_updates
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from mesh_tools.client import SyncedDocument, WebSocketClientProtocol
from mesh_tools.client.requests import PendingRequests
from mesh_tools.client.session import DocumentSession
from mesh_tools.errors import (
    AuthenticationError,
    ConnectionLostError,
    DocumentNotFoundError,
    HandshakeRefusedError,
    PermissionDeniedError,
)
from mesh_tools.helpers import mesh_tools_base_url, meshagent_base_url, websocket_room_url
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.sync import Response, decode_binary, parse_sync_message, sync_step2_message

SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(tag_name="p", properties=[ValueProperty(name="text", type="string")]),
    ],
)

# -- URLs ------------------------------------------------------------------------------------------


def test_base_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESH_TOOLS_URL", raising=False)
    assert mesh_tools_base_url() == "ws://127.0.0.1:8765"
    monkeypatch.setenv("MESH_TOOLS_URL", "https://mesh.example.com/base/")
    assert meshagent_base_url() == "https://mesh.example.com/base"
    assert websocket_room_url(room_name="my room") == "wss://mesh.example.com/base/rooms/my%20room"


def test_room_url_round_trips_the_room_name() -> None:
    url = websocket_room_url(room_name="a/b c", base_url="http://127.0.0.1:9")
    assert url == "ws://127.0.0.1:9/rooms/a%2Fb%20c"
    assert WebSocketClientProtocol(url=url, token="t").room_name == "a/b c"


@pytest.mark.parametrize("url", ["http://127.0.0.1/rooms/r", "ws://127.0.0.1/r", "ws://127.0.0.1/rooms/"])
def test_protocol_rejects_urls_that_name_no_room(url: str) -> None:
    with pytest.raises(ValueError, match="websocket_room_url"):
        WebSocketClientProtocol(url=url, token="t")


def test_room_url_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="ftp"):
        websocket_room_url(room_name="r", base_url="ftp://example.com")


# -- connecting --------------------------------------------------------------------------------------


@pytest.fixture
async def gatekeeper() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A WebSocket server that answers the handshake with the status named by the room."""
    seen: list[str | None] = []

    def process_request(connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        seen.append(request.headers.get("Authorization"))
        status = int(request.path.rsplit("/", 1)[-1])
        if status == 101:
            return None
        return connection.respond(HTTPStatus(status), f"status {status} from the test\n")

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}", seen


async def test_connect_sends_the_token_as_a_bearer_header(gatekeeper: tuple[str, list[str | None]]) -> None:
    base, seen = gatekeeper
    connection = await WebSocketClientProtocol(url=f"{base}/rooms/101", token="secret-jwt").connect()
    await connection.close()
    assert seen == ["Bearer secret-jwt"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (503, ConnectionLostError),
        (404, HandshakeRefusedError),
    ],
)
async def test_refused_handshakes_become_typed_errors(
    gatekeeper: tuple[str, list[str | None]], status: int, error: type[Exception]
) -> None:
    base, _ = gatekeeper
    with pytest.raises(error, match=f"HTTP {status} status {status} from the test"):
        await WebSocketClientProtocol(url=f"{base}/rooms/{status}", token="t").connect()


async def test_unreachable_server_says_what_to_do() -> None:
    # Bind and close a socket to get a port nobody listens on.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectionLostError) as caught:
        await WebSocketClientProtocol(url=f"ws://127.0.0.1:{port}/rooms/r", token="t").connect()
    assert f"cannot connect to ws://127.0.0.1:{port}/rooms/r" in caught.value.message
    assert "mesh-tools serve" in (caught.value.hint or "")


# -- request correlation -----------------------------------------------------------------------------


async def test_result_hook_runs_before_the_caller_resumes() -> None:
    pending = PendingRequests()
    order: list[str] = []
    first, future = pending.start("sync.open", on_result=lambda result: order.append(f"hook {result}"))
    second, _ = pending.start("sync.list")
    assert second > first
    future.add_done_callback(lambda _: order.append("resumed"))
    assert pending.resolve(Response(first, result={"channel": 3}))
    await asyncio.sleep(0)
    assert order == ["hook {'channel': 3}", "resumed"]
    assert future.result() == {"channel": 3}
    assert not pending.resolve(Response(first, result={})), "an id is answered once"


async def test_errors_and_disconnects_fail_their_requests() -> None:
    pending = PendingRequests()
    refused, refused_future = pending.start("sync.open")
    _, lost_future = pending.start("sync.flush")
    pending.resolve(Response(refused, error=DocumentNotFoundError("no such document")))
    pending.fail_all(lambda kind: ConnectionLostError(f"lost during {kind}"))
    with pytest.raises(DocumentNotFoundError):
        refused_future.result()
    with pytest.raises(ConnectionLostError, match=r"lost during sync\.flush"):
        lost_future.result()
    assert len(pending) == 0


async def test_discarded_request_ignores_its_late_answer() -> None:
    pending = PendingRequests()
    request_id, future = pending.start("sync.list")
    pending.discard(request_id)
    assert not pending.resolve(Response(request_id, result={}))
    assert not future.done()


# -- document sessions ------------------------------------------------------------------------------


class _Wire:
    """Stands in for a connection: records frames, and can hold every send until released."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, frame: bytes) -> None:
        await self.gate.wait()
        channel, message = decode_binary(frame)
        assert channel == 7
        self.frames.append(message)

    def kinds(self) -> list[YSyncMessageType]:
        return [parse_sync_message(m).kind for m in self.frames]

    def payloads(self, kind: YSyncMessageType) -> list[bytes]:
        return [parse_sync_message(m).payload for m in self.frames if parse_sync_message(m).kind == kind]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _session() -> tuple[DocumentSession, SyncedDocument]:
    session = DocumentSession("a.doc", create=True)
    document = SyncedDocument(path="a.doc", schema=SCHEMA)
    session.bind(document)
    return session, document


def _texts(update_holder: Any) -> list[str]:
    return [p.get_attribute("text") for p in update_holder.root.get_children()]


async def test_handshake_answers_the_server_with_everything_it_lacks() -> None:
    session, document = _session()
    server = SyncedDocument(path="a.doc", schema=SCHEMA)
    document.root.append_child("p", {"text": "made offline"})
    wire = _Wire()
    session.attach(7, wire.send, epoch="e1")
    document.root.append_child("p", {"text": "made before the server's Step1"})
    await _settle()
    assert wire.kinds() == [YSyncMessageType.SYNC_STEP1], "nothing streams before the handshake"

    session.receive(create_sync_message(server.ydoc))
    await _settle()
    assert wire.kinds() == [YSyncMessageType.SYNC_STEP1, YSyncMessageType.SYNC_STEP2]
    server.apply_update(wire.payloads(YSyncMessageType.SYNC_STEP2)[0])
    assert _texts(server) == ["made offline", "made before the server's Step1"]
    assert await asyncio.wait_for(session.wait_delivered(), 1) == 7

    document.root.append_child("p", {"text": "live"})
    await _settle()
    assert wire.kinds()[-1] == YSyncMessageType.SYNC_UPDATE
    server.apply_update(wire.payloads(YSyncMessageType.SYNC_UPDATE)[0])
    assert _texts(server) == ["made offline", "made before the server's Step1", "live"]


async def test_server_step2_resolves_synchronized() -> None:
    session, document = _session()
    server = SyncedDocument(path="a.doc", schema=SCHEMA)
    server.root.append_child("p", {"text": "from the server"})
    session.attach(7, _Wire().send, epoch="e1")
    assert not document.is_synchronized
    session.receive(sync_step2_message(server.get_update(document.get_state())))
    await asyncio.wait_for(document.synchronized, 1)
    assert _texts(document) == ["from the server"]
    session.detach()
    assert not document.is_synchronized, "a dropped connection needs a new handshake"


async def test_updates_queued_behind_a_slow_send_are_merged_in_order() -> None:
    session, document = _session()
    wire = _Wire()
    session.attach(7, wire.send, epoch="e1")
    session.receive(create_sync_message(Doc()))
    await _settle()
    wire.gate.clear()
    document.root.append_child("p", {"text": "0"})
    await _settle()  # the sender now waits inside send() with update 0
    for i in range(1, 50):
        document.root.append_child("p", {"text": str(i)})
    delivered = asyncio.ensure_future(session.wait_delivered())
    await _settle()
    assert not delivered.done()
    wire.gate.set()
    await asyncio.wait_for(delivered, 1)
    updates = wire.payloads(YSyncMessageType.SYNC_UPDATE)
    assert len(updates) == 2, "49 edits queued behind one send go out as one merged update"
    replica = SyncedDocument(path="a.doc", schema=SCHEMA)
    replica.apply_update(merge_updates(*wire.payloads(YSyncMessageType.SYNC_STEP2), *updates))
    assert _texts(replica) == [str(i) for i in range(50)]


async def test_reattach_resends_what_a_dead_connection_swallowed() -> None:
    session, document = _session()
    first = _Wire()
    session.attach(7, first.send, epoch="e1")
    session.receive(create_sync_message(Doc()))
    await _settle()
    first.gate.clear()
    document.root.append_child("p", {"text": "lost with the connection"})
    await _settle()
    session.detach()
    document.root.append_child("p", {"text": "made while offline"})

    second = _Wire()
    session.attach(7, second.send, epoch="e1")
    server = SyncedDocument(path="a.doc", schema=SCHEMA)
    session.receive(create_sync_message(server.ydoc))
    await asyncio.wait_for(session.wait_delivered(), 1)
    server.apply_update(second.payloads(YSyncMessageType.SYNC_STEP2)[0])
    assert _texts(server) == ["lost with the connection", "made while offline"]
    handshake = [YSyncMessageType.SYNC_STEP1, YSyncMessageType.SYNC_STEP2]
    assert first.kinds() == handshake, "no Update went out on the dead connection"


async def test_a_new_epoch_refuses_to_merge() -> None:
    session, _ = _session()
    session.attach(7, _Wire().send, epoch="e1")
    session.detach()
    with pytest.raises(DocumentNotFoundError, match="epoch e1 -> e2"):
        session.attach(8, _Wire().send, epoch="e2")
    assert session.channel is None


async def test_a_failed_session_fails_its_waiters() -> None:
    session, document = _session()
    document.root.append_child("p", {"text": "x"})
    waiting = asyncio.ensure_future(session.wait_delivered())
    await _settle()
    session.fail(ConnectionLostError("gone for good"))
    with pytest.raises(ConnectionLostError, match="gone for good"):
        await waiting
    with pytest.raises(ConnectionLostError):
        await document.synchronized
    assert document.sync_error is not None


async def test_edits_under_an_origin_of_the_callers_own_are_sent() -> None:
    session, document = _session()
    wire = _Wire()
    session.attach(7, wire.send, epoch="e1")
    session.receive(create_sync_message(Doc()))
    await _settle()
    with document.transaction(origin="agent-7"):
        document.root.append_child("p", {"text": "attributed"})
    await asyncio.wait_for(session.wait_delivered(), 1)
    replica = SyncedDocument(path="a.doc", schema=SCHEMA)
    replica.apply_update(merge_updates(*wire.payloads(YSyncMessageType.SYNC_UPDATE)))
    assert _texts(replica) == ["attributed"]


async def test_an_update_that_cannot_be_applied_asks_the_server_again() -> None:
    session, _ = _session()
    wire = _Wire()
    session.attach(7, wire.send, epoch="e1")
    await _settle()
    session.receive(bytes([0, YSyncMessageType.SYNC_UPDATE, 2, 0xFF, 0xFF]))
    await _settle()
    assert wire.kinds() == [YSyncMessageType.SYNC_STEP1, YSyncMessageType.SYNC_STEP1]
