"""What the course screens share: the context they work in, storage calls off the UI thread, messages.

The course screens (screening, photos, outcomes, blinded rating) are full screens pushed
over the start screen; escape goes back. Every storage call runs in a worker thread in its
own transaction (:meth:`CourseScreen.call`); a database failure becomes the
:class:`~stampside.app.storage.errors.StorageError` message, and the domain's input errors are shown
as they are, one line per field. Nothing here decides a rule: the screens show the domain's
verdicts. What the domain says is signed (:data:`~stampside.app.domain.signatures.SIGNED_ACTS`: a
screening's verdict, an override, an outcome entry) is signed with the PIN first
(:meth:`CourseScreen.signed`) and stored with its signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import ClassVar, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from stampside.app.domain.signatures import SignatureMark, SignedAct, Signer, manifestation
from stampside.app.domain.steps import Clock
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.database import Database
from stampside.app.storage.errors import StorageError, explain
from stampside.app.storage.photos import default_photo_root
from stampside.app.tui.dialogs.sign import SignDialog

T = TypeVar("T")
R = TypeVar("R")

#: Makes the dialog that signs ``what`` (an act) with the signed-in practitioner's PIN.
SignWith = Callable[[str, SignedAct], SignDialog]


@dataclass(frozen=True)
class CourseContext:
    """Where the course screens read and write, under which protocol, by whom, and when it is.

    ``who`` is the practitioner chosen on the start screen (stored as who screened, rated,
    recorded). ``photo_root`` is the clinic's photo folder (``None``: the default next to the
    database, see :func:`~stampside.app.storage.photos.default_photo_root`). ``tz`` turns the clock into
    the clinic's calendar day (``None``: the computer's zone). ``sign`` makes the dialog that
    signs a record with the PIN of ``who`` (the app's :meth:`~stampside.app.tui.signed_in.SignedIn.sign_dialog`);
    ``None`` only where the screens are shown on their own, without sign-in: records are then
    stored unsigned.
    """

    database: Database
    protocol: TreatmentProtocol
    clock: Clock
    who: str
    tz: tzinfo | None = None
    photo_root: Path | None = None
    sign: SignWith | None = None

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.clock().astimezone(self.tz).date()

    @property
    def photos(self) -> Path:
        return self.photo_root if self.photo_root is not None else default_photo_root(self.database.url)

    def run(self, call: Callable[[Session], T]) -> T:
        """Run ``call`` in its own transaction (in the calling thread); database failures explained."""
        try:
            with self.database.Session.begin() as s:
                return call(s)
        except SQLAlchemyError as exc:
            raise explain(self.database.url, exc) from None


class CourseScreen(Screen[R]):
    """A course screen: ``escape`` goes back; ``#course-message`` says what happened."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]

    def __init__(self, context: CourseContext) -> None:
        super().__init__()
        self.ctx = context

    def action_back(self) -> None:
        self.dismiss(None)

    async def call(self, call: Callable[[Session], T], *expected: type[Exception]) -> T | None:
        """``call`` in a worker thread in a transaction; an expected error (or a storage one) is shown, not raised.

        Returns ``None`` when it failed (the message is on screen).
        """
        shown: tuple[type[Exception], ...] = (StorageError, *expected)
        try:
            return await asyncio.to_thread(self.ctx.run, call)
        except Exception as exc:
            if not isinstance(exc, shown):
                raise
            self.say(str(exc), error=True)
            return None

    async def signed(self, what: str, act: SignedAct) -> tuple[bool, Signer | None]:
        """In a worker: ``what`` signed with the PIN. ``(True, signer)`` to store it signed, ``(False, None)``
        when the practitioner cancelled (store nothing); ``(True, None)`` where the context signs nothing."""
        if self.ctx.sign is None:
            return True, None
        signer: Signer | None = await self.app.push_screen(self.ctx.sign(what, act), wait_for_dismiss=True)
        if signer is None:
            self.say("Not saved: it is stored only once signed with your PIN.", error=True)
            return False, None
        return True, signer

    def signature_text(self, mark: SignatureMark | None) -> str:
        """`` · signed Dr. Ana Ruiz · performed · 2026-11-26 14:05`` (empty when unsigned)."""
        return f" · {manifestation(mark, self.ctx.tz)}" if mark is not None else ""

    def say(self, text: str, *, error: bool = False) -> None:
        """Show ``text`` in the screen's message line (an error in the error colours)."""
        for widget in self.query("#course-message").results(Static):
            widget.update(text)
            widget.set_class(error, "error")
            widget.set_class(bool(text), "shown")
            if text:
                widget.scroll_visible(animate=False)
