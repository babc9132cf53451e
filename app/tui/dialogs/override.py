"""Let a failing gate through with a typed reason; the domain decides whether the reason will do.

``check`` is called with the typed text and raises :class:`~stampside.app.domain.gates.OverrideRefused`
/ :class:`~stampside.app.domain.steps.StepError` when the reason will not do: the message is shown in
the dialog with the text kept, so the reason is fixed in place. Otherwise the dialog closes
with the reason, and the caller has the override signed with the PIN
(:class:`~stampside.app.tui.dialogs.sign.SignDialog`) before it is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar, TypeVar

from textual.widget import Widget
from textual.widgets import Label, Static

from stampside.app.domain.gates import MIN_REASON_CHARS, MIN_REASON_WORDS, Gate, GateResult, OverrideRefused
from stampside.app.domain.steps import StepError
from stampside.app.tui.dialogs.entry import EntryDialog

CheckReason = Callable[[str], object]

#: What a reason for letting each gate through looks like, shown as the field's placeholder.
OVERRIDE_EXAMPLES: dict[Gate, str] = {
    Gate.DEVICE_IDENTIFIED: "e.g. serial read from the label, the link does not report it",
    Gate.NEEDLE_LENGTH: "e.g. 2 mm head checked against the box, sensor misreads",
    Gate.HEAD_UNUSED: "e.g. new head fitted, the counter was not reset",
    Gate.BATTERY: "e.g. charger plugged in, short session",
    Gate.CLOCK_SYNCED: "e.g. device clock checked against the wall clock",
    Gate.DEVICE_ARMED: "e.g. arming fails, stamps counted on the paper sheet",
    Gate.TIMER_ELAPSED: "e.g. skin visibly dry, time kept on the wall clock",
    Gate.LOT_NOT_EXPIRED: "e.g. expiry misprinted, supplier confirmed by phone",
}
R = TypeVar("R")


def gate_title(result: GateResult, timer_label: str | None = None) -> str:
    """``Needle length``; the timer gate is named by its timer (``Contact and dry time``)."""
    if result.gate is Gate.TIMER_ELAPSED and timer_label:
        return timer_label[:1].upper() + timer_label[1:]
    text = result.gate.label
    return text[:1].upper() + text[1:]


class ReasonDialog(EntryDialog[R]):
    """The typed-reason layout shared by step and course overrides: what failed, the reason, who."""

    REFUSED: ClassVar[tuple[type[Exception], ...]] = (OverrideRefused, StepError)

    def __init__(self, title: str, failure: str, *, who: str, placeholder: str, submit_label: str = "Override") -> None:
        super().__init__(
            title=f"Override: {title}",
            field_id="override-reason",
            placeholder=placeholder,
            submit_label=submit_label,
            submit_id="override",
            submit_variant="warning",
            error_id="override-error",
            classes="override-dialog",
        )
        self._failure = failure
        self._who = who

    def compose_intro(self) -> Iterable[Widget]:
        yield Static(f"✗ {self._failure}", id="override-failure", classes="dialog-text", markup=False)
        yield Label(
            f"Why is it safe to go on? (at least {MIN_REASON_WORDS} words, {MIN_REASON_CHARS} characters)",
            classes="field-label",
        )

    def compose_hint(self) -> Iterable[Widget]:
        yield Static(
            f"Signed next with your PIN ({self._who}), and stored with your name and the time.",
            classes="dialog-hint",
            markup=False,
        )


class OverrideDialog(ReasonDialog[str]):
    """A step gate: dismisses with the reason the domain accepted, or ``None`` on escape / Cancel."""

    def __init__(self, result: GateResult, check: CheckReason, *, who: str, title: str | None = None) -> None:
        super().__init__(
            title or gate_title(result),
            result.message,
            who=who,
            placeholder=OVERRIDE_EXAMPLES[result.gate],
        )
        self.result = result
        self._check = check

    def accept(self, text: str) -> str:
        self._check(text)
        return text
