"""The database could not be used: say why, in the words of :class:`StorageError`, and offer to quit."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class StorageErrorDialog(ModalScreen[None]):
    """Shown instead of the start screen when the database cannot be opened."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q,escape,enter", "quit_app", "Quit", priority=True)]

    def __init__(self, message: str) -> None:
        super().__init__(classes="dialog-screen")
        self._message = message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error-dialog"):
            yield Label("The database cannot be used", classes="dialog-title")
            yield Static(self._message, id="storage-error-message", classes="dialog-text")
            yield Static("Nothing was changed. Fix the problem and start stampside again.", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Quit (q, enter)", id="quit", variant="error")

    def on_mount(self) -> None:
        self.query_one("#quit", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_quit_app()

    def action_quit_app(self) -> None:
        self.app.exit(return_code=1, message=self._message)
