"""Starting a session inside its course, with the course's checks, as the app does when ``s`` is pressed.

:meth:`CourseStarter.open` runs in the app's start-session worker:

1. A patient without an active course gets one through the screening gate
   (:func:`~stampside.app.storage.courses.start_screened_course`, in its own transaction). Refused
   (:class:`NotEligibleError`): the reason is shown and the screening form offered; once the
   screening passes (or is overridden) the start goes on.
2. The session is opened with its schedule and photo checks
   (:func:`~stampside.app.storage.schedule.open_scheduled_session`). An early or late start
   (:class:`ConfirmationNeeded`) is confirmed in a dialog and stored as a deviation with who
   confirmed it; an incomplete baseline set before session 1 (:class:`PhotosIncomplete`)
   offers the photo screen or an override with a typed reason. Either is signed with the PIN
   (overridden) and stored with its signature, with the session.

Opening or resuming holds the patient for this chair (``chair``, the settings' ``chair.name``):
while another chair has the patient's session open,
:class:`~stampside.app.storage.claims.SessionClaimed` passes through and the app says who has it.

Every storage call runs in a thread; every refusal is a message, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from textual.app import App
from textual.screen import Screen

from stampside.app.domain.course_gates import CourseGateResult, CourseOverride, OverrideRefused
from stampside.app.domain.gates import clean_reason
from stampside.app.domain.schedule import Deviation, DeviationRefused
from stampside.app.domain.signatures import SignedAct, Signer
from stampside.app.domain.steps import Clock
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.courses import NotEligibleError, course_summary, start_screened_course
from stampside.app.storage.database import Database
from stampside.app.storage.errors import explain
from stampside.app.storage.schedule import ConfirmationNeeded, PhotosIncomplete, open_scheduled_session
from stampside.app.storage.sessions import SessionView, resume_session
from stampside.app.tui.dialogs.choice import ChoiceDialog
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.course_override import CourseOverrideDialog
from stampside.app.tui.screens.course_base import CourseContext, SignWith
from stampside.app.tui.screens.photos import PhotosScreen
from stampside.app.tui.screens.screening import ScreeningScreen

T = TypeVar("T")


class CourseStarter:
    """Opens (or resumes) a patient's session for the app, asking what the course's checks need."""

    def __init__(
        self,
        app: App[Any],
        database: Database,
        *,
        protocol: TreatmentProtocol,
        clock: Clock,
        tz: tzinfo | None = None,
        photo_root: Path | None = None,
        sign: SignWith | None = None,
        chair: str | None = None,
    ) -> None:
        self.app = app
        self.database = database
        self.protocol = protocol
        self.clock = clock
        self.tz = tz
        self.photo_root = photo_root
        #: Makes the dialog that signs an override with the signed-in practitioner's PIN (None: unsigned).
        self.sign = sign
        #: This chair's name, held with the patient while the session is open (None: the host name).
        self.chair = chair

    def context(self, who: str) -> CourseContext:
        return CourseContext(
            self.database, self.protocol, self.clock, who, tz=self.tz, photo_root=self.photo_root, sign=self.sign
        )

    async def _signed(self, what: str, act: SignedAct) -> tuple[bool, Signer | None]:
        """``(True, signer)``: signed with the PIN; ``(False, None)``: cancelled; ``(True, None)``: nothing signs."""
        if self.sign is None:
            return True, None
        signer = await self._ask(self.sign(what, act))
        return signer is not None, signer

    def _run(self, call: Callable[[Session], T]) -> T:
        try:
            with self.database.Session.begin() as s:
                return call(s)
        except SQLAlchemyError as exc:
            raise explain(self.database.url, exc) from None

    async def _ask(self, screen: Screen[Any]) -> Any:
        return await self.app.push_screen_wait(screen)

    async def open(
        self, *, patient_id: int, practitioner_id: int, who: str, resume_session_id: int | None
    ) -> tuple[SessionView, str] | None:
        """The session opened (``"started"``) or found (``"resumed"``); ``None`` when the practitioner gave up.

        Storage and course errors (``CourseError``, ``SessionError``, ``StorageError``) pass through, and
        ``SessionClaimed`` when another chair has the patient's session open.
        """
        if resume_session_id is not None:
            view = await asyncio.to_thread(
                self._run, lambda s: resume_session(s, resume_session_id, now=self.clock(), chair=self.chair)
            )
            return view, "resumed"
        course_id = await self._course(patient_id, who)
        if course_id is None:
            return None
        deviation: Deviation | None = None
        override: CourseOverride | None = None
        signer: Signer | None = None
        while True:
            try:
                view = await asyncio.to_thread(
                    self._run, self._opener(course_id, practitioner_id, deviation, override, signer)
                )
                return view, "started"
            except ConfirmationNeeded as exc:
                check = exc.check
                due = f" (due {check.window.due_on:%a %d %b %Y})" if check.window is not None else ""
                at = self.clock()

                def confirm(reason: str, at: Any = at, check: Any = check) -> Deviation:
                    return check.confirm(by=who, at=at, reason=reason)  # type: ignore[no-any-return]

                reason = await self._ask(
                    CourseOverrideDialog(
                        f"Session {check.number} {check.timing.value}",
                        f"Session {check.number} would start {check.message}{due}",
                        confirm,
                        who=who,
                        placeholder="e.g. patient away next week, agreed at the last visit",
                        submit_label="Start anyway",
                    )
                )
                if reason is None:
                    self.app.notify("Session not started.", title="Schedule")
                    return None
                try:
                    deviation = confirm(reason)
                except DeviationRefused as refused:
                    self.app.notify(str(refused), title="Cannot start", severity="error", timeout=8)
                    return None
                go, signer = await self._signed(
                    f"Start session {check.number} {check.message}{due}: {clean_reason(reason)}",
                    SignedAct.SCHEDULE_DEVIATION,
                )
                if not go:
                    self.app.notify(
                        "Session not started: the start outside the window was not signed.", title="Schedule"
                    )
                    return None
            except PhotosIncomplete as exc:
                gate = exc.gate
                answer = await self._ask(
                    ChoiceDialog(
                        f"{gate.message}.",
                        [("p", "Register photos"), ("o", "Override")],
                        title="Baseline photos",
                        default="p",
                    )
                )
                if answer == "p":
                    await self._ask(PhotosScreen(self.context(who), patient_id, time_point="baseline"))
                elif answer == "o":
                    at = self.clock()

                    def check_reason(reason: str, at: Any = at, gate: CourseGateResult = gate) -> object:
                        return gate.overridden(reason, by=who, at=at)

                    reason = await self._ask(
                        CourseOverrideDialog("Baseline photos", gate.message, check_reason, who=who)
                    )
                    if reason is None:
                        return None
                    try:
                        override = gate.overridden(reason, by=who, at=at).override
                    except OverrideRefused as refused:
                        self.app.notify(str(refused), title="Cannot start", severity="error", timeout=8)
                        return None
                    go, signer = await self._signed(
                        f"Override of the baseline photos: {clean_reason(reason)}\nIt failed: {gate.message}",
                        SignedAct.COURSE_OVERRIDE,
                    )
                    if not go:
                        self.app.notify("Session not started: the override was not signed.", title="Photos")
                        return None
                else:
                    self.app.notify("Session not started.", title="Photos")
                    return None

    def _opener(
        self,
        course_id: int,
        practitioner_id: int,
        deviation: Deviation | None,
        override: CourseOverride | None,
        signer: Signer | None,
    ) -> Callable[[Session], SessionView]:
        def opener(s: Session) -> SessionView:
            return open_scheduled_session(
                s,
                course_id,
                protocol=self.protocol,
                practitioner_id=practitioner_id,
                now=self.clock(),
                tz=self.tz,
                deviation=deviation,
                photo_override=override,
                signer=signer,
                chair=self.chair,
            )

        return opener

    async def _course(self, patient_id: int, who: str) -> int | None:
        """The patient's active course, started through the screening gate if there is none."""
        while True:

            def course(s: Session) -> int:
                summary = course_summary(s, patient_id)
                if summary is not None and summary.status == "active":
                    return summary.course_id
                return start_screened_course(
                    s, patient_id, protocol=self.protocol, now=self.clock(), today=self._today()
                )

            try:
                return await asyncio.to_thread(self._run, course)
            except NotEligibleError as exc:
                answer = await self._ask(
                    ConfirmDialog(
                        f"The course cannot start: {exc.eligibility.message}.\n"
                        "Open the screening form? (A failed screening can be overridden there with a reason.)",
                        confirm_label="Screening",
                        cancel_label="Not now",
                        safe_confirm=True,
                    )
                )
                if not answer:
                    self.app.notify(str(exc), title="Cannot start", severity="warning", timeout=8)
                    return None
                screening = await self._ask(ScreeningScreen(self.context(who), patient_id))
                if screening is None or not screening.ok:
                    self.app.notify(
                        "The course cannot start until the screening passes or is overridden.",
                        title="Screening",
                        severity="warning",
                        timeout=8,
                    )
                    return None

    def _today(self) -> date:
        return self.clock().astimezone(self.tz).date()
