"""A yes/no question: enter or ``y`` confirms, escape or ``n`` cancels."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmDialog(ModalScreen[bool]):
    """Ask ``question``; dismisses with ``True`` when confirmed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "cancel", "No"),
        Binding("y", "confirm", "Yes"),
    ]

    def __init__(
        self, question: str, *, confirm_label: str = "Yes", cancel_label: str = "No", safe_confirm: bool = False
    ) -> None:
        """``safe_confirm``: confirming is the safe, usual answer (resume a session): its button is
        focused, so enter takes it. Otherwise (finish anyway, quit anyway) cancelling is focused."""
        super().__init__(classes="dialog-screen")
        self._question = question
        self._confirm_label = confirm_label
        self._cancel_label = cancel_label
        self._safe_confirm = safe_confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._confirm_label, id="confirm", variant="primary" if self._safe_confirm else "error")
                yield Button(self._cancel_label, id="cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm" if self._safe_confirm else "#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
