"""What a tool call costs, and how many bytes the tool definitions put in every request.

    python bench/tool_calls.py [--calls 2000] [--repeats 5] [--rich-schema FILE]

1. Time per append of one ``<p class>`` under a body that grows to ``--calls`` children, median over
   ``--repeats`` interleaved runs: ``toolkit.call("append_child", json)`` (parse, validate against the
   advertised schema, check against the document schema, one CRDT transaction, JSON result) beside the
   direct document API (``Element.append_child``) and a raw pycrdt ``XmlElement`` append (no checks).
   Target: a tool call costs at most 5x the raw append.
2. Bytes of every tool definition (compact JSON, Responses format, the path-taking form, like
   MeshAgent's tools) for the seed's html schema and the rich fixture, beside MeshAgent 0.0.21's
   reference sizes for the same schemas (2,546 and 12,041 bytes). Targets: no larger for html, at most
   50% for the rich schema.
3. ``describe_document`` on a 10,000-paragraph document: characters returned (the budget) beside the
   whole document as JSON, and the time it takes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from _summary import Row, Topic, add_summary_argument, at_most, context, record  # bench/ is on the path
from pycrdt import Doc, XmlElement, XmlFragment
from rich.console import Console
from rich.table import Table

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.document import MeshDocument
from mesh_tools.tools import DocumentToolkit, InMemorySource

#: MeshAgent 0.0.21: all document tools for a schema, Responses format, compact JSON (reference sizes).
MESHAGENT_BYTES = {"html (seed)": 2_546, "rich fixture": 12_041}
RICH_FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "rich-document.schema.json"

HTML = MeshSchema(
    root_tag_name="html",
    elements=[
        ElementType(tag_name="html", properties=[ChildProperty(name="children", child_tag_names=["body"])]),
        ElementType(tag_name="body", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(tag_name="p", properties=[ValueProperty(name="class", type="string")]),
    ],
)


def per_call_us(runs: dict[str, Callable[[int], None]], calls: int, repeats: int) -> dict[str, float]:
    """Median time per call in microseconds; the runs take turns so load changes hit them alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run(calls)
            samples[name].append((time.perf_counter() - started) / calls * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def raw_pycrdt(calls: int) -> None:
    doc: Doc = Doc()
    body = doc.get("mesh", type=XmlFragment).children.append(XmlElement("body", {"$id": "body"}))
    for i in range(calls):
        body.children.append(XmlElement("p", {"$id": f"p{i:07d}", "class": "lead"}))


def document_api(calls: int) -> None:
    body = MeshDocument(schema=HTML).root.append_child("body")
    for _ in range(calls):
        body.append_child("p", {"class": "lead"})


def tool_call(calls: int) -> None:
    async def run() -> None:
        source = InMemorySource(HTML)
        toolkit = DocumentToolkit(source, schema=HTML, path="page.html")
        body = (await source.open("page.html")).root.append_child("body")
        arguments = json.dumps(
            {"parent_id": body.id, "position": None, "element": {"$tag": "p", "class": "lead"}}
        )
        for _ in range(calls):
            result = await toolkit.call("append_child", arguments)
        assert json.loads(result)["ok"] is True

    asyncio.run(run())


def definitions_bytes(schema: MeshSchema) -> int:
    toolkit = DocumentToolkit(InMemorySource(schema), schema=schema)
    assert not toolkit.strict_issues, toolkit.strict_issues
    return len(json.dumps(toolkit.responses_tools(), separators=(",", ":")))


def describe_big_document(paragraphs: int) -> tuple[int, int, float]:
    async def run() -> tuple[int, int, float]:
        source = InMemorySource(HTML)
        toolkit = DocumentToolkit(source, schema=HTML, path="big.html")
        document = await source.open("big.html")
        body = document.root.append_child("body")
        with document.transaction():
            for i in range(paragraphs):
                body.append_child("p", {"class": f"paragraph-{i}"})
        whole = len(json.dumps(document.to_json(include_ids=True), separators=(",", ":")))
        started = time.perf_counter()
        result = await toolkit.call("describe_document", '{"id": "root", "depth": null}')
        elapsed_ms = (time.perf_counter() - started) * 1e3
        return len(result), whole, elapsed_ms

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rich-schema", type=Path, default=RICH_FIXTURE)
    add_summary_argument(parser)
    options = parser.parse_args()
    console = Console()

    timings = per_call_us(
        {"raw": raw_pycrdt, "direct": document_api, "tool": tool_call}, options.calls, options.repeats
    )
    raw, direct, tool = timings["raw"], timings["direct"], timings["tool"]
    costs = Table(title=f"append one <p> ({options.calls} appends, median of {options.repeats} runs)")
    for column in ("path", "µs per append", "x raw pycrdt"):
        costs.add_column(column, justify="right" if column != "path" else "left")
    costs.add_row("raw pycrdt XmlElement append (reference)", f"{raw:.1f}", "1.0")
    costs.add_row("MeshDocument append_child", f"{direct:.1f}", f"{direct / raw:.1f}")
    costs.add_row('toolkit.call("append_child", json)', f"{tool:.1f}", f"{tool / raw:.1f}")
    console.print(costs)
    verdict = "met" if tool <= 5 * raw else "MISSED"
    console.print(f"target: tool call <= 5x raw pycrdt -> {tool / raw:.1f}x, {verdict}\n")

    sizes = Table(title="all tool definitions, compact JSON, Responses format (path-taking form)")
    for column in ("schema", "ours (bytes)", "MeshAgent 0.0.21 (reference)", "ours / MeshAgent", "target"):
        sizes.add_column(column, justify="left" if column == "schema" else "right")
    schemas = {"html (seed)": (HTML, 1.0), "rich fixture": (MeshSchema.from_file(options.rich_schema), 0.5)}
    rows: list[Row] = [
        at_most(
            Topic.TOOL_CALL,
            f"append one <p>, {options.calls:,} appends",
            tool,
            raw,
            factor=2,
            unit="µs",
            reference_label="raw pycrdt append",
        ),
        context(
            Topic.TOOL_CALL,
            "MeshDocument append_child (no tool layer)",
            direct,
            raw,
            unit="µs",
            reference_label="raw pycrdt append",
        ),
    ]
    for name, (schema, target) in schemas.items():
        ours = definitions_bytes(schema)
        reference = MESHAGENT_BYTES[name]
        rows.append(
            at_most(
                Topic.TOOL_DEFINITIONS,
                f"{name} schema",
                ours,
                reference,
                factor=target,
                unit="bytes",
                reference_label="MeshAgent 0.0.21",
            )
        )
        verdict = "met" if ours <= target * reference else "MISSED"
        sizes.add_row(
            name, f"{ours:,}", f"{reference:,}", f"{ours / reference:.0%}", f"<= {target:.0%} {verdict}"
        )
    console.print(sizes)
    console.print(
        "ours: nested inserts at any position, typed values per attribute, attribute removal, "
        "subtree reads with a depth and size budget; strict: true on every tool\n"
    )

    returned, whole, elapsed_ms = describe_big_document(10_000)
    big = Table(title="describe_document on 10,000 paragraphs (default budget)")
    for column in ("returned (chars)", "whole document JSON (chars)", "share", "time (ms)"):
        big.add_column(column, justify="right")
    big.add_row(f"{returned:,}", f"{whole:,}", f"{returned / whole:.1%}", f"{elapsed_ms:.1f}")
    console.print(big)
    record(options.summary, rows)


if __name__ == "__main__":
    main()
