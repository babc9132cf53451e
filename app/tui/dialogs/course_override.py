"""Let a failed course gate (screening, baseline photos, a start outside the window) through with a typed reason.

The dialog only asks: ``check`` is the domain's judgement of the typed text (it raises
:class:`~stampside.app.domain.course_gates.OverrideRefused` when the reason will not do, and the
message is shown with the text kept). The dialog dismisses with the accepted reason; the
caller has it signed with the PIN and stores the override with its signature (off the UI thread).
"""

from __future__ import annotations

from typing import ClassVar

from stampside.app.domain.gates import OverrideRefused
from stampside.app.domain.schedule import DeviationRefused
from stampside.app.domain.steps import StepError
from stampside.app.tui.dialogs.override import CheckReason, ReasonDialog


class CourseOverrideDialog(ReasonDialog[str]):
    """Dismisses with the reason the domain accepted, or ``None`` on escape / Cancel."""

    REFUSED: ClassVar[tuple[type[Exception], ...]] = (OverrideRefused, StepError, DeviationRefused)

    def __init__(
        self,
        title: str,
        failure: str,
        check: CheckReason,
        *,
        who: str,
        placeholder: str = "e.g. repeat TSH ordered, physician approved",
        submit_label: str = "Override",
    ) -> None:
        super().__init__(title, failure, who=who, placeholder=placeholder, submit_label=submit_label)
        self._check = check

    def accept(self, text: str) -> str:
        self._check(text)
        return text
