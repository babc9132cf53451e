"""SVG snapshots of the main screens at 100×30: start, pre-session checks, stamping with coverage, summary.

They are taken in a truecolor terminal (``COLORTERM=truecolor``), and the stamping screen once
more with ``NO_COLOR`` (the coverage map's monochrome fallback).

Every picture is deterministic: a fixed clock and time zone (UTC, also for the local time
the start screen shows), seeded data, stamps fed to the screen from a fixed plan on a fake
monotonic clock (so rate and elapsed time never move), notifications cleared, no link
durations (the link is connected). Update them after an intended change with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the new SVGs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from stampside.app.domain.coverage import CoverageModel
from stampside.app.domain.gates import DeviceFacts
from stampside.app.domain.steps import KnownLot, SessionFlow, lot_to_offer
from stampside.app.domain.treatment_protocol import StepKind, TreatmentProtocol, default_protocol
from stampside.app.domain.zones import Zone
from stampside.app.storage.database import open_database
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.tui.app import AppConfig, create_app
from stampside.app.tui.screens.stamping import StampingScreen, StampInput
from stampside.app.tui.screens.start import StartScreen
from stampside.app.tui.screens.steps import PreChecksScreen, SessionFigures, SummaryScreen
from stampside.app.tui.widgets.session_banner import BannerInfo
from stampside.app.tui.widgets.status_bar import LinkStatus
from stampside.devicelink.state import LinkState

from .course_helpers import NOW, STYLES, WHO, ready_for_course
from .sign_in_helpers import past_sign_in

T = TypeVar("T")
SIZE = (100, 30)
LINK = LinkStatus(LinkState.CONNECTED, serial="SS-000421", battery_pct=78, head_id="1001", armed=True)
PASSING = DeviceFacts(
    identified=True,
    serial="SS-000421",
    needle_um=2000,
    head_id=1001,
    head_used_elsewhere=False,
    battery_pct=78,
    clock_synced=True,
)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC (the start screen shows stored times in the computer's zone)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def truecolor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A truecolor terminal, whatever runs the tests (the coverage map's palette follows the terminal's colours)."""
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.delenv("NO_COLOR", raising=False)


class Clock:
    """The app's clock: stands still unless moved."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


BANNER = BannerInfo("P-0042", "Ada Example", 2, 6, NOW - timedelta(minutes=14))


class Host:
    """A :class:`~stampside.app.tui.screens.step_base.StepHost` over a domain flow; changes are kept in memory."""

    def __init__(self, flow: SessionFlow) -> None:
        self._flow = flow

    @property
    def flow(self) -> SessionFlow:
        return self._flow

    @property
    def practitioner(self) -> str:
        return WHO

    def change(self, action: Callable[[SessionFlow], T]) -> T:
        return action(self._flow)

    def complete_step(self) -> None:
        self._flow.complete(WHO)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(NOW.tzinfo)

    @property
    def banner(self) -> BannerInfo:
        return BANNER

    @property
    def offered_lot(self) -> KnownLot | None:
        return lot_to_offer(self._flow.protocol, self._flow.records, self._flow.position, None)

    def clock(self) -> datetime:
        return NOW


class ScreenApp(App[None]):
    """The app's styles, its title, and the one screen under test."""

    CSS_PATH = str(STYLES)
    TITLE = "Stampside"

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self._screen = screen

    def on_mount(self) -> None:
        self.push_screen(self._screen)


def _walk_to(flow: SessionFlow, clock: Clock, kind: StepKind) -> None:
    """Walk the flow through its steps, the way a session goes, until the step of ``kind`` is current."""
    while (step := flow.current_step) is not None and step.kind is not kind:
        flow.start(WHO)
        if step.gates:
            flow.check_device(replace(PASSING, armed=step.kind is StepKind.STAMPING))
        if step.requires_lot:
            flow.record_lot("LX-2291", date(2027, 3, 31))
        if step.volume_ml is not None:
            flow.record_volume(step.volume_ml)
        clock.advance(step.timer.seconds if step.timer else 45)
        flow.complete(WHO)
        clock.advance(20)


def checks_screen(facts: DeviceFacts) -> PreChecksScreen:
    protocol = default_protocol()
    flow = SessionFlow(protocol, Clock())
    flow.start(WHO)
    flow.check_device(facts)
    return PreChecksScreen(Host(flow), protocol.steps[0], 1, link=LINK)


#: Stamps per zone for the stamping picture (footprint 100 mm², density 2): frontal at target, the rest on the way.
PLAN = ((Zone.FRONTAL, 120), (Zone.LEFT_TEMPORAL, 32), (Zone.RIGHT_TEMPORAL, 12), (Zone.VERTEX, 45))


class MonotonicClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def summary_screen(protocol: TreatmentProtocol) -> SummaryScreen:
    clock = Clock()
    flow = SessionFlow(protocol, clock)
    _walk_to(flow, clock, StepKind.SUMMARY)
    flow.start(WHO)
    step = flow.current_step
    assert step is not None
    counts = {Zone.FRONTAL: 120, Zone.MID_SCALP: 64, Zone.VERTEX: 45}
    coverage = CoverageModel(counts, protocol.coverage.densities(), 100)
    seq = 0
    for zone, count in counts.items():
        for _ in range(count):
            seq += 1
            coverage.add_stamp(1, seq, zone.value)
    zones = tuple(coverage.zones())
    figures = SessionFigures(stamps=sum(counts.values()), zones=zones)
    return SummaryScreen(Host(flow), step, flow.position + 1, figures=figures)


# -- the tests ------------------------------------------------------------------------------------


def start_screen_app(tmp_path: Path) -> App[None]:
    """The app on a seeded database: two practitioners, two patients, P-0042 ready for its course."""
    db_file = tmp_path / "stampside.db"
    db = open_database(str(db_file))
    with db.Session.begin() as s:
        add_practitioner(s, WHO)
        add_practitioner(s, "Dr. Lea Marin")
        patient = create_patient(s, NewPatient.parse("P-0042"), now=NOW - timedelta(days=30))
        create_patient(s, NewPatient.parse("P-0043"), now=NOW - timedelta(days=20))
    ready_for_course(db, patient.id, NOW)
    db.close()
    return create_app(AppConfig(database=str(db_file), clock=Clock(), tz=NOW.tzinfo))


async def choose_first_patient(pilot: Pilot[None]) -> None:
    """Signed in, on the start screen once composed: search P-0042 and choose it; its course is read."""
    await past_sign_in(pilot)
    while not (isinstance(pilot.app.screen, StartScreen) and pilot.app.screen.query("#patient-search")):
        await pilot.pause(0.02)  # the database opens in a worker, then the start screen is composed
    screen = pilot.app.screen
    await pilot.app.workers.wait_for_complete()
    search = screen.query_one("#patient-search", Input)
    search.focus()
    search.value = "P-0042"
    await pilot.pause()
    await pilot.press("enter")
    await pilot.app.workers.wait_for_complete()


def test_start_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def choose_patient(pilot: Pilot[None]) -> None:
        await choose_first_patient(pilot)
        await pilot.pause()

    assert snap_compare(start_screen_app(tmp_path), terminal_size=SIZE, run_before=choose_patient)


def test_pre_session_checks_all_passing(snap_compare: Any) -> None:
    assert snap_compare(ScreenApp(checks_screen(PASSING)), terminal_size=SIZE)


def test_pre_session_checks_with_a_failing_gate(snap_compare: Any) -> None:
    failing = replace(PASSING, needle_um=1500, battery_pct=12)
    assert snap_compare(ScreenApp(checks_screen(failing)), terminal_size=SIZE)


def test_stamping_with_coverage(snap_compare: Any) -> None:
    assert stamping_snapshot(snap_compare, SIZE)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_stamping_with_coverage_at_other_sizes(snap_compare: Any, size: tuple[int, int]) -> None:
    assert stamping_snapshot(snap_compare, size)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_pre_session_checks_at_other_sizes(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(ScreenApp(checks_screen(PASSING)), terminal_size=size)


def test_stamping_with_coverage_in_monochrome(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR: every level of the map fills its tile with its own character, the legend says which."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert stamping_snapshot(snap_compare, SIZE)


def stamping_snapshot(snap_compare: Any, size: tuple[int, int]) -> bool:
    clock = MonotonicClock()
    zones = (Zone.FRONTAL, Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL, Zone.VERTEX)
    screen = StampingScreen.for_protocol(
        default_protocol(), zones, 100, clock=clock, link=LINK, banner=BANNER, wall_clock=lambda: NOW
    )
    screen.sub_title = "Step 4 of 7 · Stamping"

    async def stamp(pilot: Pilot[None]) -> None:
        await pilot.pause()
        seq = 0
        for zone, count in PLAN:
            await pilot.press(zone.key)
            stamps = []
            for _ in range(count):
                seq += 1
                clock.now += 1 / 3
                force_dn = int(62 + 18 * math.sin(seq / 4) + 9 * math.sin(seq * 1.7))
                # As storage reports them: stored in the zone being stamped.
                stamps.append(StampInput(1, seq, int(seq * 1000 / 3), force_dn, 0, clock.now, zone))
            screen.record_stamps(stamps)
            await pilot.pause()
        await pilot.pause(0.2)  # the throttled redraw
        pilot.app.clear_notifications()
        await pilot.pause()

    result: bool = snap_compare(ScreenApp(screen), terminal_size=size, run_before=stamp)
    return result


def test_summary(snap_compare: Any) -> None:
    assert snap_compare(ScreenApp(summary_screen(default_protocol())), terminal_size=SIZE)
