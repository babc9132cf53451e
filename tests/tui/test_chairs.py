"""Many chairs, one clinic, in the app: this app is "Chair 2" (the settings' ``chair.name``); the other chair's
session is written to the same SQLite file by the test, as that chair's app would.

* A patient whose session is open at Chair 1 is read only here: the course panel names the chair,
  the practitioner and since when, ``s`` says so instead of starting or resuming, and the start-up
  offer leaves that session out. When the other chair opens it between the panel being read and
  ``s`` (the database refuses the second open), the same notice, and the panel turns read only.
* A stamp Chair 1's session holds does not feed this session: a notification and a banner on the
  stamping screen name who has it, the stamp is not armed from here and no stamp is credited; once
  that session is finished, ``s`` asks again and stamping goes on, every stamp counted.
* When Chair 1 cannot go on (its computer died), ``t`` takes its session over here: the key is offered
  only for such a patient, asks for a reason (warning that Chair 1 must not be stamping) and the PIN
  (overridden), and the session resumes at this chair; the take-over is stored, signed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from stampside.app.domain.course_gates import CourseGate
from stampside.app.domain.signatures import SignatureMeaning, SignedAct
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.settings import ChairInfo, Settings
from stampside.app.storage.claims import DEVICE, PATIENT, claim, holder
from stampside.app.storage.courses import course_summary, start_course
from stampside.app.storage.database import Database
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schedule import course_overrides
from stampside.app.storage.sessions import find_open_session, finish_session, open_session
from stampside.app.storage.signatures import RECORD_TABLES, signatures_of
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.course_override import CourseOverrideDialog
from stampside.app.tui.dialogs.help import HelpDialog
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.app.tui.screens.start import StartScreen
from stampside.simulator.runner import Simulator

from .session_helpers import (
    NOW,
    SIZE,
    STAMPS,
    MovableClock,
    current,
    make_app,
    record_first_application,
    seed,
    session_stamps,
    sim_config,
    start_session_for,
    stored_session,
    through_checks_and_disinfection,
    wait_for,
)
from .sign_in_helpers import past_sign_in, sign_with_pin

HERE = Settings(chair=ChairInfo("Chair 2"))
SINCE = NOW - timedelta(minutes=20)


def open_at_chair_1(db: Database, patient_id: int) -> int:
    """Dr Ada opens the patient's session at Chair 1 (another computer, the same database)."""
    with db.Session.begin() as s:
        ada = add_practitioner(s, "Dr Ada")
        summary = course_summary(s, patient_id)
        course_id = summary.course_id if summary is not None else start_course(s, patient_id, now=SINCE)
        return open_session(
            s, course_id, protocol=default_protocol(), practitioner_id=ada.id, now=SINCE, chair="Chair 1"
        ).id


def notified(pilot: Pilot[None], text: str) -> bool:
    return any(text in notification.message for notification in pilot.app._notifications)


def shown_since() -> str:
    return SINCE.astimezone().strftime("%a %d %b %Y %H:%M")  # the panel's times are the computer's


async def choose(pilot: Pilot[None], code: str) -> StartScreen:
    await past_sign_in(pilot)
    await wait_for(pilot, lambda: isinstance(current(pilot), StartScreen) and bool(current(pilot).query("#patients")))
    await pilot.app.workers.wait_for_complete()
    screen = current(pilot)
    assert isinstance(screen, StartScreen)
    search = screen.query_one("#patient-search", Input)
    search.focus()
    search.value = code
    await pilot.pause()
    await pilot.press("enter", "enter")
    await wait_for(pilot, lambda: screen.course is not None and screen.course.patient.code == code)
    return screen


def read_only_panel(screen: StartScreen) -> None:
    text = str(screen.query_one("#resume-offer", Static).content)
    assert text == f"Session 1 is open at Chair 1 by Dr Ada since {shown_since()}: read only here.", text
    button = screen.query_one("#start-session", Button)
    assert button.disabled and str(button.label) == "Open at Chair 1"
    hint = str(screen.query_one("#start-hint", Static).content)
    assert hint == "Resume or finish it at Chair 1,\nor take it over here (t).", hint


async def test_a_patient_open_at_another_chair_is_read_only_here_and_says_who_has_it(
    db_path: Path, db: Database
) -> None:
    _, patient = seed(db)
    other = open_at_chair_1(db, patient.id)
    app = make_app(db_path, None, MovableClock(), settings=HERE)
    async with app.run_test(size=SIZE) as pilot:
        screen = await choose(pilot, "P-0042")
        assert not any(isinstance(s, ConfirmDialog) for s in app.screen_stack), "Chair 1's session is not offered"
        read_only_panel(screen)
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: notified(
                pilot,
                "Patient P-0042 is in session 1 at Chair 1 (Dr Ada, since Thu 26 Nov 2026 13:45): "
                "read only here; resume or finish it at Chair 1. If that chair cannot go on with it, "
                "t takes it over here.",
            ),
        )
        assert app.open_session is None
    with db.Session.begin() as s:
        still = find_open_session(s, patient_id=patient.id)
        held = holder(s, PATIENT, str(patient.id))
    assert still is not None and still.id == other
    assert held is not None and (held.chair, held.session_id) == ("Chair 1", other)


async def test_when_the_other_chair_opens_the_patient_first_the_start_is_refused_and_the_panel_turns_read_only(
    db_path: Path, db: Database
) -> None:
    _, patient = seed(db)
    app = make_app(db_path, None, MovableClock(), settings=HERE)
    async with app.run_test(size=SIZE) as pilot:
        screen = await choose(pilot, "P-0042")
        assert str(screen.query_one("#start-session", Button).label) == "Start session (s)"
        other = open_at_chair_1(db, patient.id)  # a moment before this chair's s
        await pilot.press("s")
        await wait_for(pilot, lambda: notified(pilot, "Patient P-0042 is in session 1 at Chair 1 (Dr Ada, since "))
        await wait_for(pilot, lambda: screen.course is not None and screen.course.held_elsewhere is not None)
        await pilot.pause()
        read_only_panel(screen)
        assert app.open_session is None
    with db.Session.begin() as s:
        still = find_open_session(s, patient_id=patient.id)
    assert still is not None and still.id == other, "one open session: Chair 1's"


async def test_a_stamp_another_chairs_session_holds_does_not_feed_this_session_until_it_is_free(
    db_path: Path, db: Database
) -> None:
    seed(db)
    with db.Session.begin() as s:
        elsewhere = create_patient(s, NewPatient.parse("P-0099"), now=NOW - timedelta(days=30))
    held = open_at_chair_1(db, elsewhere.id)
    simulator = Simulator(sim_config())
    await simulator.start()
    serial = simulator.config.device.serial
    with db.Session.begin() as s:
        claim(s, held, DEVICE, serial, chair="Chair 1", now=SINCE)  # Chair 1's session feeds from this stamp
    clock = MovableClock()
    try:
        app = make_app(db_path, simulator.url, clock, settings=HERE)
        async with app.run_test(size=SIZE) as pilot:
            await start_session_for(pilot, "P-0042")
            refused = f"Stamp {serial} is feeding P-0099's session 1 at Chair 1 (Dr Ada, since Thu 26 Nov 2026 13:45)"
            await wait_for(pilot, lambda: notified(pilot, refused))
            opened = app.open_session
            assert opened is not None
            assert stored_session(db, opened.id).device_id is None, "not attached: Chair 1 holds the stamp"

            await through_checks_and_disinfection(pilot, clock)
            await record_first_application(pilot)
            await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
            stamping = current(pilot)
            assert isinstance(stamping, StampingScreen)
            banner = stamping.query_one("#claim-banner", Static)
            await wait_for(pilot, lambda: banner.has_class("-shown"))
            assert str(banner.content).startswith(f"⚠ Not counted here. {refused}")
            bridge = app.session_controller.bridge
            assert bridge is not None and bridge.session is not None and bridge.session.armed is not True
            assert bridge.tags.session_id is None, "its stamps would be stored outside any session"
            assert session_stamps(db, opened.id) == {}

            with db.Session.begin() as s:  # Chair 1 finishes: the stamp is free
                finish_session(s, held, now=NOW)
            await pilot.press("s")  # asks for it again at once
            await wait_for(pilot, lambda: not banner.has_class("-shown"))
            await wait_for(pilot, lambda: stamping.stats.count >= STAMPS)
            await wait_for(pilot, lambda: len(session_stamps(db, opened.id)) == STAMPS)
            assert stored_session(db, opened.id).device_serial == serial
            with db.Session.begin() as s:
                now_held = holder(s, DEVICE, serial)
            assert now_held is not None and (now_held.session_id, now_held.chair) == (opened.id, "Chair 2")
    finally:
        await simulator.stop()


async def test_chair_2_takes_over_chair_1s_session_with_a_reason_and_the_pin_and_it_resumes_here(
    db_path: Path, db: Database
) -> None:
    _, patient = seed(db)
    other = open_at_chair_1(db, patient.id)  # Chair 1's computer died with it open
    app = make_app(db_path, None, MovableClock(), settings=HERE)
    async with app.run_test(size=SIZE) as pilot:
        screen = await choose(pilot, "P-0042")
        read_only_panel(screen)
        assert "t" in screen.active_bindings, "offered (footer, help) for a patient another chair holds"
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpDialog))
        assert "Take over" in str(app.screen.query_one("#help-keys", Static).content)
        await pilot.press("escape")
        await wait_for(pilot, lambda: current(pilot) is screen)

        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(current(pilot), CourseOverrideDialog))
        dialog = current(pilot)
        warning = str(dialog.query_one("#override-failure", Static).content)
        assert f"Session 1 of P-0042 is open at Chair 1 by Dr Ada since {shown_since()}." in warning
        assert "Make sure no one is stamping at Chair 1" in warning
        await pilot.press(*"moved", "enter")  # too short: refused in the dialog, text kept
        await wait_for(pilot, lambda: "too short" in str(dialog.query_one("#override-error", Static).content))
        assert current(pilot) is dialog
        await pilot.press(*" to room 2, Chair 1 will not start", "enter")
        signed = await sign_with_pin(pilot)
        assert signed.meaning is SignatureMeaning.OVERRIDDEN
        assert signed.what.startswith("Take over Session 1 of P-0042 from Chair 1 (Dr Ada, since ")
        assert signed.what.endswith(" to Chair 2\nWhy: moved to room 2, Chair 1 will not start")

        await wait_for(pilot, lambda: app.open_session is not None)
        assert app.open_session is not None and app.open_session.id == other, "Chair 1's session, resumed here"
        assert notified(pilot, "Session 1 of P-0042 taken over from Chair 1: it goes on here.")
        assert notified(pilot, "Session 1 resumed for P-0042")
        who = signed.who
    course_id = stored_session(db, other).course_id
    with db.Session.begin() as s:
        held = holder(s, PATIENT, str(patient.id))
        [kept] = course_overrides(s, course_id)
        signatures = signatures_of(s, RECORD_TABLES[SignedAct.COURSE_OVERRIDE], [kept.id])[kept.id]
    assert held is not None and (held.chair, held.session_id) == ("Chair 2", other)
    assert (kept.session_id, kept.override.gate, kept.override.by) == (other, CourseGate.SESSION_AT_ANOTHER_CHAIR, who)
    assert kept.override.reason == "moved to room 2, Chair 1 will not start"
    assert kept.override.failure.startswith("Session 1 of P-0042 was open at Chair 1 by Dr Ada since ")
    assert [(v.signer, v.meaning) for v in signatures] == [(who, SignatureMeaning.OVERRIDDEN)]


async def test_take_over_is_offered_only_for_a_patient_another_chair_holds(db_path: Path, db: Database) -> None:
    seed(db)
    app = make_app(db_path, None, MovableClock(), settings=HERE)
    async with app.run_test(size=SIZE) as pilot:
        screen = await choose(pilot, "P-0042")
        assert "t" not in screen.active_bindings
        screen.action_take_over()  # as the command palette would
        await wait_for(pilot, lambda: notified(pilot, "Nothing to take over"))
        assert not isinstance(current(pilot), CourseOverrideDialog)
