"""The clinic board: every chair's open session, live, on one screen that never writes.

One row per open session (:func:`~stampside.app.chairside.board.board_rows`, the board's one truth),
two lines each so it fits 80 columns: chair and practitioner, patient and session k of n, the
current step and its place, stamps and their rate, time in session and when it began, and the
link's state with the warnings under it (link lost, head used before, timer overdue) in the
error colour. A :class:`~stampside.app.chairside.board_live.BoardFollower` reads the rows in a thread
whenever the database changes (LISTEN/NOTIFY on PostgreSQL, polls on SQLite) and posts them
here; the screen redraws the times every second on its own. The status line says how it
follows the database, when it last read it, and what stops it from reading.

Keys: ``↑``/``↓`` scroll a board longer than the screen, ``?`` help, ``q`` (or escape) closes the board — quits
``stampside board``, or goes back to the screen it was opened over in the app.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from stampside.app.chairside.board import BoardRow, BoardSnapshot
from stampside.app.chairside.board_live import BoardFollower, BoardProblem, BoardSource, BoardUpdate
from stampside.app.domain.chair_warnings import LINK_LOST, WarningKind
from stampside.app.tui.widgets.stamp_counter import format_elapsed

__all__ = ["BoardScreen", "board_cells", "column_widths"]

#: Column titles, in order; the last one takes the width the others leave.
COLUMNS = ("Chair", "Patient", "Step", "Stamps", "Time", "Link · warnings")
#: Each column's (narrowest, widest) content width: at 80 columns each is its narrowest, and the
#: warnings' column takes what a wider terminal has beyond the others' widest.
_WIDTHS = ((11, 20), (7, 12), (15, 24), (6, 9), (7, 9), (21, 40))
#: The table's cell padding (each side of each column).
_PADDING = 1
NO_CHAIR = "—"


def column_widths(total: int) -> tuple[int, ...]:
    """The content width of each column for a table ``total`` cells wide (one cell for the scrollbar)."""
    room = total - 1 - 2 * _PADDING * len(_WIDTHS)
    widths = [low for low, _ in _WIDTHS]
    spare = room - sum(widths)
    for index in (5, 2, 0, 1, 3, 4):  # the warnings first, then the step's and chair's names
        if spare <= 0:
            break
        low, high = _WIDTHS[index]
        grow = min(spare, high - low)
        widths[index] += grow
        spare -= grow
    # Wider: the warnings take the rest; narrower than 80 columns: they give way first.
    widths[5] = max(8, widths[5] + spare)
    return tuple(widths)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def board_cells(row: BoardRow, now: datetime, tz: tzinfo | None, widths: tuple[int, ...]) -> list[Text]:
    """The cells of ``row`` at ``now``: one Text per column, each of one or more lines."""
    chair_w, patient_w, step_w, _, _, status_w = widths
    chair = Text(_cut(row.chair or NO_CHAIR, chair_w), style="bold")
    chair.append("\n" + _cut(row.practitioner, chair_w), style="dim")
    patient = Text(_cut(row.patient_code, patient_w))
    patient.append("\n" + _cut(f"{row.session_number} of {row.planned_sessions}", patient_w), style="dim")
    lines = textwrap.wrap(f"{row.step.counter} {row.step.title}".strip(), step_w) or [""]
    if len(lines) > 2:
        lines = [lines[0], " ".join(lines[1:])]
    step = Text("\n".join(_cut(line, step_w) for line in lines))
    stamps = Text(f"{row.stamps:,}")
    stamps.append("\n" + f"{row.rate_per_min:.0f}/min", style="dim")
    started = row.started_at.astimezone(tz)
    time = Text(format_elapsed(row.time_in_session(now).total_seconds()))
    time.append("\n" + f"{started:%H:%M}", style="dim")
    return [chair, patient, step, stamps, time, status_text(row, now, status_w)]


def status_text(row: BoardRow, now: datetime, width: int) -> Text:
    """The link's state, then one line per other warning; warnings in the error colour."""
    status = Text()
    lost = next((w for w in row.warnings if w.kind is WarningKind.LINK_LOST), None)
    if lost is not None or row.link == LINK_LOST:
        text = lost.text(now) if lost is not None else "link lost"
        status.append(_cut(f"✖ {text}", width), style="bold red")
    elif row.link is not None:
        status.append(_cut(f"● link {row.link}", width), style="green")
    else:
        status.append(_cut("○ no link yet", width), style="dim")
    for warning in row.warnings:
        if warning.kind is not WarningKind.LINK_LOST:
            status.append("\n" + _cut(f"⚠ {warning.text(now)}", width), style="bold red")
    return status


class BoardScreen(Screen[None]):
    """Every chair's open session, live; read only."""

    CSS_PATH = "../styles/board.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "close", "Close"),
        Binding("escape", "close", "Close", show=False),
        Binding("question_mark", "board_help", "Help"),
        Binding("f1", "board_help", "Help", show=False, priority=True),
    ]

    class Updated(Message):
        """A new read of the board (or why there is none), from the follower's thread."""

        def __init__(self, update: BoardUpdate) -> None:
            super().__init__()
            self.update = update

    def __init__(
        self,
        source: BoardSource,
        *,
        clinic_name: str = "",
        tz: tzinfo | None = None,
        wall_clock: Callable[[], datetime] | None = None,
        owns_source: bool = False,
        closes_app: bool = False,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.source = source
        self.clinic_name = clinic_name
        self.tz = tz
        self._wall_clock = wall_clock or source.clock
        self._owns_source = owns_source
        self._closes_app = closes_app
        self._follower: BoardFollower | None = None
        #: The newest read of the board, and the newest problem since it (None: none).
        self.snapshot: BoardSnapshot | None = None
        self.problem: BoardProblem | None = None
        #: How many reads have been shown (tests wait for the next one).
        self.updates = 0
        self._widths: tuple[int, ...] = column_widths(80)
        #: The rows drawn (key, height) and their cells, so a redraw changes only what changed.
        self._layout: list[tuple[str, int]] = []
        self._cells: dict[str, list[Text]] = {}

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="board-header"):
            yield Label(self._title(), id="board-title", markup=False)
            yield Label("", id="board-clock", markup=False)
        # No cursor: a highlighted row would hide its warnings' colour; ↑/↓ scroll a long board.
        table: DataTable[Text] = DataTable(id="board-table", cursor_type="none", cell_padding=_PADDING)
        yield table
        yield Static("Reading the database…", id="board-empty", markup=False)
        yield Static("", id="board-status", markup=False)
        yield Footer()

    def _title(self) -> str:
        return f"Clinic board · {self.clinic_name}" if self.clinic_name else "Clinic board"

    def on_mount(self) -> None:
        self._set_columns(self.size.width or self.app.size.width)
        self._show()
        self.set_interval(1.0, self._show)
        follower = BoardFollower(self.source, lambda update: self.post_message(self.Updated(update)))
        self._follower = follower
        follower.start()

    async def on_unmount(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            await asyncio.to_thread(follower.stop)
        if self._owns_source:
            await asyncio.to_thread(self.source.close)

    def on_resize(self) -> None:
        widths = column_widths(self.size.width)
        if widths != self._widths:
            self._set_columns(self.size.width)
            self._show()

    def _set_columns(self, width: int) -> None:
        self._widths = column_widths(width)
        table = self.query_one("#board-table", DataTable)
        table.clear(columns=True)
        self._layout, self._cells = [], {}
        for title, column_width in zip(COLUMNS, self._widths, strict=True):
            table.add_column(title, width=column_width, key=title)

    # -- showing a read -------------------------------------------------------------------

    @on(Updated)
    def _updated(self, message: Updated) -> None:
        message.stop()
        if isinstance(message.update, BoardProblem):
            self.problem = message.update
        else:
            self.snapshot, self.problem = message.update, None
        self.updates += 1
        self._show()

    def _show(self) -> None:
        """Draw the newest read with the times as they are now (also once a second on its own)."""
        if not self.is_mounted:
            return
        now = self._wall_clock()
        self.query_one("#board-clock", Label).update(f"{now.astimezone(self.tz):%a %d %b %Y  %H:%M:%S}")
        table = self.query_one("#board-table", DataTable)
        rows = self.snapshot.rows if self.snapshot is not None else ()
        drawn = [(str(row.session_id), board_cells(row, now, self.tz, self._widths)) for row in rows]
        layout = [(key, max(cell.plain.count("\n") + 1 for cell in cells)) for key, cells in drawn]
        if layout == self._layout:  # the same rows, as tall as before: change the cells that changed
            for key, cells in drawn:
                for title, cell, before in zip(COLUMNS, cells, self._cells[key], strict=True):
                    if cell != before:
                        table.update_cell(key, title, cell)
        else:  # rows came or went: draw them again, where the board was scrolled to
            scrolled = table.scroll_y
            table.clear()
            for (key, cells), (_, height) in zip(drawn, layout, strict=True):
                table.add_row(*cells, height=height, key=key)
            table.scroll_to(y=scrolled, animate=False)
            self._layout = layout
        self._cells = dict(drawn)
        empty = self.query_one("#board-empty", Static)
        table.display = bool(rows)
        empty.display = not rows
        if self.snapshot is not None and not rows:
            empty.update("No session is open at any chair.")
        self.query_one("#board-status", Static).update(self._status_text())

    def _status_text(self) -> Text:
        status = Text()
        if self.snapshot is not None:
            count = len(self.snapshot.rows)
            status.append(f"{count} open session{'s' if count != 1 else ''} · ")
        status.append(self.source.how)
        if self.snapshot is not None:
            status.append(f" · read {self.snapshot.read_at.astimezone(self.tz):%H:%M:%S}", style="dim")
        if self.problem is not None:
            status.append(f"\n⚠ {self.problem.message}", style="bold red")
        return status

    @property
    def text(self) -> str:
        """What the board shows, as plain text: one line per row (for tests and screen readers)."""
        table = self.query_one("#board-table", DataTable)
        lines = []
        for index in range(table.row_count):
            cells = table.get_row_at(index)
            lines.append(" | ".join(cell.plain.replace("\n", " / ") for cell in cells))
        return "\n".join(lines)

    # -- keys -------------------------------------------------------------------------------

    def action_close(self) -> None:
        if self._closes_app:
            self.app.exit()
        else:
            self.dismiss(None)

    def action_board_help(self) -> None:
        from stampside.app.tui.dialogs.help import HelpDialog, help_for

        self.app.push_screen(HelpDialog(help_for(self, self.app.active_bindings)))
