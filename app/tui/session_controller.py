"""The open treatment session, step by step: from "Start session" through the protocol and back.

The app owns one :class:`SessionController`. When a session is started or resumed,
:meth:`SessionController.begin`:

* reads, off the UI thread, the session's stored step records, its treated zones (else the
  patient's Norwood grade's, else all five) and its stored stamps, and rebuilds the
  :class:`~app.domain.steps.SessionFlow` with :meth:`~app.domain.steps.SessionFlow.restore`;
* while the session has not passed its stamping step, opens a
  :class:`~app.tui.link_bridge.LinkBridge` (not armed) whose database sink tags new stamps
  with the session, and stores the device, head and zones once the device is known;
* shows the screen of the current step (:mod:`app.tui.screens.steps`, the
  :class:`~app.tui.screens.stamping.StampingScreen` for stamping) and is its
  :class:`~app.tui.screens.step_base.StepHost`.

Every change of the flow (a step started or completed, a check run, a lot, a volume, an
override) is stored with :func:`~app.storage.step_records.save_step_record` by one worker
at a time, in a thread; a failure is a notification and is retried. "Confirmed by" is the
practitioner chosen on the start screen. Device checks run again whenever the link's
device details change. At the stamping step the device is armed; when the practitioner
finishes it the step completes, the device is disarmed, the link closed and the stamps it
stored are credited. The aftercare step writes the card; closing the summary finishes the
session in storage and brings the start screen back. Nothing here raises into the UI.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.timer import Timer

from app.domain.aftercare import AftercareCard, aftercare_window
from app.domain.coverage import CoverageModel, CreditedStamp, StampKey
from app.domain.gates import DeviceFacts, Override
from app.domain.steps import Clock, SessionFlow, StepBlocked, StepError, StepRecord
from app.domain.treatment_protocol import Step, StepKind, TreatmentProtocol
from app.domain.zones import Zone
from app.storage.database import Database
from app.storage.errors import StorageError, explain
from app.storage.heads import head_used_elsewhere
from app.storage.patients import get_patient
from app.storage.session_stamps import SessionStamp, credit_stamps, load_credited_stamps, load_session_stamps
from app.storage.sessions import (
    SessionError,
    SessionView,
    ZoneSetting,
    attach_device,
    finish_session,
    get_session,
    set_zones,
)
from app.storage.sink import DatabaseSink
from app.storage.step_records import load_step_records, save_step_records
from app.tui.dialogs.override import OverrideDialog, gate_title
from app.tui.link_bridge import LinkBridge, LinkProblem
from app.tui.screens.stamping import StampingScreen
from app.tui.screens.steps import AftercareScreen, SessionFigures, SummaryScreen, screen_for_step
from app.tui.session_steps import (
    card_stem,
    default_cards_dir,
    device_facts,
    read_figures,
    stamp_inputs,
    write_aftercare_card,
)
from devicelink.session import LinkOptions
from devicelink.sink import CommitBatch, Cursor
from firmware_protocol import DeviceInfo

log = logging.getLogger(__name__)

T = TypeVar("T")

NO_DEVICE_TEXT = "no device configured: start with --device URL (or stampside demo)"
#: The head footprint assumed until the device reports its own.
DEFAULT_FOOTPRINT_MM2 = 100
#: The longest the end of stamping waits for the screen to count the link's last stamps.
DRAIN_TIMEOUT_S = 2.0
#: How often pending credits and step records are written and the device is checked.
TICK_S = 0.25
#: After a failed save of the step records, wait this long before trying again.
SAVE_RETRY_S = 2.0


class SessionSink(DatabaseSink):
    """A :class:`DatabaseSink` that remembers which stamps it stored and the device it opened.

    Stamps reach the screen before they are committed; a credit can only be written for a
    stored stamp, so the controller asks :meth:`take_stored` which pending ones are in.
    """

    def __init__(
        self,
        database: Database,
        *,
        session_id: int | None = None,
        on_device: Callable[[DeviceInfo], object] | None = None,
    ) -> None:
        super().__init__(database, session_id=session_id)
        self._on_device = on_device
        self._stored: set[StampKey] = set()
        self._stored_lock = threading.Lock()
        #: DEVICE_INFO of the device registered last (set from the link's worker thread).
        self.device: DeviceInfo | None = None

    def open_device(self, info: DeviceInfo) -> Cursor:
        cursor = super().open_device(info)
        self.device = info
        if self._on_device is not None:
            self._on_device(info)
        return cursor

    def commit(self, batch: CommitBatch) -> int:
        new = super().commit(batch)
        if batch.stamps:
            with self._stored_lock:
                self._stored.update((received.stamp.boot, received.stamp.seq) for received in batch.stamps)
        return new

    def take_stored(self, keys: Iterable[StampKey]) -> set[StampKey]:
        """The keys among ``keys`` that are stored (and forgets them: each is credited once)."""
        with self._stored_lock:
            found = self._stored.intersection(keys)
            self._stored.difference_update(found)
        return found

    def put_back(self, keys: Iterable[StampKey]) -> None:
        """Stored keys whose credit failed: offer them again at the next :meth:`take_stored`."""
        with self._stored_lock:
            self._stored.update(keys)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What is read from storage before a session's screens are shown."""

    records: list[StepRecord]
    treated: frozenset[Zone]
    credited: list[CreditedStamp]
    stamps: list[SessionStamp]
    #: Zone areas stored with the session (edited ones survive a resume).
    areas: dict[Zone, float] = field(default_factory=dict)


class SessionController:
    """Runs the open treatment session's steps for the app (one session at a time).

    ``ended`` is called on the UI thread after a session was finished and its screens popped.
    ``device_url`` is the stamp's link URL (serial or ``ble:…``); ``ble_hci`` the bumble HCI
    spec BLE URLs go through (``None``: ``$STAMPSIDE_BLE_HCI``, else the OS Bluetooth).
    ``cards_dir`` is where aftercare cards go (``None``: :func:`default_cards_dir`); ``tz``
    the time zone times are shown in (``None``: the computer's).
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
    ) -> None:
        self.app = app
        self.device_url = device_url
        self.ble_hci = ble_hci
        self.protocol = protocol
        self.clock = clock
        self.link_options = link_options
        self.cards_dir = cards_dir
        self.tz = tz
        self._ended = ended
        self.database: Database | None = None
        self.view: SessionView | None = None
        self._flow: SessionFlow | None = None
        self._practitioner = ""
        #: The screen shown for the current step.
        self.step_screen: Screen[Any] | None = None
        #: The stamping screen while the stamping step is up.
        self.screen: StampingScreen | None = None
        self.bridge: LinkBridge | None = None
        self.sink: SessionSink | None = None
        #: The aftercare card files written in this run (text, HTML).
        self.card_paths: tuple[Path, ...] = ()
        self._prepared: _Prepared | None = None
        #: (serial, head id, footprint) last stored with the session.
        self._attached_head: tuple[str, int, int] | None = None
        self._pending: dict[StampKey, CreditedStamp] = {}
        self._flushing = False
        self._finishing = False
        self._busy = False
        self._storage_problem: str | None = None
        self._timer: Timer | None = None
        self._dirty: set[int] = set()
        self._saving = False
        self._save_failed_at: float | None = None
        self._head_used: dict[tuple[str, int], bool] = {}
        self._head_asked: set[tuple[str, int]] = set()
        self._checked: DeviceFacts | None = None

    @property
    def _attached(self) -> bool:
        return self._attached_head is not None

    @property
    def active(self) -> bool:
        """A session is being run."""
        return self.view is not None

    # -- what the step screens use (StepHost) -------------------------------------------

    @property
    def flow(self) -> SessionFlow:
        if self._flow is None:
            raise StepError("no session is open")
        return self._flow

    @property
    def practitioner(self) -> str:
        return self._practitioner

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def change(self, action: Callable[[SessionFlow], T]) -> T:
        """Run ``action`` on the flow; the record it touched is stored in a worker."""
        flow = self.flow
        before = flow.records
        result = action(flow)
        after = flow.records
        for position, record in enumerate(after):
            if position >= len(before) or before[position] != record:
                self._mark(position)
        return result

    def complete_step(self) -> None:
        """Complete the current step as the chosen practitioner, then show the next one."""
        if self._busy:
            raise StepError("one moment: the previous step is still being closed")
        flow = self.flow
        if flow.finished:  # closing the summary failed before: try again
            self._run(self._finish_session(), "session-finish")
            return
        self.change(lambda f: f.complete(self._practitioner))
        self._busy = True
        self._run(self._advance(), "session-advance")

    # -- starting -----------------------------------------------------------------------

    def begin(self, database: Database, view: SessionView, practitioner: str | None = None) -> None:
        """Show the current step of ``view`` (new or resumed), linked to the device until stamping ends."""
        if self.view is not None:
            self.app.notify(f"{self.view.label.capitalize()} is already open.", severity="warning")
            return
        who = (practitioner or view.practitioner_name).strip()
        self._run(self._begin(database, view, who), "session", exclusive=True)

    def _run(self, coro: Any, group: str, *, exclusive: bool = False) -> None:
        self.app.run_worker(coro, group=group, exclusive=exclusive)

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
            prepared = await asyncio.to_thread(self._prepare, database, view)
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
        self.database, self.view, self._flow, self._practitioner = database, view, flow, practitioner
        self._prepared = prepared
        self._attached_head = None
        self._pending.clear()
        self._dirty.clear()
        self._head_used.clear()
        self._head_asked.clear()
        self._checked = None
        self.card_paths = ()
        self.step_screen = self.screen = None
        if needs_link:
            assert self.device_url is not None
            self._make_link(database, view, self.device_url)
        self._timer = self.app.set_interval(TICK_S, self._tick, name="session controller")
        await self._show_current()
        if self.bridge is not None:
            await self.bridge.start()  # a port that cannot be opened is a LinkProblem, shown by handle()
            self._recheck()

    def _make_link(self, database: Database, view: SessionView, device_url: str) -> None:
        loop = asyncio.get_running_loop()
        sink = SessionSink(
            database,
            session_id=view.id,
            # From the link's worker thread, during the handshake: on the loop before any stamp.
            on_device=lambda info: loop.call_soon_threadsafe(self._apply_footprint, info.footprint_mm2),
        )
        flow = self.flow
        step = flow.current_step
        arm = step is not None and step.kind is StepKind.STAMPING and flow.current_record is not None
        self.sink = sink
        self.bridge = LinkBridge(device_url, sink=sink, arm=arm, options=self.link_options, hci=self.ble_hci)

    def _prepare(self, database: Database, view: SessionView) -> _Prepared:
        with database.Session.begin() as s:
            records = load_step_records(s, view.id)
            current = get_session(s, view.id)
            if current.zones:
                treated = frozenset(setting.zone for setting in current.zones)
            else:
                patient = get_patient(s, view.patient_id)
                grade = patient.norwood_grade if patient is not None else None
                treated = grade.default_zones if grade is not None else frozenset(Zone)
            credited = load_credited_stamps(s, view.id) if current.device_id is not None else []
            stamps = load_session_stamps(s, view.id)
            areas = {setting.zone: setting.area_cm2 for setting in current.zones}
        return _Prepared(records, treated, credited, stamps, areas)

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
        link = self.bridge.status if self.bridge is not None else None
        screen: Screen[Any]
        if step.kind is StepKind.STAMPING:
            screen = await self._stamping_screen(step, number)
        elif step.kind is StepKind.AFTERCARE:
            screen = await self._aftercare_screen(step, number)
        elif step.kind is StepKind.SUMMARY:
            screen = await self._summary_screen(step, number)
        else:
            screen = screen_for_step(self, step, number, link=link)
        await self._show(screen)
        if self.bridge is not None:
            self.bridge.target = screen
        if step.kind is StepKind.STAMPING and self.bridge is not None:
            self._run(self._arm(), "session-arm")
        self._checked = None
        self._recheck()

    async def _show(self, screen: Screen[Any]) -> None:
        """Replace the previous step's screen (and any dialog left over it) with ``screen``."""
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
            self._prepared = await asyncio.to_thread(self._prepare, database, view)
        except (SQLAlchemyError, SessionError) as exc:
            self._notify_error(str(exc), "Stored stamps not read")
        prepared = self._prepared
        assert prepared is not None
        record = self.flow.current_record
        elapsed = max(0.0, (self.clock() - record.started_at).total_seconds()) if record is not None else 0.0
        screen = StampingScreen.for_protocol(
            self.protocol,
            prepared.treated,
            view.footprint_mm2 or DEFAULT_FOOTPRINT_MM2,
            link=self.bridge.status if self.bridge is not None else None,
            elapsed_before_s=elapsed,
            areas_cm2=prepared.areas,
        )
        screen.sub_title = f"Step {number} of {len(self.protocol.steps)} · {step.title}"
        if prepared.credited:
            screen.coverage.load(prepared.credited)
        if prepared.stamps:
            screen.restore_stamps(stamp_inputs(prepared.stamps))
        self.screen = screen
        return screen

    async def _aftercare_screen(self, step: Step, number: int) -> AftercareScreen:
        database, view, flow = self.database, self.view, self.flow
        assert database is not None and view is not None
        record = flow.current_record
        ended = flow.treatment_ended_at or (record.started_at if record is not None else self.clock())
        local_end = self.local(ended)
        rules = self.protocol.aftercare
        card = AftercareCard.for_session(
            local_end, rules, patient=view.patient_code, practitioner=self._practitioner, session_label=view.label
        )
        folder = self.cards_dir or default_cards_dir(database.url)
        error: str | None = None
        try:
            self.card_paths = await asyncio.to_thread(write_aftercare_card, card, folder, card_stem(view, local_end))
        except OSError as exc:
            error = f"{exc.strerror or exc} ({folder})"
            self._notify_error(f"The aftercare card could not be written: {error}", "Aftercare card")
        return AftercareScreen(
            self,
            step,
            number,
            aftercare_window(local_end, rules),
            rules.instructions,
            card_paths=self.card_paths,
            card_error=error,
        )

    async def _summary_screen(self, step: Step, number: int) -> SummaryScreen:
        database, view = self.database, self.view
        assert database is not None and view is not None
        figures: SessionFigures | None = None

        def read() -> SessionFigures:
            with database.Session.begin() as s:
                return read_figures(s, view.id, self.protocol)

        try:
            figures = await asyncio.to_thread(read)
        except (SQLAlchemyError, SessionError) as exc:
            self._notify_error(str(exc), "Stamps not read")
        return SummaryScreen(self, step, number, figures=figures)

    async def _advance(self) -> None:
        """After a step completed: close the link once stamping is over, then show the next step."""
        try:
            if self.bridge is not None and self.flow.position > self._link_until:
                await self._close_link()
            await self._show_current()
        finally:
            self._busy = False

    # -- the device ----------------------------------------------------------------------

    def _head_used_elsewhere(self, serial: str, head_id: int) -> bool | None:
        key = (serial, head_id)
        if key in self._head_used:
            return self._head_used[key]
        if key not in self._head_asked and self.database is not None and self.view is not None:
            self._head_asked.add(key)
            self._run(self._ask_head(self.database, self.view.id, key), "session-head")
        return None

    async def _ask_head(self, database: Database, session_id: int, key: tuple[str, int]) -> None:
        def read() -> bool:
            with database.Session.begin() as s:
                return head_used_elsewhere(s, serial=key[0], head_id=key[1], session_id=session_id)

        try:
            self._head_used[key] = await asyncio.to_thread(read)
        except SQLAlchemyError as exc:
            self._head_asked.discard(key)  # asked again at the next tick
            self._storage_failed(str(explain(database.url, exc)))
            return
        self._recheck()

    def _recheck(self) -> None:
        """Run the current step's device checks again when what the link knows has changed."""
        flow = self._flow
        if flow is None or flow.finished or self.bridge is None:
            return
        step, record = flow.current_step, flow.current_record
        if step is None or record is None or not step.gates:
            return
        armed_once = len(record.checks) == len(step.gates) and all(check.passed for check in record.checks)
        if step.kind is StepKind.STAMPING and armed_once:
            return  # armed once: the step's gate is met, however the link goes on
        facts = device_facts(self.bridge.session, self._head_used_elsewhere)
        if facts is None or facts == self._checked:
            return
        self._checked = facts
        self.change(lambda f: f.check_device(facts))
        screen = self.step_screen
        refresh = getattr(screen, "refresh_step", None)
        if callable(refresh):
            refresh()

    async def _arm(self) -> None:
        bridge = self.bridge
        if bridge is not None and await bridge.arm():
            self._recheck()

    def _zone_settings(self) -> list[ZoneSetting]:
        if self.screen is not None:
            coverage = self.screen.coverage
        else:
            treated = self._prepared.treated if self._prepared is not None else frozenset(Zone)
            coverage = CoverageModel(treated, self.protocol.coverage.densities(), DEFAULT_FOOTPRINT_MM2)
        return [
            ZoneSetting(zone, coverage.area_cm2(zone), coverage.target_density(zone))
            for zone in sorted(coverage.treated)
        ]

    def _device_head(self) -> tuple[str, int, int] | None:
        """(serial, head id, footprint) as the link knows them now; None before DEVICE_INFO."""
        info = self.sink.device if self.sink is not None else None
        if info is None:
            return None
        session = self.bridge.session if self.bridge is not None else None
        head = session.head if session is not None else None
        if head is not None:
            return (info.serial, head.head_id, head.footprint_mm2)
        return (info.serial, info.head_id, info.footprint_mm2)

    def _apply_footprint(self, footprint_mm2: int) -> None:
        screen = self.screen
        if screen is not None and footprint_mm2 > 0 and footprint_mm2 != screen.coverage.footprint_mm2:
            screen.coverage.set_footprint(footprint_mm2)

    def _attach_when_known(self) -> None:
        """Store the device, head and treated zones when first known and after a head change."""
        device = self._device_head()
        if device is None or device == self._attached_head or self._flushing:
            return
        self._apply_footprint(device[2])
        self._flushing = True
        self._run(self._attach(device), "session-credits")

    async def _attach(self, device: tuple[str, int, int]) -> None:
        serial, head_id, device_footprint = device
        view, database = self.view, self.database
        assert view is not None and database is not None
        footprint = self.screen.coverage.footprint_mm2 if self.screen is not None else device_footprint
        zones = self._zone_settings()

        def store() -> SessionView:
            with database.Session.begin() as s:
                set_zones(s, view.id, zones)
                return attach_device(
                    s, view.id, serial=serial, head_id=head_id, footprint_mm2=footprint, now=self.clock()
                )

        try:
            self.view = await asyncio.to_thread(store)
            self._attached_head = device
        except SessionError:
            pass  # the link registers the device in its own transaction: try again at the next tick
        except SQLAlchemyError as exc:
            self._storage_failed(str(explain(database.url, exc)))
        finally:
            self._flushing = False

    async def _store_zones(self) -> None:
        view, database = self.view, self.database
        if view is None or database is None:
            return
        zones = self._zone_settings()

        def store() -> None:
            with database.Session.begin() as s:
                set_zones(s, view.id, zones)

        try:
            await asyncio.to_thread(store)
        except SessionError as exc:
            self._notify_error(str(exc), "Zones not stored")
        except SQLAlchemyError as exc:
            self._storage_failed(str(explain(database.url, exc)))

    # -- the screens' and the bridge's messages -----------------------------------------

    def handle(self, message: Message) -> None:
        """The app forwards the stamping screen's messages and link problems here."""
        if isinstance(message, LinkProblem):
            if message.text is not None:
                self.app.notify(message.text, title="Device link", severity="error", timeout=8)
        elif self.screen is None or self.view is None:
            return
        elif isinstance(message, StampingScreen.StampsCounted):
            for credit in message.credits:
                self._pending[(credit.stamp.boot, credit.stamp.seq)] = credit.stamp
        elif isinstance(message, StampingScreen.TreatedZonesChanged):
            if self._attached:
                self._run(self._store_zones(), "session-zones", exclusive=True)
        elif isinstance(message, StampingScreen.Finished) and not self._busy:
            self._busy = True
            self._run(self._end_stamping(), "session-advance")

    def _tick(self) -> None:
        if self.view is None or self._finishing:
            return
        if self.bridge is not None:
            self._attach_when_known()
            if self._attached and self._pending and not self._flushing:
                self._flushing = True  # now, not when the worker starts: one flush at a time
                self._run(self._flush(), "session-credits")
            self._recheck()
        failed = self._save_failed_at
        if self._dirty and not self._saving and (failed is None or time.monotonic() - failed >= SAVE_RETRY_S):
            self._kick_save()

    # -- stamping ends ------------------------------------------------------------------

    async def _end_stamping(self) -> None:
        """The practitioner finished stamping: complete the step (or ask for an override), then move on."""
        try:
            self._recheck()
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
        result = blocked.blocking[0]
        screen = self.screen

        def apply(reason: str) -> Override:
            return self.change(lambda f: f.override(result.gate, reason, self._practitioner))

        def done(override: Override | None) -> None:
            if override is not None and not self._busy:
                self._busy = True
                self._run(self._end_stamping(), "session-advance")
            elif override is None and screen is not None:
                screen.stats.start(screen.stats.elapsed_s)  # back to stamping
                self.app.notify(str(blocked), title="Stamping goes on", severity="warning")

        self.app.push_screen(OverrideDialog(result, apply, who=self._practitioner, title=gate_title(result)), done)

    async def _close_link(self) -> None:
        """Disarm, store what the link has pending, close it and credit the stamps it stored."""
        bridge = self.bridge
        if bridge is None:
            return
        self._finishing = True  # the tick leaves the link alone from here
        try:
            await bridge.disarm()
            await bridge.aclose()  # stores and acknowledges what is pending
            screen = self.screen
            if screen is not None:
                # Stamps the link handed to the screen just before it closed are counted, and
                # the credits the screen had not posted yet are taken, so every stamp keeps its zone.
                await _drained(screen)
                for credit in screen.take_uncredited():
                    self._pending[(credit.stamp.boot, credit.stamp.seq)] = credit.stamp
            await _drained(self.app)  # credits already posted reach handle() first
            while self._flushing:
                await asyncio.sleep(0.02)
            if not self._attached:
                self._attach_when_known()
                while self._flushing:
                    await asyncio.sleep(0.02)
            if self._attached:
                await self._flush()
        finally:
            self.bridge = None
            self.sink = None
            self._finishing = False

    # -- crediting ----------------------------------------------------------------------

    async def _flush(self) -> None:
        """Credit the pending stamps the sink has stored; the others wait for the next tick."""
        view, database, sink = self.view, self.database, self.sink
        if view is None or database is None or sink is None or not self._pending:
            self._flushing = False
            return
        self._flushing = True
        try:
            stored = sink.take_stored(self._pending)
            batch = [self._pending.pop(key) for key in stored]
            if not batch:
                return

            def store() -> None:
                with database.Session.begin() as s:
                    credit_stamps(s, view.id, batch)

            try:
                await asyncio.to_thread(store)
            except SessionError as exc:
                self._notify_error(str(exc), "Stamps not credited")  # another session's: never retried
            except SQLAlchemyError as exc:
                for stamp in batch:  # stored, so crediting them again later is safe
                    self._pending[(stamp.boot, stamp.seq)] = stamp
                sink.put_back((stamp.boot, stamp.seq) for stamp in batch)
                self._storage_failed(str(explain(database.url, exc)))
            else:
                self._storage_problem = None
        finally:
            self._flushing = False

    # -- storing the step records -------------------------------------------------------

    def _mark(self, position: int) -> None:
        self._dirty.add(position)
        if self._save_failed_at is None:
            self._kick_save()

    def _kick_save(self) -> None:
        if self._saving or not self._dirty or self.database is None or self.view is None:
            return
        self._saving = True  # now, not when the worker starts: one writer at a time, in order
        self._run(self._save_records(self.database, self.view.id), "session-steps")

    async def _save_records(self, database: Database, session_id: int) -> None:
        try:
            while self._dirty and self._flow is not None:
                records = self._flow.records
                positions = sorted(position for position in self._dirty if position < len(records))
                self._dirty.clear()
                batch = [records[position] for position in positions]

                def store(batch: list[StepRecord] = batch) -> None:
                    with database.Session.begin() as s:
                        save_step_records(s, session_id, batch)

                try:
                    await asyncio.to_thread(store)
                except (SessionError, SQLAlchemyError) as exc:
                    self._dirty.update(positions)
                    self._save_failed_at = time.monotonic()
                    text = str(explain(database.url, exc)) if isinstance(exc, SQLAlchemyError) else str(exc)
                    self._storage_failed(f"step not stored yet (retrying): {text}")
                    return
                self._save_failed_at = None
        finally:
            self._saving = False

    async def saved(self, attempts: int = 3) -> bool:
        """Wait until every change of the flow is stored; False if storing keeps failing."""
        for _ in range(attempts):
            while self._saving:
                await asyncio.sleep(0.02)
            if not self._dirty:
                return True
            self._save_failed_at = None
            self._kick_save()
        while self._saving:
            await asyncio.sleep(0.02)
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
        self._finishing = True

        def store() -> SessionView:
            with database.Session.begin() as s:
                return finish_session(s, view.id, now=self.clock())

        try:
            finished = await asyncio.to_thread(store)
        except SessionError as exc:
            self._notify_error(str(exc), "Cannot finish")
            finished = await asyncio.to_thread(self._reread, database, view.id)
        except SQLAlchemyError as exc:
            self._notify_error(str(explain(database.url, exc)), "Database")
            self._finishing = False
            return
        screen = self.step_screen
        self._stop_timer()
        self.view = self._flow = None
        self.screen = self.step_screen = None
        self._pending.clear()
        self._finishing = False
        if screen is not None and screen in self.app.screen_stack:
            while self.app.screen is not screen:
                self.app.pop_screen()
            self.app.pop_screen()
        self.app.notify(f"{finished.label.capitalize()} finished for {finished.patient_code}.", title="Session")
        self._ended(finished)

    @staticmethod
    def _reread(database: Database, session_id: int) -> SessionView:
        with database.Session.begin() as s:
            return get_session(s, session_id)

    async def aclose(self) -> None:
        """The app is closing: close the link, credit and store what is pending; the session stays open."""
        self._stop_timer()
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            await bridge.aclose()
        while self._flushing:
            await asyncio.sleep(0.02)
        if self._attached and self._pending:
            await self._flush()  # what the link stored on closing, credited before the app goes
        if self._flow is not None and self._dirty:
            await self.saved(attempts=1)

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()

    # -- problems -----------------------------------------------------------------------

    def _storage_failed(self, text: str) -> None:
        if text != self._storage_problem:
            self._storage_problem = text
            self._notify_error(text, "Database")

    def _notify_error(self, text: str, title: str) -> None:
        log.warning("%s: %s", title, text)
        self.app.notify(text, title=title, severity="error", timeout=10)


async def _drained(pump: MessagePump, timeout: float = DRAIN_TIMEOUT_S) -> None:
    """Wait until ``pump`` has handled every message queued before now (at most ``timeout`` s)."""
    done = asyncio.Event()
    if not pump.call_later(done.set):
        return  # closed: nothing more will be handled
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except TimeoutError:
        log.warning("%s did not catch up within %.1f s", type(pump).__name__, timeout)
