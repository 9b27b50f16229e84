"""Schema repairs are deterministic: replicas in one state that mend it independently make one repair.

Several room server nodes can mend the same violation at once (docs/adr/0011-cluster.md); once each
has the other's repair, nothing may change: no second id, no second deletion, no extra root.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment

from mesh_tools.document import FRAGMENT_NAME, MeshDocument

from ..support import DOC_SCHEMA

# Elements that break DOC_SCHEMA in every way repair() mends: the attributes of a <p> under the root, or
# a second root.
_BREAKAGES: dict[str, dict[str, Any]] = {
    "duplicate id": {"$id": "twin", "text": "second twin"},
    "missing id": {"text": "no id"},
    "unknown tag": {"$id": "tag-script"},
    "bad value": {"$id": "bad-size", "size": "big"},
    "unknown attribute": {"$id": "colour", "color": "red"},
    "extra root": {"$id": "root-two"},
}


def _broken_update(kinds: list[str]) -> bytes:
    base = MeshDocument(schema=DOC_SCHEMA)
    base.root.append_child("p", {"$id": "twin", "text": "first twin"})
    ydoc: Doc = Doc()
    ydoc.apply_update(base.get_update())
    fragment = ydoc.get(FRAGMENT_NAME, type=XmlFragment)
    root = fragment.children[0]
    assert isinstance(root, XmlElement)
    for kind in kinds:
        attributes = dict(_BREAKAGES[kind])
        if kind == "extra root":
            fragment.children.append(XmlElement("doc", attributes))
        else:
            root.children.append(XmlElement("script" if kind == "unknown tag" else "p", attributes))
    return ydoc.get_update()


def _repair(replica: MeshDocument) -> bytes:
    before = replica.ydoc.get_state()
    assert replica.repair()
    return replica.ydoc.get_update(before)


@settings(max_examples=40)
@given(st.lists(st.sampled_from(sorted(_BREAKAGES)), min_size=1, max_size=8))
def test_two_servers_mending_one_state_make_one_repair(kinds: list[str]) -> None:
    broken = _broken_update(kinds)
    # Two servers (distinct CRDT client ids) hold the same broken state and mend it independently.
    first, second = MeshDocument(schema=DOC_SCHEMA), MeshDocument(schema=DOC_SCHEMA)
    for replica in (first, second):
        replica.apply_update(broken)
    assert first.ydoc.client_id != second.ydoc.client_id
    repairs = _repair(first), _repair(second)
    mended = first.to_json(include_ids=True)
    assert second.to_json(include_ids=True) == mended
    # Each then receives the other's repair: it changes nothing, so no replica ever sees two repairs.
    first.apply_update(repairs[1])
    second.apply_update(repairs[0])
    for replica in (first, second):
        assert replica.validate() == []
        assert replica.to_json(include_ids=True) == mended
    children = first.root.get_children()
    kept = 1 + sum(kind in ("duplicate id", "missing id", "bad value", "unknown attribute") for kind in kinds)
    assert len(children) == kept
    assert len({child.id for child in children}) == kept


def _insert_twin(base: MeshDocument, text: str) -> bytes:
    """An update from its own client that appends a <p> with the id ``twin``."""
    ydoc: Doc = Doc()
    ydoc.apply_update(base.get_update())
    root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    state = ydoc.get_state()
    root.children.append(XmlElement("p", {"$id": "twin", "text": text}))
    return ydoc.get_update(state)


def test_replicas_that_got_two_twins_in_either_order_rename_the_same_one() -> None:
    # Two participants of two nodes each add an element with one id; each node gets them in its own
    # order. Which element keeps the id depends on the document, never on the order they arrived in.
    base = MeshDocument(schema=DOC_SCHEMA)
    one, two = _insert_twin(base, "one"), _insert_twin(base, "two")
    first, second = MeshDocument(schema=DOC_SCHEMA), MeshDocument(schema=DOC_SCHEMA)
    for replica, order in ((first, (one, two)), (second, (two, one))):
        replica.apply_update(base.get_update())
        for update in order:
            replica.apply_update(update)
    first_repair, second_repair = _repair(first), _repair(second)
    assert first.to_json(include_ids=True) == second.to_json(include_ids=True)
    first.apply_update(second_repair)
    second.apply_update(first_repair)
    assert first.validate() == [] and first.to_json(include_ids=True) == second.to_json(include_ids=True)
    children = first.to_json(include_ids=True)["doc"]["children"]
    assert [child["p"]["$id"] == "twin" for child in children] == [True, False]
