"""The screening form of one patient: lab results, smoker, sex, Norwood grade, contraindications.

What the form asks is protocol data (``[screening]``: the lab tests, the contraindication
list). On save the form is validated by :meth:`Screening.parse` and stored with its verdict
(:func:`~stampside.app.storage.screening.save_screening`); the verdict is shown as the domain gives it:
eligible, or excluded with each reason, and stale lab results flagged. A patient who is not
eligible can be let through with a typed reason (``ctrl+o``), stored on the screening. The
verdict is signed with the PIN (reviewed) before it is stored, and so is an override
(overridden); the screen shows each signature.

A stored screening is corrected, never edited silently (``f2``): pick it, change its
results in a form prefilled with them, type why, and sign with the PIN (approved). The verdict
is judged again and stored with the corrected results; the verdict panel shows the correction
("corrected 2026-12-05 by Dr X: reason") and the audit trail keeps the old values.

Keys: ``ctrl+s`` save and judge, ``ctrl+o`` override a failed screening, ``f2`` correct a
stored screening, ``escape`` back.
The screen dismisses with the newest :class:`ScreeningView` (or ``None`` if there is none).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import ClassVar

from sqlalchemy.orm import Session
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, Select, SelectionList, Static

from stampside.app.domain.corrections import CorrectionRefused, describe_changes
from stampside.app.domain.course_gates import OverrideRefused
from stampside.app.domain.eligibility import (
    EligibilityResult,
    LabFlag,
    LabResult,
    Screening,
    ScreeningInputError,
    evaluate_screening,
)
from stampside.app.domain.gates import clean_reason
from stampside.app.domain.signatures import SignedAct, Signer, manifestation
from stampside.app.domain.treatment_protocol import NORWOOD_SCREENING_GRADES, Sex, TreatmentProtocol
from stampside.app.storage.corrections import CorrectionError, CorrectionView, correct_screening, corrections_of
from stampside.app.storage.patients import PatientView, get_patient
from stampside.app.storage.screening import (
    ScreeningError,
    ScreeningView,
    latest_screening,
    list_screenings,
    override_screening,
    save_screening,
)
from stampside.app.tui.dialogs.correction import Corrected, CorrectionDialog, FormField, FormValues, PickEntryDialog
from stampside.app.tui.dialogs.course_override import CourseOverrideDialog
from stampside.app.tui.screens.course_base import CourseContext, CourseScreen
from stampside.app.tui.widgets.check_list import CheckList
from stampside.app.tui.widgets.header import AppHeader

_GRADE_NOTES = {"3V": " (vertex)", "3A": " (anterior)", "2A": " (anterior)", "4A": " (anterior)", "5A": " (anterior)"}
GRADE_CHOICES: list[tuple[str, str]] = [(f"{g}{_GRADE_NOTES.get(g, '')}", g) for g in NORWOOD_SCREENING_GRADES]
SEX_CHOICES: list[tuple[str, str]] = [(sex.value, sex.value) for sex in Sex]
YES_NO: list[tuple[str, str]] = [("no", "no"), ("yes", "yes")]
FLAG_CHOICES: list[tuple[str, str]] = [(flag.value, flag.value) for flag in LabFlag]


def read_day(text: str, field: str, problems: list[str]) -> date | None:
    """``2026-11-25`` as a date; a problem line naming ``field`` otherwise."""
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"{field}: {text!r} is not a date; type it as YYYY-MM-DD")
        return None


def parse_screening_form(values: Mapping[str, str | list[str] | None], protocol: TreatmentProtocol) -> Screening:
    """A screening form's values (``screened-on``, ``sex``, ``smoker``, ``norwood``, ``lab-<id>-date|flag|value``,
    ``contraindications``, ``notes``) as a :class:`Screening`; :class:`ScreeningInputError` with a line per problem."""
    problems: list[str] = []

    def text(key: str) -> str:
        value = values.get(key)
        return value if isinstance(value, str) else ""

    screened_on = read_day(text("screened-on"), "screened on", problems)
    fields: dict[str, object] = {}
    for name in ("sex", "smoker", "norwood"):
        value = values.get(name)
        if not isinstance(value, str) or not value:
            problems.append(f"{'Norwood grade' if name == 'norwood' else name}: choose one")
        fields[name] = value
    labs = []
    for lab in protocol.screening.labs:
        taken = text(f"lab-{lab.id}-date")
        flag = values.get(f"lab-{lab.id}-flag")
        value = text(f"lab-{lab.id}-value").strip()
        if not taken.strip() and not isinstance(flag, str) and not value:
            continue  # not entered: the verdict says the result is missing
        day = read_day(taken, f"{lab.label} date", problems)
        if not isinstance(flag, str):
            problems.append(f"{lab.label}: choose normal or abnormal")
            continue
        if day is not None:
            labs.append(LabResult(test=lab.id, taken_on=day, flag=LabFlag(flag), value=value or None))
    if problems:
        raise ScreeningInputError("\n".join(problems))
    chosen = values.get("contraindications")
    return Screening.parse(
        screened_on=screened_on,
        sex=fields["sex"],
        smoker=fields["smoker"] == "yes",
        norwood_grade=fields["norwood"],
        labs=labs,
        contraindications=list(chosen) if isinstance(chosen, list) else [],
        notes=text("notes"),
    )


def verdict_text(result: EligibilityResult) -> str:
    """The verdict as the screen shows it: one line per exclusion or warning."""
    lines: list[str] = []
    if result.eligible:
        lines.append("✓ Eligible: the course may start")
    else:
        lines.append("✗ Not eligible (excluded):")
        lines.extend(f"   • {finding.message}" for finding in result.exclusions)
    for finding in result.warnings:
        lines.append(f"⚠ {finding.message}")
    if result.override is not None:
        lines.append(f"⚑ Overridden by {result.override.by}: {result.override.reason}")
    return "\n".join(lines)


class ScreeningScreen(CourseScreen[ScreeningView | None]):
    """The screening form of ``patient_id``; prefilled from their newest screening, if any."""

    CSS_PATH = "../styles/course.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save & judge"),
        Binding("ctrl+o", "override", "Override"),
        Binding("f2", "correct", "Correct"),
    ]

    def __init__(self, context: CourseContext, patient_id: int) -> None:
        super().__init__(context)
        self.patient_id = patient_id
        self.patient: PatientView | None = None
        self.screening: ScreeningView | None = None

    def compose(self) -> ComposeResult:
        rules = self.ctx.protocol.screening
        yield AppHeader()
        with VerticalScroll(id="screening-form", classes="course-body"):
            yield Label("Screening", id="screening-title", classes="course-title")
            yield Static("No screening recorded yet.", id="verdict", classes="verdict")
            yield Static("", id="course-message", classes="course-message")
            with Horizontal(classes="field-row"):
                with Vertical(classes="field-cell"):
                    yield Label("Screened on", classes="field-label")
                    yield Input(self.ctx.today().isoformat(), placeholder="YYYY-MM-DD", id="screened-on")
                with Vertical(classes="field-cell"):
                    yield Label("Sex", classes="field-label")
                    yield Select(SEX_CHOICES, prompt="choose", id="sex")
                with Vertical(classes="field-cell"):
                    yield Label("Smoker", classes="field-label")
                    yield Select(YES_NO, prompt="choose", id="smoker")
                with Vertical(classes="field-cell"):
                    yield Label("Norwood grade", classes="field-label")
                    yield Select(GRADE_CHOICES, prompt="choose", id="norwood")
            yield Label(
                f"Lab results (older than {rules.max_result_age_days} days are flagged)", classes="course-subtitle"
            )
            for lab in rules.labs:
                with Horizontal(classes="field-row lab-row"):
                    yield Label(lab.label, classes="lab-label")
                    yield Input(placeholder="taken YYYY-MM-DD", id=f"lab-{lab.id}-date", classes="lab-date")
                    yield Select(FLAG_CHOICES, prompt="flag", id=f"lab-{lab.id}-flag", classes="lab-flag")
                    yield Input(placeholder="value (optional)", id=f"lab-{lab.id}-value", classes="lab-value")
            yield Label("Contraindications found (space to tick)", classes="course-subtitle")
            yield CheckList[str](*((item.label, item.id) for item in rules.contraindications), id="contraindications")
            yield Label("Notes", classes="field-label")
            yield Input(id="screening-notes")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save & judge", id="save-screening", variant="primary")
                yield Button("Override…", id="override-screening", variant="warning", disabled=True)
                yield Button("Correct… (f2)", id="correct-screening")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#screened-on", Input).focus()
        self._load()

    @work(group="screening-load")
    async def _load(self) -> None:
        ctx = self.ctx

        def read(s: Session) -> tuple[PatientView | None, ScreeningView | None, list[CorrectionView]]:
            latest = latest_screening(s, self.patient_id, protocol=ctx.protocol, as_of=ctx.today())
            return get_patient(s, self.patient_id), latest, self._corrections_of(s, latest)

        loaded = await self.call(read)
        if loaded is None:
            return
        self.patient, latest, corrections = loaded
        if self.patient is not None:
            self.query_one("#screening-title", Label).update(f"Screening · {self.patient.code}")
            grade = self.patient.norwood_grade
            if latest is None and grade is not None and grade.value in dict(GRADE_CHOICES).values():
                # The grade recorded with the patient is the sensible default for a first screening.
                self.query_one("#norwood", Select).value = grade.value
        if latest is not None:
            self._prefill(latest.screening)
            self._show(latest, corrections)

    def _prefill(self, screening: Screening) -> None:
        self.query_one("#screened-on", Input).value = self.ctx.today().isoformat()
        self.query_one("#sex", Select).value = screening.sex.value
        self.query_one("#smoker", Select).value = "yes" if screening.smoker else "no"
        self.query_one("#norwood", Select).value = screening.norwood_grade
        for lab in screening.labs:
            if not self.query(f"#lab-{lab.test}-date"):
                continue
            self.query_one(f"#lab-{lab.test}-date", Input).value = lab.taken_on.isoformat()
            self.query_one(f"#lab-{lab.test}-flag", Select).value = lab.flag.value
            self.query_one(f"#lab-{lab.test}-value", Input).value = lab.value or ""
        chosen = self.query_one("#contraindications", SelectionList)
        chosen.deselect_all()
        for item in screening.contraindications:
            chosen.select(item)
        self.query_one("#screening-notes", Input).value = screening.notes

    @staticmethod
    def _corrections_of(s: Session, view: ScreeningView | None) -> list[CorrectionView]:
        return corrections_of(s, "screenings", [view.id]).get(view.id, []) if view is not None else []

    def _show(self, view: ScreeningView, corrections: list[CorrectionView] | None = None) -> None:
        self.screening = view
        verdict = self.query_one("#verdict", Static)
        signed = "".join(f"\n✍ {manifestation(mark, self.ctx.tz)}" for mark in view.signatures)
        corrected = "".join(f"\n✎ {correction.note(self.ctx.tz)}" for correction in corrections or [])
        verdict.update(
            f"Screening of {view.screening.screened_on.isoformat()} by {view.screened_by}\n"
            + verdict_text(view.result)
            + signed
            + corrected
        )
        verdict.set_class(view.result.eligible, "eligible")
        verdict.set_class(not view.result.eligible, "excluded")
        self.query_one("#override-screening", Button).disabled = view.result.ok
        verdict.scroll_visible(animate=False)

    # -- reading the form -------------------------------------------------------------------

    def read_form(self) -> Screening:
        """The form as a :class:`Screening`; :class:`ScreeningInputError` with a line per problem."""
        values: FormValues = {}
        for name in ("sex", "smoker", "norwood"):
            value = self.query_one(f"#{name}", Select).value
            values[name] = value if isinstance(value, str) else None
        values["screened-on"] = self.query_one("#screened-on", Input).value
        for lab in self.ctx.protocol.screening.labs:
            values[f"lab-{lab.id}-date"] = self.query_one(f"#lab-{lab.id}-date", Input).value
            flag = self.query_one(f"#lab-{lab.id}-flag", Select).value
            values[f"lab-{lab.id}-flag"] = flag if isinstance(flag, str) else None
            values[f"lab-{lab.id}-value"] = self.query_one(f"#lab-{lab.id}-value", Input).value
        values["contraindications"] = [
            str(item) for item in self.query_one("#contraindications", SelectionList).selected
        ]
        values["notes"] = self.query_one("#screening-notes", Input).value
        return parse_screening_form(values, self.ctx.protocol)

    # -- actions ------------------------------------------------------------------------------

    @on(Button.Pressed, "#save-screening")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#override-screening")
    def _override_pressed(self) -> None:
        self.action_override()

    @on(Button.Pressed, "#correct-screening")
    def _correct_pressed(self) -> None:
        self.action_correct()

    def action_back(self) -> None:
        self.dismiss(self.screening)

    def action_save(self) -> None:
        try:
            screening = self.read_form()
        except ScreeningInputError as exc:
            self.say(str(exc), error=True)
            return
        self._store(screening)

    @work(group="screening-save", exclusive=True)
    async def _store(self, screening: Screening) -> None:
        ctx = self.ctx
        try:
            judged = evaluate_screening(screening, ctx.protocol.screening)
        except ScreeningInputError as exc:
            self.say(str(exc), error=True)
            return
        code = self.patient.code if self.patient is not None else "the patient"
        what = f"Screening of {code} on {screening.screened_on.isoformat()}: {judged.message}."
        go, signer = await self.signed(what, SignedAct.SCREENING_VERDICT)
        if not go:
            return
        view = await self.call(
            lambda s: save_screening(
                s, self.patient_id, screening, protocol=ctx.protocol, screened_by=ctx.who, now=ctx.now(), signer=signer
            ),
            ScreeningError,
            ScreeningInputError,
        )
        if view is None:
            return
        self._show(view)
        self.say("Screening saved: " + ("eligible." if view.result.eligible else "not eligible (see why below)."))

    def action_override(self) -> None:
        view = self.screening
        if view is None:
            self.say("Save the screening first; only a failed screening can be overridden.", error=True)
            return
        if view.result.ok:
            self.say("This screening passes (or is already overridden): nothing to override.")
            return

        def check(reason: str) -> object:
            return view.result.overridden(reason, by=self.ctx.who, at=self.ctx.now())

        def chosen(reason: str | None) -> None:
            if reason is not None:
                self._store_override(view.id, reason)

        self.app.push_screen(CourseOverrideDialog("Screening", view.result.message, check, who=self.ctx.who), chosen)

    @work(group="screening-save", exclusive=True)
    async def _store_override(self, screening_id: int, reason: str) -> None:
        ctx = self.ctx
        failed = self.screening.result.message if self.screening is not None else "the screening failed"
        what = f"Override of the screening: {clean_reason(reason)}\nIt failed: {failed}"
        go, signer = await self.signed(what, SignedAct.SCREENING_OVERRIDE)
        if not go:
            return

        def store(s: Session) -> tuple[ScreeningView, list[CorrectionView]]:
            view = override_screening(
                s,
                screening_id,
                reason,
                by=ctx.who,
                now=ctx.now(),
                protocol=ctx.protocol,
                as_of=ctx.today(),
                signer=signer,
            )
            return view, self._corrections_of(s, view)

        done = await self.call(store, ScreeningError, OverrideRefused)
        if done is None:
            return
        self._show(*done)
        self.say(f"Override stored: the course may start ({ctx.who}: {reason.strip()}).")

    # -- corrections ----------------------------------------------------------------------------

    def action_correct(self) -> None:
        """Pick one of the patient's stored screenings and correct its results (a reason, the PIN)."""
        self._pick_and_correct()

    @work(group="screening-save", exclusive=True)
    async def _pick_and_correct(self) -> None:
        ctx = self.ctx
        stored = await self.call(lambda s: list_screenings(s, self.patient_id, protocol=ctx.protocol))
        if stored is None:
            return
        if not stored:
            self.say("No screening stored yet: there is nothing to correct.", error=True)
            return
        entries = [
            (
                str(view.id),
                f"Screening of {view.screening.screened_on.isoformat()} by {view.screened_by}: "
                + ("eligible" if view.stored_result == "eligible" else "not eligible"),
            )
            for view in stored
        ]
        chosen = await self.app.push_screen(
            PickEntryDialog("Correct which screening?", entries, hint="Newest first; enter picks one."),
            wait_for_dismiss=True,
        )
        if chosen is None:
            return
        view = next(v for v in stored if str(v.id) == chosen)
        described = dict(entries)[chosen]
        corrected = await self.app.push_screen(
            CorrectionDialog(
                "Correct: screening",
                described,
                self._correction_fields(view.screening),
                lambda values: parse_screening_form(values, ctx.protocol),
                who=ctx.who,
            ),
            wait_for_dismiss=True,
        )
        if corrected is None:
            return
        await self._store_correction(view.id, described, corrected)

    def _correction_fields(self, screening: Screening) -> list[FormField]:
        rules = self.ctx.protocol.screening
        labs = {lab.test: lab for lab in screening.labs}
        fields = [
            FormField("screened-on", "Screened on", screening.screened_on.isoformat(), row="form"),
            FormField("sex", "Sex", screening.sex.value, tuple(SEX_CHOICES), row="form"),
            FormField("smoker", "Smoker", "yes" if screening.smoker else "no", tuple(YES_NO), row="form"),
            FormField("norwood", "Norwood grade", screening.norwood_grade, tuple(GRADE_CHOICES), row="form"),
        ]
        for lab in rules.labs:
            found = labs.get(lab.id)
            row = f"lab-{lab.id}"
            fields += [
                FormField(
                    f"lab-{lab.id}-date",
                    lab.label,
                    found.taken_on.isoformat() if found else "",
                    placeholder="taken YYYY-MM-DD",
                    row=row,
                ),
                FormField(
                    f"lab-{lab.id}-flag", "flag", found.flag.value if found else "", tuple(FLAG_CHOICES), row=row
                ),
                FormField(f"lab-{lab.id}-value", "value (optional)", (found.value or "") if found else "", row=row),
            ]
        fields.append(
            FormField(
                "contraindications",
                "Contraindications found (space to tick)",
                list(screening.contraindications),
                tuple((item.label, item.id) for item in rules.contraindications),
                multi=True,
            )
        )
        fields.append(FormField("notes", "Notes", screening.notes))
        return fields

    async def _store_correction(self, screening_id: int, described: str, corrected: Corrected[Screening]) -> None:
        ctx = self.ctx
        what = f"Correction of the {described}\nWhy: {' '.join(corrected.reason.split())}"
        go, signer = await self.signed(what, SignedAct.CORRECTION)
        if not go:
            return

        def store(s: Session, signer: Signer | None = signer) -> tuple[CorrectionView, ScreeningView | None]:
            done = correct_screening(
                s,
                screening_id,
                corrected.value,
                protocol=ctx.protocol,
                reason=corrected.reason,
                by=ctx.who,
                now=ctx.now(),
                signer=signer,
            )
            return done, latest_screening(s, self.patient_id, protocol=ctx.protocol, as_of=ctx.today())

        done = await self.call(store, CorrectionError, CorrectionRefused, ScreeningError, ScreeningInputError)
        if done is None:
            return
        correction, latest = done
        if latest is not None:
            corrections = await self.call(lambda s: self._corrections_of(s, latest))
            self._prefill(latest.screening)
            self._show(latest, corrections)
        self.say(f"Corrected: {describe_changes(correction.changes)}.")
