"""Practitioner sign-in, the idle lock and the unlock, driven with the Pilot on a real SQLite file.

The idle lock counts on a clock the test moves on (``AppConfig.idle_clock``), never the wall
clock. Stamping behind the lock runs against the in-process simulator: the stamps it stores
while the app is locked are all counted once it is unlocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from textual.widgets import Input, Static

from stampside.app.settings import Settings
from stampside.app.storage.audit_actor import current_actor, set_actor
from stampside.app.storage.audit_trail import read_trail
from stampside.app.storage.database import Database
from stampside.app.storage.pins import set_pin
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schema import SecurityEvent
from stampside.app.tui.app import StampsideApp
from stampside.app.tui.screens.sign_in import SignInScreen
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.app.tui.screens.start import StartScreen
from stampside.simulator.config import DeviceConfig, SimConfig, StampingConfig
from stampside.simulator.runner import Simulator
from tests.tui.session_helpers import (
    NOW,
    PRACTITIONER,
    SIZE,
    MovableClock,
    current,
    make_app,
    record_first_application,
    seed,
    session_stamps,
    start_session_for,
    through_checks_and_disinfection,
    wait_for,
)
from tests.tui.sign_in_helpers import PIN, describe, sign_in, sign_in_ready

OTHER = "Marc Vidal"
#: Stamps the simulator makes behind the lock, at a rate slow enough for the lock to come first.
SLOW_STAMPS = 30


class IdleClock:
    """The idle lock's monotonic clock: stands still until the test moves it on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def no_actor() -> Iterator[None]:
    set_actor(None)
    yield
    set_actor(None)


def with_pin(db: Database, name: str = PRACTITIONER, pin: str = PIN) -> int:
    with db.Session.begin() as s:
        practitioner = add_practitioner(s, name)
        set_pin(s, practitioner.id, pin, pin, now=NOW)
        return practitioner.id


def error_text(screen: object) -> str:
    assert isinstance(screen, SignInScreen)
    return str(screen.query_one("#sign-in-error", Static).content)


def locked(app: StampsideApp) -> bool:
    return isinstance(app.screen, SignInScreen) and app.screen.locked_by is not None and sign_in_ready_for(app)


def sign_in_ready_for(app: StampsideApp) -> bool:
    screen = app.screen
    return isinstance(screen, SignInScreen) and screen.chosen is not None and screen.focused is not None


async def test_the_app_asks_who_is_at_the_chair_and_a_wrong_pin_says_how_many_tries_are_left(
    db_path: Path, db: Database
) -> None:
    with_pin(db)
    seed_other = with_pin(db, OTHER, "9753")
    app = make_app(db_path, None, MovableClock())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: sign_in_ready(pilot))
        screen = current(pilot)
        assert isinstance(screen, SignInScreen) and screen.locked_by is None
        assert not any(isinstance(below, StartScreen) for below in app.screen_stack), (
            "at start-up the sign-in comes first: nothing of a patient is there to show through"
        )
        assert current_actor().startswith("process:") or current_actor().startswith("cli:")
        assert not app.check_action("command_palette", ()), "no palette before someone signs in"
        await pilot.press(*"1111", "enter")
        await wait_for(pilot, lambda: "Wrong PIN: 4 tries left." in error_text(screen), timeout=5)
        assert screen.query_one("#pin", Input).value == "", "the field is emptied for the next try"
        await sign_in(pilot, OTHER, "9753")
        start = current(pilot)
        assert isinstance(start, StartScreen)
        assert start.practitioner is not None and start.practitioner.id == seed_other
        assert str(start.query_one("#signed-in", Static).content) == OTHER
        assert current_actor() == f"practitioner:{OTHER}", "the audit trail names who signed in"
        assert app.check_action("command_palette", ()) is not False


async def test_five_wrong_pins_lock_the_practitioner_out_and_are_a_security_event(db_path: Path, db: Database) -> None:
    ada = with_pin(db)
    app = make_app(db_path, None, MovableClock())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: sign_in_ready(pilot))
        screen = current(pilot)
        for left in (4, 3, 2, 1):
            await pilot.press(*"0000", "enter")
            word = "try" if left == 1 else "tries"
            await wait_for(pilot, lambda left=left, word=word: f"{left} {word} left" in error_text(screen), timeout=5)
        await pilot.press(*"0000", "enter")
        await wait_for(pilot, lambda: "locked for 5 minutes" in error_text(screen), timeout=5)
        await pilot.press(*PIN, "enter")  # the right PIN, but locked out
        await wait_for(pilot, lambda: "locked for 5 minutes more" in error_text(screen), timeout=5)
        assert current(pilot) is screen
    with db.Session.begin() as s:
        events = s.scalars(select(SecurityEvent).where(SecurityEvent.kind == "pin_lockout")).all()
        assert [(e.practitioner_id, e.at) for e in events] == [(ada, NOW)]
        assert [e.after["kind"] for e in read_trail(s, tables=["security_events"]) if e.after][-1] == "pin_lockout"


async def test_the_app_locks_after_the_idle_minutes_and_a_pin_unlocks_it(db_path: Path, db: Database) -> None:
    with_pin(db)
    idle = IdleClock()
    app = make_app(db_path, None, MovableClock(), settings=Settings(idle_lock_minutes=2), idle_clock=idle)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await wait_for(pilot, lambda: isinstance(current(pilot), StartScreen))
        start = current(pilot)
        idle.advance(110)
        await pilot.press("slash", "escape")  # keys keep the lock away: two minutes from the last one
        idle.advance(110)
        await pilot.pause(1.5)  # longer than the idle check's interval
        assert current(pilot) is start, describe(pilot)
        idle.advance(11)
        await wait_for(pilot, lambda: locked(app), timeout=5)
        lock = current(pilot)
        assert isinstance(lock, SignInScreen) and lock.locked_by is not None
        assert lock.locked_by.name == PRACTITIONER
        assert "Locked after 2 minutes without a key" in str(lock.query_one("#sign-in-text", Static).content)
        assert not app.check_action("command_palette", ()), "the palette stays shut behind the lock"
        await pilot.press("escape")  # the lock cannot be escaped
        await pilot.pause()
        assert current(pilot) is lock
        await pilot.press(*"1357", "enter")
        await wait_for(pilot, lambda: "Wrong PIN" in error_text(lock), timeout=5)
        await sign_in(pilot)
        assert current(pilot) is start and start.practitioner is not None
        assert str(start.query_one("#signed-in", Static).content) == PRACTITIONER
        idle.advance(110)
        await pilot.pause(1.5)
        assert current(pilot) is start, "unlocking starts the idle time again"


async def test_another_practitioner_unlocks_and_goes_on_as_themselves(db_path: Path, db: Database) -> None:
    with_pin(db)
    with db.Session.begin() as s:
        add_practitioner(s, OTHER)  # no PIN yet: chosen when they first sign in, at the lock
    app = make_app(db_path, None, MovableClock())
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, PRACTITIONER)
        await wait_for(pilot, lambda: isinstance(current(pilot), StartScreen))
        start = current(pilot)
        await pilot.press("l")  # lock now
        await wait_for(pilot, lambda: locked(app), timeout=5)
        lock = current(pilot)
        assert isinstance(lock, SignInScreen) and lock.chosen is not None and lock.chosen.name == PRACTITIONER
        assert not lock.query_one("#pin-again", Input).display
        await pilot.press("down")  # Marc Vidal, who has no PIN yet: he chooses one, typed twice
        await wait_for(pilot, lambda: lock.query_one("#pin-again", Input).display, timeout=5)
        await sign_in(pilot, OTHER, "8642")
        assert current(pilot) is start
        assert start.practitioner is not None and start.practitioner.name == OTHER
        assert current_actor() == f"practitioner:{OTHER}"
        await pilot.press("w")  # switch back, with her PIN
        await sign_in(pilot, PRACTITIONER)
        assert start.practitioner is not None and start.practitioner.name == PRACTITIONER


@pytest.fixture
async def slow_sim() -> AsyncIterator[Simulator]:
    config = SimConfig(
        device=DeviceConfig.model_validate({"footprint_mm2": 90, "boot": 1}),
        stamping=StampingConfig(rate=8, stamps=SLOW_STAMPS, zones="walk", zone_stamps=10),
        seed=3,
    )
    simulator = Simulator(config)
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_stamping_goes_on_behind_the_lock_and_every_stamp_is_counted_after_unlock(
    db_path: Path, db: Database, slow_sim: Simulator
) -> None:
    seed(db)
    clock = MovableClock()
    idle = IdleClock()
    app = make_app(db_path, slow_sim.url, clock, idle_clock=idle)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await through_checks_and_disinfection(pilot, clock)
        await record_first_application(pilot)
        await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
        stamping = current(pilot)
        assert isinstance(stamping, StampingScreen)
        opened = app.open_session
        assert opened is not None
        await wait_for(pilot, lambda: stamping.stats.count >= 1)
        idle.advance(5 * 60)  # the default: five minutes without a key
        await wait_for(pilot, lambda: locked(app), timeout=5)
        counted_when_locked = stamping.stats.count
        assert counted_when_locked < SLOW_STAMPS, "the lock came while the stamp was still stamping"

        # Behind the lock: the link stores every stamp, the stamping screen counts each one.
        await slow_sim.wait_until(lambda: len(slow_sim.truth) == SLOW_STAMPS, timeout=30)
        truth = {(stamp.boot, stamp.seq): stamp.zone for stamp in slow_sim.truth}
        await wait_for(pilot, lambda: session_stamps(db, opened.id) == truth)
        assert locked(app), "still locked while the stamps came in"

        await sign_in(pilot)
        assert current(pilot) is stamping
        await wait_for(pilot, lambda: stamping.stats.count == SLOW_STAMPS, timeout=5)
        assert stamping.coverage.totals().stamps == SLOW_STAMPS, "none lost, none twice"
