"""Reports a clinic hands out or audits: session, course, cohort and lot recall.

Each report is built from storage into plain dataclasses (``build_*_report``) and rendered
with :func:`render` as HTML (self-contained, print-ready), JSON (everything) or CSV (its
main table). ``stampside report …`` is the command line for them.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from stampside.app.reports import charts
from stampside.app.reports.cohort import CohortReport, PatientLine, build_cohort_report
from stampside.app.reports.course import CourseReport, CourseReportError, build_course_report, newest_course_id
from stampside.app.reports.lot import LotReport, LotUse, build_lot_report
from stampside.app.reports.render import FORMATS, render_csv, render_html, render_json
from stampside.app.reports.session import SessionReport, StepLine, build_session_report

__all__ = [
    "FORMATS",
    "CohortReport",
    "CourseReport",
    "CourseReportError",
    "LotReport",
    "SessionReport",
    "build_cohort_report",
    "build_course_report",
    "build_lot_report",
    "build_session_report",
    "newest_course_id",
    "render",
]


def _version() -> str:
    try:
        return version("stampside")
    except PackageNotFoundError:  # pragma: no cover - running from a tree without install
        return "dev"


_STEP_COLUMNS: dict[str, Any] = {
    "session_id": lambda s: s[0].session_id,
    "patient": lambda s: s[0].patient_code,
    "session_number": lambda s: s[0].number,
    "position": lambda s: s[1].position + 1,
    "step": lambda s: s[1].step_id,
    "title": lambda s: s[1].title,
    "started_at": lambda s: s[1].started_at,
    "ended_at": lambda s: s[1].ended_at,
    "started_by": lambda s: s[1].started_by,
    "confirmed_by": lambda s: s[1].confirmed_by,
    "volume_ml": lambda s: s[1].volume_ml,
    "lot": lambda s: s[1].lot,
    "lot_expiry": lambda s: s[1].lot_expiry,
    "timer_seconds": lambda s: s[1].timer_seconds,
    "timer_ran_seconds": lambda s: s[1].timer_ran_seconds,
    "overrides": lambda s: "; ".join(f"{o.gate}: {o.reason} ({o.by})" for o in s[1].overrides),
}

_LOT_COLUMNS: dict[str, Any] = {
    "lot": lambda u: u.lot,
    "patient": lambda u: u.patient_code,
    "session_id": lambda u: u.session_id,
    "session_number": lambda u: u.session_number,
    "session_status": lambda u: u.session_status,
    "step": lambda u: u.step,
    "applied_at": lambda u: u.applied_at,
    "volume_ml": lambda u: u.volume_ml,
    "lot_expiry": lambda u: u.lot_expiry,
    "confirmed_by": lambda u: u.confirmed_by,
    "practitioner": lambda u: u.practitioner,
}


_SCHEDULE_COLUMNS: dict[str, Any] = {
    "session_number": lambda line: line.number,
    "session_id": lambda line: line.session_id,
    "status": lambda line: line.status,
    "day": lambda line: line.day,
    "days_since_previous": lambda line: line.days_since_previous,
    "timing": lambda line: line.timing,
    "due_on": lambda line: line.due_on,
    "deviation": lambda line: line.deviation,
    "stamps": lambda line: line.stamps,
    "coverage_percent": lambda line: round(line.coverage_percent, 1),
    "lots": lambda line: " ".join(line.lots),
    "step_overrides": lambda line: line.overrides,
}


_PATIENT_COLUMNS: dict[str, Any] = {
    "patient": lambda line: line.patient_code,
    "norwood_grade": lambda line: line.norwood_grade,
    "age_at_start": lambda line: line.age_at_start,
    "status": lambda line: line.status,
    "sessions": lambda line: line.sessions,
    "planned_sessions": lambda line: line.planned_sessions,
    "sessions_on_time": lambda line: line.on_time.count,
    "sessions_timed": lambda line: line.on_time.total,
    "follow_ups_done": lambda line: line.follow_ups_done.count,
    "follow_ups_due": lambda line: line.follow_ups_done.total,
    "last_time_point": lambda line: line.last_time_point,
    "iga_density": lambda line: line.last_density,
    "iga_coverage": lambda line: line.last_coverage,
    "investigator_improved": lambda line: line.investigator_improved,
    "patient_improved": lambda line: line.patient_improved,
    "adverse_events": lambda line: line.adverse_events,
}


def _cohort_charts(report: CohortReport) -> dict[str, str]:
    grades = [charts.Bar(f"Norwood {grade}", count, charts.PALETTE[0]) for grade, count in report.norwood.items()]
    shares = [
        charts.Bar(
            "Investigator",
            report.improved_investigator.percent or 0.0,
            charts.PALETTE[2],
            text=str(report.improved_investigator),
        ),
        charts.Bar(
            "Patient", report.improved_patient.percent or 0.0, charts.PALETTE[1], text=str(report.improved_patient)
        ),
    ]
    return {
        "norwood_chart": charts.hbar_chart(grades, title="Patients by Norwood grade"),
        "improved_chart": charts.hbar_chart(shares, title="Share improved (%)", maximum=100),
    }


def _outcome_chart(report: CourseReport) -> str:
    bars = []
    for line in report.assessments:
        bars.append(charts.Bar(f"{line.label} · density", line.density, charts.PALETTE[0]))
        bars.append(charts.Bar(f"{line.label} · coverage", line.coverage, charts.PALETTE[1]))
    return charts.diverging_chart(bars, title="Investigator's global assessment", low=-3, high=3)


def render(report: Any, fmt: str, *, generated_at: datetime | None = None, tz: tzinfo | None = None) -> str:
    """``report`` (any ``build_*_report`` result) as ``html``, ``json`` or ``csv`` text.

    HTML shows times in ``tz`` (the clinic's, from the settings; ``None``: the computer's); JSON
    and CSV give them as ISO 8601 with their offset.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return render_json(report)
    common = {"version": _version(), "generated_at": generated_at or datetime.now(UTC), "tz": tz}
    if isinstance(report, SessionReport):
        if fmt == "csv":
            return render_csv(((report, step) for step in report.steps), _STEP_COLUMNS)
        return render_html("session.html.j2", report, **common)
    if isinstance(report, CohortReport):
        if fmt == "csv":
            return render_csv(report.lines, _PATIENT_COLUMNS)
        return render_html("cohort.html.j2", report, **common, **_cohort_charts(report))
    if isinstance(report, CourseReport):
        if fmt == "csv":
            return render_csv(report.schedule, _SCHEDULE_COLUMNS)
        return render_html("course.html.j2", report, **common, outcome_chart=_outcome_chart(report))
    if isinstance(report, LotReport):
        if fmt == "csv":
            return render_csv(report.uses, _LOT_COLUMNS)
        return render_html("lot.html.j2", report, **common)
    raise TypeError(f"no renderer for {type(report).__name__}")


# Re-exported for type checkers and callers that want the row types.
_ = (LotUse, StepLine, PatientLine)
