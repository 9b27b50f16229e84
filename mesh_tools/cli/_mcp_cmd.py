"""``mesh-tools mcp``: a room's documents as MCP tools on stdio, for MCP clients (desktop apps, IDEs, agents).

    mesh-tools mcp --room R --schema FILE [--path P] [--url U]

The server comes from ``--url`` or ``MESH_TOOLS_URL``; the token from ``MESH_TOOLS_TOKEN``, or is minted
from ``MESH_TOOLS_SECRET``, as for ``mesh-tools room``. Stdout carries the MCP protocol; logs go to stderr.
Without ``--path`` the model picks documents, within the token's sync paths, and opens only existing
ones unless ``--allow-create``; edits are named after the token's participant in others' change feeds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from ..helpers import DEFAULT_URL, URL_ENV
from ._room_cmd import SECRET_ENV, TOKEN_ENV, add_connection_options, participant_token, room_protocol

if TYPE_CHECKING:
    from ..schema import MeshSchema


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "mcp",
        help="serve a room's documents as MCP tools on stdio",
        description="Connect to a room and serve document tools (describe, append, set and remove "
        "attributes, delete) to an MCP client over stdio until the client disconnects.",
        epilog=f"Connection: --url or ${URL_ENV} (default {DEFAULT_URL}). Token: ${TOKEN_ENV}, or one "
        f"minted from ${SECRET_ENV}. Documents take their schema from the room (.schemas/<extension>.json); "
        "it must match --schema.",
    )
    add_connection_options(parser)
    parser.add_argument(
        "--schema", required=True, metavar="FILE", help="MeshSchema JSON file of the documents to edit"
    )
    parser.add_argument("--path", help="serve this one document (the tools then take no path argument)")
    parser.add_argument(
        "--allow-create",
        action="store_true",
        help="without --path, let the model create documents (default: it opens existing ones only)",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from ..schema import MeshSchema

    schema = MeshSchema.from_file(args.schema)
    try:
        from mcp.server.stdio import stdio_server
    except ImportError:
        print("error: mesh-tools mcp needs the MCP SDK: pip install 'mesh-tools[mcp]'", file=sys.stderr)
        return 2
    asyncio.run(_serve(args, schema, stdio_server))
    return 0


async def _serve(args: argparse.Namespace, schema: MeshSchema, stdio_server: Any) -> None:
    from ..client import RoomClient
    from ..tokens import ParticipantToken
    from ..tools import DocumentToolkit

    token = ParticipantToken.peek(participant_token(args.room))
    sync = token.api.sync
    async with (
        RoomClient(protocol=room_protocol(args)) as room,
        DocumentToolkit(
            room,
            schema=schema,
            path=args.path,
            participant=token.name,
            paths=None if sync is None else sync.paths,
            allow_create=args.allow_create,
        ) as toolkit,
        stdio_server() as (read_stream, write_stream),
    ):
        server = toolkit.mcp_server()
        await server.run(read_stream, write_stream, server.create_initialization_options())
