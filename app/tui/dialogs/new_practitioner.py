"""Add a practitioner by name; a refused name is explained in the dialog, the text kept."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from textual.widget import Widget
from textual.widgets import Label

from stampside.app.storage.errors import StorageError
from stampside.app.storage.practitioners import PractitionerError, PractitionerView
from stampside.app.tui.dialogs.entry import EntryDialog

SavePractitioner = Callable[[str], PractitionerView]


class NewPractitionerDialog(EntryDialog[PractitionerView]):
    """Dismisses with the saved practitioner, or ``None`` on escape.

    ``save`` stores the typed name and raises :class:`PractitionerError` (or
    :class:`StorageError`) with a message for the practitioner when it cannot.
    """

    REFUSED: ClassVar[tuple[type[Exception], ...]] = (PractitionerError, StorageError)

    def __init__(self, save: SavePractitioner) -> None:
        super().__init__(
            title="New practitioner",
            field_id="practitioner-name",
            placeholder="e.g. Dr. Ana Ruiz",
            error_id="practitioner-error",
        )
        self._save = save

    def compose_intro(self) -> Iterable[Widget]:
        yield Label("Name", classes="field-label")

    def accept(self, text: str) -> PractitionerView:
        return self._save(text)
