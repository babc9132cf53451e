"""Who is at the chair: the signed-in practitioner, the idle lock, and PIN checks for signatures.

The app owns one :class:`SignedIn`. At start-up it asks who is at the chair
(:class:`~stampside.app.tui.screens.sign_in.SignInScreen`, over the start screen); the practitioner who
signs in is the audit trail's actor (``practitioner:NAME``) and the one who starts, confirms
and signs. Every key (or click) the app reads is :meth:`SignedIn.touch`; after the settings'
``idle_lock_minutes`` without one (:class:`~stampside.app.domain.idle_lock.IdleLock`, on an injected
monotonic clock) the lock covers the app. Behind it nothing stops: the link keeps storing
stamps, the stamping screen keeps counting them. Unlocking takes a PIN; whoever unlocks is
signed in from then on.

Signing a record (:meth:`SignedIn.sign_dialog`) asks the signed-in practitioner's PIN again in a
:class:`~stampside.app.tui.dialogs.sign.SignDialog`; the dialog gives the
:class:`~stampside.app.domain.signatures.Signer` the use case stores the record's signature with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.timer import Timer

from stampside.app.chairside.sign_in_peek import SignInChoice
from stampside.app.domain.idle_lock import IdleLock
from stampside.app.domain.pins import PinRefused, minutes_text
from stampside.app.domain.signatures import SignedAct, Signer
from stampside.app.tui.screens.sign_in import SignInScreen

if TYPE_CHECKING:  # storage (SQLAlchemy) is imported when used: at start-up sign-in comes first
    from stampside.app.domain.steps import Clock
    from stampside.app.storage.database import Database
    from stampside.app.tui.dialogs.sign import SignDialog

__all__ = ["IDLE_CHECK_S", "SignedIn"]

#: How often the idle time is looked at, in seconds (the lock comes at most this late).
IDLE_CHECK_S = 1.0

SignedInListener = Callable[[Signer], None]


class SignedIn:
    """The signed-in practitioner (``None`` before sign-in) and the lock over the app."""

    def __init__(self, app: App[Any], *, clock: Clock, idle_clock: Callable[[], float], idle_minutes: float) -> None:
        self.app = app
        self.clock = clock
        self.idle_clock = idle_clock
        self.idle = IdleLock.minutes(idle_minutes, idle_clock())
        self.database: Database | None = None
        self.signer: Signer | None = None
        #: A sign-in screen covers the app (at start-up, or the lock).
        self.locked = False
        self._listeners: list[SignedInListener] = []
        self._unlocked = asyncio.Event()
        self._timer: Timer | None = None
        #: The sign-in screen shown before the database was open (start-up), until it is given it.
        self._early: SignInScreen | None = None

    # -- signing in -----------------------------------------------------------------------

    def start(self, database: Database, then: SignedInListener | None = None) -> None:
        """Ask who is at the chair (the app is covered until someone signs in); ``then`` once they have."""
        self.attach(database)
        self._cover(SignInScreen(database, self.clock), then)

    def start_early(self, preview: list[SignInChoice], then: SignedInListener | None = None) -> None:
        """Ask who is at the chair while the database is still being opened, showing ``preview``
        (:mod:`stampside.app.chairside.sign_in_peek`); :meth:`attach` gives the database when it is."""
        screen = SignInScreen(None, self.clock, preview=preview)
        self._early = screen
        self._cover(screen, then)

    def set_idle_minutes(self, minutes: float) -> None:
        """The settings' idle time, once they are checked (the early sign-in came before)."""
        self.idle = IdleLock.minutes(minutes, self.idle_clock())

    def attach(self, database: Database) -> None:
        """The database is open (the early sign-in screen reads its list again and can check PINs)."""
        self.database = database
        if self._early is not None:
            self._early.attach(database)
            self._early = None
        if self._timer is None:
            self._timer = self.app.set_interval(IDLE_CHECK_S, self.check_idle, name="idle lock")

    def switch(self) -> None:
        """Another practitioner signs in (from the start screen); escape keeps the one signed in."""
        if self.database is None or self.locked:
            return
        self._cover(SignInScreen(self.database, self.clock, cancellable=True))

    def lock(self, *, idle: bool = False) -> None:
        """Cover the app until a PIN is typed (now, or after the idle time)."""
        if self.database is None or self.signer is None or self.locked:
            return
        after = minutes_text(timedelta(seconds=self.idle.after_s)) if idle else ""
        self._cover(SignInScreen(self.database, self.clock, locked_by=self.signer, locked_for=after))

    def _cover(self, screen: SignInScreen, then: SignedInListener | None = None) -> None:
        self.locked = True
        self._unlocked.clear()

        def done(signer: Signer | None) -> None:
            self.locked = False
            self._unlocked.set()
            self.touch()
            if signer is not None:
                self._signed_in(signer)
                if then is not None:
                    then(signer)

        self.app.push_screen(screen, done)

    def _signed_in(self, signer: Signer) -> None:
        from stampside.app.storage.audit_actor import set_actor

        changed = signer != self.signer
        self.signer = signer
        set_actor(f"practitioner:{signer.name}")
        if changed:
            for listener in list(self._listeners):
                listener(signer)

    def on_change(self, listener: SignedInListener) -> None:
        """Call ``listener`` whenever another practitioner signs in."""
        self._listeners.append(listener)

    async def wait_unlocked(self) -> None:
        """Return once no sign-in screen covers the app (at once if none does)."""
        if self.locked:
            await self._unlocked.wait()

    # -- the idle lock --------------------------------------------------------------------

    def touch(self) -> None:
        """A key or a click: the idle time starts again."""
        self.idle.touch(self.idle_clock())

    def check_idle(self) -> None:
        """Lock if the idle time is up (the app's timer calls this every :data:`IDLE_CHECK_S`)."""
        if self.signer is not None and not self.locked and self.idle.due(self.idle_clock()):
            self.lock(idle=True)

    # -- signatures -----------------------------------------------------------------------

    def verify(self, pin: str, *, who: Signer | None = None) -> Signer:
        """``who`` (default: the practitioner signed in) as a signer if ``pin`` is theirs (blocking: call it in
        a thread)."""
        from sqlalchemy.exc import SQLAlchemyError

        from stampside.app.chairside.sign_in import check_signer
        from stampside.app.storage.errors import explain

        database, signer = self.database, who or self.signer
        if database is None or signer is None:
            raise PinRefused("nobody is signed in")
        try:
            return check_signer(database, signer.practitioner_id, pin, now=self.clock())
        except SQLAlchemyError as exc:
            raise explain(database.url, exc) from None

    def sign_dialog(self, what: str, act: SignedAct) -> SignDialog:
        """The dialog that signs ``what`` (an ``act``) with the PIN of who is signed in now (even if another
        practitioner unlocks the app while it is open: the dialog names who signs)."""
        from stampside.app.tui.dialogs.sign import SignDialog

        who = self.signer
        if who is None:
            return SignDialog(what, act.meaning, who="nobody", verify=self.verify)
        return SignDialog(what, act.meaning, who=who.name, verify=partial(self.verify, who=who))
