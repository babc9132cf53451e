"""Helpers for the Pilot tests that run the whole app against the in-process simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from stampside.app.domain.steps import StepRecord
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.settings import Settings
from stampside.app.storage.database import Database
from stampside.app.storage.patients import NewPatient, PatientView, create_patient
from stampside.app.storage.practitioners import PractitionerView, add_practitioner
from stampside.app.storage.schema import StampEvent
from stampside.app.storage.sessions import SessionView, get_session
from stampside.app.storage.step_records import load_step_records
from stampside.app.tui.app import AppConfig, StampsideApp, create_app
from stampside.app.tui.screens.start import StartScreen
from stampside.devicelink.session import LinkOptions
from stampside.simulator.config import DeviceConfig, SimConfig, StampingConfig

from .course_helpers import ready_for_course
from .sign_in_helpers import past_sign_in

NOW = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)  # a Thursday
SIZE = (100, 30)
STAMPS = 40
PRACTITIONER = "Dr. Ana Ruiz"
#: Short link timings so the tests do not wait on defaults meant for a real chair.
FAST = LinkOptions(link_timeout=0.6, reply_timeout=0.2, backoff_initial=0.05, backoff_max=0.2, ping_interval=0)
#: Generous: the suite runs on a loaded 2-core machine.
PATIENCE = 20.0


class MovableClock:
    """The app's clock in tests: stands still until a test moves it on."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def sim_config(stamps: int = STAMPS, boot: int = 1, **device: object) -> SimConfig:
    """Walks zones 1–4 (10 stamps each) at 50 Hz once armed; footprint 90 mm²."""
    return SimConfig(
        device=DeviceConfig.model_validate({"footprint_mm2": 90, "boot": boot, **device}),
        stamping=StampingConfig(rate=50, stamps=stamps, zones="walk", zone_stamps=10),
        seed=3,
    )


def seed(db: Database, code: str = "P-0042") -> tuple[PractitionerView, PatientView]:
    with db.Session.begin() as s:
        practitioner = add_practitioner(s, PRACTITIONER)
        patient = create_patient(s, NewPatient.parse(code), now=NOW - timedelta(days=30))
    ready_for_course(db, patient.id, NOW)  # screened, course started, baseline photos: the course gates pass
    return practitioner, patient


def make_app(
    db_path: Path | str,
    device_url: str | None,
    clock: MovableClock,
    cards: Path | None = None,
    ble_hci: str | None = None,
    settings: Settings | None = None,
    idle_clock: Callable[[], float] | None = None,
) -> StampsideApp:
    """The app on ``db_path`` with the built-in protocol; ``ble_hci`` for a ``ble:`` device URL;
    ``idle_clock`` for the idle lock (default: the real monotonic clock)."""
    app = create_app(
        AppConfig(
            database=str(db_path),
            device_url=device_url,
            protocol=default_protocol(),
            clock=clock,
            cards_dir=cards,
            tz=UTC,
            ble_hci=ble_hci,
            settings=settings or Settings(),
            **({"idle_clock": idle_clock} if idle_clock is not None else {}),
        )
    )
    app.session_controller.link_options = FAST
    return app


def current(pilot: Pilot[None]) -> Screen[object]:
    return pilot.app.screen


async def wait_for(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = PATIENCE) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await pilot.pause(0.02)
    except TimeoutError:
        stack = " > ".join(type(screen).__name__ for screen in pilot.app.screen_stack)
        raise AssertionError(f"still waiting after {timeout:g} s; screens: {stack}") from None


async def start_session_for(pilot: Pilot[None], code: str) -> None:
    """Sign in (if asked), choose the patient ``code`` and press s."""
    await past_sign_in(pilot)
    # Current and composed: a screen is the current one a moment before its widgets are mounted.
    await wait_for(
        pilot, lambda: isinstance(current(pilot), StartScreen) and bool(current(pilot).query("#patient-search"))
    )
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = current(pilot)
    assert isinstance(screen, StartScreen), screen
    search = screen.query_one("#patient-search", Input)
    search.focus()
    search.value = code
    await pilot.pause()
    await pilot.press("enter", "enter")  # to the list, then chosen
    await pilot.pause()
    await pilot.press("s")


async def resume_from_offer(pilot: Pilot[None]) -> None:
    """At start-up, once signed in, the app offers the session left open first of all: take it (enter)."""
    from stampside.app.tui.dialogs.confirm import ConfirmDialog

    await past_sign_in(pilot)
    # Mounted, not only current: enter goes to its focused Resume button.
    await wait_for(pilot, lambda: isinstance(current(pilot), ConfirmDialog) and current(pilot).focused is not None)
    assert "still open" in str(current(pilot).query_one(".dialog-text").render())
    await pilot.press("enter")


def session_stamps(db: Database, session_id: int) -> dict[tuple[int, int], int | None]:
    with db.Session.begin() as s:
        rows = s.execute(
            select(StampEvent.boot, StampEvent.seq, StampEvent.credited_zone).where(StampEvent.session_id == session_id)
        )
        return {(boot, seq): zone for boot, seq, zone in rows}


def stored_session(db: Database, session_id: int) -> SessionView:
    with db.Session.begin() as s:
        return get_session(s, session_id)


def stored_steps(db: Database, session_id: int) -> list[StepRecord]:
    with db.Session.begin() as s:
        return load_step_records(s, session_id)


def next_enabled(screen: object) -> bool:
    """The step screen's Next button can be pressed."""
    from textual.widgets import Button

    from stampside.app.tui.screens.step_base import StepScreen

    return isinstance(screen, StepScreen) and screen._ready and not screen.query_one("#next", Button).disabled


async def through_checks_and_disinfection(pilot: Pilot[None], clock: MovableClock) -> None:
    """From the pre-session checks (all passing) to the first application, moving the clock past the timer."""
    from stampside.app.tui.screens.steps import ApplicationScreen, DisinfectionScreen, PreChecksScreen

    await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen))
    await wait_for(pilot, lambda: next_enabled(current(pilot)))
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(current(pilot), DisinfectionScreen))
    await pilot.press("c")
    clock.advance(60)
    await wait_for(pilot, lambda: next_enabled(current(pilot)))
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen))


async def record_first_application(pilot: Pilot[None], lot: str = "LX-1", expiry: str = "2027-01-31") -> None:
    screen = current(pilot)
    screen.query_one("#lot", Input).value = lot
    screen.query_one("#expiry", Input).value = expiry
    await pilot.press("ctrl+n")
