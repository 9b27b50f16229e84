"""``mesh-tools agent run`` and ``mesh-tools team run``: agents from ``agents/*.toml`` on a running server.

    mesh-tools agent run agents/writer.toml --room R --doc PATH [--task TEXT] [--model M]
    mesh-tools team run --room R --doc PATH agents/architect.toml agents/writer.toml ... [--model M]

Each agent connects as its own participant, with a token minted from ``MESH_TOOLS_SECRET`` (a single
agent may use ``MESH_TOOLS_TOKEN`` instead). The model client reads ``OPENAI_API_KEY`` and
``OPENAI_BASE_URL``; ``--base-url`` points it at any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AgentConfigError, AuthenticationError, DocumentNotFoundError
from ..helpers import DEFAULT_URL, URL_ENV, mesh_tools_base_url, websocket_room_url
from ._room_cmd import KEY_ID_ENV, SECRET_ENV, TOKEN_ENV, add_connection_options

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from ..agent import ScriptedModel, TeamMember, TeamResult, TokenFactory
    from ..schema import MeshSchema

__all__ = ["add_model_options", "banner", "exit_code", "model_client", "register"]

_AGENT_PLACEHOLDER = "{agent}"
_DEFAULT_TASK = "Do your part of the work on {document}, as your instructions describe."


def register(commands: Any) -> None:
    epilog = (
        f"Server: --url or ${URL_ENV} (default {DEFAULT_URL}). Tokens: minted per agent from ${SECRET_ENV} "
        f"(with ${KEY_ID_ENV} as key id if the server holds several keys). Model: $OPENAI_API_KEY and "
        "$OPENAI_BASE_URL, or --base-url for another OpenAI-compatible endpoint. To try the agents "
        "without a server or an API key, run `mesh-tools demo`."
    )
    agent = commands.add_parser(
        "agent",
        help="run one agent from its TOML definition against a running server",
        description="Run agents defined in agents/*.toml on a document of a running `mesh-tools serve`.",
        epilog=epilog,
    )
    agent_actions = agent.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    run_one = agent_actions.add_parser(
        "run",
        help="run one agent on one document until it is done",
        description="Run one agent on one document until it answers without tool calls or hits a limit. "
        "Prints its tool calls as they happen, then the document, its validity and the agent's record.",
        epilog=epilog + f" A single agent may also connect with ${TOKEN_ENV}.",
    )
    _add_run_arguments(run_one, nargs=1, definitions_help="agent definition, e.g. agents/writer.toml")

    team = commands.add_parser(
        "team",
        help="run several agents at once on one document of a running server",
        description="Run a team of agents concurrently on one document, each its own participant.",
        epilog=epilog,
    )
    team_actions = team.add_subparsers(dest="team_command", metavar="ACTION", required=True)
    run_team_parser = team_actions.add_parser(
        "run",
        help="run the agents together until every one is done",
        description="Run every agent concurrently, each with its own connection and token, then check "
        "that every replica converged and that the document is valid.",
        epilog=epilog,
    )
    _add_run_arguments(run_team_parser, nargs="+", definitions_help="agent definitions, e.g. agents/*.toml")


def add_model_options(parser: argparse.ArgumentParser, *, model_help: str) -> None:
    """The options that choose the model endpoint: --model, --api, --base-url."""
    parser.add_argument("--model", metavar="MODEL", help=model_help)
    parser.add_argument(
        "--api",
        choices=["responses", "chat"],
        default="responses",
        help="the model API: responses (default) or chat (Chat Completions, for most other servers)",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="an OpenAI-compatible endpoint such as http://localhost:11434/v1 (default: $OPENAI_BASE_URL)",
    )


def add_framework_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--framework",
        choices=("loop", "openai-agents"),
        default="loop",
        help="run every agent in our agent loop (default) or as an openai-agents Agent",
    )
    parser.add_argument(
        "--openai-agents",
        metavar="NAMES",
        help="comma-separated agent names to seat as openai-agents Agents, the others in our loop",
    )


def seat_frameworks(members: list[TeamMember], args: argparse.Namespace) -> list[TeamMember]:
    """The members, those ``--framework``/``--openai-agents`` choose seated as openai-agents Agents."""
    from ..agent import agents_sdk_agent

    chosen = (
        {name.strip() for name in args.openai_agents.split(",")}
        if args.openai_agents
        else {member.name for member in members}
        if args.framework == "openai-agents"
        else set()
    )
    unknown = chosen - {member.name for member in members}
    if unknown:
        raise AgentConfigError(
            f"--openai-agents names no agent of the team: {', '.join(sorted(unknown))}",
            hint=f"agents: {', '.join(member.name for member in members)}",
        )
    return [
        dataclasses.replace(
            member,
            sdk_agent=agents_sdk_agent(member.name, member.instructions),
        )
        if member.name in chosen
        else member
        for member in members
    ]


def model_client(base_url: str | None) -> AsyncOpenAI:
    """A model client for ``base_url`` (or ``$OPENAI_BASE_URL``), with ``$OPENAI_API_KEY``."""
    key = os.getenv("OPENAI_API_KEY")
    if not key and not (base_url or os.getenv("OPENAI_BASE_URL")):
        raise AgentConfigError(
            "no model to talk to: OPENAI_API_KEY is not set",
            hint="set OPENAI_API_KEY, or pass --base-url for a local OpenAI-compatible server; "
            "`mesh-tools demo` runs offline with a scripted model",
        )
    from openai import AsyncOpenAI

    # Local OpenAI-compatible servers ignore the key, but the client refuses to start without one.
    return AsyncOpenAI(api_key=key or "no-key", base_url=base_url, max_retries=0)


def banner(
    models: Sequence[str], api: str, base_url: str | None, *, offline: ScriptedModel | None = None
) -> str:
    """What the run talks to, in one line: the scripted banner, or the models and the endpoint."""
    from ..agent import SCRIPTED_BANNER

    if offline is not None:
        return f"{SCRIPTED_BANNER} · {', '.join(models)} answered in this process ({offline.label})"
    where = f" at {base_url}" if base_url else ""
    return f"MODEL {', '.join(sorted(set(models)))} · {api} API{where}"


def _add_run_arguments(parser: argparse.ArgumentParser, *, nargs: int | str, definitions_help: str) -> None:
    # `agent run` and `team run` differ only in how many definitions they take.
    parser.add_argument("definitions", type=Path, nargs=nargs, metavar="AGENT_TOML", help=definitions_help)
    add_connection_options(parser)
    parser.add_argument(
        "--doc", required=True, metavar="PATH", help="document path, e.g. plans/launch.report"
    )
    parser.add_argument(
        "--schema",
        type=Path,
        metavar="FILE",
        help="MeshSchema JSON file; needed only to create a missing document (default: the document's own)",
    )
    parser.add_argument("--task", help="what to ask the agents (default: do their part as instructed)")
    add_model_options(
        parser,
        model_help="model for every agent instead of each definition's; {agent} is replaced by the "
        "agent's name, e.g. scripted:{agent} for a mesh_tools.testing.ScriptedServer",
    )
    add_framework_option(parser)
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the full run record here as JSON"
    )
    parser.add_argument(
        "--plain", action="store_true", help="print one line per tool call even on a terminal"
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_run_agents(args))


async def _run_agents(args: argparse.Namespace) -> int:
    from ..agent import (
        TeamMember,
        TeamSpec,
        TeamView,
        load_agent_definition,
        output_console,
        print_team_result,
        run_team,
    )

    definitions = [load_agent_definition(path) for path in args.definitions]
    url = args.url or mesh_tools_base_url()
    tokens = _tokens(args.room, single=len(definitions) == 1)
    schema = await _schema(url, args.room, args.doc, tokens, args.schema)
    members = [
        TeamMember.from_definition(
            definition,
            schema=schema,
            document_path=args.doc,
            model=args.model.replace(_AGENT_PLACEHOLDER, definition.name) if args.model else None,
        )
        for definition in definitions
    ]
    members = seat_frameworks(members, args)
    console = output_console()
    models = [member.model for member in members]
    view = TeamView(
        console,
        [member.name for member in members],
        banner=banner(models, args.api, args.base_url),
        scripted=False,  # a reply stamped by an offline backend marks the result, shown at the end
        live=False if args.plain else None,
    )
    async with model_client(args.base_url) as client:
        spec = TeamSpec(
            url=url,
            room=args.room,
            document_path=args.doc,
            schema=schema,
            members=members,
            task=args.task or _DEFAULT_TASK.format(document=args.doc),
            tokens=tokens,
            api=args.api,
            client=client,
            on_event=view.on_event,
        )
        with view:
            result = await run_team(spec)
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    print_team_result(console, result, saved=[str(args.json)] if args.json is not None else [])
    return exit_code(result)


def _tokens(room: str, *, single: bool) -> TokenFactory:
    secret = os.getenv(SECRET_ENV)
    if secret:
        from ..agent import token_minter

        return token_minter(secret, room, key_id=os.getenv(KEY_ID_ENV) or None)
    token = os.getenv(TOKEN_ENV)
    if token and single:
        return lambda _participant: token
    raise AuthenticationError(
        f"no {SECRET_ENV} to mint each agent's token with",
        hint=f"set {SECRET_ENV} to the server's secret"
        + (f" (or {TOKEN_ENV} to a participant token)" if single else "; every agent needs its own token"),
    )


async def _schema(
    url: str, room: str, path: str, tokens: TokenFactory, schema_file: Path | None
) -> MeshSchema:
    """The schema of the file given, or else of the existing document."""
    from ..client import RoomClient, WebSocketClientProtocol
    from ..schema import MeshSchema

    if schema_file is not None:
        return MeshSchema.from_file(schema_file)
    protocol = WebSocketClientProtocol(
        url=websocket_room_url(room_name=room, base_url=url), token=tokens("cli")
    )
    async with RoomClient(protocol=protocol, connect_timeout=3.0) as client:
        try:
            document = await client.sync.open(path, create=False)
        except DocumentNotFoundError as error:
            raise DocumentNotFoundError(
                f"{path} does not exist in room {room}", hint="pass --schema FILE to create it"
            ) from error
        await document.synchronized
        schema = document.schema
        await client.sync.close(path)
    return schema


def exit_code(result: TeamResult) -> int:
    """0 when every agent ran to its end and the document is valid and converged, else 1."""
    ok = result.valid and result.convergence.converged and all(m.error is None for m in result.members)
    return 0 if ok else 1
