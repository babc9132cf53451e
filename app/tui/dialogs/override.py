"""Let a failing gate through with a typed reason; the domain decides whether the reason will do.

``apply`` is called with the typed text and either returns the stored
:class:`~app.domain.gates.Override` (the dialog closes with it) or raises
:class:`~app.domain.gates.OverrideRefused` / :class:`~app.domain.steps.StepError`, whose
message is shown in the dialog with the text kept, so the reason is fixed in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from app.domain.gates import MIN_REASON_CHARS, MIN_REASON_WORDS, Gate, GateResult, Override, OverrideRefused
from app.domain.steps import StepError

ApplyOverride = Callable[[str], Override]


def gate_title(result: GateResult, timer_label: str | None = None) -> str:
    """``Needle length``; the timer gate is named by its timer (``Contact and dry time``)."""
    if result.gate is Gate.TIMER_ELAPSED and timer_label:
        return timer_label[:1].upper() + timer_label[1:]
    text = result.gate.value.replace("_", " ")
    return text[:1].upper() + text[1:]


class OverrideDialog(ModalScreen[Override | None]):
    """Dismisses with the override, or ``None`` on escape / Cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, result: GateResult, apply: ApplyOverride, *, who: str, title: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.result = result
        self._apply = apply
        self._who = who
        self._title = title or gate_title(result)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog override-dialog"):
            yield Label(f"Override: {self._title}", classes="dialog-title")
            yield Static(f"✗ {self.result.message}", id="override-failure", classes="dialog-text", markup=False)
            yield Label(
                f"Why is it safe to go on? (at least {MIN_REASON_WORDS} words, {MIN_REASON_CHARS} characters)",
                classes="field-label",
            )
            yield Input(placeholder="e.g. new head fitted, previous use was a test", id="override-reason")
            yield Static(f"Stored with your name ({self._who}) and the time.", classes="dialog-hint", markup=False)
            yield Static("", id="override-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Override", id="override", variant="warning")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#override-reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "override":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        reason = self.query_one("#override-reason", Input)
        error = self.query_one("#override-error", Static)
        try:
            override = self._apply(reason.value)
        except (OverrideRefused, StepError) as exc:
            error.update(str(exc))
            error.add_class("shown")
            reason.focus()
            return
        self.dismiss(override)
