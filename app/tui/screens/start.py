"""The start screen: who is signed in, which patient, where their course stands, start or resume.

The practitioner signed in with their PIN (:class:`~stampside.app.tui.signed_in.SignedIn`, over this
screen at start-up) is who starts and confirms; ``w`` lets another practitioner sign in, ``l``
locks the app. The screen reads and writes through the storage use cases only; the rules (what
a valid patient is, which session comes next, which session is open) live there. Starting is
not done here: the screen posts :class:`StartSessionRequested` and the app decides.

A patient whose session is open at another chair (several chairs share one database) is read
only here: the course panel says where, by whom and since when, and ``s`` says so instead of
starting or resuming it (:func:`~stampside.app.storage.claims.holder`; the refusal itself is the
database's, when the session is opened). When that chair cannot go on with it (its computer died or was
renamed, the practitioner moved to another room), ``t`` takes the session over here: a reason, a
warning that the other chair must not be stamping, the PIN (overridden), then the session is
resumed at this chair (:func:`~stampside.app.storage.sessions.take_over_session`, which refuses when the
session moved or closed meanwhile). The key is offered (footer, help) only for such a patient.

``e`` corrects the chosen patient's details (name, year of birth, Norwood grade; not the code):
a form prefilled with them and a reason, signed with the PIN (approved). The patient line shows
the newest correction, and the audit trail keeps the old values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, ClassVar, ParamSpec, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from stampside.app.domain.corrections import CorrectionRefused, describe_changes
from stampside.app.domain.course_gates import CourseGate, OverrideRefused, make_course_override
from stampside.app.domain.gates import clean_reason
from stampside.app.domain.signatures import SignedAct, Signer, manifestation
from stampside.app.domain.steps import Clock
from stampside.app.domain.treatment_protocol import TreatmentProtocol, default_protocol
from stampside.app.storage.claims import LEGACY_CHAIR, PATIENT, ClaimHolder, SessionClaimed, default_chair_name, holder
from stampside.app.storage.corrections import CorrectionError, CorrectionView, correct_patient, corrections_of
from stampside.app.storage.courses import CourseSummary, course_summary
from stampside.app.storage.database import Database
from stampside.app.storage.errors import explain
from stampside.app.storage.patients import (
    NewPatient,
    PatientInputError,
    PatientView,
    create_patient,
    get_patient,
    list_patients,
)
from stampside.app.storage.practitioners import PractitionerView, add_practitioner
from stampside.app.storage.sessions import (
    SessionError,
    SessionView,
    find_open_session,
    get_session,
    take_over_session,
)
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.correction import Corrected, CorrectionDialog, FormField, FormValues
from stampside.app.tui.dialogs.course_override import CourseOverrideDialog
from stampside.app.tui.dialogs.new_patient import GRADE_CHOICES, NewPatientDialog
from stampside.app.tui.dialogs.new_practitioner import NewPractitionerDialog
from stampside.app.tui.screens.blinded import BlindedRatingScreen
from stampside.app.tui.screens.course_base import CourseContext
from stampside.app.tui.screens.outcomes import OutcomesScreen
from stampside.app.tui.screens.photos import PhotosScreen
from stampside.app.tui.screens.screening import ScreeningScreen
from stampside.app.tui.widgets.due_list import DueList
from stampside.app.tui.widgets.header import AppHeader

#: How often the start screen checks whether the day changed, in seconds.
DAY_CHECK_S = 60.0

P = ParamSpec("P")
T = TypeVar("T")


class StartSessionRequested(Message):
    """The practitioner asked to start (or, with ``resume_session_id``, resume) a session."""

    def __init__(
        self, practitioner_id: int, patient_id: int, resume_session_id: int | None, practitioner_name: str = ""
    ) -> None:
        super().__init__()
        self.practitioner_id = practitioner_id
        self.patient_id = patient_id
        self.resume_session_id = resume_session_id
        #: Who confirms the steps of this run ("confirmed by"), as chosen on the start screen.
        self.practitioner_name = practitioner_name


@dataclass(frozen=True, slots=True)
class PatientCourse:
    """What the course panel shows for the selected patient (read in one transaction)."""

    patient: PatientView
    summary: CourseSummary | None
    open_session: SessionView | None
    #: The course's last finished session (its closing signature is shown), if any.
    last_session: SessionView | None = None
    #: Corrections of the patient's details, oldest first.
    corrections: tuple[CorrectionView, ...] = ()
    #: Who has the patient's session open at another chair (None: nobody, or this chair): read only here.
    held_elsewhere: ClaimHolder | None = None


def format_when(moment: datetime | None) -> str:
    """A stored time as the practitioner reads it, in local time (``Thu 12 Nov 2026 14:05``)."""
    if moment is None:
        return "—"
    return moment.astimezone().strftime("%a %d %b %Y %H:%M")


def describe_patient(patient: PatientView) -> str:
    parts = [patient.code]
    if patient.name:
        parts.append(patient.name)
    if patient.birth_year:
        parts.append(f"b. {patient.birth_year}")
    if patient.norwood_grade:
        parts.append(f"Norwood {patient.norwood_grade.value}")
    return " · ".join(parts)


class StartScreen(Screen[None]):
    """See who is signed in, choose the patient, see the course, start or resume a session."""

    CSS_PATH = "../styles/start.tcss"
    AUTO_FOCUS = "#patients"

    VERTICAL_BREAKPOINTS = [(0, "-short"), (28, "-tall")]  # noqa: RUF012 - Textual reads it per class

    BINDINGS: ClassVar[list[BindingType]] = [
        # The main keys first: a narrow footer cuts from the right.
        Binding("s", "start_session", "Start / resume"),
        # Shown only while the chosen patient's session is open at another chair (check_action).
        Binding("t", "take_over", "Take over"),
        Binding("q", "app.request_quit", "Quit"),
        Binding("n", "new_patient", "New patient"),
        Binding("slash", "search", "Search"),
        Binding("a", "add_practitioner", "Add practitioner"),
        Binding("w", "app.switch_practitioner", "Switch practitioner", show=False),
        Binding("l", "app.lock", "Lock", show=False),
        # The course keys are listed in the due pane's title (the footer is full at 100 columns).
        Binding("c", "screening", "Screening", show=False),
        Binding("p", "photos", "Photos", show=False),
        Binding("o", "outcomes", "Outcomes", show=False),
        Binding("b", "blinded", "Blinded rating", show=False),
        Binding("d", "due", "Due list", show=False),
        Binding("e", "correct_patient", "Correct patient details", show=False),
    ]

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        protocol: TreatmentProtocol | None = None,
        tz: tzinfo | None = None,
        reports_dir: Path | None = None,
        chair: str | None = None,
    ) -> None:
        super().__init__()
        self._db = database
        #: This chair's name (the settings' ``chair.name``): a patient held by another chair is read only here.
        self._chair = chair or default_chair_name()
        self._clock = clock
        self._protocol = protocol or default_protocol()
        self._tz = tz
        #: Where course reports go (the settings' data folder's ``reports/``); ``None``: beside the database.
        self._reports_dir = reports_dir
        #: The day the due list was last read for (it is read again when the day changes).
        self._due_day: date | None = None
        self._practitioner: PractitionerView | None = None
        self.course: PatientCourse | None = None

    @property
    def practitioner(self) -> PractitionerView | None:
        """The practitioner signed in: sessions start as them (the audit trail names them as the actor)."""
        return self._practitioner

    def signed_in_as(self, signer: Signer) -> None:
        """``signer`` signed in (at start-up, switching, unlocking): the screen goes on as them."""
        self._practitioner = PractitionerView(signer.practitioner_id, signer.name, True)
        if self.is_mounted:
            self.query_one("#signed-in", Static).update(signer.name)
            self._update_course_panel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "take_over":  # offered (footer, help) only for a patient another chair holds
            return self.course is not None and self.course.held_elsewhere is not None
        return True

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield AppHeader()
        with Horizontal(id="start-body"):
            with Vertical(id="practitioner-pane", classes="pane"):
                yield Label("Practitioner", classes="pane-title")
                yield Static(self._practitioner.name if self._practitioner else "—", id="signed-in", markup=False)
                yield Static("signed in", id="signed-in-note")
                yield Button("Switch (w)", id="switch-practitioner", compact=True)
                yield Button("Lock (l)", id="lock", compact=True)
                yield Button("Add practitioner (a)", id="add-practitioner", compact=True)
            with Vertical(id="patient-pane", classes="pane"):
                yield Label("Patient", classes="pane-title")
                yield Input(placeholder="Search code or name  (/)", id="patient-search")
                yield OptionList(id="patients")
                yield Button("New patient (n)", id="new-patient", compact=True)
            with Vertical(id="course-pane", classes="pane"):
                yield Label("Course", classes="pane-title")
                yield Static("Choose a patient to see their course.", id="patient-line")
                yield Static("", id="course-label")
                yield Static("", id="course-dates")
                yield Static("", id="resume-offer")
                yield Static("", id="start-hint")
                yield Button("Start session (s)", id="start-session", variant="primary", disabled=True)
        with Vertical(id="due-pane", classes="pane"):
            with Horizontal(id="due-title"):
                yield Label("Due today and this week (d)", classes="pane-title")
                yield Static("c screening · p photos · o outcomes · b blinded rating", id="course-keys")
            yield DueList(id="due-items")
        yield Footer()

    def on_mount(self) -> None:
        self.reload_patients()
        self._update_course_panel()
        self.reload_due()
        # An app left open overnight shows the new day's due list and course dates.
        self.set_interval(DAY_CHECK_S, self._check_day)

    def offer_resume(self) -> None:
        """Once someone has signed in at start-up, before anything else: offer the session left open."""
        self._offer_resume()

    @work(group="resume-offer", exclusive=True)
    async def _offer_resume(self, *, asked: bool = False) -> None:
        """At start-up, before anything else: offer to resume a session left open (a crash, a quit).

        ``asked``: from the command palette, which says so when no session is open.
        """
        from stampside.app.chairside.session_cases import resume_offer

        try:
            offer = await asyncio.to_thread(resume_offer, self._db, self._protocol, chair=self._chair)
        except SQLAlchemyError as exc:
            self.notify(str(explain(self._db.url, exc)), title="Database", severity="error", timeout=10)
            return
        if offer is None:
            if asked:
                self.notify("No session is open: press s to start the chosen patient's next one.", title="Resume")
            return
        view = offer.view
        last = f"last stamp {format_when(offer.last_stamp_at)}" if offer.last_stamp_at is not None else "no stamp yet"
        question = (
            f"Session {view.number} of {view.planned_sessions} for {view.patient_code} is still open:\n"
            f"step {offer.step_number} of {len(self._protocol.steps)} · {offer.step_title}, {last},\n"
            f"started by {view.practitioner_name}.\n\nResume it now?"
        )

        def answered(resume: bool | None) -> None:
            if resume:
                # Resumed by whoever is signed in (they confirm its steps from now on).
                who = self.practitioner
                practitioner_id, name = (who.id, who.name) if who else (view.practitioner_id, view.practitioner_name)
                self.post_message(StartSessionRequested(practitioner_id, view.patient_id, view.id, name))
            else:
                self.select_patient(view.patient_id)

        self.app.push_screen(
            ConfirmDialog(question, confirm_label="Resume", cancel_label="Not now", safe_confirm=True),
            answered,
        )

    def _check_day(self) -> None:
        today = self._clock().astimezone(self._tz).date()
        if today != self._due_day:
            self.refresh_course()

    # -- reading storage --------------------------------------------------------------------

    def _read(self, call: Callable[[Session], T]) -> T | None:
        """Run a read use case in its own transaction; a failure is notified, not raised."""
        try:
            with self._db.Session.begin() as s:
                return call(s)
        except SQLAlchemyError as exc:
            self.notify(str(explain(self._db.url, exc)), title="Database", severity="error", timeout=10)
            return None

    def reload_patients(self, select_id: int | None = None) -> None:
        search = self.query_one("#patient-search", Input).value
        patients = self._read(lambda s: list_patients(s, search))
        if patients is None:
            return
        widget = self.query_one("#patients", OptionList)
        widget.set_options(Option(describe_patient(p), id=str(p.id)) for p in patients)
        if not patients:
            message = "No patient matches" if search.strip() else "No patients yet: press n to create one"
            widget.set_options([Option(message, disabled=True)])
        if select_id is not None:
            index = next((i for i, p in enumerate(patients) if p.id == select_id), None)
            if index is not None:
                widget.highlighted = index
            self.select_patient(select_id)

    def select_patient(self, patient_id: int | None) -> None:
        """Show ``patient_id``'s course (``None`` clears the panel); re-reads storage."""
        if patient_id is None:
            self.course = None
        else:

            def read(s: Session) -> PatientCourse | None:
                patient = get_patient(s, patient_id)
                if patient is None:
                    return None
                summary = course_summary(s, patient_id)
                last = summary.last_session_id if summary is not None else None
                held = holder(s, PATIENT, str(patient_id))
                elsewhere = held is not None and held.chair not in (self._chair, LEGACY_CHAIR)
                return PatientCourse(
                    patient,
                    summary,
                    find_open_session(s, patient_id=patient_id),
                    get_session(s, last) if last is not None else None,
                    tuple(corrections_of(s, "patients", [patient_id]).get(patient_id, [])),
                    held if elsewhere else None,
                )

            self.course = self._read(read)
        self._update_course_panel()

    def refresh_course(self) -> None:
        """Re-read the selected patient's course (after a session was started elsewhere), and what is due."""
        self.select_patient(self.course.patient.id if self.course else None)
        self.reload_due()

    def reload_due(self) -> None:
        """Re-read what is due today and this week (in a worker)."""
        today = self._clock().astimezone(self._tz).date()
        self._due_day = today
        self.query_one("#due-items", DueList).reload(self._db, self._protocol, today, self._tz)

    def _update_course_panel(self) -> None:
        if not self.is_mounted:
            return
        self.refresh_bindings()  # t (take over) is offered only for a patient another chair holds
        course = self.course
        button = self.query_one("#start-session", Button)
        resume = self.query_one("#resume-offer", Static)
        hint = self.query_one("#start-hint", Static)
        if course is None:
            self.query_one("#patient-line", Static).update("Choose a patient to see their course.")
            self.query_one("#course-label", Static).update("")
            self.query_one("#course-dates", Static).update("")
            resume.update("")
            resume.remove_class("shown")
            hint.update("")
            button.label = "Start session (s)"
            button.disabled = True
            return
        summary = course.summary
        line = describe_patient(course.patient)
        if course.corrections:
            newest = course.corrections[-1]
            earlier = len(course.corrections) - 1
            line += f"\n✎ {newest.note(self._tz)}" + (f" ({earlier} earlier)" if earlier else "")
        self.query_one("#patient-line", Static).update(line)
        if summary is None:
            label = "session 1 of 6 (new course)"
            dates = "Last session: —\nNext due:     now"
        else:
            label = summary.label
            due = "now" if summary.next_due_at is None and not summary.done else format_when(summary.next_due_at)
            dates = f"Last session: {format_when(summary.last_session_at)}\nNext due:     {due}"
            closed = course.last_session.closed_signature if course.last_session is not None else None
            if closed is not None:
                dates += f"\nClosed:       {manifestation(closed, self._tz)}"
        self.query_one("#course-label", Static).update(label[:1].upper() + label[1:])
        self.query_one("#course-dates", Static).update(dates)
        held = course.held_elsewhere
        if held is not None:
            resume.update(
                f"Session {held.session_number} is open at {held.chair} by {held.practitioner} "
                f"since {format_when(held.since)}: read only here."
            )
            resume.add_class("shown")
            button.label = f"Open at {held.chair}"
        elif course.open_session is not None:
            opened = course.open_session
            resume.update(
                f"Session {opened.number} is still open: started {format_when(opened.started_at)} "
                f"by {opened.practitioner_name}, not finished."
            )
            resume.add_class("shown")
            button.label = f"Resume session {opened.number} (s)"
        else:
            resume.update("")
            resume.remove_class("shown")
            button.label = "Start session (s)"
        if self.practitioner is None:
            hint.update("Sign in first (w).")
        elif held is not None:
            hint.update(f"Resume or finish it at {held.chair},\nor take it over here (t).")
        else:
            action = str(button.label).removesuffix(" (s)").lower()
            hint.update(f"As {self.practitioner.name}.\nPress s to {action}.")
        button.disabled = self.practitioner is None or held is not None

    # -- events ----------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#patients")
    def _patient_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.select_patient(int(event.option.id))

    @on(OptionList.OptionSelected, "#patients")
    def _patient_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.select_patient(int(event.option.id))
            self.query_one("#start-session", Button).focus()

    @on(Input.Changed, "#patient-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.reload_patients()

    def key_escape(self) -> None:
        if self.focused is self.query_one("#patient-search", Input):
            self.query_one("#patients", OptionList).focus()

    @on(Input.Submitted, "#patient-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        patients = self.query_one("#patients", OptionList)
        patients.focus()
        if patients.highlighted is None and patients.option_count:
            patients.highlighted = 0

    @on(DueList.Chosen)
    def _due_chosen(self, event: DueList.Chosen) -> None:
        search = self.query_one("#patient-search", Input)
        with search.prevent(Input.Changed):
            search.value = ""
        self.reload_patients(select_id=event.item.patient_id)
        self.query_one("#start-session", Button).focus()

    @on(Button.Pressed, "#add-practitioner")
    def _add_practitioner_pressed(self) -> None:
        self.action_add_practitioner()

    @on(Button.Pressed, "#switch-practitioner")
    async def _switch_pressed(self) -> None:
        await self.app.run_action("app.switch_practitioner")

    @on(Button.Pressed, "#lock")
    async def _lock_pressed(self) -> None:
        await self.app.run_action("app.lock")

    @on(Button.Pressed, "#new-patient")
    def _new_patient_pressed(self) -> None:
        self.action_new_patient()

    @on(Button.Pressed, "#start-session")
    def _start_pressed(self) -> None:
        self.action_start_session()

    # -- actions ---------------------------------------------------------------------------

    def action_search(self) -> None:
        self.query_one("#patient-search", Input).focus()

    def action_add_practitioner(self) -> None:
        def save(name: str) -> PractitionerView:
            with self._db.Session.begin() as s:
                return add_practitioner(s, name)

        def added(practitioner: PractitionerView | None) -> None:
            if practitioner is not None:
                self.notify(
                    f"Practitioner {practitioner.name} added: they choose their PIN when they first sign in (w)"
                )

        self.app.push_screen(NewPractitionerDialog(_storage_errors(self._db, save)), added)

    def action_new_patient(self) -> None:
        def save(patient: NewPatient) -> PatientView:
            with self._db.Session.begin() as s:
                return create_patient(s, patient, now=self._clock())

        def created(patient: PatientView | None) -> None:
            if patient is not None:
                search = self.query_one("#patient-search", Input)
                with search.prevent(Input.Changed):
                    search.value = ""
                self.reload_patients(select_id=patient.id)
                self.query_one("#patients", OptionList).focus()
                self.notify(f"Patient {patient.code} created")

        self.app.push_screen(NewPatientDialog(_storage_errors(self._db, save)), created)

    def action_start_session(self) -> None:
        if self.practitioner is None:
            self.notify("Sign in first (w).", severity="warning")
            return
        if self.course is None:
            self.notify("Choose a patient first.", severity="warning")
            return
        if self.course.held_elsewhere is not None:
            text = SessionClaimed(self.course.held_elsewhere).describe(self._tz)
            text += " If that chair cannot go on with it, t takes it over here."
            self.notify(text, title="Open at another chair", severity="warning", timeout=10)
            return
        resume = self.course.open_session.id if self.course.open_session else None
        self.post_message(
            StartSessionRequested(self.practitioner.id, self.course.patient.id, resume, self.practitioner.name)
        )

    def action_take_over(self) -> None:
        """Take the chosen patient's session over from the chair that holds it: a reason, the PIN, resumed here."""
        if self.practitioner is None:
            self.notify("Sign in first (w).", severity="warning")
            return
        if self.course is None:
            self.notify("Choose a patient first.", severity="warning")
            return
        held = self.course.held_elsewhere
        if held is None:
            self.notify(
                "Nothing to take over: the chosen patient's session is not open at another chair.", title="Take over"
            )
            return
        self._take_over(held, self.course.patient.id, self.practitioner)

    @work(group="take-over", exclusive=True)
    async def _take_over(self, held: ClaimHolder, patient_id: int, who: PractitionerView) -> None:
        what = f"Session {held.session_number} of {held.patient_code}"
        since = format_when(held.since)
        at = self._clock()

        def check(reason: str) -> object:
            return make_course_override(CourseGate.SESSION_AT_ANOTHER_CHAIR, reason, by=who.name, at=at)

        reason: str | None = await self.app.push_screen(
            CourseOverrideDialog(
                f"take over session {held.session_number} from {held.chair}",
                f"{what} is open at {held.chair} by {held.practitioner} since {since}.\n"
                f"Make sure no one is stamping at {held.chair}: once taken over, the session goes on "
                f"here, and {held.chair} can no longer resume or finish it.",
                check,
                who=who.name,
                placeholder=f"e.g. {held.chair}'s computer died, patient moved",
                submit_label="Take over",
            ),
            wait_for_dismiss=True,
        )
        if reason is None:
            self.notify("Not taken over.", title="Take over")
            return
        signer: Signer | None = None
        signed_in = getattr(self.app, "signed_in", None)
        if signed_in is not None:
            signer = await self.app.push_screen(
                signed_in.sign_dialog(
                    f"Take over {what} from {held.chair} ({held.practitioner}, since {since}) to {self._chair}\n"
                    f"Why: {clean_reason(reason)}",
                    SignedAct.COURSE_OVERRIDE,
                ),
                wait_for_dismiss=True,
            )
            if signer is None:
                self.notify("Not taken over: it is done only once signed with your PIN.", severity="warning")
                return

        def store() -> SessionView:
            with self._db.Session.begin() as s:
                return take_over_session(
                    s,
                    held.session_id,
                    seen_chair=held.chair,
                    reason=reason,
                    by=who.name,
                    now=self._clock(),
                    chair=self._chair,
                    signer=signer,
                    tz=self._tz,
                )

        try:
            view = await asyncio.to_thread(store)
        except (SessionError, OverrideRefused) as exc:
            self.notify(str(exc), title="Not taken over", severity="error", timeout=10)
            self.refresh_course()
            return
        except SQLAlchemyError as exc:
            self.notify(str(explain(self._db.url, exc)), title="Database", severity="error", timeout=10)
            return
        self.notify(f"{what} taken over from {held.chair}: it goes on here.", title="Take over")
        self.refresh_course()
        self.post_message(StartSessionRequested(who.id, patient_id, view.id, who.name))

    # -- the course screens ------------------------------------------------------------------

    def _course_context(self) -> CourseContext | None:
        if self.practitioner is None:
            self.notify("Sign in first (w).", severity="warning")
            return None
        signed_in = getattr(self.app, "signed_in", None)
        return CourseContext(
            self._db,
            self._protocol,
            self._clock,
            self.practitioner.name,
            tz=self._tz,
            sign=signed_in.sign_dialog if signed_in is not None else None,
        )

    def _open_for_patient(self, make: Callable[[CourseContext, int], Screen[Any]]) -> None:
        context = self._course_context()
        if context is None:
            return
        if self.course is None:
            self.notify("Choose a patient first.", severity="warning")
            return
        self.app.push_screen(make(context, self.course.patient.id), lambda _: self.refresh_course())

    def action_screening(self) -> None:
        self._open_for_patient(ScreeningScreen)

    def action_photos(self) -> None:
        self._open_for_patient(PhotosScreen)

    def action_outcomes(self) -> None:
        self._open_for_patient(OutcomesScreen)

    def action_blinded(self) -> None:
        context = self._course_context()
        if context is not None:
            seed = int(self._clock().timestamp())
            self.app.push_screen(BlindedRatingScreen(context, seed), lambda _: self.refresh_course())

    def action_resume(self) -> None:
        """Offer the open session again, as at start-up (the command palette's "Resume open session")."""
        self._offer_resume(asked=True)

    @work(group="course-report", exclusive=True)
    async def action_course_report(self) -> None:
        """The chosen patient's course report (HTML) into the data folder's ``reports/``."""
        from stampside.app.chairside.records import write_course_report

        if self.course is None:
            self.notify("Choose a patient first.", severity="warning")
            return
        now = self._clock()
        try:
            written = await asyncio.to_thread(
                write_course_report,
                self._db,
                self.course.patient.id,
                protocol=self._protocol,
                today=now.astimezone(self._tz).date(),
                now=now.astimezone(self._tz),
                tz=self._tz,
                folder=self._reports_dir,
            )
        except ValueError as exc:
            self.notify(str(exc), title="Course report", severity="warning")
            return
        except SQLAlchemyError as exc:
            self.notify(str(explain(self._db.url, exc)), title="Database", severity="error", timeout=10)
            return
        except OSError as exc:
            self.notify(f"The report could not be written: {exc}", title="Course report", severity="error")
            return
        self.notify(f"{written.what.capitalize()} written:\n{written.path}", title="Course report", timeout=10)

    def action_correct_patient(self) -> None:
        """Correct the chosen patient's details: a form with them and a reason, signed with the PIN."""
        if self.practitioner is None:
            self.notify("Sign in first (w).", severity="warning")
            return
        if self.course is None:
            self.notify("Choose a patient first.", severity="warning")
            return
        self._correct_patient(self.course.patient, self.practitioner.name)

    @work(group="patient-correction", exclusive=True)
    async def _correct_patient(self, patient: PatientView, who: str) -> None:
        grade = patient.norwood_grade.value if patient.norwood_grade else ""
        fields = [
            FormField("name", "Name (optional)", patient.name or ""),
            FormField(
                "birth-year", "Year of birth", str(patient.birth_year or ""), placeholder="e.g. 1984", row="more"
            ),
            FormField("grade", "Norwood grade", grade, tuple(GRADE_CHOICES), row="more"),
        ]

        def check(values: FormValues) -> NewPatient:
            chosen = values.get("grade")
            return NewPatient.parse(
                patient.code,
                name=str(values.get("name") or ""),
                birth_year=str(values.get("birth-year") or ""),
                norwood_grade=chosen if isinstance(chosen, str) else None,
            )

        described = describe_patient(patient)
        corrected: Corrected[NewPatient] | None = await self.app.push_screen(
            CorrectionDialog(f"Correct: patient {patient.code}", described, fields, check, who=who),
            wait_for_dismiss=True,
        )
        if corrected is None:
            return
        signer: Signer | None = None
        signed_in = getattr(self.app, "signed_in", None)
        if signed_in is not None:
            what = f"Correction of the details of {described}\nWhy: {' '.join(corrected.reason.split())}"
            signer = await self.app.push_screen(
                signed_in.sign_dialog(what, SignedAct.CORRECTION), wait_for_dismiss=True
            )
            if signer is None:
                self.notify("Not saved: it is stored only once signed with your PIN.", severity="warning")
                return

        def store() -> CorrectionView:
            with self._db.Session.begin() as s:
                return correct_patient(
                    s,
                    patient.id,
                    corrected.value,
                    reason=corrected.reason,
                    by=who,
                    now=self._clock(),
                    signer=signer,
                )

        try:
            done = await asyncio.to_thread(store)
        except (CorrectionError, CorrectionRefused, PatientInputError) as exc:
            self.notify(str(exc), title="Correction", severity="error", timeout=10)
            return
        except SQLAlchemyError as exc:
            self.notify(str(explain(self._db.url, exc)), title="Database", severity="error", timeout=10)
            return
        self.reload_patients(select_id=patient.id)
        self.notify(f"{patient.code} corrected: {describe_changes(done.changes)}", title="Correction")

    def action_due(self) -> None:
        due = self.query_one("#due-items", DueList)
        due.focus()
        if due.highlighted is None and due.items:
            due.highlighted = 0


def _storage_errors(database: Database, call: Callable[P, T]) -> Callable[P, T]:
    """``call`` with database failures turned into :class:`StorageError` messages for people."""

    def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return call(*args, **kwargs)
        except SQLAlchemyError as exc:
            raise explain(database.url, exc) from None

    return wrapped
