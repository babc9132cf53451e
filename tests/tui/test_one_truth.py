"""One truth per session, in the app: what the stamping screen counts is what is stored, whatever the device does.

Real in-process simulators on a fixed pty path, the app on a SQLite file, the Pilot at the keys.

* A second device life mid-session (same serial, numbering from 1 again, another epoch) on the
  same link: its stamps are stored apart (the serial's next numbering) and in the session; the
  session's stored stamps equal both simulators' truth and the screen counts exactly those.
* Quitting the app mid-stamping and coming back with a fresh device: the resumed stamping step
  is armed again (the device really counts), in the zone that was being stamped.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from stampside.app.domain.zones import Zone
from stampside.app.storage.database import Database
from stampside.app.storage.schema import Device, StampEvent
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.simulator.config import SimConfig, StampingConfig
from stampside.simulator.runner import Simulator
from tests.tui.session_helpers import (
    SIZE,
    MovableClock,
    current,
    make_app,
    record_first_application,
    resume_from_offer,
    seed,
    sim_config,
    start_session_for,
    through_checks_and_disinfection,
    wait_for,
)


def on_path(config: SimConfig, path: Path) -> SimConfig:
    """The simulator serving its pty at ``path`` (a second one can take the path over)."""
    return config.model_copy(update={"link": config.link.model_copy(update={"pty": path})})


def stored(db: Database, session_id: int) -> set[tuple[int, int, int]]:
    """(numbering, boot, seq) of every stamp stored in the session."""
    with db.Session.begin() as s:
        rows = s.execute(
            select(Device.life, StampEvent.boot, StampEvent.seq)
            .join(Device, StampEvent.device_id == Device.id)
            .where(StampEvent.session_id == session_id)
        )
        return {(life, boot, seq) for life, boot, seq in rows}


async def test_a_second_device_life_mid_session_is_stored_apart_and_counted_once(
    db_path: Path, db: Database, tmp_path: Path
) -> None:
    seed(db)
    link = tmp_path / "stamp"
    first = Simulator(on_path(sim_config(stamps=20), link))
    await first.start()
    second: Simulator | None = None
    clock = MovableClock()
    app = make_app(db_path, str(link), clock)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await start_session_for(pilot, "P-0042")
            await through_checks_and_disinfection(pilot, clock)
            await record_first_application(pilot)
            await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
            stamping = current(pilot)
            assert isinstance(stamping, StampingScreen) and app.open_session is not None
            session_id = app.open_session.id
            await wait_for(pilot, lambda: len(stored(db, session_id)) == 20 == stamping.stats.count)
            await first.stop()
            # Another board under the same serial: boot 1, seq from 1, another epoch.
            second = Simulator(on_path(sim_config(stamps=15), link))
            await second.start()
            truth = {(1, s.boot, s.seq) for s in first.truth}
            await wait_for(pilot, lambda: len(second.truth) == 15 and len(stored(db, session_id)) == 35)
            truth |= {(2, s.boot, s.seq) for s in second.truth}
            await wait_for(pilot, lambda: stamping.stats.count == 35)
            await pilot.pause(0.3)  # anything counted twice would show by now
            assert stored(db, session_id) == truth
            assert stamping.stats.count == len(truth) == stamping.coverage.totals().stamps == 35
            assert first.truth[0].seq == second.truth[0].seq == 1, "the two lives share (boot, seq) pairs"
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


async def test_a_resumed_stamping_step_with_a_fresh_device_is_armed_in_the_zone_it_was_in(
    db_path: Path, db: Database, tmp_path: Path
) -> None:
    seed(db)
    link = tmp_path / "stamp"
    first = Simulator(on_path(sim_config(stamps=10), link))
    await first.start()
    clock = MovableClock()
    app = make_app(db_path, str(link), clock)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await start_session_for(pilot, "P-0042")
            await through_checks_and_disinfection(pilot, clock)
            await record_first_application(pilot)
            await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
            assert app.open_session is not None
            session_id = app.open_session.id
            await pilot.press("l")  # the left temporal zone is being stamped
            await wait_for(pilot, lambda: len(stored(db, session_id)) == 10)
            await app.session_controller.saved()
            await pilot.press("q", "y")  # quit with the session open, mid-stamping
            await pilot.pause()
    finally:
        await first.stop()

    zoneless = sim_config().model_copy(update={"stamping": StampingConfig(rate=50, stamps=6, zones="none")})
    fresh = Simulator(on_path(zoneless, link))  # a new device; zone 0 on the wire
    await fresh.start()
    try:
        app = make_app(db_path, str(link), clock)
        async with app.run_test(size=SIZE) as pilot:
            await resume_from_offer(pilot)  # the app offers the open session first
            await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
            stamping = current(pilot)
            assert isinstance(stamping, StampingScreen)
            assert stamping.coverage.active is Zone.LEFT_TEMPORAL, "the zone that was being stamped"
            await wait_for(pilot, lambda: fresh.device.armed, timeout=10)
            await wait_for(pilot, lambda: len(fresh.truth) == 6 and stamping.stats.count == 16)
            await wait_for(pilot, lambda: stamping.link.counting)
            assert "ARMED" in str(stamping.query_one("#arm-state").render())
            assert stamping.coverage.stamps_in(Zone.LEFT_TEMPORAL) >= 6  # the new stamps went where the work was
            assert len(stored(db, session_id)) == 16
    finally:
        await fresh.stop()
