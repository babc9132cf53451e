"""Correct a stored record: pick it, change its values in a form prefilled with them, say why.

:class:`PickEntryDialog` lists the records that can be corrected (enter picks one).
:class:`CorrectionDialog` shows a form with the record's current values and a reason field.
On save (``ctrl+s``, or enter in any field) the dialog asks the domain first: something must
have changed and the reason must be a real one
(:func:`~stampside.app.domain.corrections.plan_correction`), then ``check`` reads the values as
the record's own rules do (``validate_iga``, ``Screening.parse``, ``NewPatient.parse`` …). A
refusal is shown under the form, every field keeps what was typed. Otherwise the dialog
dismisses with a :class:`Corrected` (what ``check`` gave and the reason), and the caller has
it signed with the PIN (:class:`~stampside.app.tui.dialogs.sign.SignDialog`) before it is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, Select, SelectionList, Static
from textual.widgets.option_list import Option

from stampside.app.domain.corrections import plan_correction
from stampside.app.domain.gates import MIN_REASON_CHARS, MIN_REASON_WORDS
from stampside.app.storage.errors import StorageError

T = TypeVar("T")

#: A form's values by field id: text, a choice (``None``: none chosen), or the ticked choices.
FormValues = dict[str, str | list[str] | None]


@dataclass(frozen=True, slots=True)
class FormField:
    """One field of a correction form.

    ``choices`` makes it a select (``multi``: a list to tick several); ``row`` puts fields with
    the same row name side by side.
    """

    id: str
    label: str
    value: str | list[str] | None = ""
    choices: tuple[tuple[str, str], ...] | None = None
    multi: bool = False
    placeholder: str = ""
    row: str | None = None


@dataclass(frozen=True, slots=True)
class Corrected(Generic[T]):
    """What the form was read as (by ``check``) and the reason typed."""

    value: T
    reason: str


class PickEntryDialog(ModalScreen[str | None]):
    """Choose one of ``entries`` (``(key, label)``); dismisses with its key, or ``None`` on escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, entries: list[tuple[str, str]], *, hint: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._entries = entries
        self._hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog pick-dialog"):
            yield Label(self._title, classes="dialog-title")
            if self._hint:
                yield Static(self._hint, classes="dialog-hint", markup=False)
            yield OptionList(*(Option(label, id=key) for key, label in self._entries), id="pick-entries")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Correct (enter)", id="pick", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        entries = self.query_one("#pick-entries", OptionList)
        entries.focus()
        if entries.option_count:
            entries.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "pick":
            entries = self.query_one("#pick-entries", OptionList)
            index = entries.highlighted
            self.dismiss(entries.get_option_at_index(index).id if index is not None else None)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CorrectionDialog(ModalScreen[Corrected[T] | None]):
    """A form with a record's values (``fields``) and a reason; ``check`` reads the values or raises.

    ``check`` raises a :class:`ValueError` (the domain's input errors, a refused correction) or a
    :class:`StorageError` whose message is shown in the dialog.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save correction"),
    ]

    def __init__(
        self,
        title: str,
        current: str,
        fields: list[FormField],
        check: Callable[[FormValues], T],
        *,
        who: str,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._current = current
        self._fields = fields
        self._check = check
        self._who = who

    # -- the form ------------------------------------------------------------------------------

    def _widget(self, field: FormField) -> Widget:
        widget_id = f"fix-{field.id}"
        if field.choices is not None and field.multi:
            chosen = field.value if isinstance(field.value, list) else []
            return SelectionList[str](
                *((label, value, value in chosen) for label, value in field.choices), id=widget_id
            )
        if field.choices is not None:
            value = field.value if isinstance(field.value, str) and field.value else Select.NULL
            return Select(list(field.choices), value=value, prompt="none", id=widget_id)
        text = field.value if isinstance(field.value, str) else ""
        return Input(text, placeholder=field.placeholder, id=widget_id)

    def compose(self) -> ComposeResult:
        # The whole dialog scrolls: a long form (a screening's lab results) still fits 80x24.
        with VerticalScroll(classes="dialog correction-dialog", can_focus=False):
            yield Label(self._title, classes="dialog-title")
            yield Static(self._current, id="fix-current", classes="dialog-text", markup=False)
            with Vertical(id="fix-fields"):
                rows: dict[str | None, list[FormField]] = {}
                order: list[FormField | str] = []
                for field in self._fields:
                    if field.row is None:
                        order.append(field)
                    else:
                        if field.row not in rows:
                            order.append(field.row)
                        rows.setdefault(field.row, []).append(field)
                for item in order:
                    if isinstance(item, FormField):
                        yield Label(item.label, classes="field-label")
                        yield self._widget(item)
                        continue
                    with Horizontal(classes="field-row"):
                        for field in rows[item]:
                            with Vertical(classes="field-cell"):
                                yield Label(field.label, classes="field-label")
                                yield self._widget(field)
            yield Label(
                f"Why is it corrected? (at least {MIN_REASON_WORDS} words, {MIN_REASON_CHARS} characters)",
                classes="field-label",
            )
            yield Input(placeholder="e.g. typed into the wrong field at the chair", id="fix-reason")
            yield Static(
                f"Signed next with your PIN ({self._who}); the audit trail keeps the old values.",
                classes="dialog-hint",
                markup=False,
            )
            yield Static("", id="fix-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save correction (ctrl+s, enter)", id="save", variant="warning")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        first = self._fields[0] if self._fields else None
        target = f"#fix-{first.id}" if first is not None else "#fix-reason"
        self.query_one(target).focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The field that takes the focus is scrolled into view (the dialog may be taller than the terminal)."""
        event.widget.scroll_visible(animate=False)

    def values(self) -> FormValues:
        """The form as typed, by field id."""
        found: FormValues = {}
        for field in self._fields:
            widget = self.query_one(f"#fix-{field.id}")
            if isinstance(widget, SelectionList):
                found[field.id] = sorted(str(value) for value in widget.selected)
            elif isinstance(widget, Select):
                value = widget.value
                found[field.id] = value if isinstance(value, str) else None
            elif isinstance(widget, Input):
                found[field.id] = widget.value
        return found

    def _initial(self) -> Mapping[str, object]:
        initial: dict[str, object] = {}
        for field in self._fields:
            if field.multi:
                initial[field.id] = sorted(field.value) if isinstance(field.value, list) else []
            elif field.choices is not None:
                initial[field.id] = field.value if isinstance(field.value, str) and field.value else None
            else:
                initial[field.id] = field.value if isinstance(field.value, str) else ""
        return initial

    # -- keys and buttons -------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        values = self.values()
        reason = self.query_one("#fix-reason", Input).value
        labels = {field.id: field.label for field in self._fields}
        try:
            plan_correction(self._initial(), values, reason=reason, by=self._who, labels=labels)
            checked = self._check(values)
        except (ValueError, StorageError) as exc:
            self._refused(str(exc), reason_field="reason" in str(exc))
            return
        self.dismiss(Corrected(checked, reason))

    def _refused(self, text: str, *, reason_field: bool) -> None:
        error = self.query_one("#fix-error", Static)
        error.update(text)
        error.add_class("shown")
        error.scroll_visible(animate=False)
        if reason_field:
            self.query_one("#fix-reason", Input).focus()
