"""TextProperty: collaborative text in the schema, its JSON form, and the errors that explain it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mesh_tools.errors import SchemaError
from mesh_tools.schema import (
    ChildProperty,
    ElementType,
    MeshSchema,
    TextMark,
    TextProperty,
    ValueProperty,
    rules,
)

from ..fixtures import RICH_FIXTURE
from ..support import ARTICLE


def test_text_property_json_reads_as_a_plain_string_and_round_trips() -> None:
    data = ARTICLE.to_json()
    para = data["$defs"]["para"]["properties"]["para"]
    assert para["properties"]["text"] == {
        "type": "string",
        "format": "mesh-text",
        "marks": {"bold": [], "italic": [], "code": [], "link": ["href"]},
    }
    assert para["required"] == ["style", "text"]
    loaded = MeshSchema.from_json(json.loads(json.dumps(data)))
    assert loaded == ARTICLE
    text = loaded.element("para").text_property
    assert text is not None and text.allowed_marks["link"] == TextMark("link", ["href"])
    assert loaded.element("para").attributes.keys() == {"style"}


def test_meshagent_schema_files_still_load_with_plain_string_properties() -> None:
    fixture = json.loads(RICH_FIXTURE.read_text())
    schema = MeshSchema.from_json(fixture)
    assert all(element.text_property is None for element in schema.elements)
    assert schema.to_json() == fixture


def test_a_string_without_the_text_format_stays_a_value_property() -> None:
    data = ARTICLE.to_json()
    data["$defs"]["para"]["properties"]["para"]["properties"]["text"] = {"type": "string", "format": "uri"}
    para = MeshSchema.from_json(data).element("para")
    assert para.text_property is None and isinstance(para.attributes["text"], ValueProperty)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: ElementType(
                tag_name="li",
                properties=[TextProperty(name="text"), ChildProperty(name="items", child_tag_names=["li"])],
            ),
            "declares text beside a child property",
        ),
        (
            lambda: ElementType(tag_name="p", properties=[TextProperty(name="a"), TextProperty(name="b")]),
            "declares text beside another text property",
        ),
        (lambda: TextProperty(name="text", marks=["bold", "bold"]), "lists a mark twice"),
        (lambda: TextProperty(name="text", marks="bold"), "must be a list"),
        (lambda: TextMark("link", ["start"]), "invalid attribute names"),
        (lambda: TextMark("link", "href"), "must be a list of names"),
        (lambda: TextMark("bad name"), "invalid mark name"),
        (lambda: TextProperty(name="$id"), "invalid text property name"),
    ],
)
def test_bad_text_declarations_are_refused_with_a_hint(build: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        build()
    assert info.value.hint


def test_bad_marks_json_is_refused() -> None:
    data = ARTICLE.to_json()
    data["$defs"]["para"]["properties"]["para"]["properties"]["text"]["marks"] = ["bold"]
    with pytest.raises(SchemaError, match="must map each mark to the list of its attributes"):
        MeshSchema.from_json(data)


def test_mark_rules_accept_quill_and_prosemirror_forms_only_for_declared_marks() -> None:
    text = TextProperty(name="text", marks=["bold", TextMark("link", ["href"])])
    assert rules.mark_value(text, "bold", True) is True
    assert rules.mark_value(text, "bold", {}) is True
    assert rules.mark_value(text, "bold", "yes") is None
    assert rules.mark_value(text, "link", {"href": "u"}) == {"href": "u"}
    assert rules.mark_value(text, "link", {"href": 1}) is None
    assert rules.mark_value(text, "link", {"href": "u", "title": "t"}) is None
    assert rules.mark_value(text, "italic", True) is None
    error = rules.mark_error(text, "p", "italic", True)
    assert error is not None and (error.code, error.hint) == (
        "mark_not_allowed",
        "marks of <p>: bold, link(href)",
    )
    assert rules.mark_error(text, "p", "link", {"href": "u"}) is None
