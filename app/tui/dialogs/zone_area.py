"""Edit the active zone's area in cm² (the coverage target scales with it)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from app.domain.zone_area import ZoneAreaError, parse_zone_area


class ZoneAreaDialog(ModalScreen[float | None]):
    """Dismisses with the new area in cm², or ``None`` on escape; a bad value is explained in place."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, zone_label: str, area_cm2: float, default_cm2: float) -> None:
        super().__init__(classes="dialog-screen")
        self._zone_label = zone_label
        self._area = area_cm2
        self._default = default_cm2

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Area of {self._zone_label}", classes="dialog-title")
            yield Label(
                f"In cm² (default {self._default:g} cm²). The coverage target is area × target density.",
                classes="dialog-text",
            )
            yield Input(value=f"{self._area:g}", id="zone-area")
            yield Static("", id="zone-area-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#zone-area", Input).focus()

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
        field = self.query_one("#zone-area", Input)
        try:
            area = parse_zone_area(field.value)
        except ZoneAreaError as exc:
            error = self.query_one("#zone-area-error", Static)
            error.update(str(exc))
            error.add_class("shown")
            field.focus()
            return
        self.dismiss(area)
