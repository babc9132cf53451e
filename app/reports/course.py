"""The course report: one patient's course from screening to the last follow-up.

Screening verdict, the schedule with each session's timing and confirmed deviations, every
session's own report, the photos before and after side by side per view (embedded, so the
HTML stays one file), the investigator's and the patient's assessments, and adverse events.
The signatures of the course's records (the screening's verdict and override, course overrides,
starts outside the window, outcome entries) are printed with them and listed together (§11.50).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.domain.corrections import describe_changes
from stampside.app.domain.schedule import check_session_timing, course_rules_for, follow_ups
from stampside.app.domain.signatures import SignatureMark, SignatureMeaning, SignedAct, manifestation
from stampside.app.domain.treatment_protocol import TreatmentProtocol, default_protocol
from stampside.app.reports.session import SessionReport, build_session_report
from stampside.app.reports.signed import SignatureLine, signature_line
from stampside.app.storage.corrections import CORRECTED_TABLES, corrections_of_patient
from stampside.app.storage.courses import course_screening_id
from stampside.app.storage.outcomes import list_adverse_events, list_assessments, list_self_assessments
from stampside.app.storage.photos import PhotoError, current_photos, verify_photo
from stampside.app.storage.schedule import course_overrides, course_state, deviations, local_day
from stampside.app.storage.schema import (
    AdverseEventRow,
    Course,
    OutcomeAssessment,
    Patient,
    ScheduleDeviation,
    SelfAssessmentRow,
    TreatmentSession,
)
from stampside.app.storage.screening import ScreeningView, get_screening, latest_screening
from stampside.app.storage.signatures import RECORD_TABLES, signatures_of

#: Longest side of an embedded photo, in pixels.
THUMBNAIL_PX = 320


class CourseReportError(ValueError):
    """The course asked for does not exist; the message says what to check."""


@dataclass(frozen=True, slots=True)
class ScheduleLine:
    """One session against its window."""

    number: int
    session_id: int
    status: str
    day: date
    days_since_previous: int | None
    timing: str
    due_on: date | None
    deviation: str
    stamps: int
    coverage_percent: float
    lots: tuple[str, ...]
    overrides: int


@dataclass(frozen=True, slots=True)
class FollowUpLine:
    label: str
    due_on: date
    earliest: date
    latest: date
    done: bool


@dataclass(frozen=True, slots=True)
class PhotoCell:
    """One photo of the grid (``data_uri`` empty when missing or unreadable, with ``note`` saying why)."""

    time_point: str
    view: str
    data_uri: str
    note: str
    sha256: str


@dataclass(frozen=True, slots=True)
class AssessmentLine:
    time_point: str
    label: str
    at: datetime
    density: int
    coverage: int
    rater: str
    improved: bool
    signed: SignatureMark | None = None


@dataclass(frozen=True, slots=True)
class SelfAssessmentLine:
    time_point: str
    label: str
    at: datetime
    answers: tuple[tuple[str, str], ...]
    improved: bool | None
    signed: SignatureMark | None = None


@dataclass(frozen=True, slots=True)
class AdverseEventLine:
    what: str
    severity: str
    onset_on: date
    resolved_on: date | None
    session_number: int | None
    recorded_by: str
    signed: SignatureMark | None = None


@dataclass(frozen=True, slots=True)
class CorrectionLine:
    """A correction of one of the course's records (or of the patient's details, a screening)."""

    record: str
    corrected_at: datetime
    corrected_by: str
    changes: str
    reason: str
    signed: SignatureMark | None = None


@dataclass(frozen=True, slots=True)
class CourseReport:
    course_id: int
    patient_code: str
    patient_name: str | None
    birth_year: int | None
    norwood_grade: str | None
    status: str
    started_at: datetime
    planned_sessions: int
    interval_days: int
    screening: str
    screening_on: date | None
    screening_ok: bool
    screening_warnings: tuple[str, ...]
    gate_overrides: tuple[str, ...]
    schedule: tuple[ScheduleLine, ...]
    follow_ups: tuple[FollowUpLine, ...]
    time_points: tuple[tuple[str, str], ...]
    views: tuple[tuple[str, str], ...]
    photos: tuple[PhotoCell, ...]
    assessments: tuple[AssessmentLine, ...]
    self_assessments: tuple[SelfAssessmentLine, ...]
    adverse_events: tuple[AdverseEventLine, ...]
    sessions: tuple[SessionReport, ...]
    #: The signatures of the screening shown (its verdict reviewed, an override).
    screening_signatures: tuple[SignatureMark, ...] = ()
    #: Every signature on the course's own records, oldest first (the sessions list theirs).
    signatures: tuple[SignatureLine, ...] = ()
    #: Corrections of the course's outcomes, of the patient's screenings and details, oldest first.
    corrections: tuple[CorrectionLine, ...] = ()

    @property
    def title(self) -> str:
        return f"Course report · patient {self.patient_code}"

    @property
    def finished_sessions(self) -> int:
        return sum(1 for line in self.schedule if line.status == "finished")

    def photo(self, time_point: str, view: str) -> PhotoCell | None:
        for cell in self.photos:
            if cell.time_point == time_point and cell.view == view:
                return cell
        return None


def newest_course_id(db: Session, patient_code: str) -> int:
    """The id of the patient's newest course; :class:`CourseReportError` if none."""
    patient = db.scalar(select(Patient).where(Patient.code == patient_code.strip().upper()))
    if patient is None:
        raise CourseReportError(f"no patient with code {patient_code!r}; check the spelling")
    course_id = db.scalar(
        select(Course.id).where(Course.patient_id == patient.id).order_by(Course.started_at.desc()).limit(1)
    )
    if course_id is None:
        raise CourseReportError(f"patient {patient.code} has no course yet")
    return course_id


def _thumbnail(path: Path) -> str:
    with Image.open(path) as image:
        image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=78)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def build_course_report(
    db: Session,
    course_id: int,
    *,
    protocol: TreatmentProtocol | None = None,
    photo_root: Path | None = None,
    today: date | None = None,
    tz: tzinfo | None = None,
    with_sessions: bool = True,
) -> CourseReport:
    """Read course ``course_id`` into a :class:`CourseReport` (photos embedded from ``photo_root``)."""
    protocol = protocol or default_protocol()
    course = db.get(Course, course_id)
    if course is None:
        raise CourseReportError(f"no course with id {course_id}")
    patient = db.get_one(Patient, course.patient_id)

    # The screening that let the course start, judged on the day the course started (what the
    # gate saw); a course started without the gate shows the patient's newest screening.
    started_on = local_day(course.started_at, tz)
    gate_screening = course_screening_id(db, course_id)
    screening_view: ScreeningView | None
    if gate_screening is not None:
        screening_view = get_screening(db, gate_screening, protocol=protocol, as_of=started_on)
    else:
        screening_view = latest_screening(db, patient.id, protocol=protocol, as_of=today)
    warnings: tuple[str, ...] = ()
    if screening_view is None:
        screening, screening_on, screening_ok = "not screened", None, False
    else:
        result = screening_view.result
        screening = "eligible" if result.eligible else result.message
        screening_on = screening_view.screening.screened_on
        screening_ok = result.ok
        warnings = tuple(finding.message for finding in result.warnings)
    signatures: list[SignatureLine] = []
    if screening_view is not None:
        for mark in screening_view.signatures:
            act = "override" if mark.meaning is SignatureMeaning.OVERRIDDEN else f"verdict ({screening})"
            signatures.append(signature_line(f"Screening of {screening_on}: {act}", mark))
    stored_overrides = course_overrides(db, course_id)
    override_signed = signatures_of(db, RECORD_TABLES[SignedAct.COURSE_OVERRIDE], (o.id for o in stored_overrides))
    gate_lines = []
    for kept in stored_overrides:
        override = kept.override
        line = f"{override.gate.label}: {override.reason} ({override.by}, {override.at:%Y-%m-%d})"
        for signed_view in override_signed.get(kept.id, []):
            line += f" · {manifestation(signed_view.mark, tz)}"
            signatures.append(signature_line(f"Override of {override.gate.label}: {override.reason}", signed_view.mark))
        gate_lines.append(line)
    gate_overrides = tuple(gate_lines)
    deviation_rows = db.execute(
        select(ScheduleDeviation.id, TreatmentSession.number)
        .join(TreatmentSession, ScheduleDeviation.session_id == TreatmentSession.id)
        .where(TreatmentSession.course_id == course_id)
    ).all()
    deviation_signed = signatures_of(db, RECORD_TABLES[SignedAct.SCHEDULE_DEVIATION], (d.id for d in deviation_rows))
    deviation_signature: dict[int, SignatureMark] = {}
    for deviation_id, number in deviation_rows:
        for signed_view in deviation_signed.get(deviation_id, []):
            deviation_signature[number] = signed_view.mark
            signatures.append(signature_line(f"Session {number} started outside its window", signed_view.mark))

    state = course_state(db, course_id, protocol=protocol, tz=tz)
    rules = course_rules_for(state, protocol)
    confirmed = deviations(db, course_id)
    treatment_rows = db.scalars(
        select(TreatmentSession)
        .where(TreatmentSession.course_id == course_id)
        .order_by(TreatmentSession.number, TreatmentSession.started_at)
    ).all()
    sessions: list[SessionReport] = []
    schedule: list[ScheduleLine] = []
    previous: date | None = None
    for row in treatment_rows:
        report = build_session_report(db, row.id, protocol)
        day = local_day(row.ended_at or row.started_at, tz)
        if row.status == "finished":
            check = check_session_timing(rules, row.number, previous, day)
            timing, due_on, since = (
                check.timing.value,
                check.window.due_on if check.window else None,
                (check.days_since_previous),
            )
        else:
            timing, due_on, since = row.status, None, None
        deviation = confirmed.get(row.id)
        schedule.append(
            ScheduleLine(
                number=row.number,
                session_id=row.id,
                status=row.status,
                day=day,
                days_since_previous=since,
                timing=timing,
                due_on=due_on,
                deviation=(
                    f"{deviation.message} — confirmed by {deviation.confirmed_by}"
                    + (f": {deviation.note}" if deviation.note else "")
                    + (
                        f" · {manifestation(deviation_signature[row.number], tz)}"
                        if row.number in deviation_signature
                        else ""
                    )
                    if deviation
                    else ""
                ),
                stamps=report.stamps,
                coverage_percent=report.coverage_percent,
                lots=report.lots,
                overrides=len(report.overrides),
            )
        )
        if row.status == "finished":
            previous = day
        if with_sessions:
            sessions.append(report)

    done_months = state.follow_ups_done
    follow: tuple[FollowUpLine, ...] = ()
    if state.session_days and len(state.session_days) >= course.planned_sessions:
        follow = tuple(
            FollowUpLine(due.label, due.due_on, due.earliest, due.latest, due.months in done_months)
            for due in follow_ups(protocol, state.session_days[-1])
        )

    time_points = tuple((point.id, point.label) for point in protocol.photos.time_points)
    views = tuple((view.id, view.label) for view in protocol.photos.views)
    cells: list[PhotoCell] = []
    for (time_point, view), photo in sorted(current_photos(db, course_id).items()):
        uri = note = ""
        if photo_root is None:
            note = "photo folder not given"
        else:
            try:
                if not verify_photo(photo_root, photo):
                    note = "the stored copy does not match its SHA-256"
                else:
                    uri = _thumbnail(photo.path(photo_root))
            except (OSError, PhotoError) as exc:
                note = f"cannot read the stored copy: {exc}"
        cells.append(PhotoCell(time_point, view, uri, note, photo.sha256))

    labels = dict(time_points)
    assessments = tuple(
        AssessmentLine(
            a.assessment.time_point,
            labels.get(a.assessment.time_point, a.assessment.time_point),
            a.assessed_at,
            a.assessment.density,
            a.assessment.coverage,
            a.assessment.rater,
            a.assessment.improved(protocol.outcomes),
            a.signature,
        )
        for a in list_assessments(db, course_id)
    )
    signatures += [
        signature_line(f"Investigator's assessment, {a.label}", a.signed) for a in assessments if a.signed is not None
    ]
    questions = {question.id: question for question in protocol.outcomes.questionnaire}
    self_assessments = []
    for stored in list_self_assessments(db, course_id):
        answers = []
        order = {question_id: index for index, question_id in enumerate(questions)}
        ordered = sorted(stored.self_assessment.answers, key=lambda answer: order.get(answer.question_id, len(order)))
        for answer in ordered:
            question = questions.get(answer.question_id)
            text = question.text if question else answer.question_id
            value = answer.value
            if question is not None:
                for choice in getattr(question, "choices", ()) or ():
                    if choice.id == answer.value:
                        value = choice.label
            if value:
                answers.append((text, value))
        self_assessments.append(
            SelfAssessmentLine(
                stored.self_assessment.time_point,
                labels.get(stored.self_assessment.time_point, stored.self_assessment.time_point),
                stored.answered_at,
                tuple(answers),
                stored.self_assessment.improved(protocol.outcomes),
                stored.signature,
            )
        )
    signatures += [
        signature_line(f"Patient's self-assessment, {s.label}", s.signed) for s in self_assessments if s.signed
    ]
    events = tuple(
        AdverseEventLine(
            e.event.what,
            e.event.severity.value,
            e.event.onset_on,
            e.event.resolved_on,
            e.event.session_number,
            e.recorded_by,
            e.signature,
        )
        for e in list_adverse_events(db, course_id)
    )
    signatures += [signature_line(f"Adverse event: {e.what}", e.signed) for e in events if e.signed is not None]
    corrections = _course_corrections(db, course_id, patient.id)
    signatures += [signature_line(f"Correction of the {c.record}", c.signed) for c in corrections if c.signed]
    return CourseReport(
        course_id=course.id,
        patient_code=patient.code,
        patient_name=patient.name,
        birth_year=patient.birth_year,
        norwood_grade=patient.norwood_grade,
        status=course.status,
        started_at=course.started_at,
        planned_sessions=course.planned_sessions,
        interval_days=course.interval_days,
        screening=screening,
        screening_on=screening_on,
        screening_ok=screening_ok,
        screening_warnings=warnings,
        gate_overrides=gate_overrides,
        schedule=tuple(schedule),
        follow_ups=follow,
        time_points=time_points,
        views=views,
        photos=tuple(cells),
        assessments=assessments,
        self_assessments=tuple(self_assessments),
        adverse_events=events,
        sessions=tuple(sessions),
        screening_signatures=screening_view.signatures if screening_view is not None else (),
        signatures=tuple(sorted(signatures, key=lambda line: line.signed_at)),
        corrections=corrections,
    )


def _course_corrections(db: Session, course_id: int, patient_id: int) -> tuple[CorrectionLine, ...]:
    """The patient's corrections that concern this course: its outcome records, the screenings, the details."""
    own: dict[str, set[int]] = {
        "outcome_assessments": set(
            db.scalars(select(OutcomeAssessment.id).where(OutcomeAssessment.course_id == course_id))
        ),
        "self_assessments": set(
            db.scalars(select(SelfAssessmentRow.id).where(SelfAssessmentRow.course_id == course_id))
        ),
        "adverse_events": set(db.scalars(select(AdverseEventRow.id).where(AdverseEventRow.course_id == course_id))),
    }
    return tuple(
        CorrectionLine(
            f"{CORRECTED_TABLES.get(view.table, view.table)} (id {view.record_id})",
            view.corrected_at,
            view.corrected_by,
            describe_changes(view.changes),
            view.reason,
            view.signature,
        )
        for view in corrections_of_patient(db, patient_id)
        if view.table not in own or view.record_id in own[view.table]
    )
