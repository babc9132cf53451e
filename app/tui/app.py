"""The chairside Textual app: built by :func:`create_app` from an :class:`AppConfig`.

The app opens the database in a worker (never on the UI thread), then shows the start
screen and, over it, asks who is at the chair: the practitioner signs in with their PIN
(:class:`~stampside.app.tui.signed_in.SignedIn`, which also locks the app after the settings'
``idle_lock_minutes`` without a key). A database that cannot be opened is explained with the
:class:`StorageError` message, never a traceback. Starting a session is asked for with
:class:`~stampside.app.tui.screens.start.StartSessionRequested`: the app opens (or resumes) the course
and session in storage (in a worker), then its
:class:`~stampside.app.tui.session_controller.SessionController` walks the protocol's steps, from the
pre-session checks through stamping to the summary, and brings the start screen back when the
session is finished.

The first frame (header, footer, the "opening the database" indicator) is painted before
anything heavy is imported: the settings' checks (pydantic-settings), the storage layer
(SQLAlchemy, Alembic), the built-in protocol's models (pydantic) and the screens are imported
in the worker that opens the database, after that first paint. Once the start screen is up,
``gc.freeze()`` takes the long-lived objects of start-up out of the garbage collector's reach,
so its full collections stay short.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, overload

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, LoadingIndicator

from stampside.app.settings import Settings, SettingsError, SettingsFile
from stampside.app.tui.ordered_keys import OrderedKeys
from stampside.app.tui.widgets.header import AppHeader

if TYPE_CHECKING:
    from textual.command import Provider

    from stampside.app.chairside.sign_in_peek import SignInChoice
    from stampside.app.domain.signatures import Signer
    from stampside.app.domain.steps import Clock
    from stampside.app.domain.treatment_protocol import TreatmentProtocol
    from stampside.app.storage.database import Database
    from stampside.app.storage.sessions import SessionView
    from stampside.app.tui.link_bridge import DeviceNotice, LinkProblem
    from stampside.app.tui.screens.stamping import StampingScreen
    from stampside.app.tui.screens.start import StartScreen, StartSessionRequested
    from stampside.app.tui.session_controller import SessionController
    from stampside.app.tui.signed_in import SignedIn


def utc_now() -> datetime:
    """The default clock, as :func:`stampside.app.domain.steps.utc_now` (not imported before the first paint)."""
    return datetime.now(UTC)


class _BuiltInProtocolUnlessGiven:
    """:attr:`AppConfig.protocol`: the protocol given, else the built-in one, built on first use.

    Building the built-in protocol imports its pydantic models (~0.1 s), which the app does in
    its worker after the first paint rather than before it. ``None`` (the default) means the
    built-in protocol.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, obj: None, owner: Any) -> None: ...
    @overload
    def __get__(self, obj: AppConfig, owner: Any) -> TreatmentProtocol: ...
    def __get__(self, obj: AppConfig | None, owner: Any) -> TreatmentProtocol | None:
        if obj is None:
            return None  # the dataclass's default
        protocol: TreatmentProtocol | None = obj.__dict__.get(self._slot)
        if protocol is None:
            from stampside.app.domain.treatment_protocol import default_protocol

            protocol = obj.__dict__[self._slot] = default_protocol()
        return protocol

    def __set__(self, obj: AppConfig, value: TreatmentProtocol | None) -> None:
        obj.__dict__[self._slot] = value

    def loaded(self, obj: AppConfig) -> bool:
        """Whether the protocol is already at hand (given, or built)."""
        return obj.__dict__.get(self._slot) is not None


@dataclass(frozen=True)
class AppConfig:
    """Everything the app is built from; tests pass their own database, protocol and clock.

    ``database`` is a URL or file path (``None``: the settings' database,
    :meth:`Settings.resolve_database_url`), which the app opens and closes, or an already opened
    :class:`Database`, which the caller keeps and closes. ``cards_dir`` is where aftercare cards
    are written (``None``: an ``aftercare`` folder next to a SQLite file, else in the settings'
    data folder or the user data dir); ``tz`` the time zone clock times are shown in (``None``:
    the settings', else the computer's). ``ble_hci`` is the bumble HCI spec a ``ble:`` device URL
    goes through (``None``: ``$STAMPSIDE_BLE_HCI``, else the OS Bluetooth). ``idle_clock`` is the
    monotonic clock the idle lock counts minutes without a key on (tests move their own on).

    ``settings`` are the clinic's (:mod:`stampside.app.settings`). Given as :class:`Settings` (tests, ``stampside
    demo``) they are used as they are; given as the :class:`SettingsFile` that ``stampside app``
    read, the app checks its values together with the environment's in its worker, after the first
    paint, and a wrong one ends the app with exit code 2 and :attr:`StampsideApp.settings_problem`.
    """

    database: str | Database | None = None
    device_url: str | None = None
    protocol: _BuiltInProtocolUnlessGiven = _BuiltInProtocolUnlessGiven()
    clock: Clock = utc_now
    cards_dir: Path | None = None
    tz: tzinfo | None = None
    ble_hci: str | None = None
    settings: Settings | SettingsFile = field(default_factory=Settings)
    idle_clock: Callable[[], float] = time.monotonic


#: Textual's system commands the app replaces with its own (:mod:`stampside.app.tui.commands`).
REPLACED_SYSTEM_COMMANDS = frozenset({"Screenshot", "Quit"})
#: The app's own actions that wait while the sign-in (or the lock) covers the app: nothing of a patient
#: is shown or written for someone who has not signed in.
LOCKED_ACTIONS = frozenset(
    {"command_palette", "help", "foot_advance", "foot_next_zone", "save_screenshot", "export_stamps"}
)


def _app_commands() -> type[Provider]:
    """The app's command provider, imported when the palette first opens."""
    from stampside.app.tui.commands import StampsideCommands

    return StampsideCommands


class StampsideApp(OrderedKeys):
    """Header, footer with the keys, the command palette, and the start screen.

    Keys typed ahead are handed on one at a time, each after the previous one has settled
    (:mod:`stampside.app.tui.ordered_keys`), so a burst never lands in the field it was meant to leave.
    """

    TITLE = "Stampside"
    SUB_TITLE = "chairside"
    CSS_PATH = "styles/app.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "request_quit", "Quit", priority=True, show=False),
        Binding("q", "request_quit", "Quit"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("f1", "help", "Help", show=False, priority=True),
    ]
    COMMANDS = App.COMMANDS | {_app_commands}

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config
        given = config.database
        #: A URL or path (or None) is opened by the app; an opened Database is the caller's to close.
        self._owns_database = given is None or isinstance(given, str)
        self.database: Database | None = None if given is None or isinstance(given, str) else given
        #: The session started or resumed in this run, until it is finished.
        self.open_session: SessionView | None = None
        #: The newest screenshot saved from the command palette.
        self.last_screenshot: Path | None = None
        #: The clinic's settings in effect (the defaults until a settings file's are checked in the worker).
        self.settings = config.settings if isinstance(config.settings, Settings) else Settings()
        #: Why the app ended at start-up: a wrong setting (``stampside app`` prints it, exit code 2).
        self.settings_problem: str | None = None
        self._bind_foot_switch(self.settings)

    def _folder(self, name: str) -> Path | None:
        """``name/`` for the open database's files (:meth:`Settings.folder`); ``None`` before it is open."""
        return None if self.database is None else self.settings.folder(self.database.url, name)

    @property
    def tz(self) -> tzinfo | None:
        """The time zone dates and times are shown in: the config's, else the settings' (``None``: the computer's)."""
        return self.config.tz if self.config.tz is not None else self.settings.tz

    def _bind_foot_switch(self, settings: Settings) -> None:
        """The clinic's foot switch keys (``[keys]`` in the settings): advance and next zone, whatever has the focus."""
        keys = settings.keys
        if keys.advance:
            self._bindings.bind(",".join(keys.advance), "foot_advance", "Advance", show=False, priority=True)
        if keys.next_zone:
            self._bindings.bind(",".join(keys.next_zone), "foot_next_zone", "Next zone", show=False, priority=True)

    async def _check_settings(self, given: SettingsFile) -> bool:
        """In the worker: the settings file's values with the environment's, checked off the UI thread
        (importing pydantic-settings there); a wrong one ends the app (:attr:`settings_problem`, exit code 2)."""
        try:
            self.settings = await asyncio.to_thread(given.settings)
        except SettingsError as exc:
            self.settings_problem = str(exc)
            self.exit(return_code=2)
            return False
        self._bind_foot_switch(self.settings)
        return True

    async def action_foot_advance(self) -> None:
        """The foot switch's advance: the screen's main action (a step's, the stamping's), or in a dialog the
        focused button, which is its safe answer."""
        from textual.widgets import Button

        screen = self.screen
        advance = getattr(screen, "action_advance", None)
        if advance is not None:
            await self.run_action("advance", screen)
        elif isinstance(screen.focused, Button):
            screen.focused.press()

    async def action_foot_next_zone(self) -> None:
        """The foot switch's next zone: on the stamping screen, the next treated zone becomes the active one."""
        screen = self.screen
        if getattr(screen, "action_next_zone", None) is not None:
            await self.run_action("next_zone", screen)

    @cached_property
    def signed_in(self) -> SignedIn:
        """Who is at the chair, and the idle lock; made when the start screen first shows."""
        from stampside.app.tui.signed_in import SignedIn

        return SignedIn(
            self,
            clock=self.config.clock,
            idle_clock=self.config.idle_clock,
            idle_minutes=self.settings.idle_lock_minutes,
        )

    async def on_event(self, event: events.Event) -> None:
        """Every key or click the terminal sends keeps the idle lock away."""
        if isinstance(event, events.Key | events.MouseDown) and "signed_in" in self.__dict__:
            self.signed_in.touch()
        await super().on_event(event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LOCKED_ACTIONS and "signed_in" in self.__dict__ and self.signed_in.locked:
            return False
        return super().check_action(action, parameters)

    @cached_property
    def session_controller(self) -> SessionController:
        """Walks a session's steps; made on first use (its modules are not needed for the first paint)."""
        from stampside.app.chairside.session_cases import CARDS_FOLDER
        from stampside.app.tui.session_controller import SessionController

        config = self.config
        return SessionController(
            self,
            device_url=config.device_url,
            ble_hci=config.ble_hci,
            protocol=config.protocol,
            clock=config.clock,
            ended=self._session_ended,
            cards_dir=config.cards_dir or self._folder(CARDS_FOLDER),
            tz=self.tz,
            clinic=self.settings.clinic,
            signed_in=self.signed_in,
            chair=self.settings.chair_name,
        )

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield LoadingIndicator(id="opening-database")
        yield Footer()

    def on_mount(self) -> None:
        self._show_sub_title()
        if self.database is not None and isinstance(self.config.settings, Settings):
            self._show_start()
        else:
            # Paint the first frame, then check the settings, import storage and open the database in a worker.
            self.call_after_refresh(self._open_database)

    def _show_sub_title(self) -> None:
        device = f" · device {self.config.device_url}" if self.config.device_url else " · no device"
        if AppConfig.__dict__["protocol"].loaded(self.config):
            self.sub_title = f"{self.config.protocol.label}{device}"
        else:  # until the built-in protocol is built in the worker
            self.sub_title = f"{self.SUB_TITLE}{device}"

    @work(exclusive=True, group="database")
    async def _open_database(self) -> None:
        url = self.config.database if isinstance(self.config.database, str) else None
        # Who is at the chair, first: for a SQLite file the sign-in screen shows its list at once
        # (read with Python's own sqlite3, read only), while the settings are checked, storage is
        # imported and the database opened behind it; the start screen follows the sign-in. See
        # chairside/sign_in_peek.py. The file read is the one the settings most likely name (they
        # are not checked yet); once the database they do name is open, the screen reads its list
        # again from it, and a PIN is checked only against that list.
        preview = None
        if self.database is None:
            preview = await asyncio.to_thread(_peek_sign_in, url, self.config.settings)
        if preview is not None:
            self._stop_loading_indicator()  # covered from now on: no animation drawn beneath the sign-in
            self.signed_in.on_change(self._signed_in_as)
            self.signed_in.start_early(preview, self._first_signed_in)
            await self._next_frame()  # its list on screen before the checks and imports take the loop's thread
        if isinstance(self.config.settings, SettingsFile) and not await self._check_settings(self.config.settings):
            return
        if preview is not None:
            self.signed_in.set_idle_minutes(self.settings.idle_lock_minutes)  # the checked settings' now
        if self.database is not None:
            self._show_start()
            return
        opened = await asyncio.to_thread(_load_and_open, self.config, url, self.settings)
        self._show_sub_title()
        if isinstance(opened, str):
            from stampside.app.tui.dialogs.storage_error import StorageErrorDialog

            await self.push_screen(StorageErrorDialog(opened))
            return
        self.database = opened
        if preview is None:
            self._show_start()
            return
        self.signed_in.attach(opened)
        self._after_start()

    async def _next_frame(self) -> None:
        """Return once the screen has been refreshed (what was pushed is drawn)."""
        drawn = asyncio.Event()
        self.call_after_refresh(drawn.set)
        await drawn.wait()

    def _first_signed_in(self, signer: Signer) -> None:
        """Signed in on the early sign-in screen (so the database is open): the start screen now, as them."""
        start = self._start_screen()
        start.signed_in_as(signer)
        self.push_screen(start)
        start.offer_resume()

    def _show_start(self) -> None:
        start = self._start_screen()
        self.push_screen(start)
        self.signed_in.on_change(self._signed_in_as)
        assert self.database is not None
        self.signed_in.start(self.database, lambda _signer: start.offer_resume())
        self._after_start()

    def _after_start(self) -> None:
        self.call_after_refresh(self._import_session_modules)
        # Start-up's long-lived objects (modules, CSS, widgets, SQLAlchemy's mappers) need no
        # more collecting: out of the collector's reach, a full collection stays short. Headless
        # too (the tests' Pilot): the loop the link runs on must not stall there either.
        self.call_after_refresh(gc.freeze)

    def _stop_loading_indicator(self) -> None:
        """The indicator beneath the first screen over it is not seen again: stop its 16 Hz animation."""
        for indicator in self.screen_stack[0].query(LoadingIndicator):
            indicator.auto_refresh = None

    def _start_screen(self) -> StartScreen:
        from stampside.app.tui.screens.start import StartScreen

        assert self.database is not None
        config = self.config
        self._stop_loading_indicator()
        from stampside.app.chairside.records import REPORTS_FOLDER

        start = StartScreen(
            self.database,
            config.clock,
            protocol=config.protocol,
            tz=self.tz,
            reports_dir=self._folder(REPORTS_FOLDER),
            chair=self.settings.chair_name,
        )
        return start

    @work(thread=True, group="session-modules")
    def _import_session_modules(self) -> None:
        """Once the start screen is up, in a thread: the session's modules, for the first start."""
        import stampside.app.tui.session_controller  # noqa: F401

    async def on_unmount(self) -> None:
        if "session_controller" in self.__dict__:
            await self.session_controller.aclose()
        if self._owns_database and self.database is not None:
            self.database.close()

    def _signed_in_as(self, signer: Signer) -> None:
        """Another practitioner signed in: the start screen and the open session go on as them."""
        from stampside.app.tui.screens.start import StartScreen

        for screen in self.screen_stack:
            if isinstance(screen, StartScreen):
                screen.signed_in_as(signer)
        if "session_controller" in self.__dict__:
            self.session_controller.signed_in_as(signer.name)

    def action_lock(self) -> None:
        """Lock the app now (the start screen's ``l``, the command palette): a PIN unlocks it."""
        if "signed_in" in self.__dict__:
            self.signed_in.lock()

    def action_switch_practitioner(self) -> None:
        """Another practitioner signs in with their PIN (the start screen's ``w``)."""
        if "signed_in" in self.__dict__:
            self.signed_in.switch()

    # -- starting a session -------------------------------------------------------------------

    def on_start_session_requested(self, message: StartSessionRequested) -> None:
        if self.database is None:
            return
        if self.session_controller.active:
            self.notify("A session is already open in this run.", severity="warning")
            return
        self.run_worker(self._open_session(self.database, message), group="start-session", exclusive=True)

    async def _open_session(self, database: Database, message: StartSessionRequested) -> None:
        """Open (or find, to resume) the session in storage, off the UI thread, then run its steps."""
        from sqlalchemy.exc import SQLAlchemyError

        from stampside.app.storage.claims import SessionClaimed
        from stampside.app.storage.courses import CourseError
        from stampside.app.storage.errors import StorageError, explain
        from stampside.app.storage.schedule import ScheduleError
        from stampside.app.storage.sessions import SessionError
        from stampside.app.tui.course_start import CourseStarter
        from stampside.app.tui.screens.start import StartScreen

        config = self.config
        starter = CourseStarter(
            self,
            database,
            protocol=config.protocol,
            clock=config.clock,
            tz=self.tz,
            sign=self.signed_in.sign_dialog,
            chair=self.settings.chair_name,
        )
        try:
            opened = await starter.open(
                patient_id=message.patient_id,
                practitioner_id=message.practitioner_id,
                who=message.practitioner_name or "practitioner",
                resume_session_id=message.resume_session_id,
            )
        except SessionClaimed as exc:
            # Another chair has this patient's session open: read only here, and the panel says who has it.
            self.notify(exc.describe(self.tz), title="Open at another chair", severity="warning", timeout=10)
            if isinstance(self.screen, StartScreen):
                self.screen.refresh_course()
            return
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

    # The session controller's messages, by Textual's handler names (the message classes are
    # not imported before the first paint, so no ``@on`` here).
    def on_stamping_screen_active_zone_changed(self, message: StampingScreen.ActiveZoneChanged) -> None:
        self.session_controller.handle(message)

    def on_stamping_screen_arm_requested(self, message: StampingScreen.ArmRequested) -> None:
        self.session_controller.handle(message)

    def on_stamping_screen_disarm_requested(self, message: StampingScreen.DisarmRequested) -> None:
        self.session_controller.handle(message)

    def on_stamping_screen_treated_zones_changed(self, message: StampingScreen.TreatedZonesChanged) -> None:
        self.session_controller.handle(message)

    def on_stamping_screen_finished(self, message: StampingScreen.Finished) -> None:
        self.session_controller.handle(message)

    def on_link_problem(self, message: LinkProblem) -> None:
        self.session_controller.handle(message)

    def on_device_notice(self, message: DeviceNotice) -> None:
        self.notify(message.text, title="The stamp says", severity=message.severity, timeout=10)  # type: ignore[arg-type]

    def _session_ended(self, view: SessionView) -> None:
        from stampside.app.tui.screens.start import StartScreen

        self.open_session = None
        if isinstance(self.screen, StartScreen):
            self.screen.refresh_course()

    # -- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own (theme, keys, …) but its Screenshot and Quit: the app's own do those
        (:mod:`stampside.app.tui.commands`: the SVG goes into the data folder, quitting asks about an open session)."""
        for command in super().get_system_commands(screen):
            if command.title not in REPLACED_SYSTEM_COMMANDS:
                yield command

    def action_help(self) -> None:
        """``?`` (or F1): this screen's keys and, on a step, what the step requires."""
        from stampside.app.tui.dialogs.help import HelpDialog, help_for

        if isinstance(self.screen, HelpDialog):
            return
        self.push_screen(HelpDialog(help_for(self.screen, self.active_bindings)))

    async def action_save_screenshot(self) -> None:
        """This screen as SVG into the data folder's ``screenshots/`` (beside a SQLite file, else the user data dir)."""
        from stampside.app.chairside.records import SCREENSHOTS_FOLDER

        url = self.database.url if self.database is not None else None
        if url is None:
            from sqlalchemy.engine import make_url

            given = self.config.database if isinstance(self.config.database, str) else None
            url = make_url(self.settings.resolve_database_url(given))
        folder = self.settings.folder(url, SCREENSHOTS_FOLDER)
        name = f"stampside-{self.config.clock():%Y%m%d-%H%M%S}.svg"
        try:
            path = await asyncio.to_thread(self._write_screenshot, folder, name)
        except OSError as exc:
            self.notify(
                f"Could not save the screenshot in {folder}: {exc.strerror or exc}",
                title="Screenshot",
                severity="error",
                timeout=10,
            )
            return
        self.last_screenshot = path
        self.notify(f"Saved:\n{path}", title="Screenshot", timeout=8)

    def _write_screenshot(self, folder: Path, name: str) -> Path:
        """The SVG, 0600 in a 0700 folder (a screenshot can show a patient's name)."""
        from stampside.app.storage.private_files import make_private_folder, write_private_text

        return write_private_text(make_private_folder(folder) / name, self.export_screenshot())

    async def action_export_stamps(self) -> None:
        """Every stored stamp as CSV into the data folder's ``exports/`` (the columns of ``stampside export``)."""
        from sqlalchemy.exc import SQLAlchemyError

        from stampside.app.chairside.records import EXPORTS_FOLDER, export_stamps
        from stampside.app.storage.errors import explain

        database = self.database
        if database is None:
            self.notify("The database is not open yet.", title="Export", severity="warning")
            return
        try:
            folder = self.settings.folder(database.url, EXPORTS_FOLDER)
            written = await asyncio.to_thread(export_stamps, database, now=self.config.clock(), folder=folder)
        except SQLAlchemyError as exc:
            self.notify(str(explain(database.url, exc)), title="Database", severity="error", timeout=10)
            return
        except OSError as exc:
            self.notify(f"The export could not be written: {exc.strerror or exc}", title="Export", severity="error")
            return
        self.notify(f"{written.what.capitalize()}:\n{written.path}", title="Export", timeout=10)

    # -- quitting -----------------------------------------------------------------------------

    def action_request_quit(self) -> None:
        """Quit; with a session open, ask first (it stays open and can be resumed)."""
        if self.open_session is None:
            self.exit()
            return
        from stampside.app.tui.dialogs.confirm import ConfirmDialog

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


def _peek_sign_in(url: str | None, settings: Settings | SettingsFile | None) -> list[SignInChoice] | None:
    """In a thread, before storage is imported and the settings are checked: who can sign in at the
    database the settings most likely name, for a SQLite file
    (:func:`~stampside.app.chairside.sign_in_peek.peek_sign_in_choices`); ``None``: wait for storage."""
    from stampside.app.chairside.sign_in_peek import peek_sign_in_choices
    from stampside.app.storage.location import (
        DB_ENV_VAR,
        DEFAULT_FILE_NAME,
        default_database_path,
        expand_home,
        normalize_database_url,
    )

    try:
        raw = settings.data or {} if isinstance(settings, SettingsFile) else {}
        if isinstance(settings, Settings):
            guess = settings.resolve_database_url(url)
        elif url:
            guess = normalize_database_url(url)
        elif os.environ.get(DB_ENV_VAR, "").strip():
            guess = normalize_database_url(os.environ[DB_ENV_VAR])
        elif isinstance(raw.get("db"), str):  # as Settings.database_url reads the file
            guess = normalize_database_url(str(raw["db"]))
        elif isinstance(raw.get("data_folder"), str):
            guess = f"sqlite:///{expand_home(Path(str(raw['data_folder']))) / DEFAULT_FILE_NAME}"
        else:
            guess = f"sqlite:///{default_database_path()}"
        return peek_sign_in_choices(guess)
    except (OSError, ValueError):  # the data folder could not be made: opening the database says so
        return None


def _load_and_open(config: AppConfig, url: str | None, settings: Settings) -> Database | str:
    """In the worker, after the first paint: build the protocol, import the start screen, and open
    (and migrate) the database, ``url`` else the settings' (:meth:`Settings.resolve_database_url`);
    the session's modules follow in a thread once the start screen is up. A database that cannot
    be opened gives the :class:`StorageError` message instead."""
    config.protocol  # noqa: B018 - builds the built-in protocol here, not on the UI thread
    import stampside.app.tui.screens.start  # noqa: F401 - imported here, not on the UI thread
    from stampside.app.storage.database import open_database
    from stampside.app.storage.errors import StorageError

    try:
        return open_database(settings.resolve_database_url(url))
    except StorageError as exc:
        return str(exc)
    except OSError as exc:  # the data folder could not be made
        return f"The database's folder could not be made: {exc.strerror or exc} ({exc.filename or url})"


def create_app(config: AppConfig | None = None) -> StampsideApp:
    """Build the app; tests pass a config with their database, protocol and clock."""
    return StampsideApp(config or AppConfig())
