"""Schedule and outcomes on real SQLite: start checks, recorded deviations and overrides, due items, outcomes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stampside.app.domain.course_gates import CourseGate, CourseOverride
from stampside.app.domain.outcomes import BlindedCall, validate_adverse_event, validate_iga, validate_self_assessment
from stampside.app.domain.schedule import DueKind, DueWhen, Timing, add_months
from stampside.app.domain.timepoints import check_photo_gate
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import Database
from stampside.app.storage.outcomes import (
    OutcomeError,
    blinded_round,
    list_adverse_events,
    list_assessments,
    list_blinded_ratings,
    list_self_assessments,
    record_adverse_event,
    record_assessment,
    record_blinded_call,
    record_self_assessment,
)
from stampside.app.storage.schedule import (
    ConfirmationNeeded,
    PhotosIncomplete,
    course_overrides,
    deviations,
    list_due_items,
    open_scheduled_session,
    start_checks,
)
from stampside.app.storage.sessions import finish_session

from .conftest import T0, Seeded

PROTOCOL = default_protocol()


def run_session(clinic: Database, seeded: Seeded, at: datetime, **kw: object) -> int:
    with clinic.Session.begin() as s:
        view = open_scheduled_session(
            s, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=at, tz=UTC, **kw
        )  # type: ignore[arg-type]
        finish_session(s, view.id, now=at + timedelta(hours=1))
        return view.id


def baseline_override(at: datetime) -> CourseOverride | None:
    gate = check_photo_gate(PROTOCOL, 1, {})
    return gate.overridden("camera broken, photos on day 2", by="Dr Ada", at=at).override


def test_session_1_needs_the_baseline_photos_or_a_recorded_override(clinic: Database, seeded: Seeded) -> None:
    with clinic.Session.begin() as s:
        checks = start_checks(s, seeded.course_id, protocol=PROTOCOL, today=T0.date(), tz=UTC)
        assert checks.number == 1 and checks.timing.timing is Timing.FIRST and not checks.clear
        with pytest.raises(PhotosIncomplete, match="Baseline photos incomplete"):
            open_scheduled_session(
                s, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0, tz=UTC
            )
    session_id = run_session(clinic, seeded, T0, photo_override=baseline_override(T0))
    with clinic.Session.begin() as s:
        [stored] = course_overrides(s, seeded.course_id)
    assert stored.session_id == session_id
    assert stored.override.gate is CourseGate.BASELINE_PHOTOS
    assert stored.override.reason == "camera broken, photos on day 2"
    assert "missing Vertex" in stored.override.failure


def test_an_early_start_needs_confirmation_and_the_deviation_is_recorded(clinic: Database, seeded: Seeded) -> None:
    run_session(clinic, seeded, T0, photo_override=baseline_override(T0))
    early = T0 + timedelta(days=3)
    with clinic.Session.begin() as s, pytest.raises(ConfirmationNeeded) as caught:
        open_scheduled_session(
            s, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=early, tz=UTC
        )
    check = caught.value.check
    assert (check.number, check.timing, check.days_since_previous) == (2, Timing.EARLY, 3)
    assert "early: 3 days" in str(caught.value)
    deviation = check.confirm(by="Dr Ada", at=early, reason="patient travels next week")
    second = run_session(clinic, seeded, early, deviation=deviation)
    on_time = early + timedelta(days=7)
    third = run_session(clinic, seeded, on_time)
    with clinic.Session.begin() as s:
        stored = deviations(s, seeded.course_id)
    assert set(stored) == {second}
    assert third not in stored
    assert stored[second] == deviation


def test_a_late_start_is_refused_with_a_deviation_for_another_start(clinic: Database, seeded: Seeded) -> None:
    run_session(clinic, seeded, T0, photo_override=baseline_override(T0))
    late = T0 + timedelta(days=12)
    with clinic.Session.begin() as s:
        checks = start_checks(s, seeded.course_id, protocol=PROTOCOL, today=late.date(), tz=UTC)
        assert checks.timing.timing is Timing.LATE and checks.photos.ok
        stale = checks.timing.confirm(by="Dr Ada", at=late, reason="patient was ill last week")
        other_day = start_checks(s, seeded.course_id, protocol=PROTOCOL, today=late.date() + timedelta(days=2), tz=UTC)
        with pytest.raises(ConfirmationNeeded):
            open_scheduled_session(
                s,
                seeded.course_id,
                protocol=PROTOCOL,
                practitioner_id=seeded.practitioner_id,
                now=late + timedelta(days=2),
                tz=UTC,
                deviation=stale,
            )
        assert other_day.timing.days_since_previous == 14


def test_due_items_list_the_next_session_and_then_the_follow_ups(clinic: Database, seeded: Seeded) -> None:
    with clinic.Session.begin() as s:
        [first] = list_due_items(s, protocol=PROTOCOL, today=T0.date(), tz=UTC)
    assert (first.kind, first.session_number, first.when, first.patient_code) == (
        DueKind.SESSION,
        1,
        DueWhen.TODAY,
        "P-0042",
    )
    at = T0
    run_session(clinic, seeded, at, photo_override=baseline_override(at))
    with clinic.Session.begin() as s:
        [second] = list_due_items(s, protocol=PROTOCOL, today=T0.date() + timedelta(days=3), tz=UTC)
    assert (second.session_number, second.due_on, second.when) == (2, T0.date() + timedelta(days=7), DueWhen.THIS_WEEK)
    for _ in range(5):
        at += timedelta(days=7)
        run_session(clinic, seeded, at)
    last_day = at.date()
    with clinic.Session.begin() as s:
        assert list_due_items(s, protocol=PROTOCOL, today=last_day, tz=UTC) == []
        [month_3] = list_due_items(s, protocol=PROTOCOL, today=add_months(last_day, 3), tz=UTC)
        assert (month_3.kind, month_3.months, month_3.time_point) == (DueKind.FOLLOW_UP, 3, "month_3")
        record_assessment(
            s,
            seeded.course_id,
            validate_iga(PROTOCOL, time_point="month_3", density=1, coverage=2, rater="Dr Ada"),
            now=datetime.combine(add_months(last_day, 3), datetime.min.time(), UTC),
        )
    with clinic.Session.begin() as s:
        assert list_due_items(s, protocol=PROTOCOL, today=add_months(last_day, 3), tz=UTC) == []
        [month_6] = list_due_items(s, protocol=PROTOCOL, today=add_months(last_day, 6), tz=UTC)
        assert month_6.months == 6


def test_outcomes_round_trip(clinic: Database, seeded: Seeded) -> None:
    run_session(clinic, seeded, T0, photo_override=baseline_override(T0))
    at = T0 + timedelta(days=60)
    with clinic.Session.begin() as s:
        record_assessment(
            s,
            seeded.course_id,
            validate_iga(PROTOCOL, time_point="after_session_6", density="+2", coverage=1, rater="Dr Ada", note="fine"),
            now=at,
        )
        answers = validate_self_assessment(
            PROTOCOL,
            time_point="after_session_6",
            answers={"overall": "better", "density": "slightly_better", "satisfied": "yes", "recommend": True},
        )
        record_self_assessment(s, seeded.course_id, answers, recorded_by="Nurse desk", now=at)
        event = validate_adverse_event(
            what="Erythema beyond 48 h", onset_on=date(2026, 11, 3), severity="mild", today=at.date(), session_number=1
        )
        record_adverse_event(s, seeded.course_id, event, recorded_by="Dr Ada", now=at)
        with pytest.raises(OutcomeError, match="no session 4"):
            record_adverse_event(
                s,
                seeded.course_id,
                validate_adverse_event(
                    what="Itching", onset_on=date(2026, 11, 3), severity="mild", today=at.date(), session_number=4
                ),
                recorded_by="Dr Ada",
                now=at,
            )
    with clinic.Session.begin() as s:
        [assessment] = list_assessments(s, seeded.course_id)
        assert (assessment.assessment.density, assessment.assessment.coverage, assessment.assessed_at) == (2, 1, at)
        assert assessment.assessment.improved(PROTOCOL.outcomes)
        [self_assessment] = list_self_assessments(s, seeded.course_id)
        assert self_assessment.self_assessment.improved(PROTOCOL.outcomes) is True
        assert {a.question_id: a.value for a in self_assessment.self_assessment.answers}["recommend"] == "yes"
        [stored_event] = list_adverse_events(s, seeded.course_id)
        assert stored_event.event == event and stored_event.session_id is not None


def test_blinded_round_from_stored_photos(clinic: Database, seeded: Seeded, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from stampside.app.storage.photos import register_photo

    root = tmp_path / "photos"
    with clinic.Session.begin() as s:
        for point in ("baseline", "after_session_6"):
            for view in ("vertex", "frontal"):
                src = tmp_path / f"{point}-{view}.png"
                Image.new("RGB", (8, 8), (10 if point == "baseline" else 200, 0, 0)).save(src)
                register_photo(
                    s,
                    src,
                    root=root,
                    patient_id=seeded.patient_id,
                    course_id=seeded.course_id,
                    time_point=point,
                    view=view,
                    protocol=PROTOCOL,
                    now=T0,
                )
        pairs = blinded_round(s, seed=11)
        assert pairs == blinded_round(s, seed=11)
        assert sorted(p.view for p in pairs) == ["frontal", "vertex"]
        for pair in pairs:
            record_blinded_call(s, pair, BlindedCall(pair.after_side.value), seed=11, rater="Blind rater", now=T0)
    with clinic.Session.begin() as s:
        ratings = list_blinded_ratings(s, course_id=seeded.course_id)
    assert [r.pair for r in ratings] == pairs
    assert all(r.improved for r in ratings)
