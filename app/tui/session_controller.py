"""The open treatment session, step by step: from "Start session" through the protocol and back.

The app owns one :class:`SessionController`. It shows screens and forwards what they ask for;
everything it reads or writes goes through the plain use cases of
:mod:`stampside.app.chairside.session_cases` (one transaction each, in a worker thread), and the link
through :class:`~stampside.app.tui.session_link.SessionLink`.

:meth:`SessionController.begin` reads the session (:func:`~stampside.app.chairside.session_cases.load_session`),
rebuilds its :class:`~stampside.app.domain.steps.SessionFlow` from the stored step records and, while
the session has not passed its stamping step, opens the link. Then it shows the current
step's screen (:mod:`stampside.app.tui.screens.steps`, the :class:`~stampside.app.tui.screens.stamping.StampingScreen`
for stamping) and is its :class:`~stampside.app.tui.screens.step_base.StepHost`.

Every change of the flow is stored by one writer at a time; a failure is a notification and is
retried. At the stamping step the link stores arriving stamps in the session and the zone being
stamped, and the device is armed; finishing the step disarms it and closes the link. Closing the
summary is signed with the PIN (approved) and finishes the session, its signature stored with it,
and brings the start screen back. Overrides are signed too (overridden): the reason, then the PIN.
While the app is locked (:class:`~stampside.app.tui.signed_in.SignedIn`) everything goes on behind the lock,
but no screen is swapped under it. Nothing here raises into the UI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from textual.app import App
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer

from stampside.app.chairside import session_cases as cases
from stampside.app.domain.gates import OverrideRefused, checked_reason
from stampside.app.domain.signatures import SignedAct, Signer, manifestation
from stampside.app.domain.steps import Clock, KnownLot, SessionFlow, StepBlocked, StepError, StepRecord, lot_to_offer
from stampside.app.domain.treatment_protocol import Step, StepKind, TreatmentProtocol
from stampside.app.settings import ClinicInfo
from stampside.app.storage.claims import SessionClaimed
from stampside.app.storage.database import Database
from stampside.app.storage.errors import StorageError, explain
from stampside.app.storage.sessions import SessionError, SessionView
from stampside.app.tui.dialogs.override import OverrideDialog, gate_title
from stampside.app.tui.link_bridge import LinkProblem
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.app.tui.screens.steps import screen_for_step
from stampside.app.tui.session_link import DEFAULT_FOOTPRINT_MM2, SessionLink
from stampside.app.tui.session_screens import aftercare_screen, summary_screen
from stampside.app.tui.session_steps import stamp_inputs
from stampside.app.tui.signed_in import SignedIn
from stampside.app.tui.widgets.session_banner import BannerInfo
from stampside.devicelink.session import LinkOptions

log = logging.getLogger(__name__)

T = TypeVar("T")

NO_DEVICE_TEXT = "no device configured: start with --device URL (or stampside demo)"
#: How often the device is checked, the head attached and failed saves retried.
TICK_S = 0.25
#: After a failed save of the step records, wait this long before trying again.
SAVE_RETRY_S = 2.0


class SessionController:
    """Runs the open treatment session's steps for the app (one session at a time).

    ``ended`` is called on the UI thread after a session was finished and its screens popped.
    ``device_url`` is the stamp's link URL (serial or ``ble:…``); ``ble_hci`` the bumble HCI
    spec BLE URLs go through (``None``: ``$STAMPSIDE_BLE_HCI``, else the OS Bluetooth).
    ``cards_dir`` is where aftercare cards go (``None``: next to the clinic's records); ``tz``
    the time zone times are shown in (``None``: the computer's). ``clinic`` (the settings file's)
    is printed on the aftercare card and shown on its screen. ``signed_in`` is who is at the chair:
    it asks for the PIN to sign overrides and the closing of the session. ``chair`` is this chair's
    name (the settings' ``chair.name``; ``None``: the host name), held with the device and head.
    """

    def __init__(
        self,
        app: App[Any],
        *,
        device_url: str | None,
        protocol: TreatmentProtocol,
        clock: Clock,
        ended: Callable[[SessionView], None],
        link_options: LinkOptions | None = None,
        ble_hci: str | None = None,
        cards_dir: Path | None = None,
        tz: tzinfo | None = None,
        clinic: ClinicInfo | None = None,
        signed_in: SignedIn | None = None,
        chair: str | None = None,
    ) -> None:
        self.app = app
        self.chair = chair
        self.signed_in = signed_in
        self.device_url = device_url
        self.ble_hci = ble_hci
        self.protocol = protocol
        self.clock = clock
        self.link_options = link_options
        self.cards_dir = cards_dir
        self.tz = tz
        self.clinic = clinic if clinic is not None else ClinicInfo()
        self._ended = ended
        self.database: Database | None = None
        self.view: SessionView | None = None
        self._flow: SessionFlow | None = None
        self._practitioner = ""
        #: The screen shown for the current step.
        self.step_screen: Screen[Any] | None = None
        #: The stamping screen while the stamping step is up.
        self.screen: StampingScreen | None = None
        self.link: SessionLink | None = None
        #: The aftercare card files written in this run (text, HTML).
        self.card_paths: tuple[Path, ...] = ()
        self._prepared: cases.PreparedSession | None = None
        self._busy = False
        self._finishing = False
        self._timer: Timer | None = None
        self._dirty: set[int] = set()
        self._save_lock = asyncio.Lock()
        self._save_failed_at: float | None = None
        self._storage_problem: str | None = None
        #: Who signed the closing of the session (the summary), until it is stored.
        self._closing_signer: Signer | None = None

    @property
    def active(self) -> bool:
        """A session is being run."""
        return self.view is not None

    @property
    def bridge(self) -> Any:
        """The link bridge while the link is open (tests read its status)."""
        return self.link.bridge if self.link is not None else None

    # -- what the step screens use (StepHost) -------------------------------------------

    @property
    def flow(self) -> SessionFlow:
        if self._flow is None:
            raise StepError("no session is open")
        return self._flow

    @property
    def practitioner(self) -> str:
        return self._practitioner

    def signed_in_as(self, name: str) -> None:
        """Another practitioner signed in (unlocking, switching): they confirm the steps from now on."""
        if self.view is not None and name.strip():
            self._practitioner = name.strip()

    def ask_signature(self, what: str, act: SignedAct, done: Callable[[Signer | None], None]) -> None:
        """Have ``what`` signed with the signed-in practitioner's PIN; ``done`` gets the signer (None: cancelled)."""
        if self.signed_in is None:
            self._notify_error("Nobody is signed in: the record cannot be signed.", "Signature")
            done(None)
            return
        self.app.push_screen(self.signed_in.sign_dialog(what, act), done)

    async def _signature(self, what: str, act: SignedAct) -> Signer | None:
        """In a worker: the signer of ``what`` once the PIN is typed (None: cancelled)."""
        if self.signed_in is None:
            self._notify_error("Nobody is signed in: the record cannot be signed.", "Signature")
            return None
        await self.signed_in.wait_unlocked()
        signer: Signer | None = await self.app.push_screen(self.signed_in.sign_dialog(what, act), wait_for_dismiss=True)
        return signer

    async def _unlocked(self) -> None:
        """Wait while the lock (or a sign-in) covers the app: no screen is swapped under it."""
        if self.signed_in is not None:
            await self.signed_in.wait_unlocked()

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    @property
    def offered_lot(self) -> KnownLot | None:
        """The lot the current application step is offered, to be confirmed: this session's, else the last one's."""
        prepared = self._prepared
        if self._flow is None or self._flow.finished:
            return None
        earlier = prepared.previous_lot if prepared is not None else None
        return lot_to_offer(self.protocol, self._flow.records, self._flow.position, earlier)

    @property
    def banner(self) -> BannerInfo | None:
        view = self.view
        if view is None:
            return None
        return BannerInfo(view.patient_code, view.patient_name, view.number, view.planned_sessions, view.started_at)

    def change(self, action: Callable[[SessionFlow], T]) -> T:
        """Run ``action`` on the flow; the record it touched is stored in a worker."""
        flow = self.flow
        before = flow.records
        result = action(flow)
        after = flow.records
        for position, record in enumerate(after):
            if position >= len(before) or before[position] != record:
                self._dirty.add(position)
        if self._save_failed_at is None:
            self._kick_save()
        return result

    def complete_step(self) -> None:
        """Complete the current step as the chosen practitioner, then show the next one.

        The summary is closed with a signature: the PIN first, then the step and the session.
        """
        if self._busy:
            raise StepError("one moment: the previous step is still being closed")
        flow = self.flow
        if flow.finished:  # closing the summary failed before: try again
            self._run(self._finish_session(), "session-finish")
            return
        step = flow.current_step
        if step is not None and step.kind is StepKind.SUMMARY:
            self._busy = True
            self._run(self._close_summary(), "session-advance")
            return
        self.change(lambda f: f.complete(self._practitioner))
        self._busy = True
        self._run(self._advance(), "session-advance")

    def _closing_text(self) -> str:
        view = self.view
        assert view is not None
        return (
            f"Close {view.label} for {view.patient_code}: the steps, stamps and coverage of this summary "
            "become the session's record."
        )

    async def _close_summary(self) -> None:
        """The summary's main action: signed (approved) with the PIN, then the session is finished."""
        try:
            signer = await self._signature(self._closing_text(), SignedAct.SESSION_CLOSE)
            if signer is None:
                self.app.notify("The session stays open: closing it needs your signature.", title="Not closed")
                return
            try:
                self.change(lambda f: f.complete(signer.name))
            except StepError as exc:
                self._notify_error(str(exc), "Cannot close")
                return
            self._closing_signer = signer
            await self._show_current()
        finally:
            self._busy = False

    # -- starting -----------------------------------------------------------------------

    def begin(self, database: Database, view: SessionView, practitioner: str | None = None) -> None:
        """Show the current step of ``view`` (new or resumed), linked to the device until stamping ends."""
        if self.view is not None:
            self.app.notify(f"{self.view.label.capitalize()} is already open.", severity="warning")
            return
        who = (practitioner or view.practitioner_name).strip()
        self._run(self._begin(database, view, who), "session", exclusive=True)

    def _run(self, coro: Coroutine[Any, Any, None], group: str, *, exclusive: bool = False) -> None:
        self.app.run_worker(coro, group=group, exclusive=exclusive)

    async def _call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(func, *args, **kwargs)

    @property
    def _link_until(self) -> int:
        """The last step that needs the link: stamping, else the last step with device checks."""
        steps = self.protocol.steps
        for index, step in enumerate(steps):
            if step.kind is StepKind.STAMPING:
                return index
        return max((index for index, step in enumerate(steps) if step.gates), default=-1)

    async def _begin(self, database: Database, view: SessionView, practitioner: str) -> None:
        try:
            prepared = await self._call(cases.load_session, database, view.id)
        except SQLAlchemyError as exc:
            self._notify_error(str(explain(database.url, exc)), "Database")
            return
        except (SessionError, StorageError) as exc:
            self._notify_error(str(exc), "Cannot open the session")
            return
        try:
            flow = SessionFlow.restore(self.protocol, prepared.records, self.clock)
        except StepError as exc:
            self._notify_error(
                f"{view.label.capitalize()} cannot go on with {self.protocol.label}: {exc}", "Cannot resume"
            )
            return
        needs_link = not flow.finished and flow.position <= self._link_until
        if needs_link and self.device_url is None:
            self.app.notify(NO_DEVICE_TEXT, title="Device", severity="warning", timeout=8)
            return
        self.database, self.view, self._flow, self._practitioner = database, prepared.view, flow, practitioner
        self._prepared = prepared
        self._dirty.clear()
        self.card_paths = ()
        self.step_screen = self.screen = None
        if needs_link:
            assert self.device_url is not None
            step = flow.current_step
            stamping = step is not None and step.kind is StepKind.STAMPING and flow.current_record is not None
            self.link = SessionLink(self, database, prepared, self.device_url, stamping=stamping)
        self._timer = self.app.set_interval(TICK_S, self._tick, name="session controller")
        await self._show_current()
        if self.link is not None:
            await self.link.start()  # a port that cannot be opened is a LinkProblem, shown by handle()

    # -- showing the current step --------------------------------------------------------

    async def _show_current(self) -> None:
        flow, view = self.flow, self.view
        assert view is not None
        step = flow.current_step
        if step is None:
            await self._finish_session()
            return
        number = flow.position + 1
        if flow.current_record is None and step.kind is not StepKind.DISINFECTION:
            self.change(lambda f: f.start(self._practitioner))
        status = self.link.bridge.status if self.link is not None else None
        screen: Screen[Any]
        if step.kind is StepKind.STAMPING:
            screen = await self._stamping_screen(step, number)
        elif step.kind is StepKind.AFTERCARE:
            screen = await aftercare_screen(self, step, number)
        elif step.kind is StepKind.SUMMARY:
            screen = await summary_screen(self, step, number)
        else:
            screen = screen_for_step(self, step, number, link=status)
        await self._show(screen)
        if self.link is not None:
            self.link.bridge.target = screen
            if step.kind is StepKind.STAMPING and self.screen is not None:
                self.link.stamping_began(self.screen.coverage.active)
            self.link.recheck(force=True)

    async def _show(self, screen: Screen[Any]) -> None:
        """Replace the previous step's screen (and any dialog left over it) with ``screen``."""
        await self._unlocked()
        previous = self.step_screen
        self.step_screen = screen
        if previous is not None and previous in self.app.screen_stack:
            while self.app.screen is not previous:
                self.app.pop_screen()
            await self.app.switch_screen(screen)
        else:
            await self.app.push_screen(screen)

    async def _stamping_screen(self, step: Step, number: int) -> StampingScreen:
        database, view = self.database, self.view
        assert database is not None and view is not None
        try:
            self._prepared = await self._call(cases.load_session, database, view.id)
        except (SQLAlchemyError, SessionError) as exc:
            self._notify_error(str(exc), "Stored stamps not read")
        prepared = self._prepared
        assert prepared is not None
        record = self.flow.current_record
        elapsed = max(0.0, (self.clock() - record.started_at).total_seconds()) if record is not None else 0.0
        screen = StampingScreen.for_protocol(
            self.protocol,
            prepared.treated,
            prepared.view.footprint_mm2 or DEFAULT_FOOTPRINT_MM2,
            link=self.link.bridge.status if self.link is not None else None,
            elapsed_before_s=elapsed,
            areas_cm2=prepared.areas,
            active=prepared.active_zone,
            banner=self.banner,
            wall_clock=self.clock,
        )
        screen.sub_title = f"Step {number} of {len(self.protocol.steps)} · {step.title}"
        if self.link is not None and self.link.claimed is not None:
            screen.show_claim_problem(self.link.claimed.describe(self.tz))
        if prepared.stamps:
            screen.restore_stamps(stamp_inputs(prepared.stamps))
        self.screen = screen
        return screen

    async def _advance(self) -> None:
        """After a step completed: close the link once stamping is over, then show the next step."""
        try:
            if self.link is not None and self.flow.position > self._link_until:
                await self._close_link()
            await self._show_current()
        finally:
            self._busy = False

    # -- the screens' and the bridge's messages -----------------------------------------

    def handle(self, message: Message) -> None:
        """The app forwards the stamping screen's messages and link problems here."""
        if isinstance(message, LinkProblem):
            if message.text is not None:
                self.app.notify(message.text, title="Device link", severity="error", timeout=8)
        elif self.screen is None or self.view is None:
            return
        elif isinstance(message, StampingScreen.ActiveZoneChanged):
            if self.link is not None:
                self.link.zone_changed(message.zone)
        elif isinstance(message, StampingScreen.TreatedZonesChanged):
            if self.link is not None:
                self.link.zones_changed()
        elif isinstance(message, StampingScreen.ArmRequested):
            if self.link is not None:
                self._run(self.link.arm(), "session-arm")
        elif isinstance(message, StampingScreen.DisarmRequested):
            if self.link is not None:
                self._run(self.link.disarm(), "session-arm")
        elif isinstance(message, StampingScreen.Finished) and not self._busy:
            self._busy = True
            self._run(self._end_stamping(), "session-advance")

    def _tick(self) -> None:
        if self.view is None or self._finishing:
            return
        if self.link is not None:
            self.link.tick()
        failed = self._save_failed_at
        if self._dirty and (failed is None or asyncio.get_running_loop().time() - failed >= SAVE_RETRY_S):
            self._kick_save()

    # -- stamping ends ------------------------------------------------------------------

    async def _end_stamping(self) -> None:
        """The practitioner finished stamping: complete the step (or ask for an override), then move on."""
        try:
            if self.link is not None:
                self.link.recheck()
            try:
                self.change(lambda f: f.complete(self._practitioner))
            except StepBlocked as exc:
                self._ask_override_then_finish(exc)
                return
            except StepError as exc:
                self._notify_error(str(exc), "Stamping")
                return
            await self._close_link()
            self.screen = None
            await self._show_current()
        finally:
            self._busy = False

    def _ask_override_then_finish(self, blocked: StepBlocked) -> None:
        """Stamping cannot end with a failing check: its override (a reason, then the PIN), or back to stamping."""
        result = blocked.blocking[0]
        screen = self.screen
        title = gate_title(result)

        def check(reason: str) -> object:
            return checked_reason(result.gate.label, reason, self._practitioner)

        def back_to_stamping() -> None:
            if screen is not None:
                screen.stats.start(screen.stats.elapsed_s)
                self.app.notify(str(blocked), title="Stamping goes on", severity="warning")

        def reasoned(reason: str | None) -> None:
            if reason is None:
                back_to_stamping()
                return
            text, _ = check_text(reason)
            what = f"Override of {title} (stamping): {text}\nIt failed: {result.message}"
            self.ask_signature(what, SignedAct.STEP_OVERRIDE, lambda signer: signed(reason, signer))

        def check_text(reason: str) -> tuple[str, str]:
            return checked_reason(result.gate.label, reason, self._practitioner)

        def signed(reason: str, signer: Signer | None) -> None:
            if signer is None:
                back_to_stamping()
                return
            try:
                self.change(lambda f: f.override(result.gate, reason, signer.name, signer_id=signer.practitioner_id))
            except (OverrideRefused, StepError) as exc:
                self._notify_error(str(exc), "Override")
                back_to_stamping()
                return
            if not self._busy:
                self._busy = True
                self._run(self._end_stamping(), "session-advance")

        self.app.push_screen(OverrideDialog(result, check, who=self._practitioner, title=title), reasoned)

    async def _close_link(self) -> None:
        """Disarm, store and acknowledge what the link has pending, and close it."""
        link, self.link = self.link, None
        if link is None:
            return
        self._finishing = True  # the tick leaves the link alone from here
        try:
            await link.close(disarm=True)
        finally:
            self._finishing = False

    # -- storing the step records -------------------------------------------------------

    def _kick_save(self) -> None:
        if self._save_lock.locked() or not self._dirty or self.database is None or self.view is None:
            return
        database, session_id = self.database, self.view.id

        async def save() -> None:
            await self._save_records(database, session_id)

        self._run(save(), "session-steps")

    async def _save_records(self, database: Database, session_id: int) -> bool:
        """Store the changed records, one writer at a time and in order; False if storing failed."""
        async with self._save_lock:
            while self._dirty and self._flow is not None:
                records = self._flow.records
                positions = sorted(position for position in self._dirty if position < len(records))
                self._dirty.clear()
                batch: list[StepRecord] = [records[position] for position in positions]
                try:
                    await self._call(cases.save_steps, database, session_id, batch)
                except (SessionError, SQLAlchemyError) as exc:
                    self._dirty.update(positions)
                    self._save_failed_at = asyncio.get_running_loop().time()
                    text = str(explain(database.url, exc)) if isinstance(exc, SQLAlchemyError) else str(exc)
                    self._storage_failed(f"step not stored yet (retrying): {text}")
                    return False
                self._save_failed_at = None
        return True

    async def saved(self, attempts: int = 3) -> bool:
        """Wait until every change of the flow is stored; False if storing keeps failing."""
        database, view = self.database, self.view
        for _ in range(attempts):
            if not self._dirty:
                async with self._save_lock:  # a save in progress is over
                    pass
                if not self._dirty:
                    return True
            if database is None or view is None:
                return False
            await self._save_records(database, view.id)
        return not self._dirty

    # -- finishing ----------------------------------------------------------------------

    async def _finish_session(self) -> None:
        view, database = self.view, self.database
        if view is None or database is None or self._finishing:
            return
        if not await self.saved():
            self._notify_error(
                "The steps could not be stored; the session stays open. Press ctrl+n to try again.", "Cannot close"
            )
            return
        await self._close_link()
        signer = self._closing_signer
        if signer is None:  # a session resumed after its summary was completed: signed now
            signer = await self._signature(self._closing_text(), SignedAct.SESSION_CLOSE)
            if signer is None:
                self.app.notify("The session stays open: closing it needs your signature.", title="Not closed")
                if self.step_screen is None or self.step_screen not in self.app.screen_stack:
                    self._let_go()  # no screen of it is up: it is offered for resuming again
                return
            self._closing_signer = signer
        self._finishing = True
        try:
            finished = await self._call(cases.finish, database, view.id, self.clock(), signer)
        except SessionError as exc:
            self._notify_error(str(exc), "Cannot finish")
            finished = await self._call(cases.reread, database, view.id)
        except SQLAlchemyError as exc:
            self._notify_error(str(explain(database.url, exc)), "Database")
            self._finishing = False
            return
        await self._unlocked()
        screen = self.step_screen
        self._stop_timer()
        self.view = self._flow = None
        self._closing_signer = None
        self.screen = self.step_screen = None
        self._finishing = False
        if screen is not None and screen in self.app.screen_stack:
            while self.app.screen is not screen:
                self.app.pop_screen()
            self.app.pop_screen()
        signed = f"\n{manifestation(finished.closed_signature, self.tz)}" if finished.closed_signature else ""
        self.app.notify(f"{finished.label.capitalize()} finished for {finished.patient_code}.{signed}", title="Session")
        self._ended(finished)

    def _let_go(self) -> None:
        """Stop running the session without finishing it: it stays open in storage."""
        view = self.view
        self._stop_timer()
        self.view = self._flow = None
        self._closing_signer = None
        self.screen = self.step_screen = None
        if view is not None:
            self._ended(view)

    async def aclose(self) -> None:
        """The app is closing: close the link (storing what it has pending); the session stays open."""
        self._stop_timer()
        link, self.link = self.link, None
        if link is not None:
            await link.close(disarm=False)
        if self._flow is not None and self._dirty:
            await self.saved(attempts=1)

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()

    # -- problems -----------------------------------------------------------------------

    def storage_failed(self, text: str) -> None:
        """A use case failed on the database: say so once (until it changes)."""
        self._storage_failed(text)

    def _storage_failed(self, text: str) -> None:
        if text != self._storage_problem:
            self._storage_problem = text
            self._notify_error(text, "Database")

    def notify_error(self, text: str, title: str) -> None:
        self._notify_error(text, title)

    def device_claimed(self, claimed: SessionClaimed | None, *, changed: bool) -> None:
        """The link's device or head is held by another chair's open session (``None``: not any more).

        The stamping screen shows it until it is over; a new refusal (``changed``) is also a notification.
        """
        text = claimed.describe(self.tz) if claimed is not None else None
        if text is not None and changed:
            log.warning("Device refused: %s", text)
            self.app.notify(text, title="Stamp in use at another chair", severity="error", timeout=10)
        if self.screen is not None:
            self.screen.show_claim_problem(text)

    def _notify_error(self, text: str, title: str) -> None:
        log.warning("%s: %s", title, text)
        self.app.notify(text, title=title, severity="error", timeout=10)
