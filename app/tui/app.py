"""The chairside Textual app: built by :func:`create_app` from an :class:`AppConfig`.

The app opens the database in a worker (never on the UI thread), then shows the start
screen. A database that cannot be opened is explained with the :class:`StorageError`
message, never a traceback. Starting a session is asked for with
:class:`~app.tui.screens.start.StartSessionRequested`: the app opens (or resumes) the course
and session in storage (in a worker), then its
:class:`~app.tui.session_controller.SessionController` walks the protocol's steps, from the
pre-session checks through stamping to the summary, and brings the start screen back when the
session is finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy.exc import SQLAlchemyError
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, LoadingIndicator

from app.domain.steps import Clock, utc_now
from app.domain.treatment_protocol import TreatmentProtocol, default_protocol
from app.storage.courses import CourseError
from app.storage.database import Database, open_database
from app.storage.errors import StorageError, explain
from app.storage.schedule import ScheduleError
from app.storage.sessions import SessionError, SessionView
from app.tui.course_start import CourseStarter
from app.tui.dialogs.confirm import ConfirmDialog
from app.tui.dialogs.storage_error import StorageErrorDialog
from app.tui.link_bridge import LinkProblem
from app.tui.screens.stamping import StampingScreen
from app.tui.screens.start import StartScreen, StartSessionRequested
from app.tui.session_controller import SessionController


@dataclass(frozen=True)
class AppConfig:
    """Everything the app is built from; tests pass their own database, protocol and clock.

    ``database`` is a URL or file path (``None``: ``$STAMPSIDE_DB`` or the default file),
    which the app opens and closes, or an already opened :class:`Database`, which the
    caller keeps and closes. ``cards_dir`` is where aftercare cards are written (``None``:
    an ``aftercare`` folder next to a SQLite file, else in the user data dir); ``tz`` the
    time zone clock times are shown in (``None``: the computer's). ``ble_hci`` is the bumble
    HCI spec a ``ble:`` device URL goes through (``None``: ``$STAMPSIDE_BLE_HCI``, else the OS
    Bluetooth).
    """

    database: str | Database | None = None
    device_url: str | None = None
    protocol: TreatmentProtocol = field(default_factory=default_protocol)
    clock: Clock = utc_now
    cards_dir: Path | None = None
    tz: tzinfo | None = None
    ble_hci: str | None = None


class StampsideApp(App[None]):
    """Header, footer with the keys, the command palette, and the start screen."""

    TITLE = "Stampside"
    SUB_TITLE = "chairside"
    CSS_PATH = "styles/app.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "request_quit", "Quit", priority=True, show=False),
        Binding("q", "request_quit", "Quit"),
    ]

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config
        self.database: Database | None = config.database if isinstance(config.database, Database) else None
        self._owns_database = not isinstance(config.database, Database)
        #: The session started or resumed in this run, until it is finished.
        self.open_session: SessionView | None = None
        self.session_controller = SessionController(
            self,
            device_url=config.device_url,
            ble_hci=config.ble_hci,
            protocol=config.protocol,
            clock=config.clock,
            ended=self._session_ended,
            cards_dir=config.cards_dir,
            tz=config.tz,
        )

    def compose(self) -> ComposeResult:
        yield Header()
        yield LoadingIndicator(id="opening-database")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.config.protocol.label}" + (
            f" · device {self.config.device_url}" if self.config.device_url else " · no device"
        )
        if self.database is not None:
            self._show_start()
        else:
            self._open_database()

    @work(exclusive=True, group="database")
    async def _open_database(self) -> None:
        url = self.config.database if isinstance(self.config.database, str) else None
        try:
            database = await asyncio.to_thread(open_database, url)
        except StorageError as exc:
            await self.push_screen(StorageErrorDialog(str(exc)))
            return
        self.database = database
        self._show_start()

    def _show_start(self) -> None:
        assert self.database is not None
        config = self.config
        self.push_screen(StartScreen(self.database, config.clock, protocol=config.protocol, tz=config.tz))

    async def on_unmount(self) -> None:
        await self.session_controller.aclose()
        if self._owns_database and self.database is not None:
            self.database.close()

    # -- starting a session -------------------------------------------------------------------

    @on(StartSessionRequested)
    def _start_session(self, message: StartSessionRequested) -> None:
        if self.database is None:
            return
        if self.session_controller.active:
            self.notify("A session is already open in this run.", severity="warning")
            return
        self.run_worker(self._open_session(self.database, message), group="start-session", exclusive=True)

    async def _open_session(self, database: Database, message: StartSessionRequested) -> None:
        """Open (or find, to resume) the session in storage, off the UI thread, then run its steps."""

        config = self.config
        starter = CourseStarter(self, database, protocol=config.protocol, clock=config.clock, tz=config.tz)
        try:
            opened = await starter.open(
                patient_id=message.patient_id,
                practitioner_id=message.practitioner_id,
                who=message.practitioner_name or "practitioner",
                resume_session_id=message.resume_session_id,
            )
        except (CourseError, SessionError, ScheduleError, StorageError) as exc:
            self.notify(str(exc), title="Cannot start", severity="error", timeout=8)
            return
        except SQLAlchemyError as exc:
            self.notify(str(explain(database.url, exc)), title="Database", severity="error", timeout=10)
            return
        if isinstance(self.screen, StartScreen):
            self.screen.refresh_course()
        if opened is None:
            return
        view, verb = opened
        self.open_session = view
        self.notify(
            f"Session {view.number} {verb} for {view.patient_code} ({view.number} of {view.planned_sessions})",
            title="Session",
        )
        if isinstance(self.screen, StartScreen):
            self.screen.refresh_course()
        self.session_controller.begin(database, view, message.practitioner_name or None)

    @on(StampingScreen.StampsCounted)
    @on(StampingScreen.TreatedZonesChanged)
    @on(StampingScreen.Finished)
    @on(LinkProblem)
    def _to_session_controller(self, message: Message) -> None:
        self.session_controller.handle(message)

    def _session_ended(self, view: SessionView) -> None:
        self.open_session = None
        if isinstance(self.screen, StartScreen):
            self.screen.refresh_course()

    # -- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, StartScreen):
            yield SystemCommand("Add practitioner", "Add a practitioner by name", screen.action_add_practitioner)
            yield SystemCommand("New patient", "Create a patient (pseudonymous code)", screen.action_new_patient)
            yield SystemCommand(
                "Start or resume session", "For the chosen practitioner and patient", screen.action_start_session
            )
            yield SystemCommand("Screening", "The chosen patient's screening form (c)", screen.action_screening)
            yield SystemCommand("Photos", "Register and compare the course's photos (p)", screen.action_photos)
            yield SystemCommand("Outcomes", "Assessment, questionnaire, adverse events (o)", screen.action_outcomes)
            yield SystemCommand("Blinded rating", "Rate before/after pairs unlabeled (b)", screen.action_blinded)

    # -- quitting -----------------------------------------------------------------------------

    def action_request_quit(self) -> None:
        """Quit; with a session open, ask first (it stays open and can be resumed)."""
        if self.open_session is None:
            self.exit()
            return

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        self.push_screen(
            ConfirmDialog(
                f"Session {self.open_session.number} for {self.open_session.patient_code} is open.\n"
                "Quit anyway? It stays open and can be resumed at the next start.",
                confirm_label="Quit",
                cancel_label="Stay",
            ),
            answered,
        )


def create_app(config: AppConfig | None = None) -> StampsideApp:
    """Build the app; tests pass a config with their database, protocol and clock."""
    return StampsideApp(config or AppConfig())
