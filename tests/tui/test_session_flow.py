"""Starting and resuming sessions in the app against a real in-process simulator over a pty.

The app runs on a tmp SQLite file with a clock the test moves on; assertions read the stored
records (step records, stamps tagged with the session), not only the screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Digits, OptionList, Static

from stampside.app.domain.gates import Gate
from stampside.app.domain.zones import Zone
from stampside.app.storage.database import Database
from stampside.app.storage.sessions import find_open_session
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.app.tui.screens.start import StartScreen
from stampside.app.tui.screens.steps import ApplicationScreen, DisinfectionScreen, PreChecksScreen
from stampside.app.tui.session_controller import NO_DEVICE_TEXT
from stampside.simulator.runner import Simulator
from tests.tui.session_helpers import (
    SIZE,
    STAMPS,
    MovableClock,
    current,
    make_app,
    next_enabled,
    record_first_application,
    resume_from_offer,
    seed,
    session_stamps,
    sim_config,
    start_session_for,
    stored_steps,
    through_checks_and_disinfection,
    wait_for,
)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(sim_config())
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_without_a_device_url_starting_says_how_to_connect_one(db_path: Path, db: Database) -> None:
    seed(db)
    app = make_app(db_path, None, MovableClock())
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: any(NO_DEVICE_TEXT in n.message for n in app._notifications))
        assert isinstance(current(pilot), StartScreen)
        assert app.open_session is not None, "the session is stored open, to resume with a device"


async def test_a_device_that_cannot_be_reached_is_an_error_notification_not_a_crash(
    db_path: Path, db: Database, tmp_path: Path
) -> None:
    seed(db)
    app = make_app(db_path, str(tmp_path / "no-such-port"), MovableClock())
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        checks = current(pilot)
        assert isinstance(checks, PreChecksScreen), "the checks stay up; the link can be fixed"
        gates = checks.query_one("#gates", OptionList)
        await wait_for(pilot, lambda: gates.option_count == 5)
        assert "✗ Device identified" in str(gates.get_option_at_index(0).prompt)
        assert app.is_running


async def test_a_session_left_in_the_disinfection_resumes_there_with_its_timer_running_on(
    db_path: Path, db: Database, sim: Simulator
) -> None:
    seed(db)
    clock = MovableClock()
    app = make_app(db_path, sim.url, clock)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen))
        opened = app.open_session
        assert opened is not None
        await wait_for(pilot, lambda: next_enabled(current(pilot)))
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(current(pilot), DisinfectionScreen))
        await pilot.press("c")
        clock.advance(20)
        await app.session_controller.saved()
        await pilot.press("q", "y")  # quit with the session open
        await pilot.pause()

    records = stored_steps(db, opened.id)
    assert [r.step_id for r in records] == ["pre_checks", "disinfection"]
    assert not records[1].completed and records[1].timer_started_at is not None

    clock.advance(10)
    app = make_app(db_path, sim.url, clock)
    async with app.run_test(size=SIZE) as pilot:
        await resume_from_offer(pilot)  # the app offers the open session first
        await wait_for(pilot, lambda: isinstance(current(pilot), DisinfectionScreen))
        screen = current(pilot)
        timer = screen.query_one("#step-timer", Static)
        digits = screen.query_one("#timer-digits", Digits)
        await wait_for(pilot, lambda: digits.value == "0:30")  # the timer ran on while the app was closed
        assert "confirmed by" in str(screen.query_one("#disinfection-state", Static).content)
        clock.advance(30)
        await wait_for(pilot, lambda: "over" in str(timer.content) and digits.value == "0:00")


async def test_a_resumed_stamping_step_starts_from_the_stored_stamps_and_elapsed_time(
    db_path: Path, db: Database, sim: Simulator
) -> None:
    _, patient = seed(db)
    clock = MovableClock()
    app = make_app(db_path, sim.url, clock)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await through_checks_and_disinfection(pilot, clock)
        await record_first_application(pilot)
        await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
        opened = app.open_session
        assert opened is not None
        # The device counts on (50 a second) while the test sees the stamping screen come up:
        # the truth is read once it has counted them all, not at whatever count it had reached.
        await wait_for(pilot, lambda: len(sim.truth) == STAMPS)
        truth = {(stamp.boot, stamp.seq): stamp.zone for stamp in sim.truth}
        await wait_for(pilot, lambda: session_stamps(db, opened.id) == truth)
        await app.session_controller.saved()
        await pilot.press("q", "y")  # quit with the session open, mid-stamping
        await pilot.pause()
    await sim.stop()

    stamping_record = stored_steps(db, opened.id)[-1]
    assert stamping_record.step_id == "stamping" and not stamping_record.completed
    assert [(c.gate, c.passed) for c in stamping_record.checks] == [(Gate.DEVICE_ARMED, True)]

    clock.advance(300)  # five minutes later
    later = Simulator(sim_config(stamps=5, boot=2))  # the same device, switched off and on again
    await later.start()
    try:
        app = make_app(db_path, later.url, clock)
        async with app.run_test(size=SIZE) as pilot:
            await resume_from_offer(pilot)  # the app offers the open session first
            await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
            stamping = current(pilot)
            assert isinstance(stamping, StampingScreen)
            assert app.open_session is not None and app.open_session.id == opened.id
            assert stamping.stats.count >= STAMPS, "the counter starts from the stored stamps"
            assert stamping.stats.elapsed_s >= 300, "elapsed goes on from when stamping began"
            assert stamping.stats.recent_forces(), "the force history is back"
            await wait_for(pilot, lambda: stamping.stats.count == STAMPS + 5)
            assert stamping.coverage.totals().stamps == STAMPS + 5
            assert stamping.coverage.stamps_in(Zone.FRONTAL) == 10 + 5
            await wait_for(pilot, lambda: len(session_stamps(db, opened.id)) == STAMPS + 5)
            await pilot.press("ctrl+d")
            await pilot.pause()
            if not isinstance(current(pilot), ApplicationScreen):
                await pilot.press("y")  # zones under target: finish anyway
            await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen))
    finally:
        await later.stop()
    with db.Session.begin() as s:
        still_open = find_open_session(s, patient_id=patient.id)
    assert still_open is not None and still_open.id == opened.id
    steps = stored_steps(db, opened.id)
    assert [r.step_id for r in steps][-2:] == ["stamping", "second_application"]
    assert steps[-2].completed


async def test_an_edited_zone_area_is_stored_with_the_session_and_comes_back_on_resume(
    db_path: Path, db: Database, sim: Simulator
) -> None:
    from textual.widgets import Input

    from stampside.app.tui.dialogs.zone_area import ZoneAreaDialog
    from tests.tui.session_helpers import stored_session

    seed(db)
    clock = MovableClock()
    app = make_app(db_path, sim.url, clock)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await through_checks_and_disinfection(pilot, clock)
        await record_first_application(pilot)
        await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
        opened = app.open_session
        assert opened is not None
        stamping = current(pilot)
        assert isinstance(stamping, StampingScreen)
        active = stamping.coverage.active
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(current(pilot), ZoneAreaDialog))
        current(pilot).query_one("#zone-area", Input).value = "83.5"
        await pilot.press("enter")

        def stored_area() -> float | None:
            zones = {setting.zone: setting.area_cm2 for setting in stored_session(db, opened.id).zones}
            return zones.get(active)

        await wait_for(pilot, lambda: stored_area() == 83.5)
        await app.session_controller.saved()
        await pilot.press("q", "y")  # quit with the session open, mid-stamping
        await pilot.pause()

    app = make_app(db_path, sim.url, clock)
    async with app.run_test(size=SIZE) as pilot:
        await resume_from_offer(pilot)  # the app offers the open session first
        await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
        resumed = current(pilot)
        assert isinstance(resumed, StampingScreen)
        assert resumed.coverage.area_cm2(active) == 83.5, "the resumed coverage uses the stored area"
