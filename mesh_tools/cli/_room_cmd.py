"""``mesh-tools room``: a room's schemas and documents from the command line, through a running server.

    mesh-tools room schema put --room R NAME FILE
    mesh-tools room schema list --room R
    mesh-tools room sync create --room R PATH [--schema FILE] [--json JSON]
    mesh-tools room sync show --room R PATH [--tree]
    mesh-tools room sync list --room R

The server comes from ``--url`` or ``MESH_TOOLS_URL``; the token from ``MESH_TOOLS_TOKEN``, or is minted
from ``MESH_TOOLS_SECRET`` (and ``MESH_TOOLS_KEY_ID`` when the server holds several keys).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from ..errors import AuthenticationError
from ..helpers import DEFAULT_URL, URL_ENV, mesh_tools_base_url, websocket_room_url

if TYPE_CHECKING:
    from ..client import RoomClient, WebSocketClientProtocol

TOKEN_ENV = "MESH_TOOLS_TOKEN"
SECRET_ENV = "MESH_TOOLS_SECRET"
KEY_ID_ENV = "MESH_TOOLS_KEY_ID"

_CONNECT_TIMEOUT = 1.0  # a person is waiting: say "cannot connect" soon rather than retry for long

RoomAction: TypeAlias = "Callable[[RoomClient, argparse.Namespace], Awaitable[None]]"


def register(commands: Any) -> None:
    room: argparse.ArgumentParser = commands.add_parser(
        "room",
        help="work with a room's schemas and documents on a running server",
        description="Store schemas, create documents and show them, through a running `mesh-tools serve`.",
        epilog=f"Connection: --url or ${URL_ENV} (default {DEFAULT_URL}). Token: ${TOKEN_ENV}, or one "
        f"minted from ${SECRET_ENV} (with ${KEY_ID_ENV} as its key id if the server needs one).",
    )
    groups = room.add_subparsers(dest="room_command", metavar="GROUP", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_connection_options(common)
    common.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for each answer (default: 30)"
    )

    def action(group: Any, name: str, run: RoomAction, **texts: str) -> argparse.ArgumentParser:
        # Every action connects to a room with the common options, does its part, and disconnects.
        parser: argparse.ArgumentParser = group.add_parser(name, parents=[common], **texts)
        parser.set_defaults(run=_runner(run))
        return parser

    schema = groups.add_parser("schema", help="store and list the room's schemas")
    schema_actions = schema.add_subparsers(dest="action", metavar="ACTION", required=True)
    put = action(
        schema_actions,
        "put",
        _schema_put,
        help="store a schema file as .schemas/NAME.json",
        description="Store a MeshSchema JSON file in the room. Documents whose path ends in .NAME use it.",
    )
    put.add_argument("name", metavar="NAME", help="schema name; documents ending in .NAME use it")
    put.add_argument("file", metavar="FILE", help="MeshSchema JSON file (check it with `mesh-tools schema`)")
    action(schema_actions, "list", _schema_list, help="list the room's schema names")

    sync = groups.add_parser("sync", help="create, show and list documents")
    sync_actions = sync.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = action(
        sync_actions,
        "create",
        _sync_create,
        help="create a document",
        description="Create a document. Without --schema the room's .schemas/<extension>.json applies.",
    )
    create.add_argument("path", metavar="PATH", help="document path, e.g. notes/plan.document")
    create.add_argument("--schema", metavar="FILE", help="MeshSchema JSON file for this document")
    create.add_argument(
        "--json", type=_json_object, metavar="JSON", help="initial content, e.g. '{\"document\": {...}}'"
    )
    show = action(
        sync_actions,
        "show",
        _sync_show,
        help="print a document as JSON",
        description="Print a document's current content (with element ids) without opening it.",
    )
    show.add_argument("path", metavar="PATH", help="document path")
    show.add_argument("--tree", action="store_true", help="print an element tree instead of JSON")
    action(sync_actions, "list", _sync_list, help="list the room's documents")


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """--room and --url: which room of which server a command works in."""
    parser.add_argument("--room", required=True, help="the room's name")
    parser.add_argument("--url", help=f"the server's base URL (default: ${URL_ENV} or {DEFAULT_URL})")


def room_protocol(args: argparse.Namespace) -> WebSocketClientProtocol:
    """A connection to the room that :func:`add_connection_options` named, with :func:`participant_token`."""
    from ..client import WebSocketClientProtocol

    url = websocket_room_url(room_name=args.room, base_url=args.url or mesh_tools_base_url())
    return WebSocketClientProtocol(url=url, token=participant_token(args.room))


def participant_token(room: str) -> str:
    """``$MESH_TOOLS_TOKEN``, or a token for participant "cli" minted from ``$MESH_TOOLS_SECRET``."""
    token = os.getenv(TOKEN_ENV)
    if token:
        return token
    secret = os.getenv(SECRET_ENV)
    if not secret:
        raise AuthenticationError(
            "no token to connect with",
            hint=f"set {TOKEN_ENV} to a participant token, or {SECRET_ENV} to the server's secret",
        )
    from ..tokens import ParticipantToken

    minted = ParticipantToken.for_room(
        name="cli", room=room, role="user", api_key_id=os.getenv(KEY_ID_ENV) or None
    )
    return minted.to_jwt(token=secret)


def _runner(action: RoomAction) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        asyncio.run(_connected(action, args))
        return 0

    return run


async def _connected(action: RoomAction, args: argparse.Namespace) -> None:
    from ..client import RoomClient

    async with RoomClient(
        protocol=room_protocol(args), request_timeout=args.timeout, connect_timeout=_CONNECT_TIMEOUT
    ) as room:
        await action(room, args)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object such as '{\"document\": {}}'")
    return value


async def _schema_put(room: RoomClient, args: argparse.Namespace) -> None:
    from ..schema import MeshSchema

    await room.schemas.put(args.name, MeshSchema.from_file(args.file))
    print(f"stored .schemas/{args.name}.json in room {room.room_name}")


async def _schema_list(room: RoomClient, args: argparse.Namespace) -> None:
    for name in await room.schemas.list():
        print(name)


async def _sync_create(room: RoomClient, args: argparse.Namespace) -> None:
    from ..schema import MeshSchema

    schema = MeshSchema.from_file(args.schema) if args.schema else None
    await room.sync.create(args.path, json=args.json, schema=schema)
    print(f"created {args.path} in room {room.room_name}")


async def _sync_show(room: RoomClient, args: argparse.Namespace) -> None:
    content = await room.sync.describe(args.path)
    if args.tree:
        from rich.console import Console

        from ..document import document_tree

        Console().print(document_tree(content, path=args.path, detail=True))
    else:
        print(json.dumps(content, indent=2, ensure_ascii=False))


async def _sync_list(room: RoomClient, args: argparse.Namespace) -> None:
    for path in await room.sync.list():
        print(path)
