"""A modal that asks for one typed value and lets the domain judge it.

Subclasses say what to show above and below the field (:meth:`EntryDialog.compose_intro`,
:meth:`EntryDialog.compose_hint`) and how to read the text (:meth:`EntryDialog.accept`). When
``accept`` raises one of :attr:`EntryDialog.REFUSED`, its message is shown under the field, the
text is kept and the field keeps the focus, so the practitioner fixes it in place. Enter or the
primary button submits; escape or Cancel dismisses with ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

T = TypeVar("T")


class EntryDialog(ModalScreen[T | None]):
    """One :class:`Input` (id ``field_id``), an error line (``{field_id}-error``) and two buttons."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    #: Exceptions whose message means "type something else" (anything else is a bug and propagates).
    REFUSED: ClassVar[tuple[type[Exception], ...]] = (ValueError,)

    def __init__(
        self,
        *,
        title: str,
        field_id: str,
        value: str = "",
        placeholder: str = "",
        submit_label: str = "Save",
        submit_id: str = "save",
        submit_variant: str = "primary",
        error_id: str | None = None,
        classes: str = "",
    ) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._field_id = field_id
        self._value = value
        self._placeholder = placeholder
        self._submit_label = submit_label
        self._submit_id = submit_id
        self._submit_variant = submit_variant
        self._error_id = error_id or f"{field_id}-error"
        self._box_classes = f"dialog {classes}".strip()

    # -- what subclasses say -----------------------------------------------------------

    def compose_intro(self) -> Iterable[Widget]:
        """Widgets above the field (its label, what failed, …)."""
        return ()

    def compose_hint(self) -> Iterable[Widget]:
        """Widgets between the field and the error line."""
        return ()

    def accept(self, text: str) -> T:
        """The value the typed ``text`` stands for; raise one of :attr:`REFUSED` to refuse it."""
        raise NotImplementedError

    # -- the dialog ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(classes=self._box_classes):
            yield Label(self._title, classes="dialog-title")
            yield from self.compose_intro()
            yield Input(value=self._value, placeholder=self._placeholder, id=self._field_id)
            yield from self.compose_hint()
            yield Static("", id=self._error_id, classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    f"{self._submit_label} (enter)",
                    id=self._submit_id,
                    variant=self._submit_variant,  # type: ignore[arg-type]
                )
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(f"#{self._field_id}", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == self._submit_id:
            self.action_submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        field = self.query_one(f"#{self._field_id}", Input)
        try:
            value = self.accept(field.value)
        except self.REFUSED as exc:
            error = self.query_one(f"#{self._error_id}", Static)
            error.update(str(exc))
            error.add_class("shown")
            field.focus()
            return
        self.dismiss(value)
