"""The cohort report: the clinic's patients and courses summed up, as in a study abstract.

Patients and their Norwood grades, sessions completed, adherence to the schedule, the share
improved by the investigator's assessment and by the patient's own, the blinded raters'
calls, and adverse events — with a line per patient underneath.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.domain.treatment_protocol import TreatmentProtocol, default_protocol
from stampside.app.reports.course import CourseReport, build_course_report
from stampside.app.storage.outcomes import list_blinded_ratings
from stampside.app.storage.schema import Course


@dataclass(frozen=True, slots=True)
class Share:
    """``count`` of ``total`` (``percent`` is None when ``total`` is 0)."""

    count: int
    total: int

    @property
    def percent(self) -> float | None:
        return None if self.total == 0 else 100.0 * self.count / self.total

    def __str__(self) -> str:
        percent = self.percent
        return f"{self.count}/{self.total}" + ("" if percent is None else f" ({percent:.0f} %)")


@dataclass(frozen=True, slots=True)
class PatientLine:
    patient_code: str
    norwood_grade: str | None
    age_at_start: int | None
    status: str
    sessions: int
    planned_sessions: int
    on_time: Share
    follow_ups_done: Share
    last_time_point: str | None
    last_density: int | None
    last_coverage: int | None
    investigator_improved: bool | None
    patient_improved: bool | None
    adverse_events: int


@dataclass(frozen=True, slots=True)
class CohortReport:
    as_of: date
    patients: int
    courses: int
    norwood: dict[str, int]
    age_mean: float | None
    age_min: int | None
    age_max: int | None
    sessions_completed: int
    sessions_planned: int
    courses_completed: Share
    sessions_on_time: Share
    follow_ups_done: Share
    improved_investigator: Share
    improved_patient: Share
    blinded_after_chosen: Share
    adverse_events: int
    adverse_by_severity: dict[str, int]
    patients_with_adverse_events: Share
    lines: tuple[PatientLine, ...]

    @property
    def title(self) -> str:
        return f"Cohort report · {self.patients} patients"


def build_cohort_report(
    db: Session, *, protocol: TreatmentProtocol | None = None, today: date, tz: tzinfo | None = None
) -> CohortReport:
    """Every course that was not stopped, summed up on ``today`` (follow-ups due by then count)."""
    protocol = protocol or default_protocol()
    course_ids = db.scalars(select(Course.id).where(Course.status != "stopped").order_by(Course.started_at)).all()
    reports: list[CourseReport] = [
        build_course_report(db, course_id, protocol=protocol, today=today, tz=tz, with_sessions=False)
        for course_id in course_ids
    ]
    order = {point.id: index for index, point in enumerate(protocol.photos.time_points)}
    lines: list[PatientLine] = []
    for report in reports:
        timed = [line for line in report.schedule if line.status == "finished" and line.timing != "first"]
        due = [f for f in report.follow_ups if f.due_on <= today]
        assessments = sorted(report.assessments, key=lambda a: (order.get(a.time_point, 99), a.at))
        selfs = sorted(report.self_assessments, key=lambda s: (order.get(s.time_point, 99), s.at))
        last = assessments[-1] if assessments else None
        last_self = selfs[-1] if selfs else None
        age = None
        if report.birth_year is not None:
            age = report.started_at.year - report.birth_year
        lines.append(
            PatientLine(
                patient_code=report.patient_code,
                norwood_grade=report.norwood_grade,
                age_at_start=age,
                status=report.status,
                sessions=report.finished_sessions,
                planned_sessions=report.planned_sessions,
                on_time=Share(sum(1 for line in timed if line.timing == "on_time"), len(timed)),
                follow_ups_done=Share(sum(1 for f in due if f.done), len(due)),
                last_time_point=last.label if last else None,
                last_density=last.density if last else None,
                last_coverage=last.coverage if last else None,
                investigator_improved=last.improved if last else None,
                patient_improved=last_self.improved if last_self else None,
                adverse_events=len(report.adverse_events),
            )
        )
    ages = [line.age_at_start for line in lines if line.age_at_start is not None]
    severities = Counter(event.severity for report in reports for event in report.adverse_events)
    assessed = [line for line in lines if line.investigator_improved is not None]
    self_rated = [line for line in lines if line.patient_improved is not None]
    ratings = [rating for rating in list_blinded_ratings(db) if rating.pair.course_id in set(course_ids)]
    judged = [rating.improved for rating in ratings]  # None: "no visible difference"
    grades = Counter(line.norwood_grade or "unknown" for line in lines)
    return CohortReport(
        as_of=today,
        patients=len({line.patient_code for line in lines}),
        courses=len(lines),
        norwood=dict(sorted(grades.items())),
        age_mean=sum(ages) / len(ages) if ages else None,
        age_min=min(ages) if ages else None,
        age_max=max(ages) if ages else None,
        sessions_completed=sum(line.sessions for line in lines),
        sessions_planned=sum(line.planned_sessions for line in lines),
        courses_completed=Share(sum(1 for line in lines if line.status == "completed"), len(lines)),
        sessions_on_time=Share(sum(line.on_time.count for line in lines), sum(line.on_time.total for line in lines)),
        follow_ups_done=Share(
            sum(line.follow_ups_done.count for line in lines), sum(line.follow_ups_done.total for line in lines)
        ),
        improved_investigator=Share(sum(1 for line in assessed if line.investigator_improved), len(assessed)),
        improved_patient=Share(sum(1 for line in self_rated if line.patient_improved), len(self_rated)),
        blinded_after_chosen=Share(sum(1 for improved in judged if improved), len(judged)),
        adverse_events=sum(severities.values()),
        adverse_by_severity={severity: severities.get(severity, 0) for severity in ("mild", "moderate", "severe")},
        patients_with_adverse_events=Share(sum(1 for line in lines if line.adverse_events), len(lines)),
        lines=tuple(lines),
    )
