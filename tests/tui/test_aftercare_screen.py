"""The aftercare step in the app: the clinic's phone and the next appointment, as on the card.

A session is stored up to its aftercare step (the steps before it walked in the domain, with a
passing device), then the app resumes it without a device (the link is not needed after the
stamping step). The app is given the clinic's settings (``AppConfig.settings``): the screen
shows the settings' phone and the course's next session, and the card files written for the
session say the same lines.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date
from pathlib import Path

from sqlalchemy import select
from textual.widgets import Static

from stampside.app.domain.gates import DeviceFacts
from stampside.app.domain.steps import SessionFlow
from stampside.app.domain.treatment_protocol import StepKind, default_protocol
from stampside.app.settings import ClinicInfo, Settings
from stampside.app.storage.database import Database
from stampside.app.storage.schema import Course
from stampside.app.storage.sessions import open_session
from stampside.app.storage.step_records import save_step_records
from stampside.app.tui.app import AppConfig, StampsideApp, create_app
from stampside.app.tui.screens.steps import AftercareScreen
from tests.tui.session_helpers import (
    FAST,
    NOW,
    PRACTITIONER,
    SIZE,
    MovableClock,
    current,
    resume_from_offer,
    seed,
    wait_for,
)

PROTOCOL = default_protocol()
CLINIC = ClinicInfo(name="Northside Scalp Clinic", phone="+44 161 496 0000")
PASSING = DeviceFacts(
    identified=True,
    serial="SS-000421",
    needle_um=2000,
    head_id=1001,
    head_used_elsewhere=False,
    battery_pct=80,
    clock_synced=True,
)
#: Session 1 on Thu 26 Nov 2026: session 2 is due a week later, on time 5 to 10 days after.
NEXT_SESSION = "Session 2 of 6: Thu 3 Dec 2026 (any day from Tue 1 Dec 2026 to Sun 6 Dec 2026)"


def stored_up_to_aftercare(db: Database, clock: MovableClock) -> None:
    """Session 1 of the patient's course, its steps done up to aftercare, as the app stores them."""
    practitioner, patient = seed(db)
    with db.Session.begin() as s:
        course_id = s.scalars(select(Course.id).where(Course.patient_id == patient.id)).one()
        view = open_session(s, course_id, protocol=PROTOCOL, practitioner_id=practitioner.id, now=clock())
    flow = SessionFlow(PROTOCOL, clock)
    while (step := flow.current_step) is not None and step.kind is not StepKind.AFTERCARE:
        flow.start(PRACTITIONER)
        if step.gates:
            flow.check_device(replace(PASSING, armed=step.kind is StepKind.STAMPING))
        if step.requires_lot:
            flow.record_lot("LX-2291", date(2027, 3, 31))
        clock.advance(step.timer.seconds if step.timer else 45)
        flow.complete(PRACTITIONER)
    with db.Session.begin() as s:
        save_step_records(s, view.id, list(flow.records))


def app_with_clinic(db_path: Path, clock: MovableClock, cards: Path) -> StampsideApp:
    app = create_app(
        AppConfig(
            database=str(db_path),
            device_url=None,
            protocol=PROTOCOL,
            clock=clock,
            cards_dir=cards,
            tz=UTC,
            settings=Settings(clinic=CLINIC),
        )
    )
    app.session_controller.link_options = FAST
    return app


def text_of(screen: AftercareScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


async def test_the_aftercare_screen_shows_the_clinics_phone_and_the_next_session_as_the_card_does(
    db_path: Path, db: Database, tmp_path: Path
) -> None:
    clock = MovableClock(NOW)
    stored_up_to_aftercare(db, clock)
    cards = tmp_path / "cards"
    app = app_with_clinic(db_path, clock, cards)
    async with app.run_test(size=SIZE) as pilot:
        await resume_from_offer(pilot)
        await wait_for(pilot, lambda: isinstance(current(pilot), AftercareScreen) and current(pilot).is_mounted)
        screen = current(pilot)
        assert isinstance(screen, AftercareScreen)
        await wait_for(pilot, lambda: bool(screen.query("#clinic-contact")))
        contact = text_of(screen, "#clinic-contact")
        assert contact == "Questions or a problem? Call Northside Scalp Clinic on +44 161 496 0000."
        assert text_of(screen, "#next-appointment") == f"Next appointment: {NEXT_SESSION}"
        rules = text_of(screen, "#aftercare-rules")
        assert "call Northside Scalp Clinic on +44 161 496 0000 if they get worse" in rules
        assert "call the clinic" not in rules
        wash = text_of(screen, "#wash-window")
        assert "not before Fri 27 Nov 2026, " in wash and "ideally Sat 28 Nov 2026, " in wash
        assert len(screen.card_paths) == 2
        assert not [n.message for n in app._notifications if n.severity == "error"]

    # One truth: the card written for the session says what the screen said.
    for path in screen.card_paths:
        written = path.read_text(encoding="utf-8")
        assert NEXT_SESSION in written
        assert contact in written
        assert wash.removeprefix("No hair wash: ") in written
