"""Who is at the chair: the practitioner signs in with their PIN, at start-up, to switch, and to unlock.

The screen covers the app (nothing of a patient shows through) and lists the active
practitioners; ``↑``/``↓`` choose one whatever has the focus, and the PIN is typed straight
away. A practitioner without a PIN yet chooses one here, typed twice (their first sign-in).
``ctrl+n`` adds a practitioner. The PIN is checked in a worker thread
(:mod:`stampside.app.chairside.sign_in`); a wrong one is said in place ("wrong PIN: 3 tries left") and
the field emptied. The screen dismisses with the :class:`~stampside.app.domain.signatures.Signer`.

As the lock (``locked_by``), it says who was signed in and that what runs behind it (the
link, stamping, storage) goes on; it cannot be escaped, only unlocked with a PIN (that
practitioner's, or another's: the one who unlocks is signed in from then on).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from stampside.app.chairside.sign_in_peek import SignInChoice
from stampside.app.domain.pins import MIN_PIN_CHARS, PinRefused
from stampside.app.domain.signatures import Signer

if TYPE_CHECKING:  # storage (SQLAlchemy) is imported when used: at start-up this screen comes first
    from stampside.app.storage.database import Database
    from stampside.app.storage.practitioners import PractitionerView


class SignInScreen(ModalScreen[Signer | None]):
    """Choose who you are, type your PIN (twice the first time); dismisses with the signer.

    ``locked_by``: the app locked while this practitioner was signed in (not escapable).
    ``cancellable``: switching practitioner from the start screen (escape keeps the one signed in).
    """

    AUTO_FOCUS = "#pin"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Previous", show=False),
        Binding("down", "move(1)", "Next", show=False),
        Binding("ctrl+n", "add_practitioner", "Add practitioner"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    def __init__(
        self,
        database: Database | None,
        clock: Callable[[], datetime],
        *,
        locked_by: Signer | None = None,
        cancellable: bool = False,
        locked_for: str = "",
        preview: list[SignInChoice] | None = None,
    ) -> None:
        """``database`` ``None``: it is still being opened (start-up) and :meth:`attach` gives it;
        ``preview`` is the list to show until then (:mod:`stampside.app.chairside.sign_in_peek`)."""
        super().__init__(classes="sign-in-screen")
        self._db = database
        self._preview = preview
        self._attached = asyncio.Event()
        if database is not None:
            self._attached.set()
        #: The list shown was read through storage (not only the start-up preview).
        self._listed = asyncio.Event()
        self._clock = clock
        self.locked_by = locked_by
        self.cancellable = cancellable and locked_by is None
        self._locked_for = locked_for
        self._choices: list[SignInChoice] = []
        self._checking = False
        #: The practitioner whose PIN fields are shown (a highlight of the same one leaves what is typed).
        self._shown_id: int | None = None

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog sign-in-dialog"):
            if self.locked_by is not None:
                yield Label("Locked", classes="dialog-title", id="sign-in-title")
                why = f"Locked after {self._locked_for} without a key. " if self._locked_for else "Locked. "
                yield Static(
                    f"{why}{self.locked_by.name} was signed in. Whatever runs behind the lock goes on "
                    "(a session's stamps keep being counted and stored).\n"
                    "Type the PIN to go on, or choose another practitioner with ↑ ↓.",
                    id="sign-in-text",
                    classes="dialog-text",
                    markup=False,
                )
            else:
                yield Label("Who is at the chair?", classes="dialog-title", id="sign-in-title")
                yield Static(
                    "Choose your name with ↑ ↓ and type your PIN.",
                    id="sign-in-text",
                    classes="dialog-text",
                    markup=False,
                )
            practitioners = OptionList(id="sign-in-practitioners")
            practitioners.can_focus = False  # ↑ ↓ move it from the PIN field: the PIN is typed straight away
            yield practitioners
            yield Label("PIN", classes="field-label", id="pin-label")
            yield Input(password=True, id="pin", placeholder="PIN or passphrase")
            yield Label(
                f"The same PIN again (a first sign-in; at least {MIN_PIN_CHARS} characters)",
                classes="field-label",
                id="pin-again-label",
            )
            yield Input(password=True, id="pin-again", placeholder="the same PIN again")
            yield Static("", id="sign-in-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add practitioner (ctrl+n)", id="sign-in-add")
                if self.cancellable:
                    yield Button("Cancel (esc)", id="sign-in-cancel")
                label = "Unlock (enter)" if self.locked_by is not None else "Sign in (enter)"
                yield Button(label, id="sign-in", variant="primary")

    def on_mount(self) -> None:
        select_id = self.locked_by.practitioner_id if self.locked_by is not None else None
        if self._preview is not None:
            self._show_choices(self._preview, select_id)
        if self._db is not None:
            self.reload(select_id=select_id)

    def attach(self, database: Database) -> None:
        """The database is open: read the list again through storage (it replaces the preview)."""
        self._db = database
        self._attached.set()
        if self.is_mounted:
            self.reload()

    async def _database(self) -> Database:
        """The database, once it is open (at start-up the screen may be up before it is)."""
        if self._db is None:
            self._say("Opening the database…")
            await self._attached.wait()
            self._clear_message()
        assert self._db is not None
        return self._db

    # -- the practitioners ------------------------------------------------------------------

    def reload(self, select_id: int | None = None) -> None:
        """Read who can sign in (in a worker); highlight ``select_id``, else the one highlighted, else the first."""
        self._load(select_id)

    @work(group="sign-in-load", exclusive=True)
    async def _load(self, select_id: int | None) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from stampside.app.chairside.sign_in import sign_in_choices
        from stampside.app.storage.errors import explain

        database = await self._database()
        try:
            choices = await asyncio.to_thread(sign_in_choices, database)
        except SQLAlchemyError as exc:
            self._say(str(explain(database.url, exc)))
            return
        self._show_choices(choices, select_id)
        self._listed.set()

    def _show_choices(self, choices: list[SignInChoice], select_id: int | None) -> None:
        keep = select_id if select_id is not None else (self.chosen.id if self.chosen is not None else None)
        self._choices = choices
        widget = self.query_one("#sign-in-practitioners", OptionList)
        if not choices:
            widget.set_options([Option("No practitioners yet: press ctrl+n to add one", disabled=True)])
        else:
            widget.set_options(Option(_label(choice, chosen=False), id=str(choice.id)) for choice in choices)
            widget.highlighted = next((i for i, c in enumerate(choices) if c.id == keep), 0)
        self._show_fields()

    @property
    def chosen(self) -> SignInChoice | None:
        """The practitioner highlighted."""
        if not self._choices or not self.is_mounted:
            return None
        index = self.query_one("#sign-in-practitioners", OptionList).highlighted
        return self._choices[index] if index is not None and 0 <= index < len(self._choices) else None

    def _show_fields(self) -> None:
        """The PIN field (and its repeat, for a first sign-in) for the practitioner highlighted."""
        chosen = self.chosen
        self._shown_id = chosen.id if chosen is not None else None
        options = self.query_one("#sign-in-practitioners", OptionList)
        for index, choice in enumerate(self._choices):  # the one chosen is marked, in colour or not
            options.replace_option_prompt_at_index(index, _label(choice, chosen=choice is chosen))
        first = chosen is not None and not chosen.has_pin
        pin = self.query_one("#pin", Input)
        again = self.query_one("#pin-again", Input)
        for widget in (pin, self.query_one("#pin-label")):
            widget.display = chosen is not None
        for widget in (again, self.query_one("#pin-again-label")):
            widget.display = first
        self.query_one("#pin-label", Label).update(
            f"{chosen.name}: choose a PIN" if first and chosen else f"{chosen.name}'s PIN" if chosen else "PIN"
        )
        self.query_one("#sign-in", Button).disabled = chosen is None
        if chosen is None:
            self.query_one("#sign-in-add", Button).focus()
        elif not (self.focused is again and first):
            pin.focus()

    @on(OptionList.OptionHighlighted, "#sign-in-practitioners")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        chosen = self.chosen
        if chosen is not None and chosen.id == self._shown_id:
            return  # the list was read again: what is typed stays
        self._clear()
        self._show_fields()

    def action_move(self, step: int) -> None:
        if self._checking or not self._choices:
            return
        widget = self.query_one("#sign-in-practitioners", OptionList)
        index = widget.highlighted if widget.highlighted is not None else 0
        widget.highlighted = max(0, min(len(self._choices) - 1, index + step))

    # -- signing in -------------------------------------------------------------------------

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        again = self.query_one("#pin-again", Input)
        if event.input.id == "pin" and again.display and not again.value:
            again.focus()
            return
        self.action_sign_in()

    @on(Button.Pressed, "#sign-in")
    def _sign_in_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_sign_in()

    @on(Button.Pressed, "#sign-in-add")
    def _add_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_add_practitioner()

    @on(Button.Pressed, "#sign-in-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def action_cancel(self) -> None:
        if self.cancellable and not self._checking:
            self.dismiss(None)

    def action_sign_in(self) -> None:
        chosen = self.chosen
        if chosen is None or self._checking:
            return
        pin = self.query_one("#pin", Input).value
        again = self.query_one("#pin-again", Input).value
        if not pin:
            self._say("Type the PIN." if chosen.has_pin else "Choose a PIN and type it twice.")
            return
        self._checking = True
        self._check(chosen, pin, again)

    @work(group="sign-in-check", exclusive=True)
    async def _check(self, chosen: SignInChoice, pin: str, again: str) -> None:
        database = await self._database()
        if not self._listed.is_set():  # chosen from the start-up preview: the stored list decides
            await self._listed.wait()
            if chosen not in self._choices:
                self._checking = False
                self._refused("the list of practitioners was read again: choose your name again")
                return
        from sqlalchemy.exc import SQLAlchemyError

        from stampside.app.chairside.sign_in import check_signer, choose_first_pin
        from stampside.app.storage.errors import explain

        now = self._clock()
        try:
            if chosen.has_pin:
                signer = await asyncio.to_thread(check_signer, database, chosen.id, pin, now=now)
            else:
                signer = await asyncio.to_thread(choose_first_pin, database, chosen.id, pin, again, now=now)
        except PinRefused as exc:
            self._checking = False
            self._refused(str(exc))
            return
        except SQLAlchemyError as exc:
            self._checking = False
            self._refused(str(explain(database.url, exc)))
            return
        self.dismiss(signer)

    def _refused(self, text: str) -> None:
        pin = self.query_one("#pin", Input)
        pin.value = ""
        self.query_one("#pin-again", Input).value = ""
        self._say(text[:1].upper() + text[1:] + ("" if text.endswith(".") else "."))
        pin.focus()

    def _say(self, text: str) -> None:
        error = self.query_one("#sign-in-error", Static)
        error.update(text)
        error.add_class("shown")

    def _clear(self) -> None:
        self.query_one("#pin", Input).value = ""
        self.query_one("#pin-again", Input).value = ""
        self._clear_message()

    def _clear_message(self) -> None:
        error = self.query_one("#sign-in-error", Static)
        error.update("")
        error.remove_class("shown")

    # -- adding a practitioner --------------------------------------------------------------

    def action_add_practitioner(self) -> None:
        if not self._checking:
            self._add_practitioner()

    @work(group="sign-in-add", exclusive=True)
    async def _add_practitioner(self) -> None:
        database = await self._database()
        from sqlalchemy.exc import SQLAlchemyError

        from stampside.app.storage.errors import explain
        from stampside.app.storage.practitioners import add_practitioner
        from stampside.app.tui.dialogs.new_practitioner import NewPractitionerDialog

        def save(name: str) -> PractitionerView:
            try:
                with database.Session.begin() as s:
                    return add_practitioner(s, name)
            except SQLAlchemyError as exc:
                raise explain(database.url, exc) from None

        def added(practitioner: PractitionerView | None) -> None:
            if practitioner is not None:
                self.reload(select_id=practitioner.id)
                self.notify(f"Practitioner {practitioner.name} added: choose their PIN")

        self.app.push_screen(NewPractitionerDialog(save), added)


def _label(choice: SignInChoice, *, chosen: bool) -> str:
    """``▶ Dr. Ana Ruiz`` for the practitioner chosen; ``(no PIN yet)`` for one who has none."""
    return f"{'▶' if chosen else ' '} {choice.name}{'' if choice.has_pin else '  (no PIN yet)'}"
