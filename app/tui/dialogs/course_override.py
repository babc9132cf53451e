"""Let a failed course gate (screening, baseline photos) through with a typed reason.

The dialog only asks: ``check`` is the domain's judgement of the typed text (it raises
:class:`~app.domain.course_gates.OverrideRefused` when the reason will not do, and the
message is shown with the text kept). The dialog dismisses with the accepted reason; the
caller stores the override (off the UI thread).
"""

from __future__ import annotations

from collections.abc import Callable

from app.tui.dialogs.override import ReasonDialog

CheckReason = Callable[[str], object]


class CourseOverrideDialog(ReasonDialog[str]):
    """Dismisses with the reason the domain accepted, or ``None`` on escape / Cancel."""

    def __init__(self, title: str, failure: str, check: CheckReason, *, who: str) -> None:
        super().__init__(title, failure, who=who, placeholder="e.g. repeat TSH ordered, physician approved")
        self._check = check

    def accept(self, text: str) -> str:
        self._check(text)
        return text
