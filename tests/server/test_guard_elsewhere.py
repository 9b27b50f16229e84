"""Big updates are read in the worker process (docs/adr/0017-big-frames-off-the-event-loop.md) with the
verdict a read on a thread of the server gives: the same error, class, words and hint, for every hostile
update the fuzzer builds; for an update that passes, the same record once applied and the same account
of what it does. Through a real server, a big hostile update read there changes nothing and its sender
is told as a small one is."""

from __future__ import annotations

import marshal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment, create_update_message

from mesh_tools.document import FRAGMENT_NAME, CheckedUpdate, MeshDocument, UpdateGuard
from mesh_tools.errors import MeshError
from mesh_tools.schema import MeshSchema
from mesh_tools.server import RoomServer
from mesh_tools.server._worker_process import run_in_worker_process
from mesh_tools.sync import PushType

from ..support import DOC_SCHEMA, RawConnector
from .test_hostile_fuzz import _honest_edit, _hostile_edit, schemas

Verdict = tuple[type[MeshError], str, str | None] | CheckedUpdate


def _verdict(check: Any) -> Verdict:
    try:
        checked: CheckedUpdate = check()
    except MeshError as exc:
        return type(exc), exc.message, exc.hint
    return checked


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=schemas(), data=st.data())
def test_an_update_read_in_the_worker_process_gets_the_verdict_a_thread_gives(
    schema: MeshSchema, data: st.DataObject
) -> None:
    doc = MeshDocument(schema=schema)
    honest: dict[str, str] = {}
    for _ in range(data.draw(st.integers(0, 4))):
        _honest_edit(data.draw, doc, honest)
    here, there = UpdateGuard(doc), UpdateGuard(doc)
    # The record of what the replica holds is read before the hostile edit, as a live document's is.
    for guard in (here, there):
        guard.accept(guard.check(doc.get_update(doc.get_state()), guard.prepare()))
    hostile: Doc[Any] = Doc()
    hostile.apply_update(doc.get_update())
    state = hostile.get_state()
    crafted = None
    for _ in range(data.draw(st.integers(1, 3))):
        crafted = _hostile_edit(data.draw, hostile, schema, []) or crafted
    update = crafted or hostile.get_update(state)
    trusted = data.draw(st.booleans())
    on_thread = _verdict(lambda: here.check(update, here.prepare(), trusted_ids=trusted))
    elsewhere = _verdict(
        lambda: there.check_elsewhere(update, there.prepare(), run_in_worker_process, trusted_ids=trusted)
    )
    if not isinstance(on_thread, CheckedUpdate):
        assert elsewhere == on_thread
        return
    assert isinstance(elsewhere, CheckedUpdate) and elsewhere.record is not None
    for field in ("deletes", "claims", "new_only", "effects", "structs"):
        assert getattr(elsewhere, field) == getattr(on_thread, field), field
    here.accept(on_thread)
    there.accept(elsewhere)
    # Equal content (marshal's byte form also tells which objects were shared).
    assert marshal.loads(there._placements.to_bytes()) == marshal.loads(here._placements.to_bytes())


def test_a_big_update_into_a_small_document_is_read_elsewhere_and_into_a_big_one_here() -> None:
    doc = MeshDocument(schema=DOC_SCHEMA)
    guard = UpdateGuard(doc)
    assert guard.reads_elsewhere(b"\0" * 2**20, guard.prepare())
    with doc.transaction():
        for i in range(11_000):
            doc.root.append_child("p", {"text": str(i)})
    # The record of 11,000 elements would cost more to send over than reading the update here.
    assert not guard.reads_elsewhere(b"\0" * 2**20, guard.prepare())
    assert not guard.reads_elsewhere(b"\0" * 2**23, guard.prepare())


async def test_a_big_hostile_update_read_elsewhere_is_refused_as_a_small_one_is(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as mallory:
        honest = await alice.open("target.doc")
        taken = honest.doc.root.append_child("p", {"text": "honest"}).id
        attacker = await mallory.open("target.doc")
        await attacker.wait_for(lambda doc: len(doc) == 2, what="the honest paragraph")
        refusals = []
        for paragraphs in (0, 300):
            forged: Doc[Any] = Doc()
            forged.apply_update(attacker.doc.get_update())
            state = forged.get_state()
            root = forged.get(FRAGMENT_NAME, type=XmlFragment).children[0]
            assert isinstance(root, XmlElement)
            with forged.transaction():
                for i in range(paragraphs):
                    root.children.append(XmlElement("p", {"$id": f"m{i}", "text": "x" * 3_000}))
                # An element given the id the honest paragraph holds: only the replica can tell.
                root.children.append(XmlElement("p", {"$id": taken, "text": "mallory's"}))
            update = forged.get_update(state)
            await mallory.send_frame(attacker.channel, create_update_message(update))
            push = await mallory.next_push(timeout=30)
            assert push.type == PushType.ERROR
            refusals.append(push.fields["error"])
        assert len(update) > 512 * 2**10
        small, big = refusals
        assert big == small and big["code"] == "update_refused"
        await alice.request("sync.flush", channel=honest.channel)
        described = await alice.request("sync.describe", path="target.doc")
        assert described["json"] == honest.doc.to_json(include_ids=True)
        assert len(honest.doc) == 2 and alice.pushes.empty()


def test_a_big_update_read_elsewhere_comes_back_in_pieces_that_apply_as_the_whole() -> None:
    writer = MeshDocument(schema=DOC_SCHEMA)
    with writer.transaction():
        for i in range(1_000):
            writer.root.append_child("p", {"text": f"{i} " + "x" * 1_000})
    whole, pieced = MeshDocument(schema=DOC_SCHEMA), MeshDocument(schema=DOC_SCHEMA)
    update = writer.get_update(pieced.get_state())  # what they lack: all but the root
    told: dict[str, list[bytes]] = {"whole": [], "pieced": []}
    for name, doc in (("whole", whole), ("pieced", pieced)):
        doc.on_update(lambda got, origin, name=name: told[name].append(got))
    guard = UpdateGuard(pieced)
    checked = guard.check_elsewhere(update, guard.prepare(), run_in_worker_process)
    assert checked.new_only and checked.pieces is not None and len(checked.pieces) > 2
    assert checked.structs > 1_000  # each element is more than one struct: more than two pieces' worth
    pieced.apply_update(update, as_is=checked.new_only, effects=checked.effects, pieces=checked.pieces)
    whole.apply_update(update, as_is=checked.new_only, effects=checked.effects)
    assert (
        pieced.to_json(include_ids=True)
        == whole.to_json(include_ids=True)
        == writer.to_json(include_ids=True)
    )
    # Listeners (storage, fan-out) get the update as it came, once, however it was applied.
    assert told["pieced"] == told["whole"] == [update]
