"""The tool contract: tool names, the result envelope, and what counts as a toolkit."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh_tools.errors import InvalidValueError, PermissionDeniedError
from mesh_tools.tools import (
    TOOL_NAME_PATTERN,
    WRITE_TOOLS,
    DocumentToolkit,
    InMemorySource,
    LimitedToolkit,
    Toolkit,
    ToolName,
    ToolResult,
)

from ..support import ARTICLE
from .examples import HTML, args


def test_tool_names_are_the_names_a_toolkit_advertises() -> None:
    unbound = DocumentToolkit(InMemorySource(ARTICLE), schema=ARTICLE)
    assert unbound.names == [name.value for name in ToolName]
    without_text = DocumentToolkit(InMemorySource(HTML), schema=HTML)
    assert without_text.names == [name.value for name in ToolName][:12]
    assert all(TOOL_NAME_PATTERN.match(name) for name in ToolName)
    assert {
        "append_child",
        "set_attribute",
        "remove_attribute",
        "delete_element",
        "move_element",
        "apply_edits",
        "undo",
        "replace_text",
        "insert_text",
        "format_text",
        "set_text",
    } == WRITE_TOOLS


async def test_every_call_answers_one_envelope_that_reads_back_the_same() -> None:
    kit = DocumentToolkit(InMemorySource(HTML), schema=HTML, path="page.html")
    body = {"$tag": "body", "children": []}
    created = await kit.call(ToolName.APPEND_CHILD, args(parent_id="root", position=None, element=body))
    refused = await kit.call(ToolName.DELETE_ELEMENT, args(id="nope"))

    success = ToolResult.from_text(created)
    assert success.ok and success.error is None and set(success.fields) == {"id", "ids", "version"}
    assert success.to_json() == created
    failure = ToolResult.from_text(refused)
    assert not failure.ok and failure.fields == {}
    assert failure.error is not None and failure.error["code"] == "not_found"
    assert failure.to_json() == refused


def test_a_failure_carries_the_errors_code_message_and_hint() -> None:
    result = ToolResult.failure(InvalidValueError("depth -1 is negative", hint="use 0 or more"))
    assert json.loads(result.to_json()) == {
        "ok": False,
        "error": {"code": "invalid_value", "message": "depth -1 is negative", "hint": "use 0 or more"},
    }
    assert ToolResult.failure(PermissionDeniedError("no")).to_dict() == {
        "ok": False,
        "error": {"code": "forbidden", "message": "no"},
    }


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), _JSON, max_size=5))
def test_an_envelope_is_compact_json_with_the_characters_as_they_are(fields: dict[str, object]) -> None:
    expected = json.dumps({"ok": True, **fields}, separators=(",", ":"), ensure_ascii=False)
    assert ToolResult.success(fields).to_json() == expected


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"ok": true, "deleted": 1}', True),
        ('{"ok": false, "error": {"code": "x", "message": "y"}}', False),
        ('{"error": {"code": "x"}}', False),
        ('{"error": "plain"}', False),
        ('["not", "an", "object"]', True),
        ("plain text from another toolkit", True),
    ],
)
def test_only_a_result_that_says_it_failed_is_a_failure(text: str, ok: bool) -> None:
    assert ToolResult.from_text(text).ok is ok


async def test_a_limited_toolkit_is_a_toolkit_and_refuses_in_the_same_envelope() -> None:
    kit = DocumentToolkit(InMemorySource(HTML), schema=HTML, path="page.html")
    limited = LimitedToolkit(kit, {ToolName.DESCRIBE_DOCUMENT})
    assert isinstance(kit, Toolkit) and isinstance(limited, Toolkit)
    refused = ToolResult.from_text(await limited.call(ToolName.DELETE_ELEMENT, args(id="root")))
    assert refused.error is not None and refused.error["code"] == "forbidden"
