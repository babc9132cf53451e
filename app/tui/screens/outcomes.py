"""Outcomes of a course: the investigator's assessment, the patient's questionnaire, adverse events.

At each outcome time point of the protocol (after session 6, the 3- and 6-month follow-ups by
default) the investigator rates density and coverage on the IGA scale (−3 … +3) and the
patient's answers to the protocol's questionnaire are entered; both are checked by the domain
(:func:`~stampside.app.domain.outcomes.validate_iga`, :func:`~stampside.app.domain.outcomes.validate_self_assessment`)
and stored together. Adverse events (what, onset, severity, maybe resolved, maybe linked to a
session) can be recorded at any time. Each entry is signed with the PIN (performed) before it
is stored; the list shows each one's signature.

A stored entry is corrected, never edited silently (``f2``): pick the assessment, the
patient's answers or the adverse event, change the values in a form prefilled with them, type
why, and sign with the PIN (approved). The list shows each correction ("corrected 2026-12-05 by
Dr X: reason"); the audit trail keeps the old values.

Keys: ``ctrl+s`` save the assessment and answers, ``ctrl+r`` record the adverse event,
``f2`` correct an entry, ``escape`` back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar, TypeVar

from sqlalchemy.orm import Session
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import SuggestFromList
from textual.widgets import Button, Footer, Input, Label, Select, Static

from stampside.app.domain.corrections import CorrectionRefused, describe_changes
from stampside.app.domain.outcomes import (
    AdverseEvent,
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
from stampside.app.storage.corrections import (
    CorrectionError,
    CorrectionView,
    correct_adverse_event,
    correct_assessment,
    correct_self_assessment,
    corrections_of,
)
from stampside.app.storage.courses import current_course_id
from stampside.app.storage.outcomes import (
    AdverseEventView,
    AssessmentView,
    OutcomeError,
    SelfAssessmentView,
    list_adverse_events,
    list_assessments,
    list_self_assessments,
    record_adverse_event,
    record_assessment,
    record_self_assessment,
)
from stampside.app.storage.patients import get_patient
from stampside.app.tui.dialogs.correction import Corrected, CorrectionDialog, FormField, FormValues, PickEntryDialog
from stampside.app.tui.screens.course_base import CourseContext, CourseScreen
from stampside.app.tui.screens.screening import YES_NO, read_day
from stampside.app.tui.widgets.header import AppHeader

T = TypeVar("T")

SEVERITY_CHOICES: list[tuple[str, str]] = [(level.value, level.value) for level in Severity]


@dataclass(frozen=True, slots=True)
class OutcomeRecords:
    """What the screen lists for the course (read in one transaction)."""

    patient_code: str
    course_id: int | None
    assessments: list[AssessmentView]
    events: list[AdverseEventView]
    self_assessments: list[SelfAssessmentView] = field(default_factory=list)
    #: The corrections of each entry, by (table, id), oldest first.
    corrections: dict[tuple[str, int], list[CorrectionView]] = field(default_factory=dict)


class OutcomesScreen(CourseScreen[None]):
    """Outcome entry for ``patient_id``'s newest course."""

    CSS_PATH = "../styles/course.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save_assessment", "Save assessment"),
        Binding("ctrl+r", "save_event", "Record adverse event"),
        Binding("f2", "correct", "Correct"),
    ]

    def __init__(self, context: CourseContext, patient_id: int, time_point: str | None = None) -> None:
        super().__init__(context)
        self.patient_id = patient_id
        self.course_id: int | None = None
        self.records: OutcomeRecords | None = None
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
            with Horizontal(classes="dialog-buttons"):
                yield Button("Correct an entry… (f2)", id="correct-entry")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#iga-density", Select).focus()
        self._load()

    def _read_records(self, s: Session) -> OutcomeRecords:
        patient = get_patient(s, self.patient_id)
        course_id = current_course_id(s, self.patient_id)
        if course_id is None:
            return OutcomeRecords(patient.code if patient else "?", None, [], [])
        assessments = list_assessments(s, course_id)
        events = list_adverse_events(s, course_id)
        answers = list_self_assessments(s, course_id)
        corrections: dict[tuple[str, int], list[CorrectionView]] = {}
        for table, ids in (
            ("outcome_assessments", [view.id for view in assessments]),
            ("self_assessments", [view.id for view in answers]),
            ("adverse_events", [view.id for view in events]),
        ):
            for record_id, found in corrections_of(s, table, ids).items():
                corrections[(table, record_id)] = found
        return OutcomeRecords(patient.code if patient else "?", course_id, assessments, events, answers, corrections)

    @work(group="outcomes-load")
    async def _load(self) -> None:
        records = await self.call(self._read_records)
        if records is not None:
            self._show(records)

    def _corrected(self, records: OutcomeRecords, table: str, record_id: int) -> list[str]:
        """``   ✎ corrected 2026-12-05 by Dr X: reason`` for each correction of the entry."""
        return [f"   ✎ {view.note(self.ctx.tz)}" for view in records.corrections.get((table, record_id), [])]

    def _show(self, records: OutcomeRecords) -> None:
        self.records = records
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
            lines.extend(self._corrected(records, "outcome_assessments", view.id))
        for answered in records.self_assessments:
            found = self._corrected(records, "self_assessments", answered.id)
            if found:
                label = protocol.photos.time_point(answered.self_assessment.time_point).label
                lines.append(f"{label}: the patient's answers")
                lines.extend(found)
        for event in records.events:
            e = event.event
            after = f", after session {e.session_number}" if e.session_number else ""
            resolved = f", resolved {e.resolved_on.isoformat()}" if e.resolved_on else ""
            lines.append(
                f"Adverse event: {e.what} ({e.severity.value}) from {e.onset_on.isoformat()}{resolved}{after}"
                + self.signature_text(event.signature)
            )
            lines.extend(self._corrected(records, "adverse_events", event.id))
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

    # -- corrections ----------------------------------------------------------------------------

    @on(Button.Pressed, "#correct-entry")
    def _correct_pressed(self) -> None:
        self.action_correct()

    def _point_label(self, time_point: str) -> str:
        try:
            return self.ctx.protocol.photos.time_point(time_point).label
        except (KeyError, ValueError):
            return time_point

    def action_correct(self) -> None:
        """Pick a stored entry of the course and correct it (a form with its values, a reason, the PIN)."""
        records = self.records
        if records is None or records.course_id is None:
            self.say("No course for this patient: there is nothing to correct.", error=True)
            return
        entries: list[tuple[str, str]] = []
        for view in records.assessments:
            a = view.assessment
            entries.append(
                (
                    f"a{view.id}",
                    f"{self._point_label(a.time_point)}: assessment, density {a.density:+d}, "
                    f"coverage {a.coverage:+d} by {a.rater}",
                )
            )
        for answered in records.self_assessments:
            entries.append(
                (
                    f"s{answered.id}",
                    f"{self._point_label(answered.self_assessment.time_point)}: the patient's answers "
                    f"(entered by {answered.recorded_by})",
                )
            )
        for event in records.events:
            e = event.event
            entries.append(
                (f"e{event.id}", f"Adverse event: {e.what} ({e.severity.value}) from {e.onset_on.isoformat()}")
            )
        if not entries:
            self.say("Nothing recorded for this course yet: there is nothing to correct.", error=True)
            return
        described = dict(entries)

        def picked(key: str | None) -> None:
            if key is None:
                return
            ident = int(key[1:])
            if key[0] == "a":
                self._correct_assessment(next(v for v in records.assessments if v.id == ident), described[key])
            elif key[0] == "s":
                self._correct_answers(next(v for v in records.self_assessments if v.id == ident), described[key])
            else:
                self._correct_event(next(v for v in records.events if v.id == ident), described[key])

        self.app.push_screen(
            PickEntryDialog(
                "Correct which entry?",
                entries,
                hint="Pick the entry (enter); its values are shown to correct, with the reason.",
            ),
            picked,
        )

    def _time_point_choices(self) -> tuple[tuple[str, str], ...]:
        protocol = self.ctx.protocol
        return tuple((protocol.photos.time_point(p).label, p) for p in outcome_time_points(protocol))

    def _correct_assessment(self, view: AssessmentView, described: str) -> None:
        protocol = self.ctx.protocol
        rules = protocol.outcomes
        scale = tuple((rules.iga_label(score), str(score)) for score in range(rules.iga_max, rules.iga_min - 1, -1))
        a = view.assessment
        fields = [
            FormField("time-point", "Time point", a.time_point, self._time_point_choices(), row="scores"),
            FormField("density", "IGA density", str(a.density), scale, row="scores"),
            FormField("coverage", "IGA coverage", str(a.coverage), scale, row="scores"),
            FormField("note", "Investigator's note (optional)", a.note),
        ]

        def check(values: FormValues) -> IgaAssessment:
            try:
                return validate_iga(
                    protocol,
                    time_point=str(values["time-point"] or ""),
                    density=str(values["density"] or "not rated"),
                    coverage=str(values["coverage"] or "not rated"),
                    rater=a.rater,
                    note=str(values["note"] or ""),
                )
            except OutcomeInputError as exc:
                raise OutcomeInputError(str(exc).replace("'not rated' is not", "not rated: choose")) from None

        def store(s: Session, corrected: Corrected[IgaAssessment], signer: Signer | None) -> CorrectionView:
            return correct_assessment(
                s, view.id, corrected.value, reason=corrected.reason, by=self.ctx.who, now=self.ctx.now(), signer=signer
            )

        self._ask_correction(described, fields, check, store)

    def _correct_answers(self, view: SelfAssessmentView, described: str) -> None:
        protocol = self.ctx.protocol
        answered = view.self_assessment
        fields = [FormField("time-point", "Time point", answered.time_point, self._time_point_choices())]
        for question in protocol.outcomes.questionnaire:
            answer = answered.answer(question.id)
            value = answer.value if answer is not None else ""
            label = question.text + ("" if question.required else " (optional)")
            if question.kind is QuestionKind.CHOICE:
                choices = tuple((c.label, c.id) for c in question.choices)
                fields.append(FormField(f"q-{question.id}", label, value, choices))
            elif question.kind is QuestionKind.YES_NO:
                fields.append(FormField(f"q-{question.id}", label, value, tuple(YES_NO)))
            else:
                fields.append(FormField(f"q-{question.id}", label, value))
        labels = {question.id: question.text for question in protocol.outcomes.questionnaire}

        def check(values: FormValues) -> SelfAssessment:
            answers: dict[str, str | bool | None] = {}
            for question in protocol.outcomes.questionnaire:
                value = values.get(f"q-{question.id}")
                answers[question.id] = value if isinstance(value, str) else None
            return validate_self_assessment(protocol, time_point=str(values["time-point"] or ""), answers=answers)

        def store(s: Session, corrected: Corrected[SelfAssessment], signer: Signer | None) -> CorrectionView:
            return correct_self_assessment(
                s,
                view.id,
                corrected.value,
                reason=corrected.reason,
                by=self.ctx.who,
                now=self.ctx.now(),
                signer=signer,
                labels=labels,
            )

        self._ask_correction(described, fields, check, store)

    def _correct_event(self, view: AdverseEventView, described: str) -> None:
        e = view.event
        fields = [
            FormField("what", "What", e.what, row="event"),
            FormField("onset", "Onset", e.onset_on.isoformat(), placeholder="YYYY-MM-DD", row="event"),
            FormField("severity", "Severity", e.severity.value, tuple(SEVERITY_CHOICES), row="event"),
            FormField(
                "resolved",
                "Resolved on (optional)",
                e.resolved_on.isoformat() if e.resolved_on else "",
                placeholder="YYYY-MM-DD",
                row="later",
            ),
            FormField(
                "session",
                "After session (optional)",
                str(e.session_number) if e.session_number else "",
                placeholder="e.g. 3",
                row="later",
            ),
            FormField("notes", "Notes (optional)", e.notes, row="later"),
        ]
        today = self.ctx.today()

        def check(values: FormValues) -> AdverseEvent:
            problems: list[str] = []
            onset = read_day(str(values["onset"] or ""), "onset", problems)
            resolved_text = str(values["resolved"] or "").strip()
            resolved = read_day(resolved_text, "resolved", problems) if resolved_text else None
            session_text = str(values["session"] or "").strip()
            number = None
            if session_text:
                try:
                    number = int(session_text)
                except ValueError:
                    problems.append(f"session: {session_text!r} is not a session number")
            severity = values["severity"]
            if not isinstance(severity, str):
                problems.append("severity: choose mild, moderate or severe")
            if problems or onset is None or not isinstance(severity, str):
                raise OutcomeInputError("\n".join(problems))
            return validate_adverse_event(
                what=str(values["what"] or ""),
                onset_on=onset,
                severity=severity,
                today=today,
                resolved_on=resolved,
                session_number=number,
                notes=str(values["notes"] or ""),
            )

        def store(s: Session, corrected: Corrected[AdverseEvent], signer: Signer | None) -> CorrectionView:
            return correct_adverse_event(
                s, view.id, corrected.value, reason=corrected.reason, by=self.ctx.who, now=self.ctx.now(), signer=signer
            )

        self._ask_correction(described, fields, check, store)

    def _ask_correction(
        self,
        described: str,
        fields: list[FormField],
        check: Callable[[FormValues], T],
        store: Callable[[Session, Corrected[T], Signer | None], CorrectionView],
    ) -> None:
        def answered(corrected: Corrected[T] | None) -> None:
            if corrected is not None:
                self._store_correction(described, lambda s, signer: store(s, corrected, signer), corrected.reason)

        self.app.push_screen(
            CorrectionDialog(f"Correct: {described.split(':')[0]}", described, fields, check, who=self.ctx.who),
            answered,
        )

    @work(group="outcomes-save", exclusive=True)
    async def _store_correction(
        self, described: str, store: Callable[[Session, Signer | None], CorrectionView], reason: str
    ) -> None:
        go, signer = await self.signed(
            f"Correction of {described}\nWhy: {' '.join(reason.split())}", SignedAct.CORRECTION
        )
        if not go:
            return

        def run(s: Session) -> tuple[CorrectionView, OutcomeRecords]:
            return store(s, signer), self._read_records(s)

        done = await self.call(run, CorrectionError, CorrectionRefused, OutcomeError)
        if done is None:
            return
        view, records = done
        self._show(records)
        self.say(f"Corrected: {describe_changes(view.changes)}.")
