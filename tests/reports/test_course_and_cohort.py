"""Course and cohort reports from the seeded demo cohort: every section, figures that match storage."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from stampside.app.cli.main import main
from stampside.app.reports import build_cohort_report, build_course_report, newest_course_id, render
from stampside.app.storage.outcomes import list_adverse_events
from stampside.app.storage.schema import Photo, TreatmentSession
from tests.reports.test_session_and_lot import Cohort, outline

AS_OF = date(2026, 11, 25)


def test_a_course_report_has_screening_schedule_photos_outcomes_and_sessions(cohort_db: Cohort) -> None:
    database, _cohort, place = cohort_db
    with database.Session.begin() as session:
        course_id = newest_course_id(session, "demo-004")
        report = build_course_report(session, course_id, photo_root=place.photos, today=AS_OF)
        sessions = session.scalar(
            select(func.count(TreatmentSession.id)).where(TreatmentSession.course_id == course_id)
        )
    assert report.screening.startswith("eligible") and report.screening_ok
    assert [line.number for line in report.schedule] == list(range(1, 7)) and sessions == 6
    late = [line for line in report.schedule if line.timing == "late"]
    assert len(late) == 1 and "confirmed by" in late[0].deviation and late[0].days_since_previous == 11
    assert all(line.timing in ("first", "on_time") for line in report.schedule if line is not late[0])
    assert len(report.photos) == 20 and all(
        cell.data_uri.startswith("data:image/jpeg;base64,") for cell in report.photos
    )
    assert [a.time_point for a in report.assessments] == ["after_session_6", "month_3", "month_6"]
    assert len(report.sessions) == 6 and report.sessions[0].steps
    html = render(report, "html")
    page = outline(html)
    assert {"screening", "schedule", "photos", "outcomes", "sessions"} <= page.ids
    assert page.external == []
    assert page.tags.count("img") == 20
    assert page.tags.count("svg") == 1 + 2 * 6  # IGA chart + each session's coverage and force
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [row["timing"] for row in rows].count("late") == 1


def test_a_stale_lab_result_is_flagged_in_the_course_report(cohort_db: Cohort) -> None:
    database, _cohort, _path = cohort_db
    with database.Session.begin() as session:
        report = build_course_report(session, newest_course_id(session, "DEMO-003"), today=AS_OF, with_sessions=False)
    assert report.screening_ok
    assert any("TSH" in warning or "tsh" in warning for warning in report.screening_warnings)
    assert all(cell.data_uri == "" and cell.note for cell in report.photos)  # no photo folder given
    # The screening is judged on the day the course started, as the gate saw it, not months later.
    with database.Session.begin() as session:
        fresh = build_course_report(session, newest_course_id(session, "DEMO-001"), today=AS_OF, with_sessions=False)
    assert fresh.screening == "eligible" and fresh.screening_warnings == ()


def test_the_cohort_report_sums_up_the_courses(cohort_db: Cohort) -> None:
    database, _cohort, _path = cohort_db
    with database.Session.begin() as session:
        report = build_cohort_report(session, today=AS_OF)
        events = len(list_adverse_events(session))
        photos = session.scalar(select(func.count(Photo.id)))
    assert report.patients == report.courses == 5
    assert report.norwood == {"3": 2, "3V": 1, "4": 2}
    assert report.sessions_completed == 30 and str(report.courses_completed) == "5/5 (100 %)"
    assert (report.sessions_on_time.count, report.sessions_on_time.total) == (24, 25)
    assert report.follow_ups_done.total == 10 and report.follow_ups_done.count == 9  # one 6-month visit left due
    assert report.adverse_events == events == 3
    assert report.improved_investigator.total == 5 and 0 < report.improved_investigator.count < 5
    assert report.blinded_after_chosen.total == 25
    assert photos == 5 * 5 * 4 - 5  # the last patient's 6-month set is not taken yet
    html = render(report, "html")
    assert {"summary", "figures", "patients"} <= outline(html).ids
    data = json.loads(render(report, "json"))
    assert data["patients"] == 5 and len(data["lines"]) == 5
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [row["patient"] for row in rows] == [f"DEMO-00{n}" for n in range(1, 6)]


def test_course_and_cohort_commands(cohort_db: Cohort, tmp_path: Path) -> None:
    _database, _cohort, place = cohort_db
    runner = CliRunner()
    out = tmp_path / "cohort.html"
    result = runner.invoke(
        main, ["report", "cohort", "--db", place.url, "--format", "html", "--out", str(out), "--as-of", "2026-11-25"]
    )
    assert result.exit_code == 0, result.output
    assert "Cohort report · 5 patients" in out.read_text()
    course = runner.invoke(
        main,
        [
            "report",
            "course",
            "DEMO-001",
            "--db",
            place.url,
            "--photos",
            str(place.photos),
            "--no-sessions",
            "--format",
            "json",
        ],
    )
    assert course.exit_code == 0, course.output
    assert json.loads(course.output)["patient_code"] == "DEMO-001"
    for args, message in (
        (["report", "course", "--db", place.url], "name the course"),
        (["report", "course", "NOBODY", "--db", place.url], "no patient with code"),
        (["report", "course", "--course", "999", "--db", place.url], "no course with id 999"),
        (["report", "cohort", "--as-of", "25/11/2026", "--db", place.url], "YYYY-MM-DD"),
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
