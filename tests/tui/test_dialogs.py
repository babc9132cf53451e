"""Every dialog says which key does what, and the focus sits on the main action.

A gloved practitioner reads the key off the button instead of guessing where the focus is:
each button ends with its key in brackets, the focused one adds ``enter``. The override
examples in the reason field fit the gate being let through.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from stampside.app.domain.gates import Gate, GateResult, Override
from stampside.app.domain.signatures import SignatureMeaning
from stampside.app.tui.dialogs.choice import ChoiceDialog
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.course_override import CourseOverrideDialog
from stampside.app.tui.dialogs.new_patient import NewPatientDialog
from stampside.app.tui.dialogs.override import OVERRIDE_EXAMPLES, OverrideDialog
from stampside.app.tui.dialogs.sign import SignDialog
from stampside.app.tui.dialogs.storage_error import StorageErrorDialog
from stampside.app.tui.dialogs.zone_area import ZoneAreaDialog

KEYED = re.compile(r"^.+ \((?:[a-z]|esc|enter|ctrl\+[a-z])(?:, enter)?\)$")


def refuse(_: str) -> Override:
    raise AssertionError("not submitted in these tests")


DIALOGS: dict[str, Callable[[], ModalScreen[Any]]] = {
    "confirm, safe": lambda: ConfirmDialog(
        "Resume?", confirm_label="Resume", cancel_label="Not now", safe_confirm=True
    ),
    "confirm, risky": lambda: ConfirmDialog("Finish?", confirm_label="Finish anyway", cancel_label="Keep stamping"),
    "choice": lambda: ChoiceDialog("Photos?", [("p", "Register photos"), ("o", "Override")], default="p"),
    "choice, no default": lambda: ChoiceDialog("Which?", [("a", "One"), ("b", "Two")]),
    "zone area": lambda: ZoneAreaDialog("Vertex", 100.0, 100.0),
    "step override": lambda: OverrideDialog(GateResult(Gate.BATTERY, False, "battery 12 %"), refuse, who="Dr Ada"),
    "course override": lambda: CourseOverrideDialog("Screening", "TSH missing", refuse, who="Dr Ada"),
    "new patient": lambda: NewPatientDialog(lambda _: None),  # type: ignore[arg-type,return-value]
    "storage error": lambda: StorageErrorDialog("database is locked"),
    "sign": lambda: SignDialog(
        "Override of Battery (step 1 of 7 · Pre-session checks): charger plugged in\nIt failed: battery 12 %",
        SignatureMeaning.OVERRIDDEN,
        who="Dr Ada",
        verify=refuse,  # type: ignore[arg-type]
    ),
}


class Host(App[None]):
    def __init__(self, dialog: ModalScreen[Any]) -> None:
        super().__init__()
        self.dialog = dialog

    def compose(self) -> ComposeResult:
        yield Label("host")

    def on_mount(self) -> None:
        self.push_screen(self.dialog)


@pytest.mark.parametrize("name", list(DIALOGS))
async def test_every_dialog_button_shows_its_key_and_the_focused_one_says_enter(name: str) -> None:
    dialog = DIALOGS[name]()
    async with Host(dialog).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        buttons = list(dialog.query(Button))
        assert buttons
        for button in buttons:
            assert KEYED.match(str(button.label)), f"{name}: {button.label!s} does not show its key"
            assert button.region.height > 0 and button.region.right <= 80, f"{name}: {button.label!s} is off screen"
        focused = dialog.focused
        assert focused is not None
        if isinstance(focused, Button):
            assert str(focused.label).endswith(", enter)") or str(focused.label).endswith("(enter)")
            assert [b for b in buttons if ", enter)" in str(b.label)] == [focused]
        else:  # a typed field has the focus: enter submits it, and the submit button says so
            assert isinstance(focused, Input)
            assert any(str(b.label).endswith("(enter)") for b in buttons) or name == "new patient"


async def test_the_safe_confirm_focuses_confirm_and_the_risky_one_focuses_cancel() -> None:
    for name, focused_id in (("confirm, safe", "confirm"), ("confirm, risky", "cancel")):
        dialog = DIALOGS[name]()
        async with Host(dialog).run_test() as pilot:
            await pilot.pause()
            assert dialog.focused is dialog.query_one(f"#{focused_id}", Button), name


def test_a_choice_default_must_be_one_of_the_choices() -> None:
    with pytest.raises(ValueError, match="not one of the choices"):
        ChoiceDialog("Which?", [("a", "One")], default="z")


def test_every_gate_has_its_own_example_reason() -> None:
    assert set(OVERRIDE_EXAMPLES) == set(Gate)
    assert len(set(OVERRIDE_EXAMPLES.values())) == len(Gate), "each gate has an example of its own"
    for gate, example in OVERRIDE_EXAMPLES.items():
        assert example.startswith("e.g. ")
        if gate is not Gate.HEAD_UNUSED:
            assert "head" not in example or gate is Gate.NEEDLE_LENGTH, f"{gate.value}: {example}"
    assert "dry" in OVERRIDE_EXAMPLES[Gate.TIMER_ELAPSED] or "clock" in OVERRIDE_EXAMPLES[Gate.TIMER_ELAPSED]


async def test_a_timer_override_reads_as_the_timer_and_its_example_fits() -> None:
    result = GateResult(Gate.TIMER_ELAPSED, False, "contact and dry time: 40 s of 60 s")
    dialog = OverrideDialog(result, refuse, who="Dr Ada", title="Contact and dry time")
    async with Host(dialog).run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        field = dialog.query_one("#override-reason", Input)
        assert field.placeholder == OVERRIDE_EXAMPLES[Gate.TIMER_ELAPSED]
        shown = " ".join(str(label.content) for label in dialog.query(Label))
        assert "Contact and dry time" in shown
        assert "timer_elapsed" not in shown and "timer elapsed" not in shown


async def test_the_sign_dialog_says_what_is_signed_by_whom_and_what_it_means_and_asks_the_pin_hidden() -> None:
    dialog = DIALOGS["sign"]()
    assert isinstance(dialog, SignDialog)
    async with Host(dialog).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = " ".join(str(widget.render()) for widget in dialog.query(".dialog-text, .dialog-hint, .dialog-title"))
        assert "Sign: overridden" in shown and "charger plugged in" in shown
        assert "Dr Ada" in shown and "you override the check" in shown
        pin = dialog.query_one("#sign-pin", Input)
        assert dialog.focused is pin and pin.password, "the PIN is typed at once, and not shown"
        await pilot.press("enter")  # no PIN: said in place, nothing checked
        await pilot.pause()
        assert "Type your PIN to sign." in str(dialog.query_one("#sign-error").render())
