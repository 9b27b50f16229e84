"""``mesh-tools serve`` runs the room server; ``mesh-tools token`` mints a participant token for it.

Keys come from the environment, never from the command line (where ``ps`` would show them):
``MESH_TOOLS_SECRET`` holds one secret; ``--secret-file`` names a JSON file ``{kid: secret}`` for
several keys (rotation: add the new kid, move clients over, then drop the old one).

Several nodes serve the same rooms with ``--storage postgresql://...`` and ``--bus redis://...`` (or
``MESH_TOOLS_STORAGE`` / ``MESH_TOOLS_BUS``); without them, one node keeps SQLite in ``--data-dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import AuthenticationError

SECRET_ENV = "MESH_TOOLS_SECRET"
STORAGE_ENV = "MESH_TOOLS_STORAGE"
BUS_ENV = "MESH_TOOLS_BUS"


def register(commands: Any) -> None:
    serve: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run the room server",
        description=f"Run the room server until SIGTERM/SIGINT. The key comes from ${SECRET_ENV} "
        "or --secret-file. Prints the server URL once it listens.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    serve.add_argument("--data-dir", default="mesh-data", help="where the SQLite database lives")
    serve.add_argument("--secret-file", help='JSON file {"kid": "secret", ...} instead of the env secret')
    serve.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="only pages from this origin (e.g. https://app.example.com) may connect (repeatable; "
        "default: any); programs, which send no Origin, are not concerned",
    )
    serve.add_argument(
        "--storage",
        default=os.environ.get(STORAGE_ENV),
        help=f"postgresql://... to share storage between nodes (default ${STORAGE_ENV}, else SQLite)",
    )
    serve.add_argument(
        "--bus",
        default=os.environ.get(BUS_ENV),
        help=f"redis://... to fan updates out between nodes (default ${BUS_ENV}); needs --storage",
    )
    serve.add_argument(
        "--keep-loaded",
        type=float,
        default=30.0,
        help="seconds an unused document stays loaded, so reopening it is instant (default 30)",
    )
    serve.set_defaults(run=_serve)

    token: argparse.ArgumentParser = commands.add_parser(
        "token",
        help="print a participant token (JWT) signed with $MESH_TOOLS_SECRET",
        description=f"Mint an HS256 participant token from ${SECRET_ENV}.",
    )
    token.add_argument("--room", required=True, help="the room the token grants")
    token.add_argument("--name", required=True, help="the participant's name")
    token.add_argument("--role", default="agent", help="role grant (user, agent, tool; default agent)")
    token.add_argument("--read-only", action="store_true", help="grant read-only document sync")
    token.add_argument("--ttl", type=_positive, default=3600, help="lifetime in seconds (default 3600)")
    token.add_argument("--path", action="append", dest="paths", help="document path glob (repeatable)")
    token.add_argument("--kid", help="key id written to the JWT header (with a multi-key server)")
    token.set_defaults(run=_token)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return value


def _env_secret() -> str:
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        raise AuthenticationError(
            f"${SECRET_ENV} is not set", hint=f"export {SECRET_ENV}=<a long random string>"
        )
    return secret


def _read_keys(path: str) -> dict[str, str]:
    try:
        keys = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuthenticationError(f"cannot read the secret file {path}: {exc}") from None
    if (
        not isinstance(keys, dict)
        or not keys
        or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in keys.items())
    ):
        raise AuthenticationError(f"{path} must hold a JSON object of key ids to non-empty secret strings")
    return keys


def _backends(args: argparse.Namespace) -> dict[str, Any]:
    """RoomServer's storage arguments: SQLite in --data-dir, or PostgreSQL with an optional Redis bus."""
    from ..errors import ServerError

    if args.bus and not args.storage:
        raise ServerError(
            "--bus needs --storage: nodes that share a bus must share their storage",
            hint="add --storage postgresql://... (or set MESH_TOOLS_STORAGE)",
        )
    if not args.storage:
        return {"data_dir": args.data_dir}
    if not args.storage.startswith(("postgresql://", "postgres://")):
        raise ServerError(f"unsupported --storage {args.storage!r}", hint="use postgresql://user@host/db")
    from ..server import PostgresStorage, RedisBus

    return {"storage": PostgresStorage(args.storage), "bus": RedisBus(args.bus) if args.bus else None}


def _serve(args: argparse.Namespace) -> int:
    from ..server import RoomServer, reuse_freed_memory

    keys = _read_keys(args.secret_file) if args.secret_file else None
    server = RoomServer(
        **_backends(args),
        secret=None if keys is not None else _env_secret(),
        secrets=keys,
        host=args.host,
        port=args.port,
        keep_loaded=args.keep_loaded,
        allowed_origins=args.allowed_origins,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with server:
            # Everything alive now (modules, the server) lives as long as the process: out of the
            # collector's sight, a full pass walks only what rooms allocate, and holds the GIL that
            # long (docs/adr/0017-big-frames-off-the-event-loop.md).
            gc.freeze()
            # The process is the server's alone too: big frames' buffers reuse memory already faulted
            # in instead of stalling every room while fresh pages are (same ADR).
            reuse_freed_memory()
            print(server.url, flush=True)
            await stop.wait()
        # Leaving the block closed connections with 1012, flushed and snapshotted storage.

    asyncio.run(main())
    return 0


def _token(args: argparse.Namespace) -> int:
    from ..tokens import ApiScope, ParticipantToken, SyncScope

    token = ParticipantToken.for_room(
        name=args.name,
        room=args.room,
        role=args.role,
        api=ApiScope(sync=SyncScope(read_only=args.read_only, paths=args.paths)),
        api_key_id=args.kid,
    )
    print(token.to_jwt(token=_env_secret(), expiration=timedelta(seconds=args.ttl)))
    return 0
