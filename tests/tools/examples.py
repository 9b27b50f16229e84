"""Example schemas, the exact tool definitions they produce, and JSON helpers the tool tests share."""

from __future__ import annotations

import json
from typing import Any

from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty

from ..fixtures import RICH_FIXTURE

#: The seed's example: html > body > p with a string class.
HTML = MeshSchema(
    root_tag_name="html",
    elements=[
        ElementType(tag_name="html", properties=[ChildProperty(name="children", child_tag_names=["body"])]),
        ElementType(tag_name="body", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(tag_name="p", properties=[ValueProperty(name="class", type="string")]),
    ],
)

#: A task board: enums, booleans, integers and numbers, descriptions, and an ordered child list.
BOARD = MeshSchema(
    root_tag_name="board",
    elements=[
        ElementType(
            tag_name="board",
            description="a kanban board",
            properties=[
                ValueProperty(name="name", type="string"),
                ChildProperty(name="columns", child_tag_names=["column"]),
            ],
        ),
        ElementType(
            tag_name="column",
            properties=[
                ValueProperty(name="name", type="string"),
                ValueProperty(name="wip_limit", type="integer", description="most cards allowed"),
                ChildProperty(name="cards", child_tag_names=["card"]),
            ],
        ),
        ElementType(
            tag_name="card",
            properties=[
                ValueProperty(name="title", type="string"),
                ValueProperty(name="priority", type="string", enum=["low", "medium", "high"]),
                ValueProperty(name="done", type="boolean"),
                ValueProperty(name="estimate", type="number"),
                ChildProperty(name="parts", child_tag_names=["summary", "checklist"], ordered=True),
            ],
        ),
        ElementType(tag_name="summary", properties=[ValueProperty(name="text", type="string")]),
        ElementType(
            tag_name="checklist",
            properties=[ChildProperty(name="checks", child_tag_names=["check"])],
        ),
        ElementType(
            tag_name="check",
            properties=[
                ValueProperty(name="text", type="string"),
                ValueProperty(name="done", type="boolean"),
            ],
        ),
    ],
)


def rich() -> MeshSchema:
    """The shared rich-document fixture (headings, paragraphs, lists, tables)."""
    return MeshSchema.from_file(RICH_FIXTURE)


def loads(text: str) -> Any:
    return json.loads(text)


def args(**values: Any) -> str:
    """Tool arguments as the JSON string a model sends."""
    return json.dumps(values)


#: Every tool for the seed's html schema, bound to one path, exactly as the Responses API receives it.
HTML_RESPONSES_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "describe_document",
        "description": 'Read element id ("root" = whole document) with its $id values, which the other '
        "tools take. $more: n hides n children; pass its $next as id to read on. Tools "
        "take an $id or a path like /list[2]/item[0].",
        "parameters": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "depth": {"type": ["integer", "null"]}},
            "required": ["id", "depth"],
            "additionalProperties": False,
        },
        "strict": True,
    },
    {
        "type": "function",
        "name": "append_child",
        "description": "Insert an element tree under parent_id. Returns the new ids.",
        "parameters": {
            "type": "object",
            "properties": {
                "parent_id": {"type": "string"},
                "position": {"type": ["integer", "null"], "description": "null = last"},
                "element": {"anyOf": [{"$ref": "#/$defs/body"}, {"$ref": "#/$defs/p"}]},
                "if_unchanged_since": {
                    "type": ["string", "null"],
                    "description": "a version: fail if others changed the element since",
                },
            },
            "required": ["parent_id", "position", "element", "if_unchanged_since"],
            "additionalProperties": False,
            "$defs": {
                "body": {
                    "type": "object",
                    "properties": {
                        "$tag": {"type": "string", "const": "body"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/p"}},
                    },
                    "required": ["$tag", "children"],
                    "additionalProperties": False,
                },
                "p": {
                    "type": "object",
                    "properties": {
                        "$tag": {"type": "string", "const": "p"},
                        "class": {"type": ["string", "null"]},
                    },
                    "required": ["$tag", "class"],
                    "additionalProperties": False,
                },
            },
        },
        "strict": True,
    },
    {
        "type": "function",
        "name": "set_attribute",
        "description": "Set an attribute of element id; returns its previous value.",
        "parameters": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "attribute": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "const": "class"}, "value": {"type": "string"}},
                    "required": ["name", "value"],
                    "additionalProperties": False,
                },
                "if_unchanged_since": {
                    "type": ["string", "null"],
                    "description": "a version: fail if others changed the element since",
                },
            },
            "required": ["id", "attribute", "if_unchanged_since"],
            "additionalProperties": False,
        },
        "strict": True,
    },
    {
        "type": "function",
        "name": "remove_attribute",
        "description": "Remove an attribute of element id; returns its previous value.",
        "parameters": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string", "enum": ["class"]},
                "if_unchanged_since": {
                    "type": ["string", "null"],
                    "description": "a version: fail if others changed the element since",
                },
            },
            "required": ["id", "name", "if_unchanged_since"],
            "additionalProperties": False,
        },
        "strict": True,
    },
    {
        "type": "function",
        "name": "delete_element",
        "description": "Delete element id and all inside it; returns the count.",
        "parameters": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "if_unchanged_since": {
                    "type": ["string", "null"],
                    "description": "a version: fail if others changed the element since",
                },
            },
            "required": ["id", "if_unchanged_since"],
            "additionalProperties": False,
        },
        "strict": True,
    },
    {
        "type": "function",
        "name": "move_element",
        "description": "Move element id with all inside it under parent_id at position (null = last; counted "
        "without the element). It keeps its ids; others' unsaved edits inside it are lost.",
        "parameters": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "parent_id": {"type": "string"},
                "position": {"type": ["integer", "null"], "description": "null = last"},
                "if_unchanged_since": {
                    "type": ["string", "null"],
                    "description": "a version: fail if others changed the element since",
                },
            },
            "required": ["id", "parent_id", "position", "if_unchanged_since"],
            "additionalProperties": False,
        },
        "strict": True,
    },
    {
        "type": "function",
        "name": "apply_edits",
        "description": "Apply edits in order as one change: all or none (an error names the failing edit). "
        "An insert creates one element; give it a ref and later edits address it as @ref (build a "
        "subtree: insert the parent with a ref, then its children under @ref). Returns the new "
        "ids by ref.",
        "parameters": {
            "type": "object",
            "properties": {
                "edits": {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            {
                                "type": "object",
                                "properties": {
                                    "op": {"type": "string", "const": "insert"},
                                    "parent": {
                                        "type": "string",
                                        "description": "an $id, a path, or @ref of an earlier insert",
                                    },
                                    "position": {"type": ["integer", "null"], "description": "null = last"},
                                    "ref": {
                                        "type": ["string", "null"],
                                        "description": "name it; later edits use @name",
                                    },
                                    "element": {"anyOf": [{"$ref": "#/$defs/body"}, {"$ref": "#/$defs/p"}]},
                                },
                                "required": ["op", "parent", "position", "ref", "element"],
                                "additionalProperties": False,
                            },
                            {
                                "type": "object",
                                "properties": {
                                    "op": {"type": "string", "const": "set"},
                                    "id": {
                                        "type": "string",
                                        "description": "an $id, a path, or @ref of an earlier insert",
                                    },
                                    "attribute": {
                                        "type": "object",
                                        "properties": {
                                            "name": {"type": "string", "const": "class"},
                                            "value": {"type": "string"},
                                        },
                                        "required": ["name", "value"],
                                        "additionalProperties": False,
                                    },
                                },
                                "required": ["op", "id", "attribute"],
                                "additionalProperties": False,
                            },
                            {
                                "type": "object",
                                "properties": {
                                    "op": {"type": "string", "const": "remove"},
                                    "id": {
                                        "type": "string",
                                        "description": "an $id, a path, or @ref of an earlier insert",
                                    },
                                    "name": {"type": "string", "enum": ["class"]},
                                },
                                "required": ["op", "id", "name"],
                                "additionalProperties": False,
                            },
                            {
                                "type": "object",
                                "properties": {
                                    "op": {"type": "string", "const": "delete"},
                                    "id": {
                                        "type": "string",
                                        "description": "an $id, a path, or @ref of an earlier insert",
                                    },
                                },
                                "required": ["op", "id"],
                                "additionalProperties": False,
                            },
                            {
                                "type": "object",
                                "properties": {
                                    "op": {"type": "string", "const": "move"},
                                    "id": {
                                        "type": "string",
                                        "description": "an $id, a path, or @ref of an earlier insert",
                                    },
                                    "parent": {
                                        "type": "string",
                                        "description": "an $id, a path, or @ref of an earlier insert",
                                    },
                                    "position": {"type": ["integer", "null"], "description": "null = last"},
                                },
                                "required": ["op", "id", "parent", "position"],
                                "additionalProperties": False,
                            },
                        ]
                    },
                    "description": "applied in order, all or none",
                },
                "if_unchanged_since": {
                    "type": ["string", "null"],
                    "description": "a version: fail if others changed the element since",
                },
            },
            "required": ["edits", "if_unchanged_since"],
            "additionalProperties": False,
            "$defs": {
                "body": {
                    "type": "object",
                    "properties": {"$tag": {"type": "string", "const": "body"}},
                    "required": ["$tag"],
                    "additionalProperties": False,
                },
                "p": {
                    "type": "object",
                    "properties": {
                        "$tag": {"type": "string", "const": "p"},
                        "class": {"type": ["string", "null"]},
                    },
                    "required": ["$tag", "class"],
                    "additionalProperties": False,
                },
            },
        },
        "strict": True,
    },
    {
        "type": "function",
        "name": "undo",
        "description": "Undo your own latest edit (a whole apply_edits at once); again for the one before. "
        "Refused when someone else changed the same thing since.",
        "parameters": {"type": "object", "properties": {}, "required": [], "additionalProperties": False},
        "strict": True,
    },
    {
        "type": "function",
        "name": "search_elements",
        "description": "Find elements by tag, attribute value (equals) or text substring, under an "
        "element; paged: pass next as cursor.",
        "parameters": {
            "type": "object",
            "properties": {
                "tag": {"type": ["string", "null"], "enum": ["html", "body", "p", None]},
                "attribute": {"type": ["string", "null"], "enum": ["class", None]},
                "equals": {"type": ["string", "number", "boolean", "null"]},
                "text": {"type": ["string", "null"]},
                "under": {"type": ["string", "null"]},
                "cursor": {"type": ["string", "null"]},
            },
            "required": ["tag", "attribute", "equals", "text", "under", "cursor"],
            "additionalProperties": False,
        },
        "strict": True,
    },
    {
        "type": "function",
        "name": "changes_since",
        "description": "Others' edits since version (from any result): who, what, where. Cheaper than "
        "reading again.",
        "parameters": {
            "type": "object",
            "properties": {"version": {"type": "string"}},
            "required": ["version"],
            "additionalProperties": False,
        },
        "strict": True,
    },
    {
        "type": "function",
        "name": "wait_for_changes",
        "description": "Wait up to timeout seconds (max 60) for others' edits after version; returns them.",
        "parameters": {
            "type": "object",
            "properties": {"version": {"type": "string"}, "timeout": {"type": "number"}},
            "required": ["version", "timeout"],
            "additionalProperties": False,
        },
        "strict": True,
    },
]
