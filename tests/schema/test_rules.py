"""schema.rules: the one statement of what a schema allows, and the errors the document and tools share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.document import MeshDocument
from mesh_tools.errors import ChildNotAllowedError, DocumentError, InvalidValueError, UnknownTagError
from mesh_tools.schema import rules

from .schemas import rich_schema

CARD = MeshSchema(
    root_tag_name="card",
    elements=[
        ElementType(
            tag_name="card",
            properties=[ChildProperty(name="parts", child_tag_names=["summary", "checklist"], ordered=True)],
        ),
        ElementType(tag_name="summary", properties=[ValueProperty(name="text", type="string")]),
        ElementType(tag_name="checklist", properties=[ValueProperty(name="n", type="integer")]),
    ],
)


@pytest.mark.parametrize(
    ("value", "type_", "fits"),
    [
        (True, "number", False),
        (True, "boolean", True),
        (1.0, "integer", True),
        (1.5, "integer", False),
        (float("nan"), "number", False),
        (float("inf"), "number", False),
        (None, "null", True),
        ("1", "number", False),
    ],
)
def test_value_fits_follows_json_types(value: object, type_: str, fits: bool) -> None:
    assert rules.value_fits(value, type_) is fits


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_integral_numbers_fit_both_integer_and_number(value: int) -> None:
    assert rules.value_fits(value, "integer") and rules.value_fits(float(value), "integer")
    assert rules.value_fits(value, "number")


def test_child_error_names_the_breach_and_what_would_fit() -> None:
    schema = rich_schema()
    assert rules.child_error(schema, "document", "paragraph", None) is None
    unknown = rules.child_error(schema, "document", "div", None)
    assert isinstance(unknown, UnknownTagError) and unknown.message == "unknown tag 'div'"
    inside = rules.child_error(schema, "document", "row", None)
    assert isinstance(inside, ChildNotAllowedError)
    assert inside.message == "<row> is not allowed inside <document>"
    assert inside.hint == "children of <document>: heading, paragraph, list, table"
    leaf = rules.child_error(schema, "cell", "row", None)
    assert leaf is not None and leaf.message == "<cell> cannot have children"


def test_ordered_children_are_checked_by_position() -> None:
    assert rules.child_error(CARD, "card", "summary", 0) is None
    wrong = rules.child_error(CARD, "card", "checklist", 0)
    assert (
        wrong is not None
        and wrong.message == "<card> takes its children in order; position 0 must be summary"
    )
    full = rules.child_error(CARD, "card", "summary", 2)
    assert full is not None and "must be nothing (the list is full)" in full.message


def test_the_document_raises_exactly_the_rule_error() -> None:
    schema = rich_schema()
    document = MeshDocument(schema=schema)
    heading = document.root.append_child("heading", {"text": "t"})
    expected = rules.attribute_error(schema.element("heading"), "heading", "level", "two")
    assert isinstance(expected, InvalidValueError)
    with pytest.raises(DocumentError) as raised:
        heading.set_attribute("level", "two")
    assert (raised.value.code, raised.value.message, raised.value.hint) == (
        expected.code,
        expected.message,
        expected.hint,
    )
    child = rules.child_error(schema, "document", "row", None)
    assert child is not None
    with pytest.raises(ChildNotAllowedError) as refused:
        document.root.append_child("row")
    assert (refused.value.message, refused.value.hint) == (child.message, child.hint)


def test_tool_errors_prefix_the_argument_pointer() -> None:
    error = rules.unknown_attribute("table", "border", hint="h", at="/element")
    assert (error.code, error.message) == ("unknown_attribute", "/element: <table> has no attribute 'border'")
    assert rules.unknown_attribute("table", "border", hint="h").message == "<table> has no attribute 'border'"
