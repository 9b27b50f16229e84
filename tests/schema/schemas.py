"""Example schemas built in Python, shared by the schema and document tests."""

from __future__ import annotations

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty


def seed_schema() -> MeshSchema:
    """The schema of the seed document, verbatim but for the import line."""
    return MeshSchema(
        root_tag_name="html",
        elements=[
            ElementType(
                tag_name="html",
                properties=[
                    ChildProperty(name="children", child_tag_names=["body"]),
                ],
            ),
            ElementType(
                tag_name="body",
                properties=[
                    ChildProperty(name="children", child_tag_names=["p"]),
                ],
            ),
            ElementType(
                tag_name="p",
                properties=[
                    ValueProperty(name="class", type="string"),
                ],
            ),
        ],
    )


def rich_schema() -> MeshSchema:
    """The schema behind the MeshAgent fixture, built in Python."""

    def text(name: str = "text") -> ValueProperty:
        return ValueProperty(name=name, type="string")

    return MeshSchema(
        root_tag_name="document",
        elements=[
            ElementType(
                tag_name="document",
                properties=[
                    text("title"),
                    ChildProperty(name="blocks", child_tag_names=["heading", "paragraph", "list", "table"]),
                ],
            ),
            ElementType(tag_name="heading", properties=[text(), ValueProperty(name="level", type="number")]),
            ElementType(
                tag_name="paragraph",
                properties=[
                    text(),
                    ValueProperty(name="style", type="string", enum=["normal", "quote", "note"]),
                ],
            ),
            ElementType(
                tag_name="list",
                properties=[
                    ValueProperty(name="ordered", type="boolean"),
                    ChildProperty(name="items", child_tag_names=["item"]),
                ],
            ),
            ElementType(tag_name="item", properties=[text(), ValueProperty(name="done", type="boolean")]),
            ElementType(
                tag_name="table",
                properties=[text("caption"), ChildProperty(name="rows", child_tag_names=["row"])],
            ),
            ElementType(tag_name="row", properties=[ChildProperty(name="cells", child_tag_names=["cell"])]),
            ElementType(tag_name="cell", properties=[text()]),
        ],
    )
