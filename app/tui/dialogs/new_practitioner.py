"""Add a practitioner by name; a refused name is explained in the dialog, the text kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from app.storage.errors import StorageError
from app.storage.practitioners import PractitionerError, PractitionerView

SavePractitioner = Callable[[str], PractitionerView]


class NewPractitionerDialog(ModalScreen[PractitionerView | None]):
    """Dismisses with the saved practitioner, or ``None`` on escape.

    ``save`` stores the typed name and raises :class:`PractitionerError` (or
    :class:`StorageError`) with a message for the practitioner when it cannot.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, save: SavePractitioner) -> None:
        super().__init__(classes="dialog-screen")
        self._save = save

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("New practitioner", classes="dialog-title")
            yield Label("Name", classes="field-label")
            yield Input(placeholder="e.g. Dr. Ana Ruiz", id="practitioner-name")
            yield Static("", id="practitioner-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#practitioner-name", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _submit(self) -> None:
        error = self.query_one("#practitioner-error", Static)
        try:
            saved = self._save(self.query_one("#practitioner-name", Input).value)
        except (PractitionerError, StorageError) as exc:
            error.update(str(exc))
            error.add_class("shown")
            self.query_one("#practitioner-name", Input).focus()
            return
        self.dismiss(saved)
