"""A whole course in the app: screening, six guided sessions against the simulator, follow-ups and outcomes.

One app run against the in-process simulator, on a tmp SQLite file, with a clock the test
moves: the patient is screened in the screening form (the start of the course asks for it),
the baseline photos are registered through storage while the app asks for them (the photo
screen has its own tests), then sessions 1 to 6 are each driven through every step screen:
the checks, the disinfection timer, the first application with lot and expiry, stamping
with a few stamps, the second application's rub-in timer, aftercare and the summary. The
clock moves on a week between sessions, except before session 4, which starts early: the
deviation is confirmed with a typed reason. One simulated stamp serves the whole course, with
a new head fitted before each session (a used head fails the checks) and a few more stamps
allowed each time.

After session 6 the start screen says the course is complete and the after-session-6
outcome is recorded in the outcomes screen. Two later runs (the clinic opens the app on the
day) show the 3-month and then the 6-month follow-up in the due list; the 3-month outcome is
recorded in between.

Assertions read storage: six finished sessions numbered 1–6 with seven completed step
records each and who confirmed them, each session's stamps exactly the ones the simulator
counted in it (its truth), the early start stored as a deviation, the course completed, the
outcomes stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from stampside.app.domain.schedule import Timing
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.courses import course_screening_id, course_summary
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.outcomes import list_assessments, list_self_assessments
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.photos import default_photo_root, register_photo
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schedule import deviations
from stampside.app.storage.schema import Course, TreatmentSession
from stampside.app.tui.app import StampsideApp
from stampside.app.tui.dialogs.choice import ChoiceDialog
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.course_override import CourseOverrideDialog
from stampside.app.tui.screens.outcomes import OutcomesScreen
from stampside.app.tui.screens.photos import PhotosScreen
from stampside.app.tui.screens.screening import ScreeningScreen
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.app.tui.screens.start import StartScreen
from stampside.app.tui.screens.steps import (
    AftercareScreen,
    ApplicationScreen,
    DisinfectionScreen,
    PreChecksScreen,
    SummaryScreen,
)
from stampside.app.tui.widgets.due_list import DueList
from stampside.simulator.runner import Simulator

from .course_helpers import make_jpeg
from .session_helpers import (
    NOW,
    PRACTITIONER,
    SIZE,
    MovableClock,
    current,
    make_app,
    next_enabled,
    session_stamps,
    sim_config,
    start_session_for,
    stored_session,
    stored_steps,
    wait_for,
)
from .sign_in_helpers import past_sign_in, sign_with_pin

CODE = "P-0107"
#: Stamps the simulator counts in each session (a few: the test is about the course, not the stamping).
PER_SESSION = 8
#: Days from the previous session's start to this one's; session 4 comes early (window 5–10 days).
GAPS = {2: 7, 3: 7, 4: 4, 5: 7, 6: 7}
EARLY = 4
EARLY_REASON = "patient away next week"
FIRST_HEAD = 2001
#: Sessions on Thu 26 Nov, 3, 10, Mon 14 (early), 21 and 28 Dec 2026; follow-ups 3 and 6 calendar months after.
LAST_SESSION_DAY = date(2026, 12, 28)
MONTH_3 = date(2027, 3, 28)
MONTH_6 = date(2027, 6, 28)
STEPS = [
    "pre_checks",
    "disinfection",
    "first_application",
    "stamping",
    "second_application",
    "aftercare",
    "summary",
]


@pytest.fixture
def db_path(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The clinic's database: the whole course runs on a SQLite file, then on PostgreSQL."""
    monkeypatch.delenv("STAMPSIDE_PHOTOS", raising=False)
    return db_url


@pytest.fixture
def db(db_path: str) -> Iterator[Database]:
    database = open_database(db_path)
    yield database
    database.close()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    # Fast stamping, zones walked three stamps at a time; the limit is raised before each session.
    config = sim_config(stamps=PER_SESSION)
    config = config.model_copy(update={"stamping": config.stamping.model_copy(update={"rate": 200, "zone_stamps": 3})})
    simulator = Simulator(config)
    await simulator.start()
    yield simulator
    await simulator.stop()


def seed(db: Database) -> int:
    """A practitioner and a new patient: nothing screened, no course."""
    with db.Session.begin() as s:
        add_practitioner(s, PRACTITIONER)
        patient = create_patient(s, NewPatient.parse(CODE), now=NOW - timedelta(days=20))
    return patient.id


def register_baseline(db: Database, patient_id: int, folder: Path, now: datetime) -> int:
    """The baseline set of the patient's course, through storage, into the app's photo folder."""
    protocol = default_protocol()
    source = make_jpeg(folder / "baseline.jpg", (120, 100, 90))
    with db.Session.begin() as s:
        summary = course_summary(s, patient_id)
        assert summary is not None and summary.status == "active", "the app started the course"
        for view in protocol.photos.views_for("baseline"):
            register_photo(
                s,
                source,
                root=default_photo_root(db.url),
                patient_id=patient_id,
                course_id=summary.course_id,
                time_point="baseline",
                view=view,
                protocol=protocol,
                now=now,
                registered_by=PRACTITIONER,
            )
        return summary.course_id


def text_of(pilot: Pilot[None], selector: str) -> str:
    """The text of the Static at ``selector`` on the current screen; empty while the screen is not
    composed yet (a screen is the current one a moment before its widgets are mounted)."""
    found = current(pilot).query(selector)
    return str(found.only_one(Static).content) if found else ""


def shown(pilot: Pilot[None], kind: type[object], selector: str) -> bool:
    """A ``kind`` screen is the current one and composed: ``selector`` is on it."""
    screen = current(pilot)
    return isinstance(screen, kind) and bool(screen.query(selector))


def notified(pilot: Pilot[None], text: str) -> bool:
    return any(text in n.message for n in pilot.app._notifications)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def due_list(pilot: Pilot[None]) -> DueList:
    """The start screen's due list, once the start screen is up *and composed* (a screen is the
    current one a moment before its widgets are mounted: querying then finds nothing), signed in if asked."""
    await past_sign_in(pilot)
    await wait_for(pilot, lambda: isinstance(current(pilot), StartScreen) and bool(current(pilot).query("#due-items")))
    return current(pilot).query_one("#due-items", DueList)


async def screen_through_the_form(pilot: Pilot[None]) -> None:
    """``s`` on a patient never screened: the app offers the screening form; a passing one starts the course."""
    await wait_for(pilot, lambda: shown(pilot, ConfirmDialog, ".dialog-text"))
    assert "The course cannot start: no screening recorded" in text_of(pilot, ".dialog-text")
    await pilot.press("y")
    await wait_for(pilot, lambda: isinstance(current(pilot), ScreeningScreen))
    form = current(pilot)
    form.query_one("#sex", Select).value = "male"
    form.query_one("#smoker", Select).value = "no"
    form.query_one("#norwood", Select).value = "3V"
    for lab in ("vitamin_d", "vitamin_b12", "ferritin", "tsh"):
        form.query_one(f"#lab-{lab}-date", Input).value = (NOW.date() - timedelta(days=9)).isoformat()
        form.query_one(f"#lab-{lab}-flag", Select).value = "normal"
    await pilot.press("ctrl+s")
    await sign_with_pin(pilot)  # the verdict, signed (reviewed)
    await wait_for(pilot, lambda: "✓ Eligible" in text_of(pilot, "#verdict"))
    await pilot.press("escape")  # back: the course starts


async def record_outcome(pilot: Pilot[None], *, density: str, coverage: str, overall: str) -> None:
    """The investigator's scores and the patient's answers on the outcomes screen, saved with ctrl+s."""
    screen = current(pilot)
    screen.query_one("#iga-density", Select).value = density
    screen.query_one("#iga-coverage", Select).value = coverage
    screen.query_one("#q-overall", Select).value = overall
    screen.query_one("#q-density", Select).value = "slightly_better"
    screen.query_one("#q-satisfied", Select).value = "yes"
    screen.query_one("#q-recommend", Select).value = "yes"
    await pilot.press("ctrl+s")
    await sign_with_pin(pilot)  # the assessment and the answers, signed (performed)
    await wait_for(pilot, lambda: bool(text_of(pilot, "#course-message")))


async def run_session(
    pilot: Pilot[None],
    app: StampsideApp,
    sim: Simulator,
    clock: MovableClock,
    number: int,
    truths: dict[int, dict[tuple[int, int], int]],
) -> int:
    """Drive session ``number`` from the checks to the summary; returns its id (its stamps' truth in ``truths``)."""
    db = app.database
    assert db is not None
    before = len(sim.truth)  # the device counts nothing until stamping arms it
    await wait_for(pilot, lambda: shown(pilot, PreChecksScreen, "#step-title"))
    opened = app.open_session
    assert opened is not None and opened.number == number
    assert "Step 1 of 7" in text_of(pilot, "#step-title")

    # 1. checks: the new head, needle, battery, clock; all pass
    await wait_for(pilot, lambda: next_enabled(current(pilot)))
    await pilot.press("ctrl+n")

    # 2. disinfection: confirmed, its contact time passes on the test's clock
    await wait_for(pilot, lambda: isinstance(current(pilot), DisinfectionScreen))
    await pilot.press("c")
    clock.advance(61)
    await wait_for(pilot, lambda: next_enabled(current(pilot)))
    await pilot.press("ctrl+n")

    # 3. first application: lot and expiry from the vial, the protocol's volume
    await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen))
    first = current(pilot)
    first.query_one("#lot", Input).value = f"LX-{number:02d}"
    first.query_one("#expiry", Input).value = "2027-09"
    clock.advance(30)
    await pilot.press("ctrl+n")

    # 4. stamping: the device is armed here and counts this session's stamps
    await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
    stamping = current(pilot)
    assert isinstance(stamping, StampingScreen)
    try:
        await wait_for(pilot, lambda: len(sim.truth) - before == PER_SESSION and stamping.stats.count >= PER_SESSION)
    except TimeoutError:  # say where it stuck: the device, the link or the screen
        bridge = app.session_controller.bridge
        link = bridge.status if bridge is not None else None
        raise AssertionError(
            f"session {number}: the simulator counted {len(sim.truth) - before} of {PER_SESSION} "
            f"(limit {sim.device.stamp_limit}, total {len(sim.truth)}); stats {sim.stats().as_dict()}; "
            f"screen counted {stamping.stats.count}; link {link}"
        ) from None
    truth = {(stamp.boot, stamp.seq): stamp.zone for stamp in sim.truth[before:]}
    await wait_for(pilot, lambda: session_stamps(db, opened.id) == truth)
    truths[opened.id] = truth
    clock.advance(240)
    await pilot.press("ctrl+d")
    await wait_for(pilot, lambda: current(pilot) is not stamping)
    if isinstance(current(pilot), ConfirmDialog):  # a few stamps leave the zones under target: finish anyway
        await pilot.press("y")

    # 5. second application: its rub-in timer runs out on the test's clock
    await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen) and current(pilot) is not first)
    clock.advance(121)
    await wait_for(pilot, lambda: next_enabled(current(pilot)))
    await pilot.press("ctrl+n")

    # 6. aftercare: the card is written
    await wait_for(pilot, lambda: isinstance(current(pilot), AftercareScreen))
    aftercare = current(pilot)
    assert isinstance(aftercare, AftercareScreen)
    await wait_for(pilot, lambda: len(aftercare.card_paths) == 2)
    await pilot.press("ctrl+n")

    # 7. summary: this session's stamps read back from storage; closing it finishes the session
    await wait_for(pilot, lambda: isinstance(current(pilot), SummaryScreen))
    await wait_for(pilot, lambda: f"{PER_SESSION} stamps" in text_of(pilot, "#summary-stamps"))
    await pilot.press("ctrl+n")
    await sign_with_pin(pilot)  # closing the session, signed (approved)
    await wait_for(pilot, lambda: isinstance(current(pilot), StartScreen) and app.open_session is None)
    await settle(pilot)
    assert notified(pilot, f"Session {number} of 6 finished for {CODE}")
    errors = [n.message for n in app._notifications if n.severity == "error"]
    assert not errors, f"session {number}: {errors}"
    return opened.id


async def test_a_course_of_six_sessions_follow_ups_and_outcomes(
    db_path: str, db: Database, sim: Simulator, tmp_path: Path
) -> None:
    patient_id = seed(db)
    clock = MovableClock(NOW)
    cards = tmp_path / "cards"
    truths: dict[int, dict[tuple[int, int], int]] = {}
    starts: dict[int, datetime] = {1: NOW}
    for number in range(2, 7):
        starts[number] = starts[number - 1] + timedelta(days=GAPS[number])

    app = make_app(db_path, sim.url, clock, cards)
    async with app.run_test(size=SIZE) as pilot:
        # Screening in the form, the course started by the app, then the baseline photo gate.
        await start_session_for(pilot, CODE)
        await screen_through_the_form(pilot)
        await wait_for(pilot, lambda: shown(pilot, ChoiceDialog, ".dialog-text"))
        assert "baseline" in text_of(pilot, ".dialog-text").lower()
        course_id = register_baseline(db, patient_id, tmp_path, clock())
        await pilot.press("p")  # the photo screen shows the set; back, and the session starts
        await wait_for(pilot, lambda: isinstance(current(pilot), PhotosScreen))
        await wait_for(pilot, lambda: "✓" in text_of(pilot, "#photo-status"))
        await pilot.press("escape")

        for number in range(1, 7):
            if number > 1:
                clock.now = starts[number]
                sim.change_head(FIRST_HEAD + number - 1)  # a fresh head for every session
                await start_session_for(pilot, CODE)
            if number == EARLY:
                await wait_for(pilot, lambda: shown(pilot, CourseOverrideDialog, "#override-failure"))
                question = text_of(pilot, "#override-failure")
                assert f"Session {EARLY} would start early: {GAPS[EARLY]} days after the previous session" in question
                await pilot.press(*EARLY_REASON, "enter")
                await sign_with_pin(pilot)  # the early start, signed (overridden)
            sim.device.stamp_limit = PER_SESSION * number  # this session's few stamps
            await run_session(pilot, app, sim, clock, number, truths)
            start = current(pilot)
            assert isinstance(start, StartScreen)
            label = text_of(pilot, "#course-label")
            if number < 6:
                assert f"Session {number + 1} of 6" in label
            else:
                assert "Course complete: 6 of 6 sessions" in label

        # The after-session-6 outcome, in the outcomes screen.
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(current(pilot), OutcomesScreen))
        await settle(pilot)
        outcomes = current(pilot)
        assert outcomes.query_one("#time-point", Select).value == "after_session_6"
        await record_outcome(pilot, density="1", coverage="1", overall="better")
        assert "After session 6: assessment and the patient's answers saved and signed" in text_of(
            pilot, "#course-message"
        )
        assert f"by {PRACTITIONER} · signed {PRACTITIONER} · performed ·" in text_of(pilot, "#outcome-records")
        await pilot.press("escape")
        due = await due_list(pilot)
        await settle(pilot)
        assert not [item for item in due.items if item.patient_code == CODE], "no follow-up due this week yet"

    with db.Session.begin() as s:
        sessions = s.execute(
            select(TreatmentSession.id, TreatmentSession.number, TreatmentSession.status, TreatmentSession.ended_at)
            .where(TreatmentSession.course_id == course_id)
            .order_by(TreatmentSession.number)
        ).all()
    assert sessions[-1].ended_at.date() == LAST_SESSION_DAY

    # Three months after the last session the clinic opens the app: the 3-month follow-up is due today.
    clock.now = datetime.combine(MONTH_3, NOW.timetz())
    app = make_app(db_path, None, clock, cards)
    async with app.run_test(size=SIZE) as pilot:
        due = await due_list(pilot)
        await wait_for(pilot, lambda: bool(due.items))
        assert [(i.patient_code, i.label, i.when.value) for i in due.items] == [(CODE, "3-month follow-up", "today")]
        await pilot.press("d", "enter")  # choose the patient from the due list
        await wait_for(pilot, lambda: "Course complete" in text_of(pilot, "#course-label"))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(current(pilot), OutcomesScreen))
        await settle(pilot)
        outcomes = current(pilot)
        outcomes.query_one("#time-point", Select).value = "month_3"
        await record_outcome(pilot, density="2", coverage="1", overall="much_better")
        assert "3-month follow-up: assessment and the patient's answers saved" in text_of(pilot, "#course-message")
        await pilot.press("escape")
        due = await due_list(pilot)
        await settle(pilot)
        assert not due.items, "the 3-month follow-up is done"

    # Six months after: the 6-month follow-up is due.
    clock.now = datetime.combine(MONTH_6, NOW.timetz())
    app = make_app(db_path, None, clock, cards)
    async with app.run_test(size=SIZE) as pilot:
        due = await due_list(pilot)
        await wait_for(pilot, lambda: bool(due.items))
        assert [(i.patient_code, i.label, i.when.value) for i in due.items] == [(CODE, "6-month follow-up", "today")]

    # --- what was stored ---
    assert [(row.number, row.status) for row in sessions] == [(n, "finished") for n in range(1, 7)]
    for row in sessions:
        steps = stored_steps(db, row.id)
        assert [r.step_id for r in steps] == STEPS, row.number
        assert all(r.completed and r.confirmed_by == PRACTITIONER for r in steps), row.number
        assert all(check.passed for check in steps[0].checks), "a fresh head each time: every check passes"
        assert (steps[1].timer_seconds, steps[1].timer_ran_seconds) == (60, 61)
        first = steps[2]
        assert (first.lot, first.lot_expiry) == (f"LX-{row.number:02d}", date(2027, 9, 30))
        assert stored_session(db, row.id).head_id == (
            sim.config.device.head_id if row.number == 1 else FIRST_HEAD + row.number - 1
        )
        assert len(truths[row.id]) == PER_SESSION
        assert session_stamps(db, row.id) == truths[row.id], f"session {row.number}: its stamps, credited once"
    all_keys = [key for truth in truths.values() for key in truth]
    assert len(all_keys) == len(set(all_keys)) == 6 * PER_SESSION
    assert set(all_keys) == {(stamp.boot, stamp.seq) for stamp in sim.truth}, "every stamp counted is in a session"
    ended_days = [row.ended_at.date() for row in sessions]
    assert ended_days == [starts[n].date() for n in range(1, 7)]

    with db.Session.begin() as s:
        recorded = deviations(s, course_id)
        status = s.scalar(select(Course.status).where(Course.id == course_id))
        screening_id = course_screening_id(s, course_id)
        assessments = [
            (a.assessment.time_point, a.assessment.density, a.assessment.coverage, a.assessment.rater)
            for a in list_assessments(s, course_id)
        ]
        answers = list_self_assessments(s, course_id)
    early_id = sessions[EARLY - 1].id
    assert list(recorded) == [early_id], "only the early start is a deviation"
    deviation = recorded[early_id]
    assert (deviation.session_number, deviation.timing, deviation.days_since_previous) == (EARLY, Timing.EARLY, 4)
    assert (deviation.confirmed_by, deviation.confirmed_at, deviation.note) == (
        PRACTITIONER,
        starts[EARLY],
        EARLY_REASON,
    )
    assert status == "completed"
    assert screening_id is not None, "the course started on the screening entered in the form"
    assert assessments == [("after_session_6", 1, 1, PRACTITIONER), ("month_3", 2, 1, PRACTITIONER)]
    assert [
        (a.self_assessment.time_point, a.self_assessment.improved(default_protocol().outcomes)) for a in answers
    ] == [
        ("after_session_6", True),
        ("month_3", True),
    ]
