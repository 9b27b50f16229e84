"""A test double of the document toolkit: a dict-backed list of notes behind the Toolkit protocol.

It follows the toolkit's contract (strict tool schemas in both wire shapes, JSON results, errors
returned as ``{"ok": false, "error": {...}}`` and never raised, change notices about others' edits) and
counts how many calls run at once, so loop tests can check concurrency.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

_TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "add_note": ("Add a note; returns its id.", {"text": {"type": "string"}}),
    "read_notes": ("List every note with its id.", {}),
    "delete_note": ("Delete the note with this id.", {"id": {"type": "string"}}),
}


def _parameters(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


class NotebookToolkit:
    """Notes keyed by id.

    ``gate``, when set, is a barrier every call must pass, so a batch of N calls completes only if all N
    run at once; ``delays`` holds back the result of ``add_note`` for a given text, to reorder completion.
    """

    def __init__(self) -> None:
        self.notes: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate: asyncio.Barrier | None = None
        self.delays: Mapping[str, float] = {}
        self.finished: list[str] = []
        self._next_id = 1
        self._notices: list[str] = []

    def responses_tools(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "name": name,
                "description": description,
                "parameters": _parameters(properties),
                "strict": True,
            }
            for name, (description, properties) in _TOOLS.items()
        ]

    def chat_completions_tools(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": description,
                    "parameters": _parameters(properties),
                    "strict": True,
                },
            }
            for name, (description, properties) in _TOOLS.items()
        ]

    async def call(self, name: str, arguments: str) -> str:
        self.calls.append((name, arguments))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                # A sequential loop would leave the first call waiting here alone until the timeout.
                async with asyncio.timeout(5):
                    await self.gate.wait()
            result = self._apply(name, arguments)
            await asyncio.sleep(self.delays.get(result.get("text", ""), 0.0))
            return json.dumps(result)
        finally:
            self.in_flight -= 1
            self.finished.append(arguments)

    def change_notice(self) -> str | None:
        notice = "\n".join(self._notices) or None
        self._notices.clear()
        return notice

    def edit_by_other(self, author: str, text: str) -> str:
        """Another participant adds a note; the agent hears of it at its next model call."""
        note_id = self._add(text)
        self._notices.append(f"{author} added note {note_id}: {text!r}")
        return note_id

    def _apply(self, name: str, arguments: str) -> dict[str, Any]:
        if name not in _TOOLS:
            return _error("unknown_tool", f"no tool named {name!r}; tools: {', '.join(_TOOLS)}")
        try:
            args = json.loads(arguments)
        except ValueError as error:
            return _error("invalid_arguments", f"arguments are not JSON: {error}")
        expected = set(_TOOLS[name][1])
        if not isinstance(args, dict) or set(args) != expected:
            return _error("invalid_arguments", f"{name} takes exactly {sorted(expected)}")
        if name == "add_note":
            return {"ok": True, "id": self._add(args["text"]), "text": args["text"]}
        if name == "read_notes":
            return {"ok": True, "notes": [{"id": key, "text": text} for key, text in self.notes.items()]}
        if args["id"] not in self.notes:
            return _error("not_found", f"no note with id {args['id']!r}", hint="call read_notes for the ids")
        del self.notes[args["id"]]
        return {"ok": True, "deleted": args["id"]}

    def _add(self, text: str) -> str:
        note_id = f"n{self._next_id}"
        self._next_id += 1
        self.notes[note_id] = text
        return note_id


def _error(code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    error = {"code": code, "message": message} | ({"hint": hint} if hint else {})
    return {"ok": False, "error": error}
