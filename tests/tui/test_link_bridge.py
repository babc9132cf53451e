"""The link bridge against a real in-process simulator over a pty, with the stamping screen and a SQLite sink.

Each stamp is stored once in the bridge's session, counted on the screen once — from what was
stored — and matches the simulator's truth, also across a link drop; the drop shows on the
screen's status bar and banner; a port that cannot be opened becomes a closed status and a
:class:`LinkProblem`, not a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.domain.zones import Zone
from stampside.app.storage import Database, DatabaseSink, open_database
from stampside.app.storage.courses import start_course
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schema import StampEvent
from stampside.app.storage.sessions import open_session
from stampside.app.tui.link_bridge import DeviceNotice, LinkBridge, LinkProblem
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.devicelink.session import LinkOptions
from stampside.devicelink.state import LinkState
from stampside.simulator.config import DeviceConfig, SimConfig, StampingConfig
from stampside.simulator.runner import Simulator

#: Short timings so a drop is noticed and healed within the test's patience.
FAST = LinkOptions(link_timeout=0.6, reply_timeout=0.2, backoff_initial=0.05, backoff_max=0.2, ping_interval=0)
#: Generous: the suite shares a small machine.
PATIENCE = 15.0


class BridgeTestApp(App[None]):
    """Pushes a stamping screen and keeps the link problems that bubble up from it."""

    def __init__(self) -> None:
        super().__init__()
        self.stamping = StampingScreen.for_protocol(default_protocol(), treated=(Zone.FRONTAL,), footprint_mm2=100)
        self.problems: list[str | None] = []
        self.notices: list[str] = []

    def on_mount(self) -> None:
        self.push_screen(self.stamping)

    def on_link_problem(self, message: LinkProblem) -> None:
        self.problems.append(message.text)

    def on_device_notice(self, message: DeviceNotice) -> None:
        self.notices.append(message.text)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = open_database(f"sqlite:///{tmp_path / 'stamps.db'}")
    yield db
    db.close()


@pytest.fixture
async def simulator_factory() -> AsyncIterator[Callable[..., Simulator]]:
    made: list[Simulator] = []

    def make(stamps: int, versions: tuple[int, int] = (1, 2), battery: float = 100.0) -> Simulator:
        config = SimConfig(
            device=DeviceConfig(versions=versions, battery=battery),
            stamping=StampingConfig(rate=50, stamps=stamps),
            seed=3,
        )
        sim = Simulator(config)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        await sim.stop()


def stored_count(database: Database, session_id: int | None = None) -> int:
    with database.Session.begin() as session:
        query = select(func.count()).select_from(StampEvent)
        if session_id is not None:
            query = query.where(StampEvent.session_id == session_id)
        return session.scalar(query) or 0


def open_treatment(database: Database) -> int:
    """A treatment session for the stamps to be stored in."""
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with database.Session.begin() as s:
        who = add_practitioner(s, "Dr Link")
        patient = create_patient(s, NewPatient.parse("P-LINK"), now=now)
        course = start_course(s, patient.id, now=now)
        return open_session(s, course, protocol=default_protocol(), practitioner_id=who.id, now=now).id


async def wait_for(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = PATIENCE) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)


async def test_every_stamp_is_counted_on_the_screen_once_and_stored_once(
    database: Database, simulator_factory: Callable[..., Simulator]
) -> None:
    stamps = 60
    session_id = open_treatment(database)
    sim = simulator_factory(stamps)
    await sim.start()
    app = BridgeTestApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.stamping
        bridge = LinkBridge(sim.url, sink=DatabaseSink(database), arm=True, options=FAST, target=screen)
        bridge.set_place(session_id, Zone.FRONTAL)
        try:
            assert await bridge.start()
            await wait_for(pilot, lambda: screen.link.state is LinkState.CONNECTED)
            assert screen.link.serial == sim.config.device.serial
            assert screen.link.head_id == str(sim.config.device.head_id)
            assert screen.link.battery_pct is not None
            await wait_for(pilot, lambda: screen.stats.count >= stamps and stored_count(database) >= stamps)
            await pilot.pause(0.3)  # anything extra would show up by now
        finally:
            await bridge.aclose()
        assert screen.stats.count == stamps == stored_count(database, session_id) == len(sim.truth)
        assert bridge.stamps_forwarded == stamps
        assert app.problems == []


async def test_a_drop_shows_on_the_screen_and_the_count_catches_up_without_double_counting(
    database: Database, simulator_factory: Callable[..., Simulator]
) -> None:
    stamps = 150
    session_id = open_treatment(database)
    sim = simulator_factory(stamps)
    await sim.start()
    app = BridgeTestApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.stamping
        bridge = LinkBridge(sim.url, sink=DatabaseSink(database), arm=True, options=FAST, target=screen)
        bridge.set_place(session_id, Zone.FRONTAL)
        try:
            assert await bridge.start()
            await wait_for(pilot, lambda: screen.stats.count >= 20)
            sim.drop(2.5)
            await wait_for(pilot, lambda: screen.link.down)
            assert screen.link.down_since is not None
            assert screen.query_one("#link-banner", Static).has_class("-shown")
            counted_during_drop = screen.stats.count
            await wait_for(pilot, lambda: screen.link.state is LinkState.CONNECTED)
            assert screen.link.down_since is None
            assert not screen.query_one("#link-banner", Static).has_class("-shown")
            await wait_for(pilot, lambda: screen.stats.count >= stamps and stored_count(database) >= stamps)
            await pilot.pause(0.3)
        finally:
            await bridge.aclose()
        assert counted_during_drop < stamps  # the simulator went on counting while the link was down
        assert screen.stats.count == stamps == stored_count(database, session_id) == len(sim.truth)
        assert bridge.stamps_forwarded == stamps
        assert sim.stats().drops >= 1


async def test_a_port_that_cannot_be_opened_becomes_a_closed_status_and_a_problem(tmp_path: Path) -> None:
    app = BridgeTestApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.stamping
        bridge = LinkBridge(str(tmp_path / "no-such-port"), options=FAST, target=screen)
        assert not await bridge.start()
        await wait_for(pilot, lambda: bool(app.problems))
        assert screen.link.state is LinkState.CLOSED
        assert bridge.problem is not None
        assert app.problems == [bridge.problem]
        await bridge.aclose()


async def test_a_new_target_gets_the_current_status_and_no_target_gets_nothing(
    database: Database, simulator_factory: Callable[..., Simulator]
) -> None:
    sim = simulator_factory(0)
    await sim.start()
    app = BridgeTestApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.stamping
        bridge = LinkBridge(sim.url, sink=DatabaseSink(database), options=FAST)
        try:
            assert await bridge.start()
            await wait_for(pilot, lambda: bridge.status.state is LinkState.CONNECTED)
            assert screen.link.state is LinkState.CONNECTING  # nobody was told
            bridge.target = screen
            await wait_for(pilot, lambda: screen.link.state is LinkState.CONNECTED)
            assert screen.link.serial == sim.config.device.serial
        finally:
            await bridge.aclose()


async def test_a_device_with_no_common_protocol_version_becomes_a_closed_status_and_a_problem(
    simulator_factory: Callable[..., Simulator],
) -> None:
    sim = simulator_factory(0, versions=(9, 9))
    await sim.start()
    app = BridgeTestApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.stamping
        bridge = LinkBridge(sim.url, options=FAST, target=screen)
        try:
            assert await bridge.start()
            await wait_for(pilot, lambda: screen.link.state is LinkState.CLOSED and bool(app.problems))
        finally:
            await bridge.aclose()
        assert bridge.problem is not None
        assert "9" in bridge.problem
        assert app.problems == [bridge.problem]


async def test_a_new_head_and_a_battery_change_reach_the_status_bar(
    database: Database, simulator_factory: Callable[..., Simulator]
) -> None:
    sim = simulator_factory(0)
    await sim.start()
    app = BridgeTestApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.stamping
        bridge = LinkBridge(sim.url, sink=DatabaseSink(database), options=FAST, target=screen, poll_interval=0.1)
        try:
            assert await bridge.start()
            await wait_for(pilot, lambda: screen.link.state is LinkState.CONNECTED)
            sim.change_head(2002)
            sim.set_battery(42)
            await wait_for(pilot, lambda: screen.link.head_id == "2002" and screen.link.battery_pct == 42)
        finally:
            await bridge.aclose()


async def test_stamps_arriving_outside_a_session_are_stored_and_shown_apart(
    database: Database, simulator_factory: Callable[..., Simulator]
) -> None:
    stamps = 12
    sim = simulator_factory(stamps)
    await sim.start()
    app = BridgeTestApp()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.stamping
        bridge = LinkBridge(sim.url, sink=DatabaseSink(database), arm=True, options=FAST, target=screen)
        try:
            assert await bridge.start()
            await wait_for(pilot, lambda: screen.unassigned >= stamps)
        finally:
            await bridge.aclose()
        assert stored_count(database) == stamps == len(sim.truth)  # none dropped ...
        assert screen.stats.count == 0  # ... none counted for a session
        assert bridge.stamps_forwarded == 0


async def test_a_device_fault_is_a_notice_at_the_chair_said_once(
    database: Database, simulator_factory: Callable[..., Simulator]
) -> None:
    sim = simulator_factory(5, battery=10.0)  # at or below the low mark: FAULT LOW_BATTERY
    await sim.start()
    app = BridgeTestApp()
    async with app.run_test(size=(100, 30)) as pilot:
        bridge = LinkBridge(sim.url, sink=DatabaseSink(database), arm=True, options=FAST, target=app.stamping)
        try:
            assert await bridge.start()
            await wait_for(pilot, lambda: bool(app.notices))
            await pilot.pause(0.5)
        finally:
            await bridge.aclose()
    low = [text for text in app.notices if "battery low (10 %)" in text]
    assert len(low) == 1, app.notices
    assert low[0].startswith(sim.config.device.serial)


@pytest.fixture
def own_postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL cluster of this test's own: it is stopped and started again mid-test."""
    from tests.postgres_server import own_cluster

    with own_cluster("chair") as server:
        yield server


@pytest.mark.postgresql
async def test_the_database_server_restarting_shows_a_banner_and_the_count_catches_up(
    own_postgres: tuple[str, Path], simulator_factory: Callable[..., Simulator]
) -> None:
    from tests.postgres_server import run_script

    url, data = own_postgres
    database = open_database(url)
    stamps = 300
    session_id = open_treatment(database)
    sim = simulator_factory(stamps)
    await sim.start()
    app = BridgeTestApp()
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.stamping
            bridge = LinkBridge(sim.url, sink=DatabaseSink(database), arm=True, options=FAST, target=screen)
            bridge.set_place(session_id, Zone.FRONTAL)
            banner = screen.query_one("#storage-banner", Static)
            try:
                assert await bridge.start()
                await wait_for(pilot, lambda: screen.stats.count >= 30)
                assert not banner.has_class("-shown")
                stopped = await asyncio.to_thread(run_script, "stop", data)
                assert stopped.returncode == 0, stopped.stderr
                await wait_for(pilot, lambda: banner.has_class("-shown"))
                assert "DATABASE AWAY" in str(banner.content) and "nothing is lost" in str(banner.content)
                assert screen.link.state is LinkState.CONNECTED, "the link stays up: only storing waits"
                during = screen.stats.count
                restarted = await asyncio.to_thread(run_script, "up", data)
                assert restarted.returncode == 0, restarted.stderr
                await wait_for(pilot, lambda: not banner.has_class("-shown"), timeout=30)
                await wait_for(pilot, lambda: screen.stats.count >= stamps and stored_count(database) >= stamps)
                await pilot.pause(0.3)
            finally:
                await bridge.aclose()
            assert during < stamps  # the device went on counting while the database was away
            assert screen.stats.count == stamps == stored_count(database, session_id) == len(sim.truth)
    finally:
        database.close()
