"""Scripted stand-ins for the demo's three roles, writing a launch plan in the report schema.

They play the parts the prompts in ``prompts/`` describe, over the real tools, reading everything
they need from the live document as a model would: the architect lays out titled sections with a
one-line brief each (``status: draft``), the writer turns each draft section's brief into content and
marks it ``written``, the reviewer fixes typos and leftovers in written sections and marks them
``reviewed``. Every id they use comes from a ``describe_document``, ``append_child`` or change-feed
result, so they cope with whatever the others did meanwhile. Each reads the document once and then
follows the change feed (the ``changes`` its edits' results carry, ``wait_for_changes`` while it has
nothing to do), keeping its picture current as :mod:`._mirror` describes, instead of re-reading.

Two mistakes are scripted on purpose, so a run shows the tools' error feedback at work: the writer
first puts list items straight into a section (``child_not_allowed``) and then wraps them in a list,
and the reviewer first marks a section ``approved`` (``invalid_value``) and then uses ``reviewed``.

Policies are pure functions of the conversation (a retried request gets the same answer), and
everything they produce is labelled scripted by the ``ScriptedModel``: never a model result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from ..agent import Conversation, FinalMessage, Policy, Step, ToolCall, ToolCalls, ToolExchange
from ..document import ROOT_ID
from ..schema import ID_ATTRIBUTE, MeshSchema
from ..tools import TAG_KEY, ToolName
from ._mirror import known_document, latest_version

__all__ = [
    "DEMO_TASK",
    "DEMO_TITLE",
    "ArchitectPolicy",
    "ReviewerPolicy",
    "WriterPolicy",
    "demo_policies",
    "demo_schema",
]

DEMO_TITLE = "Launch plan: mesh-tools 0.1"

#: What the team is asked to do in the demo.
DEMO_TASK = (
    "Write a one-page launch plan for the mesh-tools 0.1 release: goals, scope, rollout steps, risks and "
    "how success is measured. Keep it short and concrete."
)

# Reads in a row that found nothing to do before a policy gives up waiting for the others.
_PATIENCE = 12
# Reads in a row that found everything done before a policy is sure nothing more is coming.
_CONFIRMING_READS = 2
# How long one idle turn waits for the others' edits, in seconds.
_WAIT_S = 1.0
# Tools that only read the document.
_READS = frozenset({ToolName.DESCRIBE_DOCUMENT, ToolName.CHANGES_SINCE, ToolName.WAIT_FOR_CHANGES})

# Keys of a described element that are not attributes (children are under "children" in the schema).
_NOT_ATTRIBUTES = frozenset({TAG_KEY, ID_ATTRIBUTE, "children", "$more"})

_TYPOS = {"recieve": "receive", "seperate": "separate", "occured": "occurred"}


@dataclass(frozen=True, slots=True)
class _Block:
    """Content the writer adds after a section's first paragraph: a list or a callout."""

    tag: str
    items: tuple[str, ...] = ()
    ordered: bool = False
    text: str = ""
    tone: str = "info"


@dataclass(frozen=True, slots=True)
class _Section:
    heading: str
    brief: str
    opening: str
    blocks: tuple[_Block, ...]
    loose_items: bool = False
    """The writer first sends this section's list items without their list (a scripted mistake)."""


_PLAN = (
    _Section(
        "Goals",
        "State what the release must achieve, and for whom.",
        "mesh-tools 0.1 lets people and LLM agents edit the same structured document at once, with "
        "every edit checked against the document's schema.",
        (
            _Block(
                "list",
                (
                    "Agents and people recieve each other's edits within a second.",
                    "No edit can leave a document that breaks its schema.",
                    "Any OpenAI-compatible model can drive the tools.",
                ),
            ),
        ),
    ),
    _Section(
        "Scope",
        "List what ships in 0.1 and what waits for later.",
        "The release covers the room server, the Python client and the function-calling tools.",
        (
            _Block(
                "list",
                (
                    "Room server with SQLite storage and schema repair.",
                    "Python client that reconnects and resyncs by itself.",
                    "Document tools for the Responses and Chat Completions APIs.",
                ),
            ),
            _Block("callout", text="Browser editing and per-element permissions wait for 0.2.", tone="info"),
        ),
    ),
    _Section(
        "Rollout",
        "Give the rollout as numbered steps, each with its gate.",
        "We roll out in three steps; each starts only when the previous one holds.",
        (
            _Block(
                "list",
                (
                    "Ship to the internal team and run the evaluation suite every day.",
                    "Open a public beta with the demo and the documentation.",
                    "Tag 0.1 after a week without a data-loss bug.",
                ),
                ordered=True,
            ),
        ),
        loose_items=True,
    ),
    _Section(
        "Risks",
        "Name the main risks and how each one is contained.",
        "Two risks need watching, and each has a seperate owner.",
        (
            _Block(
                "list",
                (
                    "Concurrent edits that interleave badly: covered by the convergence tests.",
                    "Models that send invalid edits: every call is checked and the error goes back.",
                ),
            ),
            _Block(
                "callout", text="Scripted demo runs are not model results; never quote them.", tone="warning"
            ),
        ),
    ),
    _Section(
        "Success metrics",
        "Say how we will know that the release worked.",
        "We judge the release on three numbers from the evaluation suite.",
        (
            _Block(
                "list",
                (
                    "Every final document is valid, in every run.",
                    "Every replica converges in every multi-agent run.",
                    "At least 90% of rejected edits are fixed on the next try.",
                ),
            ),
        ),
    ),
)

# The architect lays the plan out in two rounds, so the writer starts while sections are still coming.
_FIRST_ROUND = 3


def demo_schema() -> MeshSchema:
    """The demo's report schema, shipped as ``mesh_tools/data/report.schema.json``."""
    resource = files("mesh_tools") / "data" / "report.schema.json"
    return MeshSchema.from_json(json.loads(resource.read_text(encoding="utf-8")))


def demo_policies(schema: MeshSchema) -> dict[str, Policy]:
    """The scripted architect, writer and reviewer, by agent name, for documents of ``schema``.

    ``schema`` is :func:`demo_schema` (or one with the same elements); it is used to send every
    attribute the strict tool schemas require.
    """
    return {
        "architect": ArchitectPolicy(schema),
        "writer": WriterPolicy(schema),
        "reviewer": ReviewerPolicy(schema),
    }


class ArchitectPolicy:
    """Reads the document, sets the title, adds the plan's missing sections in two rounds, checks."""

    def __init__(self, schema: MeshSchema) -> None:
        self._schema = schema

    def next_step(self, conversation: Conversation) -> Step:
        """Read first; then lay out what is missing; read again to check; then report."""
        outline = _latest_outline(conversation)
        if outline is None or _behind(conversation):
            return _catch_up(conversation)
        missing = [section for section in _PLAN if section.heading not in outline.headings]
        calls = [] if outline.title else [_set(ROOT_ID, "title", DEMO_TITLE)]
        round_size = _FIRST_ROUND if not _appended(conversation) else len(missing)
        calls += [
            _call(ToolName.APPEND_CHILD, parent_id=ROOT_ID, position=None, element=self._section(section))
            for section in missing[:round_size]
        ]
        if calls:
            return ToolCalls(*calls)
        headings = ", ".join(outline.headings)
        return FinalMessage(f"The outline is in place: {headings}. Each section has a one-line brief.")

    def _section(self, section: _Section) -> dict[str, Any]:
        return _element(
            self._schema,
            "section",
            {"status": "draft"},
            [
                _element(self._schema, "heading", {"text": section.heading, "level": 1}),
                _element(self._schema, "paragraph", {"text": section.brief, "style": "note"}),
            ],
        )


class WriterPolicy:
    """Fills one draft section per round: read, write its content, mark it ``written``."""

    def __init__(self, schema: MeshSchema) -> None:
        self._schema = schema

    def next_step(self, conversation: Conversation) -> Step:
        """Fix what was rejected, mark what was filled, or read and fill the next draft section."""
        latest = conversation.latest_exchanges()
        failed = [exchange for exchange in latest if _failed(exchange)]
        if failed:
            corrected = [call for exchange in failed for call in self._corrections(exchange)]
            if corrected:
                return ToolCalls(*corrected)
            return _catch_up(conversation)
        filled = _filled_section(latest)
        if filled is not None:
            return ToolCalls(_set(filled, "status", "written"))
        outline = _latest_outline(conversation)
        if outline is None or _behind(conversation):
            return _catch_up(conversation)
        for section in outline.sections:
            if section.status == "draft":
                return ToolCalls(*self._fill(section))
        # No draft is left: either the architect has not laid anything out yet, or the work may be done.
        waiting = not outline.sections
        if _idle_reads(conversation) < (_PATIENCE if waiting else _CONFIRMING_READS):
            return _wait(conversation)
        if not outline.sections:
            return FinalMessage("No sections appeared to write; the outline is still missing.")
        marked = {_marked_written(exchange) for exchange in _successes(conversation, ToolName.SET_ATTRIBUTE)}
        written = [section.heading for section in outline.sections if section.id in marked]
        if not written:
            return FinalMessage("Every section already had its content; nothing left to write.")
        return FinalMessage(f"Wrote {len(written)} sections: {', '.join(written)}.")

    def _fill(self, section: _OutlineSection) -> list[ToolCall]:
        """The brief becomes the opening paragraph; the section's lists and callouts follow it."""
        plan = _plan_for(section.heading)
        if section.note_id is not None:
            calls = [_set(section.note_id, "text", plan.opening), _set(section.note_id, "style", "normal")]
        else:
            opening = _element(self._schema, "paragraph", {"text": plan.opening, "style": "normal"})
            calls = [_call(ToolName.APPEND_CHILD, parent_id=section.id, position=None, element=opening)]
        for block in plan.blocks:
            if block.tag == "list" and plan.loose_items:
                calls += [
                    _call(
                        ToolName.APPEND_CHILD, parent_id=section.id, position=None, element=self._item(text)
                    )
                    for text in block.items
                ]
            else:
                calls.append(
                    _call(
                        ToolName.APPEND_CHILD, parent_id=section.id, position=None, element=self._block(block)
                    )
                )
        if not any(call.name == ToolName.APPEND_CHILD for call in calls):
            # Nothing to wait for before the section counts as written.
            calls.append(_set(section.id, "status", "written"))
        return calls

    def _corrections(self, exchange: ToolExchange) -> list[ToolCall]:
        """The fixed call for a rejected one: loose list items go back inside their list, once."""
        arguments = exchange.parsed_arguments or {}
        code = _error_code(exchange)
        element = arguments.get("element") or {}
        if code != "child_not_allowed" or element.get(TAG_KEY) != "item":
            return []
        text = element["text"]
        plan = next((p for p in _PLAN if any(text in b.items for b in p.blocks)), None)
        block = next((b for b in plan.blocks if text in b.items), None) if plan else None
        if block is None or block.items[0] != text:
            return []  # one corrected call puts the whole list back; the other rejected items are in it
        return [
            _call(
                ToolName.APPEND_CHILD,
                parent_id=arguments["parent_id"],
                position=None,
                element=self._block(block),
            )
        ]

    def _block(self, block: _Block) -> dict[str, Any]:
        if block.tag == "callout":
            return _element(self._schema, "callout", {"tone": block.tone, "text": block.text})
        items = [self._item(text) for text in block.items]
        return _element(self._schema, "list", {"ordered": block.ordered}, items)

    def _item(self, text: str) -> dict[str, Any]:
        return _element(self._schema, "item", {"text": text})


class ReviewerPolicy:
    """Reviews written sections: fixes typos and leftover briefs, then marks them ``reviewed``."""

    def __init__(self, schema: MeshSchema) -> None:
        self._schema = schema

    def next_step(self, conversation: Conversation) -> Step:
        """Correct a rejected status, or read and review every section marked ``written``."""
        failed = [exchange for exchange in conversation.latest_exchanges() if _failed(exchange)]
        retry = [
            _set(exchange.parsed_arguments["id"], "status", "reviewed")
            for exchange in failed
            if _error_code(exchange) == "invalid_value" and _attribute_name(exchange) == "status"
        ]
        if retry:
            return ToolCalls(*retry)
        outline = _latest_outline(conversation)
        if outline is None or _behind(conversation):
            return _catch_up(conversation)
        # Until a rejection taught it the schema's word, the reviewer says "approved".
        verdict = "reviewed" if _was_rejected(conversation, "status") else "approved"
        calls = [
            call for section in outline.sections if section.status == "written" for call in _review(section)
        ]
        written = [s for s in outline.sections if s.status == "written"]
        # A word it is unsure of, it tries on one section first.
        calls += [_set(s.id, "status", verdict) for s in written[: None if verdict == "reviewed" else 1]]
        if calls:
            return ToolCalls(*calls)
        waiting = not outline.sections or any(s.status != "reviewed" for s in outline.sections)
        if _idle_reads(conversation) < (_PATIENCE if waiting else _CONFIRMING_READS):
            return _wait(conversation)
        fixes = [_attribute_name(exchange) for exchange in _successes(conversation, ToolName.SET_ATTRIBUTE)]
        text = (
            f"Reviewed {len(outline.sections)} sections: corrected {fixes.count('text')} typo(s) and "
            f"restyled {fixes.count('style')} leftover brief(s)."
        )
        left = [section.heading for section in outline.sections if section.status != "reviewed"]
        if left:
            text += f" Not reviewed, still in progress: {', '.join(left)}."
        return FinalMessage(text)


# -- reading the live document from tool results ----------------------------------------------


@dataclass(frozen=True, slots=True)
class _OutlineSection:
    id: str
    status: str | None
    heading: str
    note_id: str | None
    """The paragraph still styled ``note``, if any: the brief waiting to be replaced."""
    texts: tuple[tuple[str, str, Mapping[str, Any]], ...]
    """(id, tag, attributes) of every element inside the section."""


@dataclass(frozen=True, slots=True)
class _Outline:
    title: str | None
    sections: tuple[_OutlineSection, ...]

    @property
    def headings(self) -> list[str]:
        return [section.heading for section in self.sections]


def _latest_outline(conversation: Conversation) -> _Outline | None:
    """The document as the agent knows it (its last full read, its edits, the feed), or None before a read."""
    known = known_document(conversation)
    return None if known is None else _outline(known)


def _outline(root: Mapping[str, Any]) -> _Outline:
    sections = []
    for child in root.get("children", []):
        if child.get(TAG_KEY) != "section":
            continue
        inside = list(_descendants(child))
        heading = next((attrs.get("text", "") for _, tag, attrs in inside if tag == "heading"), "")
        note = next(
            (id_ for id_, tag, attrs in inside if tag == "paragraph" and attrs.get("style") == "note"), None
        )
        sections.append(
            _OutlineSection(child[ID_ATTRIBUTE], child.get("status"), heading, note, tuple(inside))
        )
    return _Outline(root.get("title"), tuple(sections))


def _descendants(element: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(id, tag, attributes) of every element under ``element``, in document order."""
    for child in element.get("children", []):
        attributes = {name: value for name, value in child.items() if name not in _NOT_ATTRIBUTES}
        yield child[ID_ATTRIBUTE], child[TAG_KEY], attributes
        yield from _descendants(child)


def _review(section: _OutlineSection) -> list[ToolCall]:
    calls = []
    for element_id, tag, attributes in section.texts:
        text = attributes.get("text")
        if isinstance(text, str) and (fixed := _fix_typos(text)) != text:
            calls.append(_set(element_id, "text", fixed))
        if tag == "paragraph" and attributes.get("style") == "note":
            calls.append(_set(element_id, "style", "normal"))
    return calls


def _fix_typos(text: str) -> str:
    for wrong, right in _TYPOS.items():
        text = text.replace(wrong, right)
    return text


def _plan_for(heading: str) -> _Section:
    """The plan's section for a heading; a section someone else added gets a plain placeholder text."""
    for section in _PLAN:
        if section.heading == heading:
            return section
    return _Section(heading, "", f"This section covers {heading.lower()} for the 0.1 release.", ())


# -- reading the conversation ------------------------------------------------------------------


def _failed(exchange: ToolExchange) -> bool:
    result = exchange.tool_result
    return result is None or not result.ok


def _error_code(exchange: ToolExchange) -> str | None:
    result = exchange.tool_result
    return None if result is None or result.error is None else result.error.get("code")


def _attribute_name(exchange: ToolExchange) -> str | None:
    arguments = exchange.parsed_arguments
    attribute = arguments.get("attribute") if isinstance(arguments, dict) else None
    return str(attribute.get("name")) if isinstance(attribute, dict) else None


def _successes(conversation: Conversation, tool: str) -> list[ToolExchange]:
    return [
        exchange for exchange in conversation.exchanges if exchange.name == tool and not _failed(exchange)
    ]


def _was_rejected(conversation: Conversation, attribute: str) -> bool:
    return any(
        exchange.name == ToolName.SET_ATTRIBUTE
        and _failed(exchange)
        and _attribute_name(exchange) == attribute
        for exchange in conversation.exchanges
    )


def _appended(conversation: Conversation) -> bool:
    return bool(_successes(conversation, ToolName.APPEND_CHILD))


def _behind(conversation: Conversation) -> bool:
    """Whether an edit of the latest turn said others' changes wait that did not fit in its result."""
    return any(
        isinstance(exchange.result, dict) and "changes_pending" in exchange.result
        for exchange in conversation.latest_exchanges()
    )


def _idle_reads(conversation: Conversation) -> int:
    """How many of the latest turns in a row only read the document."""
    turns: dict[int, list[str]] = {}
    for exchange in conversation.exchanges:
        turns.setdefault(exchange.turn, []).append(exchange.name)
    count = 0
    for turn in sorted(turns, reverse=True):
        if any(name not in _READS for name in turns[turn]):
            break
        count += 1
    return count


def _filled_section(latest: Sequence[ToolExchange]) -> str | None:
    """The section the latest turn wrote content into, if that turn was a successful fill."""
    if not latest or any(
        exchange.name not in (ToolName.APPEND_CHILD, ToolName.SET_ATTRIBUTE) for exchange in latest
    ):
        return None
    if any(_attribute_name(exchange) == "status" for exchange in latest):
        return None
    parents = {
        exchange.parsed_arguments["parent_id"]
        for exchange in latest
        if exchange.name == ToolName.APPEND_CHILD
    }
    return parents.pop() if len(parents) == 1 else None


def _marked_written(exchange: ToolExchange) -> str | None:
    """The id of the section this call marked ``written``, if it did."""
    arguments = exchange.parsed_arguments
    if _attribute_name(exchange) == "status" and arguments["attribute"].get("value") == "written":
        return str(arguments["id"])
    return None


# -- building calls ----------------------------------------------------------------------------


def _describe() -> ToolCalls:
    return ToolCalls(_call(ToolName.DESCRIBE_DOCUMENT, id=ROOT_ID, depth=None))


def _catch_up(conversation: Conversation) -> ToolCalls:
    """Others' edits since the latest version the agent holds; a full read when it holds none."""
    version = latest_version(conversation)
    if version is None or known_document(conversation) is None:
        return _describe()
    return ToolCalls(_call(ToolName.CHANGES_SINCE, version=version))


def _wait(conversation: Conversation) -> ToolCalls:
    """Nothing to do yet: wait for the others' next edits instead of reading again."""
    version = latest_version(conversation)
    if version is None or known_document(conversation) is None:
        return _describe()
    return ToolCalls(_call(ToolName.WAIT_FOR_CHANGES, version=version, timeout=_WAIT_S))


def _set(element_id: str, name: str, value: Any) -> ToolCall:
    return _call(ToolName.SET_ATTRIBUTE, id=element_id, attribute={"name": name, "value": value})


def _call(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(name, arguments)


def _element(
    schema: MeshSchema, tag: str, attributes: Mapping[str, Any], children: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """An element argument as the strict tool schema wants it: every attribute present, null if unset."""
    element_type = schema.element(tag)
    unknown = set(attributes) - set(element_type.attributes)
    if unknown:
        raise ValueError(f"<{tag}> has no attribute(s) {', '.join(sorted(unknown))}")
    element: dict[str, Any] = {TAG_KEY: tag}
    element.update({name: attributes.get(name) for name in element_type.attributes})
    if element_type.child_property is not None:
        element[element_type.child_property.name] = list(children)
    return element
