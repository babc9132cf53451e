"""Create a patient: code, optional name, year of birth and Norwood grade.

What was typed is validated by :meth:`NewPatient.parse`; its message (one line per field) is
shown in the dialog and every field keeps what was typed, so a typo is fixed in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from stampside.app.domain.zones import NorwoodGrade
from stampside.app.storage.errors import StorageError
from stampside.app.storage.patients import NewPatient, PatientInputError, PatientView

SavePatient = Callable[[NewPatient], PatientView]

#: Norwood grades as the select offers them; the blank choice means "not recorded".
GRADE_CHOICES: list[tuple[str, str]] = [(f"Norwood {grade.value}", grade.value) for grade in NorwoodGrade]


class NewPatientDialog(ModalScreen[PatientView | None]):
    """Dismisses with the stored patient, or ``None`` on escape.

    ``save`` stores a validated :class:`NewPatient`; it raises :class:`PatientInputError`
    (a code already in use) or :class:`StorageError`, shown like a typo.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, save: SavePatient, *, code: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self._save = save
        self._initial_code = code

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog patient-dialog"):
            yield Label("New patient", classes="dialog-title")
            yield Label("Pseudonymous code", classes="field-label")
            yield Input(self._initial_code, placeholder="e.g. P-0042", id="patient-code")
            yield Label("Name (optional)", classes="field-label")
            yield Input(placeholder="", id="patient-name")
            with Horizontal(classes="field-row"):
                with Vertical(classes="field-cell"):
                    yield Label("Year of birth", classes="field-label")
                    yield Input(placeholder="e.g. 1984", id="patient-birth-year", max_length=4)
                with Vertical(classes="field-cell"):
                    yield Label("Norwood grade", classes="field-label")
                    yield Select(GRADE_CHOICES, prompt="not recorded", id="patient-grade")
            yield Static("", id="patient-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#patient-code", Input).focus()

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
        grade = self.query_one("#patient-grade", Select).value
        error = self.query_one("#patient-error", Static)
        try:
            patient = NewPatient.parse(
                self.query_one("#patient-code", Input).value,
                name=self.query_one("#patient-name", Input).value,
                birth_year=self.query_one("#patient-birth-year", Input).value,
                norwood_grade=grade if isinstance(grade, str) else None,
            )
            saved = self._save(patient)
        except (PatientInputError, StorageError) as exc:
            error.update(str(exc))
            error.add_class("shown")
            self._focus_first_bad_field(str(exc))
            return
        self.dismiss(saved)

    def _focus_first_bad_field(self, message: str) -> None:
        first = message.splitlines()[0] if message else ""
        for prefix, widget_id in (
            ("patient code", "#patient-code"),
            ("name", "#patient-name"),
            ("year of birth", "#patient-birth-year"),
            ("Norwood grade", "#patient-grade"),
        ):
            if first.startswith(prefix):
                self.query_one(widget_id).focus()
                return
