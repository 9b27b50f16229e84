"""Names a client chooses: document paths, schema names and room names, checked before any use.

A document path is relative, uses ``/`` between segments, has no empty, ``.`` or ``..`` segment, no
backslash, NUL or control character, and stays out of ``.schemas/`` (where the room keeps its schemas).
"""

from __future__ import annotations

import re
from posixpath import splitext

from ..errors import InvalidPathError

__all__ = ["SCHEMA_DIR", "check_document_path", "check_room_name", "check_schema_name", "schema_name_for"]

#: The folder of room storage that holds schemas, one ``<name>.json`` per document extension.
SCHEMA_DIR = ".schemas"
MAX_PATH_LENGTH = 1024

# Letters and digits of any script, plus a few punctuation marks that are safe in every file system.
_SEGMENT = re.compile(r"^[\w][\w .@+=,~-]*$|^\.[\w][\w .@+=,~-]*$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PATH_HINT = "use a relative path such as 'notes/plan.document' (letters, digits, '_', '-', '.', ' ')"


def check_document_path(path: object) -> str:
    """Return ``path`` if it is a valid document path; raise InvalidPathError saying why not."""
    if not isinstance(path, str) or not path:
        raise InvalidPathError("a document path must be a non-empty string", hint=_PATH_HINT)
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPathError(f"the path is longer than {MAX_PATH_LENGTH} characters", hint=_PATH_HINT)
    if path.startswith("/"):
        raise InvalidPathError(f"{path!r} is absolute; paths are relative to the room", hint=_PATH_HINT)
    if "\\" in path or "\x00" in path:
        raise InvalidPathError(f"{path!r} contains a backslash or NUL", hint=_PATH_HINT)
    segments = path.split("/")
    if ".." in segments:
        raise InvalidPathError(f"{path!r} escapes the room with '..'", hint=_PATH_HINT)
    if segments[0] == SCHEMA_DIR:
        raise InvalidPathError(f"{SCHEMA_DIR}/ holds the room's schemas", hint="use schema.put for schemas")
    for segment in segments:
        if not _SEGMENT.match(segment) or segment != segment.strip():
            raise InvalidPathError(f"{path!r} has an invalid segment {segment!r}", hint=_PATH_HINT)
    return path


def schema_name_for(path: str) -> str:
    """The schema that documents at ``path`` use by default: their extension, without the dot."""
    extension = splitext(path)[1]
    if not extension:
        raise InvalidPathError(
            f"{path!r} has no extension, so no schema can be picked for it",
            hint="name the document like 'plan.document', or pass a schema to sync.create",
        )
    return extension[1:]


def check_schema_name(name: object) -> str:
    """Return ``name`` if it can name a schema (``.schemas/<name>.json``); raise InvalidPathError."""
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith("."):
        raise InvalidPathError(
            f"invalid schema name {name!r}", hint="use letters, digits, '_', '-', '.' (at most 128)"
        )
    return name


def check_room_name(name: str) -> str:
    """Return ``name`` if it can name a room; raise InvalidPathError."""
    if not _NAME.match(name):
        raise InvalidPathError(
            f"invalid room name {name!r}", hint="use letters, digits, '_', '-', '.' (at most 128)"
        )
    return name
