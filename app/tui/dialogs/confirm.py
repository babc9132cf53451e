"""A yes/no question: ``y`` confirms, ``n`` or escape cancels, enter takes the focused button.

Every button shows its key, and the focused one also says ``enter``, so a gloved practitioner
reads what to press instead of guessing which button has the focus.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


def key_label(label: str, key: str, *, focused: bool = False) -> str:
    """``Resume (y, enter)`` for the focused button, ``Not now (n)`` for the others."""
    return f"{label} ({key}, enter)" if focused else f"{label} ({key})"


class ConfirmDialog(ModalScreen[bool]):
    """Ask ``question``; dismisses with ``True`` when confirmed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "cancel", "No"),
        Binding("y", "confirm", "Yes"),
    ]

    def __init__(
        self,
        question: str,
        *,
        confirm_label: str = "Yes",
        cancel_label: str = "No",
        safe_confirm: bool = False,
        title: str = "",
    ) -> None:
        """``safe_confirm``: confirming is the safe, usual answer (resume a session): its button is
        focused, so enter takes it. Otherwise (finish anyway, quit anyway) cancelling is focused."""
        super().__init__(classes="dialog-screen")
        self._question = question
        self._confirm_label = confirm_label
        self._cancel_label = cancel_label
        self._safe_confirm = safe_confirm
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            if self._title:
                yield Label(self._title, classes="dialog-title")
            yield Label(self._question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                confirm = key_label(self._confirm_label, "y", focused=self._safe_confirm)
                cancel = key_label(self._cancel_label, "n", focused=not self._safe_confirm)
                yield Button(confirm, id="confirm", variant="primary" if self._safe_confirm else "error")
                yield Button(cancel, id="cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm" if self._safe_confirm else "#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
