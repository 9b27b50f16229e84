"""The schemas the tests' documents use, and the rooms the shared server fixture stores them in."""

from __future__ import annotations

from mesh_tools.document import MeshDocument
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, TextMark, TextProperty, ValueProperty

__all__ = ["ARTICLE", "DOC_SCHEMA", "NOTES", "NOTES_ROOM", "ROOM", "texts"]

#: The room of the server tests; the server fixture stores DOC_SCHEMA there as ``doc``.
ROOM = "lab"
#: The room of the client tests; the server fixture stores NOTES there as ``notes``.
NOTES_ROOM = "team"

DOC_SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(
            tag_name="doc",
            properties=[
                ValueProperty(name="title", type="string"),
                ChildProperty(name="children", child_tag_names=["p"]),
            ],
        ),
        ElementType(
            tag_name="p",
            properties=[ValueProperty(name="text", type="string"), ValueProperty(name="size", type="number")],
        ),
    ],
)

NOTES = MeshSchema(
    root_tag_name="notes",
    elements=[
        ElementType(tag_name="notes", properties=[ChildProperty(name="items", child_tag_names=["note"])]),
        ElementType(
            tag_name="note",
            properties=[ValueProperty(name="text", type="string"), ValueProperty(name="n", type="integer")],
        ),
    ],
)

#: A schema with collaborative text; tests that need it on a server store it as ``article``.
ARTICLE = MeshSchema(
    root_tag_name="article",
    elements=[
        ElementType(
            tag_name="article",
            properties=[
                ValueProperty(name="title", type="string"),
                ChildProperty(name="blocks", child_tag_names=["para", "figure"]),
            ],
        ),
        ElementType(
            tag_name="para",
            properties=[
                ValueProperty(name="style", type="string", enum=["lead", "body"]),
                TextProperty(name="text", marks=["bold", "italic", "code", TextMark("link", ["href"])]),
            ],
        ),
        ElementType(tag_name="figure", properties=[ValueProperty(name="src", type="string")]),
    ],
)


def texts(document: MeshDocument) -> list[str]:
    """The ``text`` of every note of a NOTES document, in order."""
    return [str(note.get_attribute("text")) for note in document.root.get_children()]
