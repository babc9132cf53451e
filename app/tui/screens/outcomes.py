"""Outcomes of a course: the investigator's assessment, the patient's questionnaire, adverse events.

At each outcome time point of the protocol (after session 6, the 3- and 6-month follow-ups by
default) the investigator rates density and coverage on the IGA scale (−3 … +3) and the
patient's answers to the protocol's questionnaire are entered; both are checked by the domain
(:func:`~stampside.app.domain.outcomes.validate_iga`, :func:`~stampside.app.domain.outcomes.validate_self_assessment`)
and stored together. Adverse events (what, onset, severity, maybe resolved, maybe linked to a
session) can be recorded at any time. Each entry is signed with the PIN (performed) before it
is stored; the list shows each one's signature.

Keys: ``ctrl+s`` save the assessment and answers, ``ctrl+r`` record the adverse event,
``escape`` back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from sqlalchemy.orm import Session
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import SuggestFromList
from textual.widgets import Button, Footer, Input, Label, Select, Static

from stampside.app.domain.outcomes import (
    IgaAssessment,
    OutcomeInputError,
    SelfAssessment,
    Severity,
    outcome_time_points,
    validate_adverse_event,
    validate_iga,
    validate_self_assessment,
)
from stampside.app.domain.signatures import SignedAct, Signer
from stampside.app.domain.treatment_protocol import QuestionKind
from stampside.app.storage.courses import current_course_id
from stampside.app.storage.outcomes import (
    AdverseEventView,
    AssessmentView,
    OutcomeError,
    list_adverse_events,
    list_assessments,
    record_adverse_event,
    record_assessment,
    record_self_assessment,
)
from stampside.app.storage.patients import get_patient
from stampside.app.tui.screens.course_base import CourseContext, CourseScreen
from stampside.app.tui.screens.screening import YES_NO, read_day
from stampside.app.tui.widgets.header import AppHeader

SEVERITY_CHOICES: list[tuple[str, str]] = [(level.value, level.value) for level in Severity]


@dataclass(frozen=True, slots=True)
class OutcomeRecords:
    """What the screen lists for the course (read in one transaction)."""

    patient_code: str
    course_id: int | None
    assessments: list[AssessmentView]
    events: list[AdverseEventView]


class OutcomesScreen(CourseScreen[None]):
    """Outcome entry for ``patient_id``'s newest course."""

    CSS_PATH = "../styles/course.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save_assessment", "Save assessment"),
        Binding("ctrl+r", "save_event", "Record adverse event"),
    ]

    def __init__(self, context: CourseContext, patient_id: int, time_point: str | None = None) -> None:
        super().__init__(context)
        self.patient_id = patient_id
        self.course_id: int | None = None
        self._time_point = time_point

    def compose(self) -> ComposeResult:
        protocol = self.ctx.protocol
        rules = protocol.outcomes
        points = [(protocol.photos.time_point(p).label, p) for p in outcome_time_points(protocol)]
        scale = [(rules.iga_label(score), str(score)) for score in range(rules.iga_max, rules.iga_min - 1, -1)]
        yield AppHeader()
        with VerticalScroll(classes="course-body"):
            yield Label("Outcomes", id="outcomes-title", classes="course-title")
            yield Static("", id="course-message", classes="course-message")
            with Horizontal(classes="field-row"):
                with Vertical(classes="field-cell"):
                    yield Label("Time point", classes="field-label")
                    yield Select(points, value=self._time_point or points[0][1], allow_blank=False, id="time-point")
                with Vertical(classes="field-cell"):
                    yield Label("IGA density", classes="field-label")
                    yield Select(scale, prompt="rate", id="iga-density")
                with Vertical(classes="field-cell"):
                    yield Label("IGA coverage", classes="field-label")
                    yield Select(scale, prompt="rate", id="iga-coverage")
            yield Label("Investigator's note (optional)", classes="field-label")
            yield Input(id="iga-note")
            yield Label("The patient's self-assessment", classes="course-subtitle")
            for question in rules.questionnaire:
                with Horizontal(classes="field-row question-row"):
                    yield Label(question.text + ("" if question.required else " (optional)"))
                    if question.kind is QuestionKind.CHOICE:
                        yield Select(
                            [(c.label, c.id) for c in question.choices], prompt="answer", id=f"q-{question.id}"
                        )
                    elif question.kind is QuestionKind.YES_NO:
                        yield Select(YES_NO, prompt="answer", id=f"q-{question.id}")
                    else:
                        yield Input(id=f"q-{question.id}")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save assessment", id="save-assessment", variant="primary")
            yield Label("Adverse event", classes="course-subtitle")
            with Horizontal(classes="field-row"):
                with Vertical(classes="field-cell"):
                    yield Label("What", classes="field-label")
                    yield Input(
                        placeholder="e.g. erythema beyond 48 h",
                        suggester=SuggestFromList(rules.adverse_event_suggestions, case_sensitive=False),
                        id="ae-what",
                    )
                with Vertical(classes="field-cell"):
                    yield Label("Onset", classes="field-label")
                    yield Input(self.ctx.today().isoformat(), placeholder="YYYY-MM-DD", id="ae-onset")
                with Vertical(classes="field-cell"):
                    yield Label("Severity", classes="field-label")
                    yield Select(SEVERITY_CHOICES, prompt="choose", id="ae-severity")
            with Horizontal(classes="field-row"):
                with Vertical(classes="field-cell"):
                    yield Label("Resolved on (optional)", classes="field-label")
                    yield Input(placeholder="YYYY-MM-DD", id="ae-resolved")
                with Vertical(classes="field-cell"):
                    yield Label("After session (optional)", classes="field-label")
                    yield Input(placeholder="e.g. 3", id="ae-session", type="integer")
                with Vertical(classes="field-cell"):
                    yield Label("Notes (optional)", classes="field-label")
                    yield Input(id="ae-notes")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Record adverse event", id="save-event", variant="warning")
            yield Static("", id="outcome-records", classes="verdict")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#iga-density", Select).focus()
        self._load()

    def _read_records(self, s: Session) -> OutcomeRecords:
        patient = get_patient(s, self.patient_id)
        course_id = current_course_id(s, self.patient_id)
        if course_id is None:
            return OutcomeRecords(patient.code if patient else "?", None, [], [])
        return OutcomeRecords(
            patient.code if patient else "?",
            course_id,
            list_assessments(s, course_id),
            list_adverse_events(s, course_id),
        )

    @work(group="outcomes-load")
    async def _load(self) -> None:
        records = await self.call(self._read_records)
        if records is not None:
            self._show(records)

    def _show(self, records: OutcomeRecords) -> None:
        self.course_id = records.course_id
        self.query_one("#outcomes-title", Label).update(f"Outcomes · {records.patient_code}")
        protocol = self.ctx.protocol
        lines = []
        if records.course_id is None:
            lines.append("No course yet: outcomes are recorded on a course (start one from the start screen).")
        for view in records.assessments:
            a = view.assessment
            label = protocol.photos.time_point(a.time_point).label if a.time_point else a.time_point
            lines.append(
                f"{label}: density {a.density:+d}, coverage {a.coverage:+d} by {a.rater}"
                + self.signature_text(view.signature)
            )
        for event in records.events:
            e = event.event
            after = f", after session {e.session_number}" if e.session_number else ""
            resolved = f", resolved {e.resolved_on.isoformat()}" if e.resolved_on else ""
            lines.append(
                f"Adverse event: {e.what} ({e.severity.value}) from {e.onset_on.isoformat()}{resolved}{after}"
                + self.signature_text(event.signature)
            )
        if not lines:
            lines.append("Nothing recorded for this course yet.")
        self.query_one("#outcome-records", Static).update("\n".join(lines))

    # -- the assessment -----------------------------------------------------------------------

    @on(Button.Pressed, "#save-assessment")
    def _assessment_pressed(self) -> None:
        self.action_save_assessment()

    @on(Button.Pressed, "#save-event")
    def _event_pressed(self) -> None:
        self.action_save_event()

    def action_save_assessment(self) -> None:
        if self.course_id is None:
            self.say("No course for this patient: outcomes are recorded on a course.", error=True)
            return
        protocol = self.ctx.protocol
        time_point = str(self.query_one("#time-point", Select).value)
        problems: list[str] = []
        scores: dict[str, str] = {}
        for name in ("density", "coverage"):
            value = self.query_one(f"#iga-{name}", Select).value
            scores[name] = value if isinstance(value, str) else ""
        answers: dict[str, str | bool | None] = {}
        for question in protocol.outcomes.questionnaire:
            widget = self.query_one(f"#q-{question.id}")
            value = widget.value if isinstance(widget, Input | Select) else None
            answers[question.id] = value if isinstance(value, str) else None
        try:
            iga = validate_iga(
                protocol,
                time_point=time_point,
                density=scores["density"] or "not rated",
                coverage=scores["coverage"] or "not rated",
                rater=self.ctx.who,
                note=self.query_one("#iga-note", Input).value,
            )
        except OutcomeInputError as exc:
            problems.extend(str(exc).replace("'not rated' is not", "not rated: choose").splitlines())
        try:
            answered = validate_self_assessment(protocol, time_point=time_point, answers=answers)
        except OutcomeInputError as exc:
            problems.extend(str(exc).splitlines())
        if problems:
            self.say("\n".join(problems), error=True)
            return
        self._store_assessment(iga, answered)

    @work(group="outcomes-save", exclusive=True)
    async def _store_assessment(self, iga: IgaAssessment, answered: SelfAssessment) -> None:
        course_id = self.course_id
        assert course_id is not None
        ctx = self.ctx
        label = ctx.protocol.photos.time_point(iga.time_point).label
        what = (
            f"{label}: the investigator's assessment (density {iga.density:+d}, coverage {iga.coverage:+d}) "
            "and the patient's answers, as entered."
        )
        go, signer = await self.signed(what, SignedAct.OUTCOME_ASSESSMENT)
        if not go:
            return

        def store(s: Session) -> OutcomeRecords:
            record_assessment(s, course_id, iga, now=ctx.now(), signer=signer)
            record_self_assessment(s, course_id, answered, recorded_by=ctx.who, now=ctx.now(), signer=signer)
            return self._read_records(s)

        records = await self.call(store, OutcomeError)
        if records is None:
            return
        self._show(records)
        self.say(f"{label}: assessment and the patient's answers saved{' and signed' if signer else ''}.")

    # -- adverse events -----------------------------------------------------------------------

    def action_save_event(self) -> None:
        if self.course_id is None:
            self.say("No course for this patient: adverse events are recorded on a course.", error=True)
            return
        problems: list[str] = []
        onset = read_day(self.query_one("#ae-onset", Input).value, "onset", problems)
        resolved_text = self.query_one("#ae-resolved", Input).value.strip()
        resolved: date | None = read_day(resolved_text, "resolved", problems) if resolved_text else None
        session_text = self.query_one("#ae-session", Input).value.strip()
        session_number = None
        if session_text:
            try:
                session_number = int(session_text)
            except ValueError:
                problems.append(f"session: {session_text!r} is not a session number")
        severity = self.query_one("#ae-severity", Select).value
        if not isinstance(severity, str):
            problems.append("severity: choose mild, moderate or severe")
        if problems or onset is None or not isinstance(severity, str):
            self.say("\n".join(problems), error=True)
            return
        try:
            event = validate_adverse_event(
                what=self.query_one("#ae-what", Input).value,
                onset_on=onset,
                severity=severity,
                today=self.ctx.today(),
                resolved_on=resolved,
                session_number=session_number,
                notes=self.query_one("#ae-notes", Input).value,
            )
        except OutcomeInputError as exc:
            self.say(str(exc), error=True)
            return
        course_id = self.course_id
        ctx = self.ctx

        def store(s: Session, signer: Signer | None) -> OutcomeRecords:
            record_adverse_event(s, course_id, event, recorded_by=ctx.who, now=ctx.now(), signer=signer)
            return self._read_records(s)

        self._store_event(
            store,
            event.what,
            f"Adverse event: {event.what} ({event.severity.value}) from {event.onset_on.isoformat()}.",
        )

    @work(group="outcomes-save", exclusive=True)
    async def _store_event(
        self, store: Callable[[Session, Signer | None], OutcomeRecords], what: str, described: str
    ) -> None:
        go, signer = await self.signed(described, SignedAct.ADVERSE_EVENT)
        if not go:
            return
        records = await self.call(lambda s: store(s, signer), OutcomeError)
        if records is None:
            return
        self._show(records)
        for selector in ("#ae-what", "#ae-resolved", "#ae-session", "#ae-notes"):
            self.query_one(selector, Input).value = ""
        self.say(f"Adverse event recorded: {what}.")
