"""Watching a team at work in a terminal: who called which tool, what came back, and the document.

On a terminal, :class:`TeamView` keeps a live board (rich ``Live``): a banner that says whether a real
model answers, one panel per agent with its latest tool calls (ok or the error code), and the document
as it grows. Anywhere else (CI logs, pipes) it prints one plain line per tool call instead.
:func:`print_team_result` prints the outcome of a run.

Rendering happens on the event loop only, never on rich's refresh thread: the documents are pycrdt
replicas that the loop is writing to.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..document import MeshDocument, document_tree, shorten
from ..tools import TAG_KEY, ToolName
from ._events import ToolCallRecord, TurnEvent
from ._team import TeamResult

__all__ = [
    "SCRIPTED_BANNER",
    "TeamView",
    "describe_call",
    "output_console",
    "print_team_result",
]

#: What a scripted run says first and last, so nobody takes its output for a model's.
SCRIPTED_BANNER = "SCRIPTED MODEL — no LLM called"

_REFRESH_S = 0.1  # at most ten redraws a second, however fast edits arrive
_PLAIN_WIDTH = 120  # rich assumes 80 columns without a terminal; CI logs are wider
_LIVE_DEPTH = 2  # the live board shows the document this deep; the final tree shows all of it


def output_console() -> Console:
    """A console for the commands' output: the terminal's width, or 120 columns in logs and pipes."""
    console = Console()
    return console if console.is_terminal else Console(width=_PLAIN_WIDTH)


def describe_call(record: ToolCallRecord, *, detail: bool = True) -> str:
    """One line for a tool call: what it did and what came back (the new id, or the error).

    With ``detail`` the line names the target element and gives the error's message and hint; without,
    it fits a narrow panel: the call and the new id or the error code.
    """
    return f"{_call_summary(record.name, record.arguments, detail)} {_result_summary(record, detail)}"


@dataclass(slots=True)
class _AgentBoard:
    lines: list[Text] = field(default_factory=list)
    turns: int = 0
    edits: int = 0
    rejected: int = 0
    done: str | None = None


class TeamView:
    """Shows a team's tool calls as they happen, with the live document, on ``console``.

    ``live`` (default: whether ``console`` is a terminal) picks the live board or plain lines. Use it
    as a context manager around the run, pass :meth:`on_event` as the team's event callback, and
    :meth:`watch` a replica of the document to show it growing.
    """

    def __init__(
        self,
        console: Console,
        agents: Sequence[str],
        *,
        banner: str,
        scripted: bool,
        live: bool | None = None,
        calls_shown: int = 6,
    ) -> None:
        self.console = console
        self.banner = banner
        self.scripted = scripted
        self.live = console.is_terminal if live is None else live
        self.calls_shown = calls_shown
        self._boards = {agent: _AgentBoard() for agent in agents}
        self._width = max((len(agent) for agent in agents), default=0)
        self._document: MeshDocument | None = None
        self._unwatch: Callable[[], None] | None = None
        self._display: Live | None = None
        self._pending_refresh: asyncio.TimerHandle | None = None

    def __enter__(self) -> TeamView:
        self.console.print(self._banner())
        if self.live:
            self._display = Live(
                self._board(), console=self.console, auto_refresh=False, vertical_overflow="crop"
            )
            self._display.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pending_refresh is not None:
            self._pending_refresh.cancel()
            self._pending_refresh = None
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._display is not None:
            self._display.update(self._board(), refresh=True)
            self._display.stop()
            self._display = None

    def watch(self, document: MeshDocument) -> None:
        """Redraw whenever ``document`` changes (live board only)."""
        self._document = document
        if self.live:
            self._unwatch = document.observe(lambda _event: self._schedule_refresh())
            self._schedule_refresh()

    def on_event(self, event: TurnEvent) -> None:
        """Record one agent turn; pass this as the team's ``on_event``."""
        board = self._boards.setdefault(event.agent, _AgentBoard())
        board.turns = event.turn
        for call in event.tool_calls:
            board.edits += int(call.ok and call.name != ToolName.DESCRIBE_DOCUMENT)
            board.rejected += int(not call.ok)
            board.lines.append(_call_text(call, detail=False))
            if not self.live:
                self.console.print(self._line(event, _call_text(call, detail=True)), soft_wrap=True)
        if not event.tool_calls:
            board.done = event.text or "(no text)"
            if not self.live:
                self.console.print(
                    self._line(event, Text(f"done: {board.done}", style="bold")), soft_wrap=True
                )
        del board.lines[: -self.calls_shown]
        self._schedule_refresh()

    # -- rendering -----------------------------------------------------------------------------

    def _line(self, event: TurnEvent, text: Text) -> Text:
        prefix = Text(f"{event.agent:<{self._width}}  turn {event.turn:>2}  ", style="cyan")
        return prefix + text

    def _schedule_refresh(self) -> None:
        if self._display is None or self._pending_refresh is not None:
            return
        self._pending_refresh = asyncio.get_running_loop().call_later(_REFRESH_S, self._refresh)

    def _refresh(self) -> None:
        self._pending_refresh = None
        if self._display is not None:
            self._display.update(self._board(), refresh=True)

    def _banner(self) -> Panel:
        style = "bold black on yellow" if self.scripted else "bold white on blue"
        return Panel(Text(self.banner, justify="center"), style=style)

    def _board(self) -> RenderableType:
        agents = Table.grid(expand=True)
        for _ in self._boards:
            agents.add_column(ratio=1)
        agents.add_row(*(self._agent_panel(name, board) for name, board in self._boards.items()))
        parts: list[RenderableType] = [agents]
        if self._document is not None:
            tree = document_tree(self._document.to_json(), max_depth=_LIVE_DEPTH)
            parts.append(Panel(tree, title="document (live)", border_style="green"))
        return Group(*parts)

    def _agent_panel(self, name: str, board: _AgentBoard) -> Panel:
        lines = list(board.lines) or [Text("waiting for the model…", style="dim")]
        if board.done is not None:
            lines.append(Text(f"done: {board.done}", style="bold green"))
        body = Text("\n").join(lines)
        # One line per call keeps the panels' height fixed while calls pile up.
        body.no_wrap = True
        body.overflow = "ellipsis"
        title = f"[bold]{escape(name)}[/bold] · turn {board.turns} · {board.edits} edits"
        if board.rejected:
            title += f" · [red]{board.rejected} rejected[/red]"
        return Panel(body, title=title, border_style="green" if board.done is not None else "cyan")


def print_team_result(console: Console, result: TeamResult, *, saved: Sequence[str] = ()) -> None:
    """The outcome of a run: the final document, each agent's record, validity, convergence, files."""
    console.print(document_tree(result.document, path=result.document_path))
    table = Table(title="agents", title_justify="left")
    tokens_column = "tokens (estimated)" if result.scripted else "tokens"
    for column in ("agent", "model", "stopped", "turns", "tool calls", "edits", "rejected", tokens_column):
        table.add_column(column, justify="left" if column in ("agent", "model", "stopped") else "right")
    for member in result.members:
        stopped = (
            str(member.result.stop_reason)
            if member.result is not None
            else f"[red]{escape((member.error or {}).get('code', 'error'))}[/red]"
        )
        tokens = member.result.usage.total_tokens if member.result is not None else 0
        table.add_row(
            escape(member.agent),
            escape(member.model),
            stopped,
            str(len(member.events)),
            str(member.tool_calls),
            str(member.edits),
            str(member.rejected_calls),
            str(tokens),
        )
    console.print(table)
    for member in result.members:
        if member.error is not None:
            console.print(f"[red]{escape(member.agent)} failed:[/red] {escape(member.error['message'])}")
    if result.valid:
        console.print("[green]✓ valid[/green]: the final document satisfies its schema")
    else:
        console.print(f"[red]✗ invalid[/red]: {len(result.violations)} violation(s)")
        for violation in result.violations:
            console.print(f"  {escape(violation.code)}: {escape(violation.message)}")
    convergence = result.convergence
    replicas = ", ".join(convergence.replicas)
    if convergence.converged:
        console.print(
            f"[green]✓ converged[/green]: every replica ({replicas}) equals the server's copy "
            f"(settled in {convergence.settle_s:.2f} s)"
        )
    else:
        console.print(
            f"[red]✗ diverged[/red]: {', '.join(convergence.diverged)} still differ from the server's copy "
            f"after {convergence.settle_s:.1f} s"
        )
    for line in saved:
        console.print(f"saved: {escape(line)}", highlight=False)
    console.print(f"took {result.duration_s:.1f} s")
    if result.scripted:
        console.print(
            Panel(
                Text(f"{SCRIPTED_BANNER}: these are scripted results, not model results", justify="center"),
                style="bold black on yellow",
            )
        )


# -- pieces ------------------------------------------------------------------------------------


def _call_text(call: ToolCallRecord, *, detail: bool) -> Text:
    mark = Text("✓ ", style="green") if call.ok else Text("✗ ", style="bold red")
    return mark + Text(describe_call(call, detail=detail), style="" if call.ok else "red")


def _call_summary(name: str, arguments_json: str, detail: bool) -> str:
    try:
        arguments = json.loads(arguments_json)
    except ValueError:
        return f"{name}(malformed arguments)"
    if not isinstance(arguments, dict):
        return f"{name}({shorten(arguments_json, 40)})"
    if name == ToolName.APPEND_CHILD:
        element = arguments.get("element")
        tag = element.get(TAG_KEY, "?") if isinstance(element, dict) else "?"
        return f"{ToolName.APPEND_CHILD} <{tag}>" + (f" into {arguments.get('parent_id')}" if detail else "")
    if name == ToolName.SET_ATTRIBUTE:
        attribute = arguments.get("attribute")
        if isinstance(attribute, dict):
            value = shorten(json.dumps(attribute.get("value"), ensure_ascii=False), 32 if detail else 16)
            return f"{ToolName.SET_ATTRIBUTE} {attribute.get('name')}={value}" + (
                f" on {arguments.get('id')}" if detail else ""
            )
    if name in (ToolName.DESCRIBE_DOCUMENT, ToolName.DELETE_ELEMENT, ToolName.REMOVE_ATTRIBUTE):
        detail_name = f" {arguments['name']}" if "name" in arguments else ""
        return f"{name}{detail_name} {arguments.get('id')}"
    return f"{name}({shorten(json.dumps(arguments, ensure_ascii=False), 40)})"


def _result_summary(call: ToolCallRecord, detail: bool) -> str:
    try:
        result = json.loads(call.result)
    except ValueError:
        return "→ " + shorten(call.result, 40)
    if not isinstance(result, dict):
        return "→ ok"
    error = result.get("error")
    if not call.ok and isinstance(error, dict):
        code = f"→ {error.get('code', 'error')}"
        if not detail:
            return code
        text = f"{code}: {error.get('message', '')}"
        return text + (f" (hint: {error['hint']})" if error.get("hint") else "")
    if "id" in result:
        return f"→ {result['id']}"
    return "→ ok"
