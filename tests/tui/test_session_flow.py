"""From "Start session" to the stamping screen and back, against a real in-process simulator over a pty.

The app runs on a tmp SQLite file; assertions read the stored records (stamps tagged with the
session, their credited zones, the session's device, zones and status), not only the screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static

from app.domain.treatment_protocol import default_protocol
from app.domain.zones import Zone
from app.storage.database import Database, open_database
from app.storage.patients import NewPatient, PatientView, create_patient
from app.storage.practitioners import PractitionerView, add_practitioner
from app.storage.schema import StampEvent
from app.storage.sessions import SessionView, find_open_session, get_session
from app.tui.app import AppConfig, StampsideApp, create_app
from app.tui.dialogs.confirm import ConfirmDialog
from app.tui.screens.stamping import StampingScreen
from app.tui.screens.start import StartScreen
from app.tui.session_controller import NO_DEVICE_TEXT
from devicelink.session import LinkOptions
from simulator.config import DeviceConfig, SimConfig, StampingConfig
from simulator.runner import Simulator

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SIZE = (100, 30)
STAMPS = 40
#: Short link timings so the test does not wait on defaults meant for a real chair.
FAST = LinkOptions(link_timeout=0.6, reply_timeout=0.2, backoff_initial=0.05, backoff_max=0.2, ping_interval=0)
PATIENCE = 10.0


def clock() -> datetime:
    return NOW


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stampside.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(str(db_path))
    yield database
    database.close()


def sim_config(stamps: int = STAMPS, boot: int = 1) -> SimConfig:
    """Walks zones 1–4 (10 stamps each) at 50 Hz, so the device's zones are the truth to credit; footprint 90 mm²."""
    return SimConfig(
        device=DeviceConfig(footprint_mm2=90, boot=boot),
        stamping=StampingConfig(rate=50, stamps=stamps, zones="walk", zone_stamps=10),
        seed=3,
    )


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(sim_config())
    await simulator.start()
    yield simulator
    await simulator.stop()


def seed(db: Database) -> tuple[PractitionerView, PatientView]:
    with db.Session.begin() as s:
        practitioner = add_practitioner(s, "Dr. Ana Ruiz")
        patient = create_patient(s, NewPatient.parse("P-0042"), now=NOW - timedelta(days=30))
    return practitioner, patient


def make_app(db_path: Path, device_url: str | None) -> StampsideApp:
    app = create_app(AppConfig(database=str(db_path), device_url=device_url, protocol=default_protocol(), clock=clock))
    app.session_controller.link_options = FAST
    return app


def current(pilot: Pilot[None]) -> Screen[object]:
    return pilot.app.screen


async def wait_for(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = PATIENCE) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)


async def start_session_for(pilot: Pilot[None], code: str) -> None:
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


def session_stamps(db: Database, session_id: int) -> dict[tuple[int, int], int | None]:
    with db.Session.begin() as s:
        rows = s.execute(
            select(StampEvent.boot, StampEvent.seq, StampEvent.credited_zone).where(StampEvent.session_id == session_id)
        )
        return {(boot, seq): zone for boot, seq, zone in rows}


def stored_session(db: Database, session_id: int) -> SessionView:
    with db.Session.begin() as s:
        return get_session(s, session_id)


async def test_a_started_session_stamps_credits_and_finishes_back_to_the_start_screen(
    db_path: Path, db: Database, sim: Simulator
) -> None:
    _, patient = seed(db)
    app = make_app(db_path, sim.url)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
        stamping = current(pilot)
        assert isinstance(stamping, StampingScreen)
        assert stamping.coverage.treated == frozenset(Zone), "no Norwood grade: all five zones"
        opened = app.open_session
        assert opened is not None

        truth = {(stamp.boot, stamp.seq): stamp.zone for stamp in sim.truth}
        await wait_for(pilot, lambda: stamping.stats.count >= STAMPS)
        await wait_for(pilot, lambda: session_stamps(db, opened.id) == truth and len(truth) == STAMPS)
        assert stamping.stats.count == STAMPS
        assert stamping.coverage.totals().stamps == STAMPS
        assert {stamp.footprint_mm2 for stamp in stamping.coverage.counted()} == {90}, "no stamp at the default 100"
        attached = stored_session(db, opened.id)
        assert attached.device_serial == sim.config.device.serial
        assert attached.footprint_mm2 == stamping.coverage.footprint_mm2 == 90, "DEVICE_INFO's footprint"
        assert {setting.zone for setting in attached.zones} == set(Zone)

        await pilot.press("ctrl+d")
        await pilot.pause()
        if isinstance(current(pilot), ConfirmDialog):  # zones under target: finish anyway
            await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(current(pilot), StartScreen))
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        start = current(pilot)
        assert isinstance(start, StartScreen)
        assert "Session 2 of 6" in str(start.query_one("#course-label", Static).content)
        assert app.open_session is None

    finished = stored_session(db, opened.id)
    assert finished.status == "finished" and finished.ended_at is not None
    assert session_stamps(db, opened.id) == truth
    with db.Session.begin() as s:
        assert find_open_session(s, patient_id=patient.id) is None


async def test_without_a_device_url_starting_says_how_to_connect_one(db_path: Path, db: Database) -> None:
    seed(db)
    app = make_app(db_path, None)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await pilot.pause()
        assert isinstance(current(pilot), StartScreen)
        assert any(NO_DEVICE_TEXT in n.message for n in app._notifications)
        assert app.open_session is not None, "the session is stored open, to resume with a device"


async def test_a_resumed_session_shows_the_stamps_stored_before_the_restart(
    db_path: Path, db: Database, sim: Simulator
) -> None:
    _, patient = seed(db)
    app = make_app(db_path, sim.url)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
        opened = app.open_session
        assert opened is not None
        truth = {(stamp.boot, stamp.seq): stamp.zone for stamp in sim.truth}
        await wait_for(pilot, lambda: len(truth) == STAMPS and session_stamps(db, opened.id) == truth)
        await pilot.press("q", "y")  # quit with the session open
        await pilot.pause()
    await sim.stop()

    later = Simulator(sim_config(stamps=5, boot=2))  # the same device, switched off and on again
    await later.start()
    try:
        app = make_app(db_path, later.url)
        async with app.run_test(size=SIZE) as pilot:
            await start_session_for(pilot, "P-0042")  # the start key resumes the open session
            await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
            stamping = current(pilot)
            assert isinstance(stamping, StampingScreen)
            assert app.open_session is not None and app.open_session.id == opened.id
            await wait_for(pilot, lambda: stamping.coverage.totals().stamps == STAMPS + 5)
            assert stamping.coverage.stamps_in(Zone.FRONTAL) == 10 + 5
            await wait_for(pilot, lambda: len(session_stamps(db, opened.id)) == STAMPS + 5)
    finally:
        await later.stop()
    with db.Session.begin() as s:
        still_open = find_open_session(s, patient_id=patient.id)
    assert still_open is not None and still_open.id == opened.id


async def test_a_device_that_cannot_be_reached_is_an_error_notification_not_a_crash(
    db_path: Path, db: Database, tmp_path: Path
) -> None:
    seed(db)
    app = make_app(db_path, str(tmp_path / "no-such-port"))
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        assert isinstance(current(pilot), StampingScreen), "the step stays up; the link can be fixed"
        assert app.is_running
