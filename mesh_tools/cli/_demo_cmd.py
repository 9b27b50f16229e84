"""``mesh-tools demo``: an architect, a writer and a reviewer write a launch plan together, live.

Everything runs in this process: a room server on a loopback port with SQLite in ``--data-dir``, the
three agents of ``agents/`` as three participants, and a viewer that shows the document growing.
Without ``OPENAI_API_KEY`` (or with ``--scripted``) the model is a ``ScriptedModel`` in this process
playing the roles of :mod:`mesh_tools.demo`, and the output says so first and last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._resources import bundled
from ..errors import AgentConfigError
from ..helpers import websocket_room_url
from ._agent_cmd import (
    add_framework_option,
    add_model_options,
    banner,
    exit_code,
    model_client,
    seat_frameworks,
)

if TYPE_CHECKING:
    from ..agent import TeamMember, TeamResult, TurnEvent
    from ..schema import MeshSchema

ROOM = "demo"
ROLES = ("architect", "writer", "reviewer")
_DEFAULT_PACE_S = 0.35  # per scripted turn on a terminal: slow enough to follow, done in about ten seconds


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="watch three agents write a report together in one live document",
        description="Start a room server in this process, create a report document, and let the "
        "architect, writer and reviewer of agents/ write a launch plan in it at the same time, each as "
        "its own participant. Shows every tool call (and every rejected one) and the document as it "
        "grows, then the final document, whether it is valid, whether every replica converged, and "
        "where it was saved.",
        epilog="Model: scripted (offline, no LLM called) unless OPENAI_API_KEY is set or --model is "
        "given. With a real model every agent uses its definition's model unless --model overrides it. "
        "Without a terminal the output is one plain line per tool call.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("demo-output"),
        help="where the SQLite database and the JSON exports go (default: ./demo-output)",
    )
    parser.add_argument(
        "--agents",
        type=Path,
        help="directory of agent definitions with architect, writer and reviewer (default: the ones "
        "that ship with mesh-tools, the repository's agents/)",
    )
    add_model_options(parser, model_help="a real model for every agent, e.g. gpt-5.4-mini")
    parser.add_argument(
        "--scripted", action="store_true", help="use the scripted model even if OPENAI_API_KEY is set"
    )
    parser.add_argument(
        "--pace",
        type=float,
        metavar="SECONDS",
        help=f"pause after each agent turn (default: {_DEFAULT_PACE_S} for scripted runs on a terminal, "
        "else 0)",
    )
    add_framework_option(parser)
    parser.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(args))


async def _demo(args: argparse.Namespace) -> int:
    from openai import AsyncOpenAI

    from ..agent import (
        ScriptedModel,
        TeamSpec,
        TeamView,
        output_console,
        print_team_result,
        run_team,
        token_minter,
    )
    from ..client import RoomClient, WebSocketClientProtocol
    from ..demo import DEMO_TASK, demo_policies, demo_schema
    from ..server import RoomServer, page_url
    from ..tokens import ParticipantToken

    if args.scripted and args.model:
        raise AgentConfigError("--scripted and --model exclude each other", hint="drop one of them")
    scripted = args.scripted or not (args.model or os.getenv("OPENAI_API_KEY") or args.base_url)
    schema = demo_schema()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = f"reports/launch-plan-{stamp}.report"
    agents = args.agents or bundled("agents")
    members = seat_frameworks(_members(agents, schema, path, scripted=scripted, model=args.model), args)
    offline = ScriptedModel(demo_policies(schema)) if scripted else None
    console = output_console()
    view = TeamView(
        console,
        ROLES,
        banner=banner([member.model for member in members], args.api, args.base_url, offline=offline),
        scripted=scripted,
        live=False if args.plain else None,
    )
    pace = args.pace if args.pace is not None else (_DEFAULT_PACE_S if scripted and view.live else 0.0)

    async def on_event(event: TurnEvent) -> None:
        view.on_event(event)
        if pace:
            await asyncio.sleep(pace)

    secret = secrets.token_urlsafe(32)
    tokens = token_minter(secret, ROOM)
    async with AsyncExitStack() as stack:
        # The model client first: a missing key is reported before anything is written to disk.
        client: AsyncOpenAI | ScriptedModel = (
            offline if offline is not None else await stack.enter_async_context(model_client(args.base_url))
        )
        args.data_dir.mkdir(parents=True, exist_ok=True)
        server = await stack.enter_async_context(RoomServer(data_dir=args.data_dir, secret=secret))
        url = websocket_room_url(room_name=ROOM, base_url=server.url)
        viewer = await stack.enter_async_context(
            RoomClient(protocol=WebSocketClientProtocol(url=url, token=tokens("viewer")))
        )
        await viewer.sync.create(path, schema=schema)
        document = await viewer.sync.open(path, create=False)
        await document.synchronized
        spec = TeamSpec(
            url=server.url,
            room=ROOM,
            document_path=path,
            schema=schema,
            members=members,
            task=DEMO_TASK,
            tokens=tokens,
            api=args.api,
            client=client,
            on_event=on_event,
        )
        with view:
            view.watch(document)
            # A person can watch, and join, the agents at work while the demo runs.
            person = ParticipantToken.for_room(name="you", room=ROOM, role="user").to_jwt(token=secret)
            page = page_url(server.url, ROOM, path, person)
            console.print(
                f"Watch and edit in a browser: {page}", soft_wrap=True, markup=False, highlight=False
            )
            result = await run_team(spec)
    saved = _export(args.data_dir, stamp, path, result)
    print_team_result(console, result, saved=saved)
    return exit_code(result)


def _members(
    agents: Path, schema: MeshSchema, path: str, *, scripted: bool, model: str | None
) -> list[TeamMember]:
    """The three roles from ``agents``, scripted, or on ``model`` (None: each definition's own)."""
    from ..agent import TeamMember, load_agent_definitions

    hint = "pass --agents DIR, a directory with architect.toml, writer.toml and reviewer.toml"
    if not agents.is_dir():
        raise AgentConfigError(f"no directory of agent definitions at {agents}", hint=hint)
    definitions = load_agent_definitions(agents)
    missing = [role for role in ROLES if role not in definitions]
    if missing:
        raise AgentConfigError(f"{agents} has no definition for {', '.join(missing)}", hint=hint)
    return [
        TeamMember.from_definition(
            definitions[role],
            schema=schema,
            document_path=path,
            model=f"scripted:{role}" if scripted else model,
        )
        for role in ROLES
    ]


def _export(data_dir: Path, stamp: str, path: str, result: TeamResult) -> list[str]:
    from ..server._room_server import DATABASE_NAME

    document_file = data_dir / f"launch-plan-{stamp}.json"
    record_file = data_dir / f"launch-plan-{stamp}.run.json"
    document_file.write_text(json.dumps(result.document, indent=2, ensure_ascii=False) + "\n")
    record_file.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return [
        f"{data_dir / DATABASE_NAME} (room {ROOM!r}, document {path})",
        f"{document_file} (the final document as JSON)",
        f"{record_file} (every agent's turns and tool calls)",
    ]
