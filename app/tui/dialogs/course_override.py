"""Let a failed course gate (screening, baseline photos) through with a typed reason.

The dialog only asks: ``check`` is the domain's judgement of the typed text (it raises
:class:`~app.domain.course_gates.OverrideRefused` when the reason will not do, and the
message is shown with the text kept). The dialog dismisses with the accepted reason; the
caller stores the override (off the UI thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from app.domain.course_gates import OverrideRefused
from app.domain.gates import MIN_REASON_CHARS, MIN_REASON_WORDS

CheckReason = Callable[[str], object]


class CourseOverrideDialog(ModalScreen[str | None]):
    """Dismisses with the reason the domain accepted, or ``None`` on escape / Cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, failure: str, check: CheckReason, *, who: str) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._failure = failure
        self._check = check
        self._who = who

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog override-dialog"):
            yield Label(f"Override: {self._title}", classes="dialog-title")
            yield Static(f"✗ {self._failure}", id="override-failure", classes="dialog-text", markup=False)
            yield Label(
                f"Why is it safe to go on? (at least {MIN_REASON_WORDS} words, {MIN_REASON_CHARS} characters)",
                classes="field-label",
            )
            yield Input(placeholder="e.g. repeat TSH ordered, physician approved", id="override-reason")
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
            self._check(reason.value)
        except OverrideRefused as exc:
            error.update(str(exc))
            error.add_class("shown")
            reason.focus()
            return
        self.dismiss(reason.value)
