"""document_tree: document JSON as a rich tree, at a glance or in full."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from mesh_tools.document import document_tree


def rendered(content: dict[str, Any], **options: Any) -> list[str]:
    out = io.StringIO()
    # Wide enough that no line wraps.
    Console(file=out, width=200).print(document_tree(content, **options))
    return out.getvalue().splitlines()


def test_the_document_tree_shows_text_and_sums_up_deep_children() -> None:
    content = {
        "report": {
            "title": "Plan",
            "children": [
                {
                    "section": {
                        "status": "draft",
                        "children": [{"list": {"children": [{"item": {"text": "a"}}] * 3}}],
                    }
                }
            ],
        }
    }
    assert rendered(content, max_depth=2) == [
        'report "Plan"',
        '└── section status="draft"',
        "    └── list",
        "        └── … 3 children",
    ]


def test_the_detailed_tree_shows_every_attribute_in_full_and_the_ids_under_the_path() -> None:
    long_text = "a note long enough that the glance form cuts it short " * 2
    content = {
        "notes": {
            "$id": "root",
            "items": [{"note": {"$id": "n1", "text": long_text, "n": 2}}],
            "tags": [],
        }
    }
    assert rendered(content, path="plan.notes", detail=True) == [
        "plan.notes",
        "└── notes #root",
        f'    └── note text="{long_text}" n=2 #n1',
    ]
    assert rendered(content, path="plan.notes")[1:] == [
        "└── notes",
        '    └── note "' + long_text[:71] + '…" n=2',
    ]
