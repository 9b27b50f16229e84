"""A document schema in words, for the ``{schema_summary}`` placeholder of agent prompts.

The tools already carry the schema as JSON Schema; the prompt gets the same facts as a short list a
model reads once: every element, what it is for, its attributes with their types or allowed values,
its text and marks, and which children it takes.
"""

from __future__ import annotations

import json

from ..document import ROOT_ID
from ..schema import ElementType, MeshSchema, ValueProperty

__all__ = ["schema_summary"]


def schema_summary(schema: MeshSchema) -> str:
    """One Markdown bullet per element type, the root first, then the others in schema order."""
    root = schema.root
    others = [element for element in schema.elements if element is not root]
    lines = [
        f"The document's root is a `{root.tag_name}` element with id `{ROOT_ID}`. "
        "Attributes not listed for an element do not exist; every attribute is optional.",
        "",
    ]
    lines.extend(_element_line(element) for element in [root, *others])
    return "\n".join(lines)


def _element_line(element: ElementType) -> str:
    line = f"- `{element.tag_name}`"
    if element.description:
        line += f": {element.description.rstrip('.')}."
    attributes = [_attribute(prop) for prop in element.attributes.values()]
    line += f" Attributes: {'; '.join(attributes)}." if attributes else " No attributes."
    text = element.text_property
    if text is not None:
        marks = f"marks: {text.describe_marks()}" if text.marks else "no marks"
        line += f" Text (`{text.name}`, edited with the text tools; {marks})."
    children = element.child_property
    if children is not None:
        tags = ", ".join(f"`{tag}`" for tag in children.child_tag_names)
        order = " in exactly this order" if children.ordered else ""
        line += f" Children (`{children.name}`){order}: {tags}."
    return line


def _attribute(prop: ValueProperty) -> str:
    kind = (
        "one of " + ", ".join(json.dumps(value) for value in prop.enum)
        if prop.enum is not None
        else prop.type
    )
    text = f"`{prop.name}` ({kind})"
    if prop.description:
        text += f" — {prop.description.rstrip('.')}"
    return text
