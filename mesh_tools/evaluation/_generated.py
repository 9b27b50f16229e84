"""Long starting documents built by code: the same document for the same parameters, every time.

A suite names one in ``suite.yaml`` instead of a file::

    documents:
      roadmap: {generate: board, columns: 30, tasks: 40}     # about 1,900 elements

Values follow fixed formulas of the element's position (no randomness), so a task can say which
element holds what, plus a few *planted* elements with distinctive content for tasks to find by
reading (the tables below). Generators and their parameters:

- ``board`` (``columns``, ``tasks``): columns ``Sprint 01``..; tasks ``Ticket CC-TTT``.
- ``catalog`` (``categories``, ``products``, ``variants``): categories from a fixed list, products
  ``<code>-PPP`` with variants ``<sku>-<colour>-<size>``.
- ``thread`` (``messages``): messages ``#N`` by a rota of authors, every third with a bot reply.
- ``page`` (``sections``, ``blocks``): chapters ``ch1``.. of paragraphs, lists, callouts, images.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["GENERATORS", "generate"]

_PEOPLE = ("ana", "ben", "carla", "dev", "eli", "fay", "gus")
_PRIORITIES = ("low", "medium", "high", "urgent")
_COLORS = ("red", "blue", "green", "black", "grey")
_SIZES = ("S", "M", "L", "XL")
_CATEGORIES = (
    "Tents", "Backpacks", "Sleeping bags", "Stoves", "Lamps", "Jackets", "Boots", "Socks", "Gloves",
    "Hats", "Ropes", "Harnesses", "Helmets", "Maps", "Compasses", "Water filters", "Bottles", "Cookware",
    "Knives", "First aid", "Chairs", "Tables", "Hammocks", "Bikes", "Kayaks", "Paddles", "Skis",
    "Snowshoes", "Trekking poles", "Binoculars",
)  # fmt: skip
_TOPICS = ("Getting started", "Accounts", "Billing", "Security", "Deployments", "Monitoring", "Support")

Element = dict[str, Any]

# Planted elements: (position) -> attributes that replace the formula's.
_BOARD_PLANTS: Mapping[tuple[int, int], Element] = {
    (4, 11): {"title": "Rotate API keys", "assignee": "omar", "priority": "high", "done": False},
    (9, 2): {"title": "Archive old dashboards", "done": True},
    (17, 33): {"title": "Upgrade database driver", "points": 13, "done": False},
    (22, 36): {"title": "Fix login timeout", "priority": "urgent", "assignee": "zoe", "done": False},
    (26, 19): {"title": "Write incident report", "assignee": "zoe", "done": True, "due": "2025-03-14"},
}
_CATALOG_PLANTS: Mapping[tuple[int, int], Element] = {
    (0, 13): {"name": "Trailblazer 2 tent", "price": 0.0, "stock": 8},
    (5, 21): {"name": "Stormproof shell jacket", "price": 349.0, "featured": False},
    (6, 30): {"name": "Summit boots", "status": "backorder", "stock": 0},
    (11, 4): {"name": "Climbing harness pro", "status": "discontinued", "stock": 3},
    (16, 9): {"name": "Titanium bottle", "price": 44.5, "stock": 120},
}
_THREAD_PLANTS: Mapping[int, Element] = {
    13: {"author": "quinn", "text": "My export to CSV fails with error E42 since the update."},
    27: {"author": "rosa", "text": "Where can I change my billing address?", "score": 0},
    41: {"author": "spam-bot", "role": "user", "text": "BUY FOLLOWERS NOW cheap!!!", "score": -9},
    52: {"author": "quinn", "text": "Thanks, the E42 fix works for me.", "score": 5},
}
_PAGE_PLANTS: Mapping[tuple[int, int], Element] = {
    (11, 3): {"text": "You will recieve an invoice on the first day of each month."},
    (23, 1): {"text": "Deployments are frozen on Fridays after 15:00."},
    (37, 4): {"text": "Support answers within 48 hours on working days."},
}


def _board(columns: int, tasks: int) -> Element:
    def task(c: int, t: int) -> Element:
        body: Element = {
            "title": f"Ticket {c + 1:02d}-{t + 1:03d}",
            "points": (c * 7 + t * 3) % 8 + 1,
            "priority": _PRIORITIES[(c + 2 * t) % 4],
            "done": t % 5 == 0,
        }
        if t % 3 != 2:
            body["assignee"] = _PEOPLE[(c * 5 + t) % len(_PEOPLE)]
        body.update(_BOARD_PLANTS.get((c, t), {}))
        parts: list[Element] = []
        if t % 4 == 1:
            parts += [
                {"subtask": {"title": "Write tests", "done": False}},
                {"subtask": {"title": "Code review", "done": t % 8 == 1}},
            ]
        if t % 10 == 7:
            parts.append({"label": {"name": "ops", "color": "yellow"}})
        return {"task": {**body, "parts": parts}}

    return {
        "board": {
            "name": "Platform roadmap",
            "owner": "dana",
            "columns": [
                {
                    "column": {
                        "name": f"Sprint {c + 1:02d}",
                        **({"wip_limit": 10 + c % 5} if c % 2 == 0 else {}),
                        "tasks": [task(c, t) for t in range(tasks)],
                    }
                }
                for c in range(columns)
            ],
        }
    }


def _catalog(categories: int, products: int, variants: int) -> Element:
    def product(k: int, p: int) -> Element:
        code = f"C{k + 1:02d}"
        stock = (k * 17 + p * 11) % 60
        body: Element = {
            "sku": f"{code}-{p + 1:03d}",
            "name": f"{_CATEGORIES[k % len(_CATEGORIES)]} model {p + 1:02d}",
            "price": 9.99 + ((k * 13 + p * 7) % 40) * 5,
            "stock": stock,
            "status": "discontinued" if p % 9 == 8 else "backorder" if stock == 0 else "active",
            "featured": p == 0,
        }
        body.update(_CATALOG_PLANTS.get((k, p), {}))
        parts: list[Element] = [
            {
                "variant": {
                    "sku": f"{body['sku']}-{_COLORS[(p + v) % len(_COLORS)]}-{_SIZES[v % len(_SIZES)]}",
                    "color": _COLORS[(p + v) % len(_COLORS)],
                    "size": _SIZES[v % len(_SIZES)],
                    "stock": (k + p + v * 5) % 20,
                }
            }
            for v in range(variants)
        ]
        if p % 12 == 5:
            parts.append({"note": {"text": "Check supplier delivery dates."}})
        return {"product": {**body, "parts": parts}}

    return {
        "catalog": {
            "name": "Northwind Outfitters",
            "currency": "EUR",
            "categories": [
                {
                    "category": {
                        "name": _CATEGORIES[k % len(_CATEGORIES)],
                        "code": f"C{k + 1:02d}",
                        "products": [product(k, p) for p in range(products)],
                    }
                }
                for k in range(categories)
            ],
        }
    }


def _thread(messages: int) -> Element:
    def message(i: int) -> Element:
        body: Element = {
            "author": _PEOPLE[i % len(_PEOPLE)],
            "role": "user",
            "text": f"#{i + 1}: question about {_TOPICS[i % len(_TOPICS)].lower()}.",
            "score": (i * 7) % 11 - 3,
        }
        body.update(_THREAD_PLANTS.get(i, {}))
        replies: list[Element] = []
        if i % 3 == 0:
            reactions = [{"reaction": {"emoji": "thumbs_up", "count": i % 5 + 1}}] if i % 6 == 0 else []
            reply = {"author": "support-bot", "role": "assistant", "text": f"Answer to #{i + 1}."}
            replies.append({"message": {**reply, "replies": reactions}})
        return {"message": {**body, "replies": replies}}

    return {
        "thread": {
            "topic": "Support forum",
            "locked": False,
            "messages": [message(i) for i in range(messages)],
        }
    }


def _page(sections: int, blocks: int) -> Element:
    def block(s: int, b: int) -> Element:
        plant = _PAGE_PLANTS.get((s, b))
        if plant is None and b % 5 == 2:
            return {
                "list": {
                    "ordered": b % 2 == 0,
                    "items": [{"list_item": {"text": f"Step {i + 1} of chapter {s + 1}"}} for i in range(3)],
                }
            }
        if plant is None and b % 7 == 5:
            return {
                "callout": {"tone": ("info", "warning", "success")[s % 3], "text": f"Note {s + 1}.{b + 1}"}
            }
        if plant is None and b % 11 == 9:
            return {
                "image": {
                    "src": f"/img/ch{s + 1}-{b + 1}.png",
                    "alt": f"Figure {s + 1}.{b + 1}",
                    "width": 640,
                }
            }
        return {"paragraph": {"text": f"Chapter {s + 1}, paragraph {b + 1}.", **(plant or {})}}

    return {
        "page": {
            "title": "Operations handbook",
            "lang": "en",
            "content": [
                {
                    "header": {
                        "logo_text": "Ops",
                        "links": [
                            {"nav_link": {"label": topic, "href": f"#ch{i + 1}"}}
                            for i, topic in enumerate(_TOPICS)
                        ],
                    }
                },
                *(
                    {
                        "section": {
                            "heading": f"Chapter {s + 1}: {_TOPICS[s % len(_TOPICS)]}",
                            "anchor": f"ch{s + 1}",
                            "blocks": [block(s, b) for b in range(blocks)],
                        }
                    }
                    for s in range(sections)
                ),
                {"footer": {"text": "Operations handbook", "year": 2025}},
            ],
        }
    }


#: The generators by name, each taking its parameters as keyword arguments.
GENERATORS: Mapping[str, Callable[..., Element]] = {
    "board": _board,
    "catalog": _catalog,
    "thread": _thread,
    "page": _page,
}


def generate(kind: str, parameters: Mapping[str, int]) -> Element:
    """The document JSON ``kind`` builds with ``parameters``; raises ValueError for unknown ones."""
    generator = GENERATORS.get(kind)
    if generator is None:
        raise ValueError(f"no document generator {kind!r}; known: {', '.join(GENERATORS)}")
    try:
        return generator(**parameters)
    except TypeError as error:
        raise ValueError(f"generator {kind!r}: {error}") from error
