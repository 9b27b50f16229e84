"""Agents on big documents: what reading, searching and following changes cost on 100,000 elements.

    python bench/big_documents.py [--lists 100] [--items 999] [--no-crawl] [--no-demo]

On a rich document of ``--lists`` lists of ``--items`` items (100,101 elements by default):

1. ``describe_document`` of the root and of one ``$next`` page, ``search_elements`` for a text near the
   end (the worst case: the walk reaches the last list) and for a tag, following a search's ``next``
   page by page (a tag and a text search; the median page), and ``changes_since`` after
   another replica made 20 edits: median latency over 5 runs and result size (characters, and tokens
   at four characters each), beside the reference a model would otherwise need: the whole document's
   JSON (``to_json``), its size and the time to produce it.
2. Following every ``$next`` from the root: calls, largest result and total time to reach every element.
3. The demo's token totals (``mesh-tools demo --scripted``, estimated by the scripted model), beside the
   same figure before the change feed, recorded on main at d6f6567 with the same command: 338,161
   tokens in 73 tool calls (the scripted demo is deterministic there, so one run is its figure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _summary import Row, Topic, add_summary_argument, context
from _summary import record as record_rows  # demo_tokens reads a run record
from rich.console import Console
from rich.table import Table

from mesh_tools.document import MeshDocument
from mesh_tools.schema import MeshSchema
from mesh_tools.tools import DocumentToolkit, InMemorySource

RICH_FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "rich-document.schema.json"
DEMO_TOKENS_BEFORE = 338_161
DEMO_CALLS_BEFORE = 73


def build(schema: MeshSchema, lists: int, items: int) -> MeshDocument:
    blocks = [
        {"list": {"ordered": False, "items": [{"item": {"text": f"item {n}.{i}"}} for i in range(items)]}}
        for n in range(lists)
    ]
    return MeshDocument.from_json(schema, {"document": {"title": "big", "blocks": blocks}})


async def timed(run: Callable[[], Awaitable[str]], repeats: int = 5) -> tuple[float, str]:
    """Median milliseconds of ``run`` and its last result."""
    samples = []
    result = ""
    for _ in range(repeats):
        started = time.perf_counter()
        result = await run()
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples), result


async def paging(call: Callable[..., Awaitable[str]], query: dict[str, Any], pages: int) -> tuple[float, str]:
    """Median milliseconds of following ``next`` for ``pages`` pages after the first, and the last page."""
    result = json.loads(await call("search_elements", **query))
    samples = []
    text = ""
    for _ in range(pages):
        started = time.perf_counter()
        text = await call("search_elements", **{**query, "cursor": result["next"]})
        samples.append((time.perf_counter() - started) * 1e3)
        result = json.loads(text)
    return statistics.median(samples), text


async def measure(lists: int, items: int, crawl: bool) -> tuple[Table, Table | None, list[Row]]:
    schema = MeshSchema.from_file(RICH_FIXTURE)
    started = time.perf_counter()
    document = build(schema, lists, items)
    built_s = time.perf_counter() - started
    source = InMemorySource(schema)
    source.documents["big.doc"] = document
    kit = DocumentToolkit(source, schema=schema, path="big.doc", participant="bench")

    async def call(tool: str, **arguments: Any) -> str:
        return await kit.call(tool, json.dumps(arguments))

    table = Table(title=f"{len(document):,} elements (built in {built_s:.1f} s)")
    for column in ("operation", "median ms", "result chars", "≈ tokens"):
        table.add_column(column, justify="right" if column != "operation" else "left")

    def row(name: str, ms: float, text: str) -> None:
        table.add_row(name, f"{ms:,.1f}", f"{len(text):,}", f"{len(text) // 4:,}")

    whole_ms, whole = await timed(lambda: asyncio.sleep(0, json.dumps(document.to_json(include_ids=True))))
    row("reference: the whole document as JSON (to_json)", whole_ms, whole)
    root_ms, root = await timed(lambda: call("describe_document", id="root", depth=None))
    row("describe_document root", root_ms, root)
    first_list = json.loads(root)["element"]["blocks"][0]
    page_ms, page = await timed(lambda: call("describe_document", id=first_list["$next"], depth=None))
    row("describe_document a $next page of 999 items", page_ms, page)
    blank = {"tag": None, "attribute": None, "equals": None, "under": None, "cursor": None}
    last = f"item {lists - 1}.{items - 1}"
    text_ms, text = await timed(lambda: call("search_elements", **blank, text=last))
    row(f"search_elements text {last!r} (the last element)", text_ms, text)
    tag_ms, tag = await timed(lambda: call("search_elements", **{**blank, "tag": "list"}, text=None))
    row("search_elements tag list (first page)", tag_ms, tag)
    pages_ms, page_text = await paging(call, {**blank, "tag": "item", "text": None}, pages=20)
    row("search_elements tag item: each of the next 20 pages (median)", pages_ms, page_text)
    deep_ms, deep_text = await paging(call, {**blank, "tag": None, "text": "item 9"}, pages=20)
    row("search_elements text 'item 9': each of the next 20 pages (median)", deep_ms, deep_text)

    version = json.loads(root)["version"]
    other = MeshDocument(schema=schema)
    other.apply_update(document.get_update())
    other.on_update(lambda update, origin: document.apply_update(update) if origin is None else None)
    lists_there = other.root.get_children()
    for n in range(10):
        lists_there[n * (lists // 10)].append_child("item", {"text": f"new {n}"})
        lists_there[(n * (lists // 10) + 1) % lists].get_children()[0].set_attribute("done", True)
    feed_ms, feed = await timed(lambda: call("changes_since", version=version))
    row("changes_since after 20 edits by another replica", feed_ms, feed)

    whole_label = "the whole document as JSON"
    rows = [
        context(
            Topic.BIG_DOCUMENTS,
            f"describe_document root, {len(document):,} elements",
            root_ms,
            whole_ms,
            unit="ms",
            reference_label=whole_label,
        ),
        context(
            Topic.BIG_DOCUMENTS,
            "describe_document root, result size",
            len(root),
            len(whole),
            unit="chars",
            reference_label=whole_label,
        ),
        context(
            Topic.BIG_DOCUMENTS,
            "changes_since after 20 edits",
            feed_ms,
            whole_ms,
            unit="ms",
            reference_label=whole_label,
        ),
    ]
    if not crawl:
        return table, None, rows
    seen: set[str] = set()
    todo = ["root"]
    calls = largest = 0
    started = time.perf_counter()
    while todo:
        result = json.loads(await call("describe_document", id=todo.pop(), depth=None))
        calls += 1
        largest = max(largest, len(json.dumps(result, separators=(",", ":"))))
        stack = [result["element"]]
        while stack:
            element = stack.pop()
            seen.add(element["$id"])
            if "$next" in element:
                todo.append(element["$next"])
            stack.extend(child for value in element.values() if isinstance(value, list) for child in value)
    crawl_s = time.perf_counter() - started
    reach = Table(title="Reading every element by following $next")
    for column in ("elements reached", "of", "calls", "largest result (chars)", "budget", "total s"):
        reach.add_column(column, justify="right")
    reach.add_row(
        f"{len(seen):,}",
        f"{len(document):,}",
        f"{calls:,}",
        f"{largest:,}",
        f"{kit.describe_budget:,}",
        f"{crawl_s:.1f}",
    )
    return table, reach, rows


def demo_tokens() -> Table:
    with tempfile.TemporaryDirectory() as data_dir:
        subprocess.run(
            [sys.executable, "-m", "mesh_tools", "demo", "--scripted", "--plain", "--data-dir", data_dir],
            check=True,
            capture_output=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        [record] = Path(data_dir).glob("*.run.json")
        run = json.loads(record.read_text())
    table = Table(title="mesh-tools demo --scripted: tokens (estimated) for the same final document")
    for column in ("", "architect", "writer", "reviewer", "total", "tool calls", "valid"):
        table.add_column(column, justify="right")
    totals = [sum(event["usage"]["total_tokens"] for event in m["result"]["events"]) for m in run["members"]]
    calls = sum(len(event["tool_calls"]) for m in run["members"] for event in m["result"]["events"])
    table.add_row(
        "before (main d6f6567, recorded)",
        "19,516",
        "133,608",
        "185,037",
        f"{DEMO_TOKENS_BEFORE:,}",
        str(DEMO_CALLS_BEFORE),
        "yes",
    )
    table.add_row(
        "now",
        *(f"{total:,}" for total in totals),
        f"{sum(totals):,}",
        str(calls),
        "yes" if run["valid"] else "NO",
    )
    table.add_row("now / before", "", "", "", f"{sum(totals) / DEMO_TOKENS_BEFORE:.0%}", "", "")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lists", type=int, default=100)
    parser.add_argument("--items", type=int, default=999)
    parser.add_argument("--no-crawl", action="store_true", help="skip reading every element")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo's token totals")
    add_summary_argument(parser)
    args = parser.parse_args()
    console = Console()
    table, reach, rows = asyncio.run(measure(args.lists, args.items, crawl=not args.no_crawl))
    console.print(table)
    record_rows(args.summary, rows)
    if reach is not None:
        console.print(reach)
    if not args.no_demo:
        console.print(demo_tokens())


if __name__ == "__main__":
    main()
