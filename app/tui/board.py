"""The clinic board as an app of its own (``stampside board``) and from the chairside app's palette.

:class:`BoardApp` shows :class:`~stampside.app.tui.screens.board.BoardScreen` and nothing else; ``q``
quits it. :func:`show_clinic_board` opens the board over the chairside app on the app's database,
opened a second time read-only for the board (it never writes through the app's connections
either); ``q`` or escape goes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from stampside.app.chairside.board_live import BoardSource
from stampside.app.tui.screens.board import BoardScreen

if TYPE_CHECKING:
    from stampside.app.tui.app import StampsideApp

__all__ = ["BoardApp", "show_clinic_board"]


class BoardApp(App[None]):
    """``stampside board``: the board full screen until ``q``."""

    TITLE = "Stampside"
    SUB_TITLE = "clinic board"
    CSS_PATH = "styles/app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(
        self,
        source: BoardSource,
        *,
        clinic_name: str = "",
        tz: tzinfo | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.board = BoardScreen(source, clinic_name=clinic_name, tz=tz, wall_clock=wall_clock, closes_app=True)

    def on_mount(self) -> None:
        self.push_screen(self.board)


async def show_clinic_board(app: StampsideApp) -> None:
    """The board over the chairside app, on the app's database (opened again, read-only, for the board)."""
    from stampside.app.chairside.board_live import open_board
    from stampside.app.storage.errors import StorageError

    database = app.database
    if database is None:
        app.notify("The database is not open yet.", title="Clinic board", severity="warning")
        return
    url = database.url.render_as_string(hide_password=False)
    try:
        source = await asyncio.to_thread(open_board, url, protocols=(app.config.protocol,))
    except StorageError as exc:
        app.notify(str(exc), title="Clinic board", severity="error", timeout=10)
        return
    await app.push_screen(BoardScreen(source, clinic_name=app.settings.clinic.name, tz=app.tz, owns_source=True))
