"""Big reads answered from a document's stored log in the worker process, instead of from its replica.

A client that opens a big document with nothing of it is sent the whole state as one update. Encoding
that from the replica is one pycrdt call that holds the GIL throughout (35-48 ms for 60k elements),
during which no room is served. Once storage is flushed, the stored log holds the same state: its rows,
read on the storage's thread, are merged in the worker process (``_worker_process``), and the server's
process only copies bytes. A ``sync.describe`` of a big document is built there too, from the same rows
(load, ``to_json``, JSON encoding: Python that allocates an object per element, whose share of the GIL
and whose collector passes stalled the event loop even on a worker thread).

Every change committed before :func:`read_stored_state` is called is in what it returns (storage keeps
appends in order, and the flush waits for them); changes committed while it runs may or may not be, so
the caller sends those on after it (docs/adr/0017-big-frames-off-the-event-loop.md).
"""

from __future__ import annotations

import asyncio
import json
import struct

from pycrdt import merge_updates

from ..document import DocumentLimits, MeshDocument
from ..errors import DocumentNotFoundError
from ..schema import MeshSchema
from ..sync import DescribeResult, encode_result
from ._storage import Storage, StoredDocument
from ._worker_process import run_in_worker_process

__all__ = ["describe_rows", "describe_stored", "read_stored_state"]

#: The limits as the worker process receives them: max_depth, max_elements.
_LIMITS = struct.Struct(">QQ")


async def read_stored_state(storage: Storage, room: str, path: str) -> bytes:
    """The stored document as one update, holding every change appended to storage before the call."""
    stored = await _read(storage, room, path)
    if len(stored.updates) == 1:
        return stored.updates[0]
    # Merging is one pycrdt call over all of it, holding the GIL throughout: not in this process.
    return await asyncio.to_thread(run_in_worker_process, _merge, tuple(stored.updates))


async def describe_stored(storage: Storage, room: str, path: str, limits: DocumentLimits) -> str:
    """The ``sync.describe`` result of the stored document as JSON text, with every change appended to
    storage before the call; built in the worker process."""
    return await describe_rows(await _read(storage, room, path), path, limits)


async def describe_rows(stored: StoredDocument, path: str, limits: DocumentLimits) -> str:
    """The ``sync.describe`` result of the document ``stored`` (read already) as JSON text, built in the
    worker process."""
    arguments = (
        path.encode(),
        json.dumps(stored.schema).encode(),
        _LIMITS.pack(limits.max_depth, limits.max_elements),
        *stored.updates,
    )
    text = await asyncio.to_thread(run_in_worker_process, _describe, arguments)
    return text.decode()


async def _read(storage: Storage, room: str, path: str) -> StoredDocument:
    await storage.flush()
    stored = await storage.load_document(room, path)
    if stored is None:
        raise DocumentNotFoundError(f"room {room!r} has no document {path!r}", hint="create it")
    return stored


# -- in the worker process ------------------------------------------------------------------------


def _merge(updates: tuple[bytes, ...]) -> bytes:
    return merge_updates(*updates)


def _describe(arguments: tuple[bytes, ...]) -> bytes:
    path, schema, limits, *updates = arguments
    max_depth, max_elements = _LIMITS.unpack(limits)
    doc = MeshDocument(
        schema=MeshSchema.from_json(json.loads(schema)),
        limits=DocumentLimits(max_depth=max_depth, max_elements=max_elements),
    )
    try:
        # What the room server's load does (Room._load), so the answer is what a loaded replica gives.
        if doc.load_stored(updates):
            doc.repair()
        result = DescribeResult(path=path.decode(), json=doc.to_json(include_ids=True))
        return encode_result(result).encode()
    finally:
        doc.close()
