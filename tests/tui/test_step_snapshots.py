"""SVG snapshots of every step screen of a session, and of the start screen, at 80×24, 100×30 and 160×45.

At 80×24 every step keeps the patient banner, the step title and its main action (the footer
shows ``enter Next`` first) in view; the stamping screen its count, whether the stamp counts,
the force, the active zone and the finish key.

The pictures are made as in :mod:`tests.tui.test_snapshots` (whose helpers they use): a fixed
clock and time zone (UTC), seeded data, the session's flow walked in memory on a clock that
stands still (so a running timer shows the same figure however long the picture takes), stamps
on a fake monotonic clock, notifications cleared and text cursors that do not blink. Update them
after an intended change with ``pytest tests/tui/test_step_snapshots.py --snapshot-update`` and
look at the new SVGs.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from stampside.app.domain.aftercare import AftercareCard
from stampside.app.domain.schedule import next_appointments
from stampside.app.domain.steps import KnownLot, SessionFlow, lot_to_offer
from stampside.app.domain.treatment_protocol import StepKind, default_protocol
from stampside.app.domain.zones import Zone
from stampside.app.tui.screens.stamping import StampingScreen, StampInput
from stampside.app.tui.screens.step_base import StepScreen
from stampside.app.tui.screens.steps import AftercareScreen, ApplicationScreen, DisinfectionScreen

from .course_helpers import NOW, WHO
from .test_snapshots import (  # noqa: F401 - utc and truecolor are autouse fixtures, used here too
    BANNER,
    LINK,
    PASSING,
    PLAN,
    Clock,
    Host,
    MonotonicClock,
    ScreenApp,
    _walk_to,
    checks_screen,
    choose_first_patient,
    start_screen_app,
    summary_screen,
    truecolor,
    utc,
)

SIZES = [(80, 24), (100, 30), (160, 45)]
IDS = ["80x24", "100x30", "160x45"]
sizes = pytest.mark.parametrize("size", SIZES, ids=IDS)

PROTOCOL = default_protocol()
#: Before stamping the stamp is connected and not armed; after it, the link is closed.
CONNECTED = replace(LINK, armed=False)
#: The lot of the patient's previous session, offered to the first application to be confirmed.
PREVIOUS_LOT = KnownLot("LX-2291", date(2027, 3, 31), "session 1 of 6")
CLINIC, PHONE = "Northside Scalp Clinic", "+44 161 496 0000"
CARDS = Path("/srv/stampside/cards")


class LotHost(Host):
    """The snapshots' host, which also offers the lot an application step would be offered."""

    @property
    def offered_lot(self) -> KnownLot | None:
        flow = self.flow
        if flow.finished:
            return None
        return lot_to_offer(flow.protocol, flow.records, flow.position, PREVIOUS_LOT)


def at_step(kind: StepKind, *, run_for: float = 0.0) -> tuple[LotHost, int]:
    """A session walked up to the first step of ``kind``, that step started ``run_for`` seconds ago.

    The disinfection is started as the practitioner confirms it; every other step as the app
    shows it. Returns the host and the step's 1-based number.
    """
    clock = Clock()
    flow = SessionFlow(PROTOCOL, clock)
    _walk_to(flow, clock, kind)
    flow.start(WHO)
    clock.advance(run_for)
    return LotHost(flow), flow.position + 1


def step_of(host: Host) -> Any:
    step = host.flow.current_step
    assert step is not None
    return step


async def settle(pilot: Pilot[None]) -> None:
    """The screen drawn, no notification over it, no text cursor blinking into the picture."""
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    pilot.app.clear_notifications()
    await pilot.pause()


def step_snapshot(snap_compare: Any, screen: StepScreen, size: tuple[int, int]) -> bool:
    result: bool = snap_compare(ScreenApp(screen), terminal_size=size, run_before=settle)
    return result


# -- the step screens -----------------------------------------------------------------------------


@sizes
def test_pre_session_checks(snap_compare: Any, size: tuple[int, int]) -> None:
    screen = checks_screen(PASSING)
    screen.link = CONNECTED
    assert step_snapshot(snap_compare, screen, size)


@sizes
def test_disinfection_timer_running(snap_compare: Any, size: tuple[int, int]) -> None:
    host, number = at_step(StepKind.DISINFECTION, run_for=23)
    screen = DisinfectionScreen(host, step_of(host), number, link=CONNECTED)
    assert step_snapshot(snap_compare, screen, size)


@sizes
def test_first_application_lot_carried_over(snap_compare: Any, size: tuple[int, int]) -> None:
    host, number = at_step(StepKind.APPLICATION, run_for=40)
    screen = ApplicationScreen(host, step_of(host), number, link=CONNECTED)
    assert step_snapshot(snap_compare, screen, size)


@sizes
def test_stamping_with_coverage(snap_compare: Any, size: tuple[int, int]) -> None:
    clock = MonotonicClock()
    zones = (Zone.FRONTAL, Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL, Zone.VERTEX)
    screen = StampingScreen.for_protocol(
        PROTOCOL, zones, 100, clock=clock, link=LINK, banner=BANNER, wall_clock=lambda: NOW
    )
    screen.sub_title = f"Step 4 of {len(PROTOCOL.steps)} · Stamping"
    screen.redraw_interval = 0  # every batch drawn as it is counted: no throttled redraw to wait for

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
                stamps.append(StampInput(1, seq, int(seq * 1000 / 3), force_dn, 0, clock.now, zone))
            screen.record_stamps(stamps)
            await pilot.pause()
        await settle(pilot)

    assert snap_compare(ScreenApp(screen), terminal_size=size, run_before=stamp)


@sizes
def test_second_application_timer_running(snap_compare: Any, size: tuple[int, int]) -> None:
    clock = Clock()
    flow = SessionFlow(PROTOCOL, clock)
    _walk_to(flow, clock, StepKind.STAMPING)  # the first application's lot is recorded on the way
    flow.start(WHO)
    flow.check_device(replace(PASSING, armed=True))
    clock.advance(600)
    flow.complete(WHO)
    clock.advance(20)
    flow.start(WHO)
    clock.advance(50)
    host = LotHost(flow)
    screen = ApplicationScreen(host, step_of(host), flow.position + 1)
    assert screen.step.id == "second_application"
    assert step_snapshot(snap_compare, screen, size)


@sizes
def test_aftercare(snap_compare: Any, size: tuple[int, int]) -> None:
    host, number = at_step(StepKind.AFTERCARE)
    ended = host.flow.treatment_ended_at or NOW
    card = AftercareCard.for_session(
        ended,
        PROTOCOL.aftercare,
        patient=BANNER.patient_code,
        practitioner=WHO,
        clinic=CLINIC,
        phone=PHONE,
        session_label="session 2 of 6",
        next_visits=next_appointments(PROTOCOL, 2, ended.date()),
    )
    paths = (CARDS / "P-0042-2026-11-26-aftercare.txt", CARDS / "P-0042-2026-11-26-aftercare.html")
    screen = AftercareScreen(host, step_of(host), number, card, card_paths=paths)
    assert step_snapshot(snap_compare, screen, size)


@sizes
def test_summary(snap_compare: Any, size: tuple[int, int]) -> None:
    assert step_snapshot(snap_compare, summary_screen(PROTOCOL), size)


# -- the start screen -----------------------------------------------------------------------------


@sizes
def test_start_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    async def choose_patient(pilot: Pilot[None]) -> None:
        await choose_first_patient(pilot)
        await settle(pilot)

    assert snap_compare(start_screen_app(tmp_path), terminal_size=size, run_before=choose_patient)
