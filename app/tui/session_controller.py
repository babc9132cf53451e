"""From "Start session" to the stamping screen and back: the app's treatment session wiring.

The app owns one :class:`SessionController`. When a session is started or resumed,
:meth:`SessionController.begin` (with a device URL configured):

* reads the patient's Norwood grade and, on resume, the stamps already credited, off the UI
  thread, and builds a :class:`~app.tui.screens.stamping.StampingScreen` from the protocol
  with those treated zones (the stored ones on resume; all five if the grade is unknown) and
  the stored footprint (100 mm² until DEVICE_INFO says otherwise);
* opens a :class:`~app.tui.link_bridge.LinkBridge` (armed) whose database sink tags new
  stamps with the session, and points it at the screen;
* once the device is known, stores the treated zones and the device and head
  (:func:`~app.storage.sessions.set_zones`, :func:`~app.storage.sessions.attach_device`).

While stamping, the app hands it the screen's messages (:meth:`SessionController.handle`):
counted stamps are credited to the session with their zones in batches, in a worker thread,
once the sink has stored them (the link publishes stamps before it commits them); a
:class:`~app.tui.link_bridge.LinkProblem` becomes an error notification; "finish" closes the
link, credits what is left, finishes the session in storage and pops back to the start
screen. Nothing here raises into the UI: storage failures become notifications.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from textual.app import App
from textual.message import Message
from textual.timer import Timer

from app.domain.coverage import CreditedStamp, StampKey
from app.domain.steps import Clock
from app.domain.treatment_protocol import TreatmentProtocol
from app.domain.zones import Zone
from app.storage.database import Database
from app.storage.errors import StorageError, explain
from app.storage.patients import get_patient
from app.storage.session_stamps import credit_stamps, load_credited_stamps
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
from app.tui.link_bridge import LinkBridge, LinkProblem
from app.tui.screens.stamping import StampingScreen
from devicelink.session import LinkOptions
from devicelink.sink import CommitBatch, Cursor
from firmware_protocol import DeviceInfo

log = logging.getLogger(__name__)

NO_DEVICE_TEXT = "no device configured: start with --device URL (or stampside demo)"
#: The head footprint assumed until the device reports its own.
DEFAULT_FOOTPRINT_MM2 = 100
#: How often pending credits are written and the device is checked for.
TICK_S = 0.25


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
    """What :meth:`SessionController.begin` reads from storage before showing the screen."""

    treated: frozenset[Zone]
    credited: list[CreditedStamp]


class SessionController:
    """Runs the open treatment session's stamping step for the app (one session at a time).

    ``ended`` is called on the UI thread after a session was finished and its screen popped.
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
    ) -> None:
        self.app = app
        self.device_url = device_url
        self.protocol = protocol
        self.clock = clock
        self.link_options = link_options
        self._ended = ended
        self.database: Database | None = None
        self.view: SessionView | None = None
        self.screen: StampingScreen | None = None
        self.bridge: LinkBridge | None = None
        self.sink: SessionSink | None = None
        #: (serial, head id, footprint) last stored with the session.
        self._attached_head: tuple[str, int, int] | None = None
        self._pending: dict[StampKey, CreditedStamp] = {}
        self._flushing = False
        self._finishing = False
        self._storage_problem: str | None = None
        self._timer: Timer | None = None

    @property
    def _attached(self) -> bool:
        return self._attached_head is not None

    @property
    def active(self) -> bool:
        """A stamping screen is up for a session."""
        return self.view is not None

    # -- starting -------------------------------------------------------------------------

    def begin(self, database: Database, view: SessionView) -> None:
        """Show the stamping step of ``view`` (new or resumed), linked to the device."""
        if self.device_url is None:
            self.app.notify(NO_DEVICE_TEXT, title="Device", severity="warning", timeout=8)
            return
        if self.view is not None:
            self.app.notify(f"{self.view.label.capitalize()} is already being stamped.", severity="warning")
            return
        self.app.run_worker(self._begin(database, view, self.device_url), group="session", exclusive=True)

    async def _begin(self, database: Database, view: SessionView, device_url: str) -> None:
        try:
            prepared = await asyncio.to_thread(self._prepare, database, view)
        except SQLAlchemyError as exc:
            self._notify_error(str(explain(database.url, exc)), "Database")
            return
        except (SessionError, StorageError) as exc:
            self._notify_error(str(exc), "Cannot start stamping")
            return
        screen = StampingScreen.for_protocol(
            self.protocol, prepared.treated, view.footprint_mm2 or DEFAULT_FOOTPRINT_MM2
        )
        if prepared.credited:
            screen.coverage.load(prepared.credited)
        loop = asyncio.get_running_loop()
        sink = SessionSink(
            database,
            session_id=view.id,
            # From the link's worker thread, during the handshake: on the loop before any stamp.
            on_device=lambda info: loop.call_soon_threadsafe(self._apply_footprint, info.footprint_mm2),
        )
        bridge = LinkBridge(device_url, sink=sink, arm=True, options=self.link_options, target=screen)
        self.database, self.view, self.screen, self.sink, self.bridge = database, view, screen, sink, bridge
        self._attached_head = None
        self._pending.clear()
        await self.app.push_screen(screen)
        self._timer = self.app.set_interval(TICK_S, self._tick, name="session controller")
        await bridge.start()  # a port that cannot be opened is a LinkProblem, shown by handle()

    def _prepare(self, database: Database, view: SessionView) -> _Prepared:
        with database.Session.begin() as s:
            if view.zones:
                treated = frozenset(setting.zone for setting in view.zones)
            else:
                patient = get_patient(s, view.patient_id)
                grade = patient.norwood_grade if patient is not None else None
                treated = grade.default_zones if grade is not None else frozenset(Zone)
            credited = load_credited_stamps(s, view.id) if view.device_id is not None else []
        return _Prepared(treated, credited)

    # -- the screen's and the bridge's messages -------------------------------------------

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
                self.app.run_worker(self._store_zones(), group="session-zones", exclusive=True)
        elif isinstance(message, StampingScreen.Finished) and not self._finishing:
            self._finishing = True
            self.app.run_worker(self._finish(), group="session-finish", exclusive=True)

    def _tick(self) -> None:
        if self.view is None or self._finishing:
            return
        self._attach_when_known()
        if self._attached and self._pending and not self._flushing:
            self._flushing = True  # now, not when the worker starts: one flush at a time
            self.app.run_worker(self._flush(), group="session-credits")

    # -- device and zones -----------------------------------------------------------------

    def _zone_settings(self) -> list[ZoneSetting]:
        assert self.screen is not None
        coverage = self.screen.coverage
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
        self.app.run_worker(self._attach(device), group="session-credits")

    async def _attach(self, device: tuple[str, int, int]) -> None:
        serial, head_id, _ = device
        view, database, screen = self.view, self.database, self.screen
        assert screen is not None
        footprint = screen.coverage.footprint_mm2
        assert view is not None and database is not None
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

    # -- crediting ------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Credit the pending stamps the sink has stored; the others wait for the next tick."""
        view, database, sink = self.view, self.database, self.sink
        if view is None or database is None or sink is None or not self._pending:
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

    # -- finishing ------------------------------------------------------------------------

    async def _finish(self) -> None:
        view, database, bridge = self.view, self.database, self.bridge
        assert view is not None and database is not None
        if bridge is not None:
            await bridge.aclose()  # stores and acknowledges what is pending
        while self._flushing:
            await asyncio.sleep(0.02)
        if not self._attached:
            self._attach_when_known()
            while self._flushing:
                await asyncio.sleep(0.02)
        if self._attached:
            await self._flush()

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
        screen = self.screen
        self._stop_timer()
        self.view = self.screen = self.bridge = self.sink = None
        self._pending.clear()
        self._finishing = False
        if screen is not None and self.app.screen is screen:
            self.app.pop_screen()
        self.app.notify(f"{finished.label.capitalize()} finished for {finished.patient_code}.", title="Session")
        self._ended(finished)

    @staticmethod
    def _reread(database: Database, session_id: int) -> SessionView:
        with database.Session.begin() as s:
            return get_session(s, session_id)

    async def aclose(self) -> None:
        """Close the link and credit what it stored (the app is closing); the session stays open for resuming."""
        self._stop_timer()
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            await bridge.aclose()
        while self._flushing:
            await asyncio.sleep(0.02)
        if self._attached and self._pending:
            await self._flush()  # what the link stored on closing, credited before the app goes

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()

    # -- problems -------------------------------------------------------------------------

    def _storage_failed(self, text: str) -> None:
        if text != self._storage_problem:
            self._storage_problem = text
            self._notify_error(text, "Database")

    def _notify_error(self, text: str, title: str) -> None:
        log.warning("%s: %s", title, text)
        self.app.notify(text, title=title, severity="error", timeout=10)
