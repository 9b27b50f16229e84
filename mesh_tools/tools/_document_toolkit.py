"""Function tools that read and edit live documents of one schema: the model's view of a room."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..document import (
    ROOT_ID,
    DeleteEdit,
    DocumentEvent,
    Edit,
    EditResult,
    Element,
    InsertEdit,
    MeshDocument,
    MoveEdit,
    RemoveAttributeEdit,
    SetAttributeEdit,
    apply_edits,
)
from ..errors import (
    DocumentNotFoundError,
    ElementNotFoundError,
    InvalidOperationError,
    InvalidValueError,
    MeshError,
    PermissionDeniedError,
)
from ..schema import MeshSchema
from ..tokens import SyncScope
from ._addresses import Address, resolve
from ._arguments import (
    attribute_branches,
    attribute_names,
    element_definitions,
    insertable_tags,
    object_schema,
    one_of,
    to_document_json,
)
from ._authors import Authors
from ._change_feed import ChangeFeed
from ._changes import ChangeTracker
from ._contract import OMITTABLE_ARGUMENTS, WRITE_TOOLS, ToolName
from ._describe import describe, subtree
from ._edit_tools import edits_parameters, move_parameters, restore_text, to_edits
from ._function_toolkit import FunctionToolkit
from ._schema_summary import schema_summary
from ._search import SearchQuery, SearchWalk
from ._source import ClosingSource, DocumentSource, RoomSession, ShowsPresence, Synchronizing
from ._strict import StrictLimits
from ._text_tools import (
    format_parameters,
    format_snippet,
    insert_at_snippet,
    insert_parameters,
    mark_names,
    replace_parameters,
    replace_snippet,
    set_parameters,
    set_whole_text,
    text_properties,
)
from ._tool import Tool, ToolHandler
from ._undo import UndoLog
from ._validation import ArgumentChecker, ArgumentKind

__all__ = ["DEFAULT_DESCRIBE_BUDGET", "DocumentToolkit"]

#: Characters of compact JSON that one ``describe_document`` result may use (about 3,000 tokens).
DEFAULT_DESCRIBE_BUDGET = 12_000

_STRING = {"type": "string"}
_OPTIONAL_STRING = {"type": ["string", "null"]}
#: What every tool that takes an element accepts for it: an $id, a path, or a $next token.
_ADDRESS = _STRING
_IF_UNCHANGED = "if_unchanged_since"
#: The longest a ``wait_for_changes`` call may block, in seconds.
MAX_WAIT_S = 60.0
#: Characters of others' changes an edit's result may carry (more are left to ``changes_since``).
EDIT_CHANGES_BUDGET = 2_000
#: Matches on one page of ``search_elements`` at most.
SEARCH_PAGE = 50
#: Write tools that take ``if_unchanged_since``: undo checks others' changes itself.
_GUARDED_TOOLS = WRITE_TOOLS - {ToolName.UNDO}


@dataclass(slots=True)
class _OpenDocument:
    document: MeshDocument
    changes: ChangeTracker
    feed: ChangeFeed
    authors: Authors
    #: Shows others which element the agent works on; None for a replica without presence. Looked up
    #: once: a runtime Protocol check on every call cost about a tenth of an edit's time.
    focus: Callable[[str | None], None] | None
    undo: UndoLog
    unsubscribe: Callable[[], None] = lambda: None
    """Stops the toolkit's one listener on the document."""
    search: SearchWalk | None = None
    """The latest search, kept for its next page."""
    search_edits: int = 0
    """The document's edit count when that search started: the walk is valid while it holds."""


class DocumentToolkit(FunctionToolkit):
    """Tools over the documents of one schema in a room: open, describe, insert, set, remove, delete,
    and for schemas with text, snippet-anchored text edits (replace, insert, format, set).

    ``room_or_source`` is a connected ``RoomClient`` (its ``sync`` is used) or any
    :class:`~mesh_tools.tools.DocumentSource`. With ``path`` every tool works on that document and
    takes no ``path`` argument (and ``open_document`` is left out); without it, every tool takes one.
    ``prefix`` is prepended to tool names so toolkits for several schemas can serve one agent.
    ``participant`` is the name others' change feeds show for this toolkit's edits.

    Without ``path`` the model chooses documents: ``paths`` (glob patterns, as in a token's
    ``SyncScope``) limits which, and only existing documents open unless ``allow_create`` (a source
    whose ``open`` takes no ``create`` flag always creates).
    """

    def __init__(
        self,
        room_or_source: DocumentSource | RoomSession,
        *,
        schema: MeshSchema,
        path: str | None = None,
        prefix: str = "",
        describe_budget: int = DEFAULT_DESCRIBE_BUDGET,
        limits: StrictLimits | None = None,
        participant: str | None = None,
        paths: Iterable[str] | None = None,
        allow_create: bool = False,
    ) -> None:
        self.schema = schema
        self.participant = participant
        self.path = path
        self.describe_budget = describe_budget
        self._source: DocumentSource = (
            room_or_source.sync if isinstance(room_or_source, RoomSession) else room_or_source
        )
        self._documents: dict[str, _OpenDocument] = {}
        self._scope = SyncScope(paths=paths)
        self._allow_create = allow_create
        self._change_listeners: list[Callable[[str], None]] = []
        self._opening = asyncio.Lock()
        self._prefix = prefix
        self._limits = limits or StrictLimits()
        super().__init__(self._build())

    # -- the model's notice --------------------------------------------------------------------

    def change_notice(self) -> str | None:
        """What other participants changed since the agent last described each open document.

        Each change is reported once: a notice, like ``describe_document``, resets what counts as
        new. None when nothing changed.
        """
        notices = [entry.changes.notice() for entry in self._documents.values()]
        text = " ".join(notice for notice in notices if notice)
        return text or None

    # -- documents as resources (see _mcp_server.DocumentPublisher) ------------------------------

    def document_paths(self) -> list[str]:
        """The bound document, or the documents opened so far."""
        return [self.path] if self.path is not None else list(self._documents)

    async def read_document(self, path: str) -> dict[str, Any]:
        """The document as ``describe_document`` on its root shows it."""
        if self.path is not None and path != self.path:
            raise DocumentNotFoundError(
                f"this toolkit serves {self.path}, not {path}", hint=f"read {self.path}"
            )
        return await self._describe_document({"path": path, "id": ROOT_ID, "depth": None})

    async def watch(self, path: str) -> None:
        """Open the document, so that its remote changes reach :meth:`on_remote_change` listeners."""
        await self._open(path)

    def on_remote_change(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(path)`` for every change another participant makes to an open document."""
        self._change_listeners.append(listener)
        return lambda: self._change_listeners.remove(listener)

    def mcp_server(self, name: str = "mesh-tools", instructions: str | None = None) -> Any:
        """A low-level MCP server with these tools, the documents as resources, and instructions that
        summarize the schema (see ``FunctionToolkit.mcp_server``)."""
        if instructions is None:
            from ._mcp_server import DEFAULT_INSTRUCTIONS

            where = f"The document is {self.path}." if self.path is not None else ""
            instructions = (
                f"{DEFAULT_INSTRUCTIONS} Every result carries a version: changes_since(version) shows what "
                f"others changed since, cheaper than reading again. {where}\n\n{schema_summary(self.schema)}"
            )
        return super().mcp_server(name, instructions)

    def _remote_change(self, path: str) -> None:
        for listener in list(self._change_listeners):
            listener(path)

    async def __aenter__(self) -> DocumentToolkit:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop tracking the documents this toolkit opened and release them.

        A source that counts opens (a ``SyncClient``) gets one ``close`` per document, which flushes
        the toolkit's edits to the server; errors from that propagate after every document is released.
        """
        entries, self._documents = self._documents, {}
        for entry in entries.values():
            entry.unsubscribe()
        if isinstance(self._source, ClosingSource):
            results = await asyncio.gather(
                *(self._source.close(path) for path in entries), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    # -- tool definitions ----------------------------------------------------------------------

    def _build(self) -> list[Tool]:
        tools = []
        if self.path is None:
            tools.append(
                self._tool(
                    ToolName.OPEN_DOCUMENT,
                    "Open or create the document at path."
                    if self._allow_create
                    else "Open the document at path.",
                    {},
                    self._open_document,
                    read_only=True,
                    idempotent=True,
                )
            )
        tools.append(
            self._tool(
                ToolName.DESCRIBE_DOCUMENT,
                'Read element id ("root" = whole document) with its $id values, which the other tools '
                "take. $more: n hides n children; pass its $next as id to read on. Tools take an $id or "
                "a path like /list[2]/item[0].",
                {"id": _ADDRESS, "depth": {"type": ["integer", "null"]}},
                self._describe_document,
                read_only=True,
            )
        )
        if insertable_tags(self.schema):
            defs = element_definitions(self.schema)
            tools.append(
                self._tool(
                    ToolName.APPEND_CHILD,
                    "Insert an element tree under parent_id. Returns the new ids.",
                    {
                        "parent_id": _ADDRESS,
                        "position": {"type": ["integer", "null"], "description": "null = last"},
                        "element": one_of([{"$ref": f"#/$defs/{tag}"} for tag in defs]),
                    },
                    self._append_child,
                    kinds={"element": "element"},
                    defs=defs,
                )
            )
        if attribute_names(self.schema):
            tools.append(
                self._tool(
                    ToolName.SET_ATTRIBUTE,
                    "Set an attribute of element id; returns its previous value.",
                    {"id": _ADDRESS, "attribute": one_of(attribute_branches(self.schema))},
                    self._set_attribute,
                    kinds={"attribute": "attribute"},
                    destructive=True,
                    idempotent=True,
                )
            )
            tools.append(
                self._tool(
                    ToolName.REMOVE_ATTRIBUTE,
                    "Remove an attribute of element id; returns its previous value.",
                    {"id": _ADDRESS, "name": {"type": "string", "enum": attribute_names(self.schema)}},
                    self._remove_attribute,
                    kinds={"name": "attribute_name"},
                    destructive=True,
                    idempotent=True,
                )
            )
        tools.append(
            self._tool(
                ToolName.DELETE_ELEMENT,
                "Delete element id and all inside it; returns the count.",
                {"id": _ADDRESS},
                self._delete_element,
                destructive=True,
            )
        )
        if insertable_tags(self.schema):
            edits, flat = edits_parameters(self.schema)
            tools.append(
                self._tool(
                    ToolName.MOVE_ELEMENT,
                    "Move element id with all inside it under parent_id at position (null = last; counted "
                    "without the element). It keeps its ids; others' unsaved edits inside it are lost.",
                    move_parameters(),
                    self._move_element,
                    destructive=True,
                )
            )
            tools.append(
                self._tool(
                    ToolName.APPLY_EDITS,
                    "Apply edits in order as one change: all or none (an error names the failing edit). "
                    "An insert creates one element; give it a ref and later edits address it as @ref "
                    "(build a subtree: insert the parent with a ref, then its children under @ref). "
                    "Returns the new ids by ref.",
                    {"edits": edits},
                    self._apply_edits,
                    defs=flat,
                    destructive=True,
                )
            )
        tools.append(
            self._tool(
                ToolName.UNDO,
                "Undo your own latest edit (a whole apply_edits at once); again for the one before. "
                "Refused when someone else changed the same thing since.",
                {},
                self._undo,
                destructive=True,
            )
        )
        tools.append(
            self._tool(
                ToolName.SEARCH_ELEMENTS,
                "Find elements by tag, attribute value (equals) or text substring, under an element; "
                "paged: pass next as cursor.",
                {
                    "tag": {"type": ["string", "null"], "enum": [*self.schema.tag_names, None]},
                    "attribute": (
                        {"type": ["string", "null"], "enum": [*attribute_names(self.schema), None]}
                        if attribute_names(self.schema)
                        else {"type": "null"}
                    ),
                    "equals": {"type": ["string", "number", "boolean", "null"]},
                    "text": _OPTIONAL_STRING,
                    "under": _OPTIONAL_STRING,
                    "cursor": _OPTIONAL_STRING,
                },
                self._search_elements,
                read_only=True,
            )
        )
        tools.append(
            self._tool(
                ToolName.CHANGES_SINCE,
                "Others' edits since version (from any result): who, what, where. Cheaper than reading "
                "again.",
                {"version": _STRING},
                self._changes_since,
                read_only=True,
            )
        )
        tools.append(
            self._tool(
                ToolName.WAIT_FOR_CHANGES,
                f"Wait up to timeout seconds (max {MAX_WAIT_S:g}) for others' edits after version; "
                "returns them.",
                {"version": _STRING, "timeout": {"type": "number"}},
                self._wait_for_changes,
                read_only=True,
            )
        )
        if text_properties(self.schema):
            tools.extend(self._text_tools())
        return tools

    def _text_tools(self) -> list[Tool]:
        tools = [
            self._tool(
                ToolName.REPLACE_TEXT,
                "In element id's text, replace the one occurrence of snippet with text.",
                replace_parameters(),
                self._text_handler(ToolName.REPLACE_TEXT, replace_snippet),
            ),
            self._tool(
                ToolName.INSERT_TEXT,
                "Insert text into element id's text right after the snippet `after`, or right before "
                "`before`; both null = at the end. Include the spaces you need.",
                insert_parameters(),
                self._text_handler(ToolName.INSERT_TEXT, insert_at_snippet),
            ),
            self._tool(
                ToolName.SET_TEXT,
                "Replace element id's whole text (overrides what others type meanwhile: prefer "
                "replace_text).",
                set_parameters(),
                self._text_handler(ToolName.SET_TEXT, set_whole_text),
            ),
        ]
        if mark_names(self.schema):
            tools.append(
                self._tool(
                    ToolName.FORMAT_TEXT,
                    "Set (on=true) or clear (on=false) a mark on the one occurrence of snippet in element "
                    "id's text.",
                    format_parameters(self.schema),
                    self._text_handler(ToolName.FORMAT_TEXT, partial(format_snippet, schema=self.schema)),
                )
            )
        return tools

    def _text_handler(
        self, name: ToolName, edit: Callable[[Element, dict[str, Any]], dict[str, Any]]
    ) -> ToolHandler:
        async def handle(arguments: dict[str, Any]) -> dict[str, Any]:
            entry = self._ready(arguments) or await self._writable(arguments, arguments["id"])
            element = self._element(entry, arguments["id"])
            before = element.text, element.text_marks()
            with entry.undo.writing():
                fields = edit(element, arguments)
            entry.undo.record(name, restore_text(element.id, before, (element.text, element.text_marks())))
            return self._edited(entry, fields)

        return handle

    def _tool(
        self,
        name: ToolName,
        description: str,
        properties: Mapping[str, Any],
        handler: ToolHandler,
        *,
        kinds: Mapping[str, ArgumentKind] | None = None,
        defs: Mapping[str, Any] | None = None,
        read_only: bool = False,
        destructive: bool = False,
        idempotent: bool = False,
    ) -> Tool:
        if self.path is None:
            properties = {"path": _STRING, **properties}
        optional: tuple[str, ...] = ()
        if name in _GUARDED_TOOLS:
            properties = {
                **properties,
                _IF_UNCHANGED: {
                    "type": ["string", "null"],
                    "description": "a version: fail if others changed the element since",
                },
            }
            optional = tuple(OMITTABLE_ARGUMENTS & set(properties))
        parameters = object_schema(properties)
        if defs:
            parameters["$defs"] = dict(defs)
        full_name = self._prefix + name.value
        checker = ArgumentChecker(full_name, parameters, schema=self.schema, kinds=kinds or {})
        return Tool(
            name=full_name,
            description=description,
            parameters=parameters,
            handler=handler,
            check=checker.check,
            limits=self._limits,
            optional=optional,
            read_only=read_only,
            destructive=destructive,
            idempotent=idempotent,
        )

    # -- handlers ------------------------------------------------------------------------------

    async def _open_document(self, arguments: dict[str, Any]) -> dict[str, Any]:
        path = arguments["path"]
        entry = await self._open(path)
        root = entry.document.root
        return {
            "path": path,
            "root": {"id": root.id, "tag": root.tag_name},
            "elements": len(entry.document),
            "version": entry.feed.read(),
        }

    async def _describe_document(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        depth = arguments["depth"]
        if depth is not None and depth < 0:
            raise InvalidValueError(f"depth {depth} is negative", hint="use 0 or more, or null for all")
        start = self._address(entry, arguments["id"])
        with entry.document.transaction():  # one CRDT transaction for every read, not one per read
            description = describe(
                start.element,
                depth=None if depth is None else int(depth),
                budget=self.describe_budget,
                first_child=start.first_child,
            )
        entry.changes.clear()
        result: dict[str, Any] = {"element": description.content}
        if description.hidden:
            result["hidden"] = description.hidden
            result["note"] = (
                f"{description.hidden} of {description.total} elements are not shown; an element with "
                '"$more": n has n hidden children: describe_document with its id (or its $next, to '
                "continue where the listing was cut) shows them"
            )
        result["version"] = entry.feed.read()
        return result

    async def _search_elements(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        under = arguments["under"]
        start = entry.document.root if under is None else self._element(entry, under)
        query = SearchQuery(
            tag=arguments["tag"],
            attribute=arguments["attribute"],
            equals=arguments["equals"],
            text=arguments["text"],
        )
        skip = _page_cursor(arguments["cursor"])
        walk = entry.search
        if (
            walk is None
            or (walk.start_id, walk.query, entry.search_edits) != (start.id, query, entry.feed.edits)
            or walk.found > skip
        ):
            # Paging resumes the last walk while the document is unchanged; otherwise a new one.
            walk = entry.search = SearchWalk(start, query, schema=self.schema)
            entry.search_edits = entry.feed.edits
        page = walk.page(skip, budget=self.describe_budget, limit=SEARCH_PAGE)
        result: dict[str, Any] = {"matches": page.matches}
        if page.next_skip is not None:
            result["next"] = f"page:{page.next_skip}"
        result["version"] = entry.feed.read()
        return result

    async def _changes_since(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        await entry.feed.catch_up(arguments["version"])
        return self._feed_page(entry, arguments["version"])

    async def _wait_for_changes(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        timeout = float(arguments["timeout"])
        if not 0 <= timeout <= MAX_WAIT_S:
            raise InvalidValueError(
                f"timeout {timeout:g} is outside 0..{MAX_WAIT_S:g}", hint="wait up to a minute"
            )
        await entry.feed.catch_up(arguments["version"])
        await entry.feed.wait(arguments["version"], timeout)
        return self._feed_page(entry, arguments["version"])

    def _feed_page(self, entry: _OpenDocument, version: str) -> dict[str, Any]:
        page = entry.feed.changes_since(version, budget=self.describe_budget)
        entry.changes.clear()
        result: dict[str, Any] = {"changes": page.changes}
        if page.omitted:
            result["omitted"] = page.omitted
            result["note"] = (
                f"{page.omitted} more changes did not fit; search_elements or describe_document show the "
                "current state"
            )
        result["version"] = entry.feed.mark_seen(page.version)
        return result

    def _edited(self, entry: _OpenDocument, fields: dict[str, Any]) -> dict[str, Any]:
        """An edit's result, with others' edits since the agent's last look when they fit.

        The agent then learns of them without another call; when they do not fit, it is told how
        many wait, and its version stays where it was so that ``changes_since`` still shows them.
        """
        version = entry.feed.read_if_quiet()
        if version is not None:
            fields["version"] = version
            return fields
        page = entry.feed.changes_since(entry.feed.seen, budget=EDIT_CHANGES_BUDGET)
        if page.omitted:
            fields["changes_pending"] = len(page.changes) + page.omitted
            fields["version"] = entry.feed.seen
            return fields
        if page.changes:
            fields["changes"] = page.changes
            entry.changes.clear()
        fields["version"] = entry.feed.mark_seen(page.version)
        return fields

    async def _append_child(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = self._ready(arguments) or await self._writable(arguments, arguments["parent_id"])
        parent = self._element(entry, arguments["parent_id"])
        position = arguments["position"]
        with entry.undo.writing():
            created = parent.append_json(
                to_document_json(arguments["element"], self.schema),
                None if position is None else int(position),
            )
        entry.undo.record(ToolName.APPEND_CHILD, [DeleteEdit(created.id)])
        return self._edited(
            entry, {"id": created.id, "ids": {element.id: element.tag_name for element in subtree(created)}}
        )

    async def _set_attribute(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = self._ready(arguments) or await self._writable(arguments, arguments["id"])
        element = self._element(entry, arguments["id"])
        name = arguments["attribute"]["name"]
        previous = element.get_attribute(name)
        with entry.undo.writing():
            element.set_attribute(name, arguments["attribute"]["value"])
        entry.undo.record(ToolName.SET_ATTRIBUTE, [_restore_attribute(element.id, name, previous)])
        return self._edited(entry, {"previous": previous})

    async def _remove_attribute(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = self._ready(arguments) or await self._writable(arguments, arguments["id"])
        element = self._element(entry, arguments["id"])
        previous = element.get_attribute(arguments["name"])
        with entry.undo.writing():
            element.remove_attribute(arguments["name"])
        entry.undo.record(
            ToolName.REMOVE_ATTRIBUTE, [_restore_attribute(element.id, arguments["name"], previous)]
        )
        return self._edited(entry, {"previous": previous})

    async def _delete_element(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = self._ready(arguments) or await self._writable(arguments, arguments["id"])
        element = self._element(entry, arguments["id"])
        count = len(subtree(element))
        parent = element.parent
        restore: list[Edit] = []
        if parent is not None:
            position = [child.id for child in parent.get_children()].index(element.id)
            restore.append(InsertEdit(parent.id, element.to_json(include_ids=True), position))
        with entry.undo.writing():
            element.delete()
        entry.undo.record(ToolName.DELETE_ELEMENT, restore)
        return self._edited(entry, {"deleted": count})

    async def _move_element(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = self._ready(arguments) or await self._writable(
            arguments, arguments["id"], arguments["parent_id"]
        )
        element = self._element(entry, arguments["id"])
        parent = self._element(entry, arguments["parent_id"])
        position = arguments["position"]
        self._write(entry, ToolName.MOVE_ELEMENT, [MoveEdit(element.id, parent.id, position)], label=False)
        moved = entry.document.element_by_id(element.id)
        siblings = [child.id for child in parent.get_children()]
        return self._edited(
            entry, {"id": moved.id, "parent": parent.id, "position": siblings.index(moved.id)}
        )

    async def _apply_edits(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        edits = to_edits(arguments["edits"], entry.document)
        addressed = [
            address
            for edit in edits
            for address in _addresses(edit)
            if not address.startswith("@") and address in entry.document._elements
        ]
        entry = self._ready(arguments) or await self._writable(arguments, *addressed)
        result = self._write(entry, ToolName.APPLY_EDITS, edits, label=True)
        ids = {element.id: element.tag_name for element in result.inserted}
        return self._edited(entry, {"applied": len(edits), "ids": ids, "refs": result.refs})

    async def _undo(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = self._ready(arguments) or await self._writable(arguments)
        tool, result = entry.undo.undo()
        return self._edited(entry, {"undone": tool, "edits": len(result.inverse)})

    def _write(self, entry: _OpenDocument, tool: ToolName, edits: list[Edit], *, label: bool) -> EditResult:
        """Apply a batch as this toolkit's own edit and remember how to undo it.

        A single edit's error reads as the tool's own (``label=False``): no edit index to name.
        """
        with entry.undo.writing():
            try:
                result = apply_edits(entry.document, edits)
            except MeshError as error:
                if label or not isinstance(error.__cause__, MeshError):
                    raise
                raise error.__cause__ from None
        entry.undo.record(tool, result.inverse)
        return result

    # -- helpers -------------------------------------------------------------------------------

    def _path(self, arguments: Mapping[str, Any]) -> str:
        return self.path if self.path is not None else str(arguments["path"])

    def _ready(self, arguments: Mapping[str, Any]) -> _OpenDocument | None:
        """The document an edit goes to when it is open and the edit has no ``if_unchanged_since`` to
        check, else None (then :meth:`_writable`): an edit's usual case, without a coroutine, which
        costs as much as the lookup."""
        entry = self._documents.get(self._path(arguments))
        if entry is None or arguments.get(_IF_UNCHANGED) is not None:
            return None
        entry.authors.register()
        return entry

    async def _writable(self, arguments: Mapping[str, Any], *targets: str) -> _OpenDocument:
        """The document an edit goes to, after its ``if_unchanged_since`` check on the target elements."""
        path = self._path(arguments)
        entry = self._documents.get(path) or await self._open(path)
        version = arguments.get(_IF_UNCHANGED)
        if version is not None:
            await entry.feed.catch_up(version)
            for target in targets:
                entry.feed.check_unchanged(self._element(entry, target).id, version)
        entry.authors.register()
        return entry

    async def _open(self, path: str) -> _OpenDocument:
        entry = self._documents.get(path)
        if entry is not None:
            return entry
        self._check_path(path)
        async with self._opening:
            entry = self._documents.get(path)
            if entry is None:
                document = await self._open_source(path)
                try:
                    await self._check_opened(path, document)
                except BaseException:
                    if isinstance(self._source, ClosingSource):
                        await self._source.close(path)
                    raise
                authors = Authors(document, self.participant)
                entry = self._documents[path] = _OpenDocument(
                    document,
                    ChangeTracker(path),
                    ChangeFeed(document),
                    authors,
                    document.focus if isinstance(document, ShowsPresence) else None,
                    UndoLog(document),
                )
                entry.unsubscribe = document.observe(partial(self._on_event, path, entry))
        return entry

    def _on_event(self, path: str, entry: _OpenDocument, event: DocumentEvent) -> None:
        # One listener per document for all the toolkit keeps about it: each costs a call per edit.
        entry.changes.on_event(event)
        entry.undo.on_event(event)
        if not event.local:
            self._remote_change(path)

    def _check_path(self, path: str) -> None:
        if self.path is None and not self._scope.allows_path(path):
            patterns = ", ".join(self._scope.paths or ())
            raise PermissionDeniedError(
                f"{path} is outside this toolkit's paths", hint=f"use a path matching {patterns}"
            )

    async def _open_source(self, path: str) -> MeshDocument:
        # A bound path is the developer's choice; a model's choice creates only when allowed.
        if self.path is not None or self._allow_create:
            return await self._source.open(path)
        if "create" not in inspect.signature(self._source.open).parameters:
            raise InvalidOperationError(
                "this toolkit's source cannot open documents without creating them",
                hint="pass allow_create=True, or a source whose open() takes create",
            )
        try:
            return await self._source.open(path, create=False)  # type: ignore[call-arg]
        except DocumentNotFoundError:
            raise DocumentNotFoundError(
                f"there is no document at {path}",
                hint="open an existing document; this toolkit may not create any",
            ) from None

    async def _check_opened(self, path: str, document: MeshDocument) -> None:
        if isinstance(document, Synchronizing):
            await document.synchronized
        if document.schema != self.schema:
            raise InvalidOperationError(
                f"{path} is a <{document.schema.root_tag_name}> document; these tools edit "
                f"<{self.schema.root_tag_name}> documents",
                hint="open a document of this toolkit's type",
            )

    def _element(self, entry: _OpenDocument, address: str) -> Element:
        return self._address(entry, address).element

    def _address(self, entry: _OpenDocument, element_id: str) -> Address:
        address = resolve(entry.document, element_id)
        if address is not None:
            # People watching the document see which element the agent is working on.
            if entry.focus is not None:
                entry.focus(address.element.id)
            return address
        by_other = entry.changes.deleted_by_other(element_id)
        if by_other is None:
            raise ElementNotFoundError(
                f"no element has id {element_id!r}",
                hint=f'ids come from describe_document; the root\'s id is "{ROOT_ID}"',
            )
        who = "another participant" if by_other else "you"
        raise ElementNotFoundError(
            f"element {element_id!r} was deleted by {who}",
            hint="call describe_document to see the current elements and ids",
        )


def _restore_attribute(element_id: str, name: str, previous: Any) -> Edit:
    if previous is None:
        return RemoveAttributeEdit(element_id, name)
    return SetAttributeEdit(element_id, name, previous)


def _addresses(edit: Edit) -> list[str]:
    """The elements an edit addresses (ids, @refs)."""
    if isinstance(edit, InsertEdit):
        return [edit.parent]
    if isinstance(edit, MoveEdit):
        return [edit.id, edit.parent]
    return [edit.id]


def _page_cursor(cursor: str | None) -> int:
    """How many matches a ``search_elements`` cursor skips."""
    if cursor is None:
        return 0
    prefix, _, count = cursor.partition(":")
    if prefix != "page" or not count.isdigit():
        raise InvalidValueError(
            f"{cursor!r} is not a search cursor", hint="pass the next value of a search result"
        )
    return int(count)
