"""One key at a time: enter (or space, or a foot switch) does each step's safe main action and moves on.

The app runs against the in-process simulator on a tmp SQLite file with a clock the test moves
on. A whole session is walked with enter alone, typing only the lot and expiry; then with a
foot switch (keys the clinic's settings name) pressed in a field, on a dialog and for the
next zone. The timer has one readout: large digits, its check row points at it, and when it
is over it flashes and rings the terminal bell.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Digits, Input, OptionList, Static

from stampside.app.settings import KeyMap, Settings
from stampside.app.storage.database import Database, open_database
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.sign import SignDialog
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.app.tui.screens.start import StartScreen
from stampside.app.tui.screens.steps import (
    AftercareScreen,
    ApplicationScreen,
    DisinfectionScreen,
    PreChecksScreen,
    SummaryScreen,
)
from stampside.simulator.runner import Simulator
from tests.tui.session_helpers import (
    SIZE,
    STAMPS,
    MovableClock,
    current,
    make_app,
    next_enabled,
    seed,
    session_stamps,
    sim_config,
    start_session_for,
    stored_session,
    stored_steps,
    wait_for,
)
from tests.tui.sign_in_helpers import PIN

FOOT = Settings(keys=KeyMap(advance=("f13",), next_zone=("f14",)))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stampside.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(str(db_path))
    yield database
    database.close()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(sim_config())
    await simulator.start()
    yield simulator
    await simulator.stop()


def error_text(pilot: Pilot[None]) -> str:
    return str(current(pilot).query_one("#step-error", Static).content)


async def walk(pilot: Pilot[None], clock: MovableClock, sim: Simulator, db: Database, key: str) -> int:
    """A whole session pressing ``key`` for every step's main action; returns the session id.

    Space is a character in a text field: there (and in a dialog) enter does it; a foot switch's key works in all.
    """
    app = pilot.app
    field_key = "enter" if key == "space" else key
    await start_session_for(pilot, "P-0042")
    await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen) and next_enabled(current(pilot)))
    opened = app.open_session  # type: ignore[attr-defined]
    assert opened is not None
    await pilot.press(key)  # pre-checks pass: on

    await wait_for(pilot, lambda: isinstance(current(pilot), DisinfectionScreen))
    await pilot.press(key)  # confirms the disinfection; its timer starts
    await wait_for(pilot, lambda: current(pilot).started)  # type: ignore[attr-defined]
    await pilot.press(key)  # too early: says what it waits for, stays
    await wait_for(pilot, lambda: "not over" in error_text(pilot))
    assert isinstance(current(pilot), DisinfectionScreen)
    clock.advance(61)
    await wait_for(pilot, lambda: next_enabled(current(pilot)))
    await pilot.press(key)

    await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen))
    first = current(pilot)
    assert first.focused is first.query_one("#lot", Input)
    await pilot.press(*"LX-2291", field_key)  # in a field the key records it and moves on
    await wait_for(pilot, lambda: first.focused is first.query_one("#expiry", Input))
    await pilot.press(*"2027-03", field_key)
    await wait_for(pilot, lambda: first.focused is first.query_one("#volume", Input))
    await pilot.press(field_key)  # the protocol's 2.5 ml, as shown
    await wait_for(pilot, lambda: first.focused is first.query_one("#next"))
    await pilot.press(key)

    await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
    stamping = current(pilot)
    assert isinstance(stamping, StampingScreen)
    await wait_for(pilot, lambda: stamping.stats.count >= STAMPS)
    await wait_for(pilot, lambda: len(sim.truth) == STAMPS and len(session_stamps(db, opened.id)) == STAMPS)
    clock.advance(300)
    await pilot.press(key)  # finish: a zone under target asks first
    await wait_for(pilot, lambda: isinstance(current(pilot), ConfirmDialog))
    await pilot.press(field_key)  # the dialog's focused, safe answer: back to stamping
    await wait_for(pilot, lambda: current(pilot) is stamping)
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(current(pilot), ConfirmDialog))
    await pilot.press("y")  # finish anyway: a deliberate, other key

    await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen) and current(pilot) is not first)
    second = current(pilot)
    assert isinstance(second, ApplicationScreen)
    # the first application's lot is filled in and said to be carried over, but not recorded yet
    shown = (second.query_one("#lot", Input).value, second.query_one("#expiry", Input).value)
    assert shown == ("LX-2291", "2027-03-31")
    await wait_for(pilot, lambda: "as in the first application" in str(second.query_one("#lot-status", Static).content))
    record = second.host.flow.current_record
    assert record is None or record.lot is None
    await pilot.press(field_key, field_key, field_key)  # confirms lot and expiry, the volume; leaves the fields
    await wait_for(pilot, lambda: second.focused is None)  # Next waits on the timer: the key is the step's again
    await pilot.press(key)  # too early: the rub-in runs
    await wait_for(pilot, lambda: "not over" in error_text(pilot))
    clock.advance(121)
    await wait_for(pilot, lambda: next_enabled(current(pilot)))
    await pilot.press(key)

    await wait_for(pilot, lambda: isinstance(current(pilot), AftercareScreen))
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(current(pilot), SummaryScreen))
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(current(pilot), SignDialog) and current(pilot).focused is not None)
    await pilot.press(*PIN, field_key)  # closing the session is signed: the PIN, then the key
    await wait_for(pilot, lambda: isinstance(current(pilot), StartScreen))
    return opened.id


@pytest.mark.parametrize("key", ["enter", "space"])
async def test_a_whole_session_runs_on_one_key(
    db_path: Path, db: Database, sim: Simulator, tmp_path: Path, key: str
) -> None:
    seed(db)
    clock = MovableClock()
    app = make_app(db_path, sim.url, clock, tmp_path / "cards")
    async with app.run_test(size=SIZE) as pilot:
        session_id = await walk(pilot, clock, sim, db, key)
    steps = stored_steps(db, session_id)
    assert all(step.completed for step in steps) and len(steps) == 7
    assert not any(step.overrides for step in steps), "the key never overrides a check"
    first = next(step for step in steps if step.step_id == "first_application")
    assert (first.lot, str(first.lot_expiry), first.volume_ml) == ("LX-2291", "2027-03-31", 2.5)
    second = next(step for step in steps if step.step_id == "second_application")
    assert (second.lot, str(second.lot_expiry)) == ("LX-2291", "2027-03-31"), "the carried-over lot, confirmed"
    assert stored_session(db, session_id).status == "finished"


async def test_a_foot_switch_does_what_enter_does_in_a_field_on_a_step_and_in_a_dialog(
    db_path: Path, db: Database, sim: Simulator, tmp_path: Path
) -> None:
    """The clinic's advance key, bound whatever has the focus: the same whole session as with enter."""
    seed(db)
    clock = MovableClock()
    app = make_app(db_path, sim.url, clock, tmp_path / "cards", settings=FOOT)
    async with app.run_test(size=SIZE) as pilot:
        session_id = await walk(pilot, clock, sim, db, "f13")
    steps = stored_steps(db, session_id)
    assert all(step.completed for step in steps) and not any(step.overrides for step in steps)
    assert stored_session(db, session_id).status == "finished"


async def test_the_foot_switch_next_zone_key_walks_the_treated_zones(
    db_path: Path, db: Database, sim: Simulator, tmp_path: Path
) -> None:
    seed(db)
    clock = MovableClock()
    app = make_app(db_path, sim.url, clock, tmp_path / "cards", settings=FOOT)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen) and next_enabled(current(pilot)))
        await pilot.press("f13")
        await wait_for(pilot, lambda: isinstance(current(pilot), DisinfectionScreen))
        await pilot.press("f14")  # no zones here: nothing happens
        await pilot.press("f13")
        clock.advance(61)
        await wait_for(pilot, lambda: next_enabled(current(pilot)))
        await pilot.press("f13")
        await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen))
        await pilot.press(*"LX-1", "f13", *"2027-03", "f13", "f13", "f13")
        await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
        stamping = current(pilot)
        assert isinstance(stamping, StampingScreen)
        treated = sorted(stamping.coverage.treated)
        assert len(treated) >= 2
        seen = [stamping.coverage.active]
        for _ in range(len(treated)):
            before = stamping.coverage.active
            await pilot.press("f14")
            await wait_for(pilot, lambda before=before: stamping.coverage.active != before)  # type: ignore[misc]
            seen.append(stamping.coverage.active)
        assert set(seen) == set(treated) and seen[0] == seen[-1], "round the treated zones, back to the first"


async def test_the_timer_has_one_readout_that_flashes_and_rings_when_over(
    db_path: Path, db: Database, sim: Simulator, tmp_path: Path
) -> None:
    seed(db)
    clock = MovableClock()
    app = make_app(db_path, sim.url, clock, tmp_path / "cards")
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen) and next_enabled(current(pilot)))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(current(pilot), DisinfectionScreen))
        screen = current(pilot)
        digits = screen.query_one("#timer-digits", Digits)
        assert digits.value == "1:00"
        await pilot.press("enter")
        clock.advance(14.5)
        await wait_for(pilot, lambda: digits.value == "0:46")
        rows = [str(option.prompt) for option in screen.query_one("#gates", OptionList).options]
        assert rows == ["⏱ Contact and dry time: running, see the timer above"], "no second countdown"
        await pilot.press("enter")  # too early: the message gives the readout's figure
        await wait_for(pilot, lambda: "0:46 left of 1:00" in error_text(pilot))
        assert not bells
        clock.advance(46)
        row = screen.query_one("#timer-row")
        await wait_for(pilot, lambda: digits.value == "0:00" and row.has_class("-over"))
        assert bells == [1], "the bell rings once"
        await wait_for(pilot, lambda: row.has_class("-flash"))
        await wait_for(pilot, lambda: not row.has_class("-flash"))  # a few flashes, then steady
        assert row.has_class("-over") and bells == [1]
