"""Function tools that read and edit live documents of one schema: the model's view of a room."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..document import ROOT_ID, Element, MeshDocument
from ..errors import ElementNotFoundError, InvalidOperationError, InvalidValueError
from ..schema import MeshSchema
from ._arguments import (
    attribute_branches,
    attribute_names,
    element_definitions,
    insertable_tags,
    object_schema,
    one_of,
    to_document_json,
)
from ._changes import ChangeTracker
from ._contract import ToolName
from ._describe import describe, subtree
from ._function_toolkit import FunctionToolkit
from ._source import ClosingSource, DocumentSource, RoomSession, ShowsPresence, Synchronizing
from ._strict import StrictLimits
from ._tool import Tool, ToolHandler
from ._validation import ArgumentChecker, ArgumentKind

__all__ = ["DEFAULT_DESCRIBE_BUDGET", "DocumentToolkit"]

#: Characters of compact JSON that one ``describe_document`` result may use (about 3,000 tokens).
DEFAULT_DESCRIBE_BUDGET = 12_000

_STRING = {"type": "string"}


@dataclass(frozen=True, slots=True)
class _OpenDocument:
    document: MeshDocument
    changes: ChangeTracker


class DocumentToolkit(FunctionToolkit):
    """Tools over the documents of one schema in a room: open, describe, insert, set, remove, delete.

    ``room_or_source`` is a connected ``RoomClient`` (its ``sync`` is used) or any
    :class:`~mesh_tools.tools.DocumentSource`. With ``path`` every tool works on that document and
    takes no ``path`` argument (and ``open_document`` is left out); without it, every tool takes one.
    ``prefix`` is prepended to tool names so toolkits for several schemas can serve one agent.
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
    ) -> None:
        self.schema = schema
        self.path = path
        self.describe_budget = describe_budget
        self._source: DocumentSource = (
            room_or_source.sync if isinstance(room_or_source, RoomSession) else room_or_source
        )
        self._documents: dict[str, _OpenDocument] = {}
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
            entry.changes.close()
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
                    "Open or create the document at path.",
                    {},
                    self._open_document,
                )
            )
        tools.append(
            self._tool(
                ToolName.DESCRIBE_DOCUMENT,
                'Read element id ("root" = whole document) with its $id values, which the other tools '
                "take. $more: n hides n children.",
                {"id": _STRING, "depth": {"type": ["integer", "null"]}},
                self._describe_document,
            )
        )
        if insertable_tags(self.schema):
            defs = element_definitions(self.schema)
            tools.append(
                self._tool(
                    ToolName.APPEND_CHILD,
                    "Insert an element tree under parent_id. Returns the new ids.",
                    {
                        "parent_id": _STRING,
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
                    {"id": _STRING, "attribute": one_of(attribute_branches(self.schema))},
                    self._set_attribute,
                    kinds={"attribute": "attribute"},
                )
            )
            tools.append(
                self._tool(
                    ToolName.REMOVE_ATTRIBUTE,
                    "Remove an attribute of element id; returns its previous value.",
                    {"id": _STRING, "name": {"type": "string", "enum": attribute_names(self.schema)}},
                    self._remove_attribute,
                    kinds={"name": "attribute_name"},
                )
            )
        tools.append(
            self._tool(
                ToolName.DELETE_ELEMENT,
                "Delete element id and all inside it; returns the count.",
                {"id": _STRING},
                self._delete_element,
            )
        )
        return tools

    def _tool(
        self,
        name: ToolName,
        description: str,
        properties: Mapping[str, Any],
        handler: ToolHandler,
        *,
        kinds: Mapping[str, ArgumentKind] | None = None,
        defs: Mapping[str, Any] | None = None,
    ) -> Tool:
        if self.path is None:
            properties = {"path": _STRING, **properties}
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
        )

    # -- handlers ------------------------------------------------------------------------------

    async def _open_document(self, arguments: dict[str, Any]) -> dict[str, Any]:
        path = arguments["path"]
        document = (await self._open(path)).document
        root = document.root
        return {"path": path, "root": {"id": root.id, "tag": root.tag_name}, "elements": len(document)}

    async def _describe_document(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        depth = arguments["depth"]
        if depth is not None and depth < 0:
            raise InvalidValueError(f"depth {depth} is negative", hint="use 0 or more, or null for all")
        start = self._element(entry, arguments["id"])
        description = describe(
            start, depth=None if depth is None else int(depth), budget=self.describe_budget
        )
        entry.changes.clear()
        result: dict[str, Any] = {"element": description.content}
        if description.hidden:
            result["hidden"] = description.hidden
            result["note"] = (
                f"{description.hidden} of {description.total} elements are not shown; an element with "
                '"$more": n has n hidden children: describe_document with its id shows them'
            )
        return result

    async def _append_child(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        parent = self._element(entry, arguments["parent_id"])
        position = arguments["position"]
        created = parent.append_json(
            to_document_json(arguments["element"], self.schema), None if position is None else int(position)
        )
        return {"id": created.id, "ids": {element.id: element.tag_name for element in subtree(created)}}

    async def _set_attribute(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        element = self._element(entry, arguments["id"])
        name = arguments["attribute"]["name"]
        previous = element.get_attribute(name)
        element.set_attribute(name, arguments["attribute"]["value"])
        return {"previous": previous}

    async def _remove_attribute(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        element = self._element(entry, arguments["id"])
        previous = element.get_attribute(arguments["name"])
        element.remove_attribute(arguments["name"])
        return {"previous": previous}

    async def _delete_element(self, arguments: dict[str, Any]) -> dict[str, Any]:
        entry = await self._open(self._path(arguments))
        element = self._element(entry, arguments["id"])
        count = len(subtree(element))
        element.delete()
        return {"deleted": count}

    # -- helpers -------------------------------------------------------------------------------

    def _path(self, arguments: Mapping[str, Any]) -> str:
        return self.path if self.path is not None else str(arguments["path"])

    async def _open(self, path: str) -> _OpenDocument:
        entry = self._documents.get(path)
        if entry is not None:
            return entry
        async with self._opening:
            entry = self._documents.get(path)
            if entry is None:
                document = await self._source.open(path=path)
                try:
                    await self._check_opened(path, document)
                except BaseException:
                    if isinstance(self._source, ClosingSource):
                        await self._source.close(path)
                    raise
                entry = self._documents[path] = _OpenDocument(document, ChangeTracker(document, path))
        return entry

    async def _check_opened(self, path: str, document: MeshDocument) -> None:
        if isinstance(document, Synchronizing):
            await document.synchronized
        if document.schema != self.schema:
            raise InvalidOperationError(
                f"{path} is a <{document.schema.root_tag_name}> document; these tools edit "
                f"<{self.schema.root_tag_name}> documents",
                hint="open a document of this toolkit's type",
            )

    def _element(self, entry: _OpenDocument, element_id: str) -> Element:
        element = entry.document.get_element(element_id)
        if element is not None:
            # People watching the document see which element the agent is working on.
            if isinstance(entry.document, ShowsPresence):
                entry.document.focus(element_id)
            return element
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
