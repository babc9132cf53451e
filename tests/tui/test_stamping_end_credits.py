"""The end of stamping loses no zone: every stamp of the step is stored with the zone it was made in.

A stamp's session and zone are written by the link's sink in the INSERT that stores it, from
where the link was told the practitioner is (session, active zone). Nothing is left for the
screen to credit: stamps counted since the last redraw, and stamps the link still delivers
while the step ends — between ``ctrl+d`` and the device being disarmed and the link closed —
are stored with their zone all the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from stampside.app.storage.database import Database, open_database
from stampside.app.tui.app import StampsideApp
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.app.tui.screens.steps import ApplicationScreen
from stampside.simulator.config import DeviceConfig, SimConfig, StampingConfig
from stampside.simulator.runner import Simulator
from tests.tui.session_helpers import (
    PATIENCE,
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

STAMPS = 12


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stampside.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(str(db_path))
    yield database
    database.close()


def zoneless(rate: float, stamps: int, seed: int) -> SimConfig:
    """Zone 0 on the wire: every stamp is credited to the screen's active zone."""
    return SimConfig(
        device=DeviceConfig.model_validate({"footprint_mm2": 90}),
        stamping=StampingConfig(rate=rate, stamps=stamps, zones="none"),
        seed=seed,
    )


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(zoneless(rate=10, stamps=STAMPS, seed=5))
    await simulator.start()
    yield simulator
    await simulator.stop()


async def to_stamping(pilot: Pilot[None], app: StampsideApp, clock: MovableClock) -> tuple[int, StampingScreen]:
    """From the start screen to the stamping screen; the open session's id and the screen."""
    await start_session_for(pilot, "P-0042")
    opened = app.open_session
    assert opened is not None
    await through_checks_and_disinfection(pilot, clock)
    await record_first_application(pilot)
    await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
    stamping = current(pilot)
    assert isinstance(stamping, StampingScreen)
    return opened.id, stamping


async def test_stamps_counted_after_the_last_redraw_keep_their_zone(
    db_path: Path, db: Database, sim: Simulator, tmp_path: Path
) -> None:
    seed(db)
    clock = MovableClock()
    app = make_app(db_path, sim.url, clock, tmp_path / "cards")
    async with app.run_test(size=(100, 30)) as pilot:
        session_id, stamping = await to_stamping(pilot, app, clock)
        stamping.redraw_interval = 3600.0  # from the next redraw on, the screen is not redrawn
        active = stamping.coverage.active
        await wait_for(pilot, lambda: stamping.stats.count == STAMPS)
        truth = {(stamp.boot, stamp.seq) for stamp in sim.truth}
        assert len(truth) == STAMPS
        stored_now = session_stamps(db, session_id)
        assert set(stored_now) == truth, "the screen counted only what is stored"
        assert set(stored_now.values()) == {int(active)}, "each stored in its zone, as it was stored"
        await pilot.press("ctrl+d")
        await pilot.pause()
        if isinstance(current(pilot), ConfirmDialog):  # zones under target: finish anyway
            await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen), timeout=PATIENCE)
        assert app.session_controller.bridge is None
    stored = session_stamps(db, session_id)
    assert set(stored) == truth
    assert set(stored.values()) == {int(active)}, stored


@pytest.fixture
async def fast_sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(zoneless(rate=200, stamps=3000, seed=6))
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_stamps_still_arriving_when_the_step_ends_keep_their_zone(
    db_path: Path, db: Database, fast_sim: Simulator, tmp_path: Path
) -> None:
    """``ctrl+d`` in the middle of a flood: the stamps the link stores while it closes are credited too."""
    seed(db)
    clock = MovableClock()
    app = make_app(db_path, fast_sim.url, clock, tmp_path / "cards")
    async with app.run_test(size=(100, 30)) as pilot:
        session_id, stamping = await to_stamping(pilot, app, clock)
        active = stamping.coverage.active
        await wait_for(pilot, lambda: stamping.stats.count >= 60)
        # From here the screen posts its credits only when the step ends (its own final redraw):
        # whatever arrives after that is left on the screen for the controller to take.
        stamping.redraw_interval = 3600.0
        await pilot.press("ctrl+d")
        await wait_for(
            pilot, lambda: isinstance(current(pilot), ConfirmDialog) or not isinstance(current(pilot), StampingScreen)
        )
        if isinstance(current(pilot), ConfirmDialog):
            await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen), timeout=PATIENCE)
    stored = session_stamps(db, session_id)
    truth = {(stamp.boot, stamp.seq) for stamp in fast_sim.truth}
    assert set(stored) == truth, "every stamp the device counted before it was disarmed is stored"
    uncredited = sorted(key for key, zone in stored.items() if zone is None)
    assert uncredited == [], f"{len(uncredited)} of {len(stored)} stamps lost their zone"
    assert set(stored.values()) == {int(active)}
