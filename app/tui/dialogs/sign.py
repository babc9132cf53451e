"""Sign a record with the PIN: what is signed, what signing it means, who signs, and the PIN typed again.

The dialog only asks and shows: ``verify`` checks the PIN (in a worker thread: argon2 takes a
moment by design) and gives the :class:`~stampside.app.domain.signatures.Signer`, or raises
:class:`~stampside.app.domain.pins.PinRefused` whose message ("wrong PIN: 3 tries left") is shown in
place, the field emptied for the next try. The dialog dismisses with the signer, and the caller
stores the record and its signature together; escape or Cancel dismisses with ``None`` and
nothing is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from stampside.app.domain.pins import PinRefused
from stampside.app.domain.signatures import SignatureMeaning, Signer
from stampside.app.storage.errors import StorageError

VerifyPin = Callable[[str], Signer]

#: What each meaning says the signer does, shown above the PIN.
MEANING_TEXT: dict[SignatureMeaning, str] = {
    SignatureMeaning.PERFORMED: "you performed it",
    SignatureMeaning.REVIEWED: "you reviewed it",
    SignatureMeaning.APPROVED: "you approve it",
    SignatureMeaning.OVERRIDDEN: "you override the check",
}


class SignDialog(ModalScreen[Signer | None]):
    """Sign ``what`` as ``who`` with ``meaning``: dismisses with the signer once the PIN checks out."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, meaning: SignatureMeaning, *, who: str, verify: VerifyPin) -> None:
        super().__init__(classes="dialog-screen")
        self.what = what
        self.meaning = meaning
        self.who = who
        self._verify = verify
        self._checking = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog sign-dialog"):
            yield Label(f"Sign: {self.meaning.value}", classes="dialog-title")
            yield Static(self.what, id="sign-what", classes="dialog-text", markup=False)
            yield Static(
                f"Signed by {self.who}, now, meaning {MEANING_TEXT[self.meaning]} ({self.meaning.value}).",
                id="sign-manifest",
                classes="dialog-hint",
                markup=False,
            )
            yield Label(f"{self.who}'s PIN", classes="field-label")
            yield Input(password=True, id="sign-pin", placeholder="PIN or passphrase")
            yield Static("", id="sign-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Sign (enter)", id="sign", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#sign-pin", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_sign()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "sign":
            self.action_sign()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        if not self._checking:
            self.dismiss(None)

    def action_advance(self) -> None:
        """The foot switch's advance: sign (with the PIN typed)."""
        self.action_sign()

    def action_sign(self) -> None:
        if self._checking:
            return
        pin = self.query_one("#sign-pin", Input).value
        if not pin:
            self._refused("type your PIN to sign")
            return
        self._checking = True
        self._check(pin)

    @work(group="sign-pin", exclusive=True)
    async def _check(self, pin: str) -> None:
        try:
            signer = await asyncio.to_thread(self._verify, pin)
        except (PinRefused, StorageError) as exc:
            self._checking = False
            self._refused(str(exc))
            return
        self.dismiss(signer)

    def _refused(self, text: str) -> None:
        field = self.query_one("#sign-pin", Input)
        field.value = ""
        error = self.query_one("#sign-error", Static)
        error.update(text[:1].upper() + text[1:] + ".")
        error.add_class("shown")
        field.focus()
