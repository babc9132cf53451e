"""Use cases on treatment sessions: open, attach the device, find the open one, finish or abandon.

A session is session ``number`` of its course, walked through one protocol version by the
practitioner chosen at the start. It stays ``open`` until it is finished or abandoned, so
after a crash :func:`find_open_session` offers it for resuming. Its treated zones are
stored with the area and target density its coverage used.

Several chairs share one database: while open, a session holds its patient, device and head
(:mod:`stampside.app.storage.claims`), so a second chair cannot open or resume the same patient's
session (:func:`open_session`, :func:`resume_session`) nor attach a device or head another open
session uses (:func:`attach_device`); it gets :class:`~stampside.app.storage.claims.SessionClaimed`,
naming the chair, the practitioner and since when. ``chair`` is this chair's name (the settings'
``chair.name``; ``None``: the computer's host name).

A session whose chair is gone (its computer died or was renamed, the practitioner moved to
another room) is taken over deliberately: :func:`take_over_session` moves its claims to this chair
only if the chair the practitioner saw still holds them, and records it as a signed override
(``course_overrides``, gate ``session_at_another_chair``: who, when, why, from which chair to which).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from stampside.app.domain.course_gates import CourseGate, make_course_override
from stampside.app.domain.signatures import SignatureMark, SignedAct, Signer
from stampside.app.domain.steps import KnownLot
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.domain.zones import Zone
from stampside.app.storage.claims import (
    DEVICE,
    HEAD,
    LEGACY_CHAIR,
    PATIENT,
    SessionClaimed,
    chair_label,
    claim,
    default_chair_name,
    holder,
    lock_patient,
    move_claims,
    release_all,
    release_other,
    take_over_legacy,
)
from stampside.app.storage.heads import register_head
from stampside.app.storage.schema import (
    Course,
    CourseOverrideRow,
    Device,
    DeviceHead,
    Patient,
    Practitioner,
    SessionZone,
    StepRecordRow,
    TreatmentSession,
)
from stampside.app.storage.signatures import RECORD_TABLES, sign_record, signatures_of


class SessionError(ValueError):
    """A session cannot be opened or changed as asked; the message says why."""


class TakeOverRefused(SessionError):
    """A take-over found the session no longer where the practitioner saw it; nothing was changed."""


@dataclass(frozen=True, slots=True)
class ZoneSetting:
    """A treated zone with the area (cm²) and target density (stamps/cm²) its coverage uses."""

    zone: Zone
    area_cm2: float
    target_density: float | None = None


@dataclass(frozen=True, slots=True)
class SessionView:
    """A stored treatment session, detached from the database."""

    id: int
    course_id: int
    patient_id: int
    patient_code: str
    number: int
    planned_sessions: int
    protocol_name: str
    protocol_version: str
    practitioner_id: int
    practitioner_name: str
    device_id: int | None
    device_serial: str | None
    head_id: int | None
    footprint_mm2: int | None
    started_at: datetime
    ended_at: datetime | None
    status: str
    zones: tuple[ZoneSetting, ...]
    #: The zone being stamped when the session was last left (None: not chosen yet).
    active_zone: Zone | None = None
    #: The patient's name, if recorded (the code is the pseudonym).
    patient_name: str | None = None
    #: The signature of whoever closed it (a finished session closed with a PIN; None otherwise).
    closed_signature: SignatureMark | None = None

    @property
    def label(self) -> str:
        return f"session {self.number} of {self.planned_sessions}"


def get_session(session: Session, session_id: int) -> SessionView:
    """The session with this id; :class:`SessionError` if there is none."""
    row = session.execute(
        select(TreatmentSession, Course, Patient.code, Practitioner.name, Patient.name)
        .join(Course, TreatmentSession.course_id == Course.id)
        .join(Patient, Course.patient_id == Patient.id)
        .join(Practitioner, TreatmentSession.practitioner_id == Practitioner.id)
        .where(TreatmentSession.id == session_id)
    ).one_or_none()
    if row is None:
        raise SessionError(f"no treatment session with id {session_id}")
    treatment, course, code, practitioner, patient_name = row
    serial = head_id = None
    if treatment.device_id is not None:
        serial = session.scalar(select(Device.serial).where(Device.id == treatment.device_id))
    if treatment.device_head_id is not None:
        head_id = session.scalar(select(DeviceHead.head_id).where(DeviceHead.id == treatment.device_head_id))
    zones = tuple(
        ZoneSetting(Zone(zone.zone), zone.area_cm2, zone.target_density)
        for zone in session.scalars(
            select(SessionZone).where(SessionZone.session_id == session_id).order_by(SessionZone.zone)
        )
    )
    closed = None
    if treatment.status == "finished":
        signed = signatures_of(session, RECORD_TABLES[SignedAct.SESSION_CLOSE], [treatment.id]).get(treatment.id)
        closed = signed[-1].mark if signed else None
    return SessionView(
        id=treatment.id,
        course_id=course.id,
        patient_id=course.patient_id,
        patient_code=code,
        number=treatment.number,
        planned_sessions=course.planned_sessions,
        protocol_name=treatment.protocol_name,
        protocol_version=treatment.protocol_version,
        practitioner_id=treatment.practitioner_id,
        practitioner_name=practitioner,
        device_id=treatment.device_id,
        device_serial=serial,
        head_id=head_id,
        footprint_mm2=treatment.footprint_mm2,
        started_at=treatment.started_at,
        ended_at=treatment.ended_at,
        status=treatment.status,
        zones=zones,
        active_zone=Zone.from_wire(treatment.active_zone) if treatment.active_zone is not None else None,
        patient_name=patient_name,
        closed_signature=closed,
    )


def open_session(
    session: Session,
    course_id: int,
    *,
    protocol: TreatmentProtocol,
    practitioner_id: int,
    now: datetime,
    zones: Iterable[ZoneSetting] = (),
    chair: str | None = None,
) -> SessionView:
    """Open the next session of an active course; refused while another of its sessions is open.

    The session holds its patient (a ``session_claims`` row, in this transaction): while the
    patient's session is open at another chair, :class:`SessionClaimed` names who has it.
    """
    patient_id = session.scalar(select(Course.patient_id).where(Course.id == course_id))
    if patient_id is None:
        raise SessionError(f"no course with id {course_id}")
    # A second chair opening this patient's session waits here, before it writes anything.
    lock_patient(session, patient_id)
    course = session.get_one(Course, course_id)
    if course.status != "active":
        raise SessionError(f"the course is {course.status}; start a new course for this patient")
    practitioner = session.get(Practitioner, practitioner_id)
    if practitioner is None or not practitioner.active:
        raise SessionError("choose an active practitioner to open the session")
    chair = _chair(chair)
    held = holder(session, PATIENT, str(patient_id))
    if held is not None and held.chair not in (chair, LEGACY_CHAIR):
        raise SessionClaimed(held)
    still_open = session.scalar(
        select(TreatmentSession.number).where(
            TreatmentSession.course_id == course_id, TreatmentSession.status == "open"
        )
    )
    if still_open is not None:
        raise SessionError(f"session {still_open} of this course is still open; resume or abandon it first")
    finished = session.scalar(
        select(func.count(TreatmentSession.id)).where(
            TreatmentSession.course_id == course_id, TreatmentSession.status == "finished"
        )
    )
    number = (finished or 0) + 1
    if number > course.planned_sessions:
        raise SessionError(f"all {course.planned_sessions} sessions of this course are done")
    treatment = TreatmentSession(
        course_id=course_id,
        number=number,
        protocol_name=protocol.name,
        protocol_version=protocol.version,
        practitioner_id=practitioner_id,
        started_at=now,
        status="open",
    )
    session.add(treatment)
    session.flush()
    # The database's UNIQUE (kind, claim_key) is what refuses a second open session of the patient.
    claim(session, treatment.id, PATIENT, str(patient_id), chair=chair, now=now)
    set_zones(session, treatment.id, zones)
    return get_session(session, treatment.id)


def resume_session(session: Session, session_id: int, *, now: datetime, chair: str | None = None) -> SessionView:
    """The open session ``session_id``, to go on with at this chair.

    Refused with :class:`SessionClaimed` while another chair holds the patient (it is read only
    here). A session left open before claims existed (chair ``unknown``) is taken over by this
    chair; one that holds nothing (a second open session an old version left) claims its patient
    now. A session no longer open is returned as it is.
    """
    patient_id = session.scalar(
        select(Course.patient_id)
        .join(TreatmentSession, TreatmentSession.course_id == Course.id)
        .where(TreatmentSession.id == session_id)
    )
    if patient_id is None:
        raise SessionError(f"no treatment session with id {session_id}")
    lock_patient(session, patient_id)
    view = get_session(session, session_id)
    if view.status != "open":
        return view
    chair = _chair(chair)
    key = str(patient_id)
    held = holder(session, PATIENT, key)
    if held is None:
        claim(session, session_id, PATIENT, key, chair=chair, now=now)
    elif held.session_id == session_id and held.chair == LEGACY_CHAIR:
        if not take_over_legacy(session, session_id, PATIENT, key, chair=chair):
            taken = holder(session, PATIENT, key)
            if taken is not None and taken.chair != chair:
                raise SessionClaimed(taken)
    elif held.session_id != session_id or held.chair != chair:
        raise SessionClaimed(held)
    return view


def take_over_session(
    session: Session,
    session_id: int,
    *,
    seen_chair: str,
    reason: str,
    by: str,
    now: datetime,
    chair: str | None = None,
    signer: Signer | None = None,
    tz: tzinfo | None = None,
) -> SessionView:
    """Move open session ``session_id`` from ``seen_chair`` (where the practitioner saw it) to this chair.

    For a chair that cannot go on with it (its computer died or was renamed, the practitioner
    moved to another room). Every claim the session holds at ``seen_chair`` (its patient, stamp and
    head) becomes ``chair``'s, in one compare-and-set (:func:`~stampside.app.storage.claims.move_claims`),
    and the take-over is recorded in this transaction as an override of the course gate
    ``session_at_another_chair`` (``course_overrides``, audited): ``reason``, ``by`` and ``now``,
    and as its failure which chair held the session, by whom and since when, and which chair took
    it. ``signer`` (the practitioner's PIN): signed, meaning overridden. The session is then
    resumed here (:func:`resume_session`).

    Refused, nothing changed: :class:`~stampside.app.domain.gates.OverrideRefused` for a reason that
    will not do; :class:`TakeOverRefused` when the session is no longer open, or no longer held at
    ``seen_chair`` (another chair took it over or resumed it meanwhile), or is this chair's already.
    ``tz``: the time zone of the times in those messages (``None``: the computer's).
    """
    patient_id = session.scalar(
        select(Course.patient_id)
        .join(TreatmentSession, TreatmentSession.course_id == Course.id)
        .where(TreatmentSession.id == session_id)
    )
    if patient_id is None:
        raise SessionError(f"no treatment session with id {session_id}")
    lock_patient(session, patient_id)
    view = get_session(session, session_id)
    seen, here = chair_label(seen_chair), _chair(chair)
    what = f"Session {view.number} of {view.patient_code}"
    if view.status != "open":
        raise TakeOverRefused(f"{what} is {view.status} now: there is nothing to take over; nothing was changed.")
    if seen == here:
        raise TakeOverRefused(f"{what} is held by this chair ({here}) already: resume it with s.")
    held = holder(session, PATIENT, str(patient_id))
    since = held.since if held is not None and held.session_id == session_id else view.started_at
    failure = (
        f"{what} was open at {seen} by {view.practitioner_name} since {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC; "
        f"taken over at {here}"
    )
    override = make_course_override(CourseGate.SESSION_AT_ANOTHER_CHAIR, reason, by=by, at=now, failure=failure)
    if move_claims(session, session_id, seen_chair=seen, chair=here, now=now) == 0:
        raise TakeOverRefused(_not_taken_over(session, view, seen, tz))
    row = CourseOverrideRow(
        course_id=view.course_id,
        session_id=session_id,
        gate=override.gate.value,
        reason=override.reason[:1000],
        made_by=override.by[:120],
        made_at=override.at,
        failure=override.failure[:2000],
    )
    session.add(row)
    session.flush()
    if signer is not None:
        sign_record(session, signer, SignedAct.COURSE_OVERRIDE, row.id, at=now, patient_id=patient_id)
    return resume_session(session, session_id, now=now, chair=here)


def _not_taken_over(session: Session, view: SessionView, seen: str, tz: tzinfo | None) -> str:
    """Why no claim of ``view``'s session was at ``seen`` any more (read again, as committed now)."""
    what = f"Session {view.number} of {view.patient_code}"
    status = session.scalar(select(TreatmentSession.status).where(TreatmentSession.id == view.id))
    if status != "open":
        return f"{what} is {status} now: there is nothing to take over; nothing was changed."
    held = holder(session, PATIENT, str(view.patient_id))
    if held is not None and held.session_id == view.id:
        return (
            f"{what} is no longer open at {seen}: {held.chair} has it since "
            f"{held.since.astimezone(tz):%a %d %b %Y %H:%M} (taken over or resumed there); nothing was changed."
        )
    return f"{what} is no longer held by {seen}: resume it with s; nothing was changed."


def _chair(chair: str | None) -> str:
    return chair_label(chair) or default_chair_name()


def _open_row(session: Session, session_id: int) -> TreatmentSession:
    treatment = session.get(TreatmentSession, session_id)
    if treatment is None:
        raise SessionError(f"no treatment session with id {session_id}")
    if treatment.status != "open":
        raise SessionError(f"session {treatment.number} is {treatment.status}; it cannot be changed")
    return treatment


def set_zones(session: Session, session_id: int, zones: Iterable[ZoneSetting]) -> None:
    """Replace the session's treated zones (the practitioner changed them or an area)."""
    _open_row(session, session_id)
    settings = {setting.zone: setting for setting in zones}
    for setting in settings.values():
        if setting.area_cm2 <= 0:
            raise SessionError(f"the area of {setting.zone.label} must be more than 0 cm²")
    # Changed in place, so the audit trail shows which zone's area or density changed.
    stored = {row.zone: row for row in session.scalars(select(SessionZone).where(SessionZone.session_id == session_id))}
    wanted = {int(zone): setting for zone, setting in settings.items()}
    for zone, row in stored.items():
        if zone not in wanted:
            session.delete(row)
    for zone, setting in wanted.items():
        existing = stored.get(zone)
        if existing is None:
            session.add(
                SessionZone(
                    session_id=session_id, zone=zone, area_cm2=setting.area_cm2, target_density=setting.target_density
                )
            )
        else:
            existing.area_cm2 = setting.area_cm2
            existing.target_density = setting.target_density
    session.flush()


def attach_device(
    session: Session,
    session_id: int,
    *,
    serial: str,
    head_id: int,
    footprint_mm2: int,
    now: datetime,
    chair: str | None = None,
) -> SessionView:
    """Record the device (already registered by the link) and head the session uses.

    The session holds them (``session_claims``, in this transaction; a device or head it held
    before is let go): a device or head another open session holds is refused with
    :class:`SessionClaimed` naming it. The claims come before anything audited is written, so on
    PostgreSQL a second chair waits on the first chair's claim and is then refused.
    """
    treatment = _open_row(session, session_id)
    device_id = session.scalar(
        select(Device.id).where(Device.serial == serial).order_by(Device.life.desc()).limit(1)
    )
    if device_id is None:
        raise SessionError(f"device {serial} has not connected yet; connect it first")
    chair = _chair(chair)
    head_key = str(head_id)
    release_other(session, session_id, DEVICE, serial)
    release_other(session, session_id, HEAD, head_key)
    claim(session, session_id, DEVICE, serial, chair=chair, now=now)
    claim(session, session_id, HEAD, head_key, chair=chair, now=now)
    treatment.device_id = device_id
    treatment.device_head_id = register_head(session, device_id, head_id, now)
    treatment.footprint_mm2 = footprint_mm2
    session.flush()
    return get_session(session, session_id)


def set_active_zone(session: Session, session_id: int, zone: Zone) -> None:
    """Remember the zone being stamped, so a resumed session goes on in it."""
    treatment = _open_row(session, session_id)
    treatment.active_zone = int(zone)
    session.flush()


def find_open_session(session: Session, *, patient_id: int | None = None) -> SessionView | None:
    """The newest session still open (left by a crash), of this patient if given."""
    query = select(TreatmentSession.id).where(TreatmentSession.status == "open")
    if patient_id is not None:
        query = query.join(Course, TreatmentSession.course_id == Course.id).where(Course.patient_id == patient_id)
    found = session.scalar(query.order_by(TreatmentSession.started_at.desc(), TreatmentSession.id.desc()).limit(1))
    return get_session(session, found) if found is not None else None


def find_resumable_session(session: Session, *, chair: str | None = None) -> SessionView | None:
    """The newest open session this chair may resume (:func:`resume_session`): its own, one left open
    before chairs were named, or one that holds no patient; never one another chair holds."""
    here = _chair(chair)
    found = session.scalars(
        select(TreatmentSession.id)
        .where(TreatmentSession.status == "open")
        .order_by(TreatmentSession.started_at.desc(), TreatmentSession.id.desc())
    ).all()
    for session_id in found:
        view = get_session(session, session_id)
        held = holder(session, PATIENT, str(view.patient_id))
        if held is None or (held.session_id == session_id and held.chair in (here, LEGACY_CHAIR)):
            return view
    return None


def finish_session(session: Session, session_id: int, *, now: datetime, signer: Signer | None = None) -> SessionView:
    """Close the session as done; the course completes with its last planned session.

    ``signer``: the practitioner who closes it with their PIN; the session is signed (approved) with it.
    """
    treatment = _open_row(session, session_id)
    treatment.status = "finished"
    treatment.ended_at = now
    session.flush()
    release_all(session, session_id)
    course = session.get_one(Course, treatment.course_id)
    if signer is not None:
        sign_record(session, signer, SignedAct.SESSION_CLOSE, treatment.id, at=now, patient_id=course.patient_id)
    finished = session.scalar(
        select(func.count(TreatmentSession.id)).where(
            TreatmentSession.course_id == course.id, TreatmentSession.status == "finished"
        )
    )
    if (finished or 0) >= course.planned_sessions:
        course.status = "completed"
    return get_session(session, session_id)


def abandon_session(session: Session, session_id: int, *, now: datetime) -> SessionView:
    """Close the session without finishing it; it does not count towards the course. It holds nothing any more."""
    treatment = _open_row(session, session_id)
    treatment.status = "abandoned"
    treatment.ended_at = now
    session.flush()
    release_all(session, session_id)
    return get_session(session, session_id)


def _earlier_sessions(session: Session, session_id: int) -> Select[TreatmentSession]:
    """The same patient's other sessions that started before this one, newest first."""
    this = session.get(TreatmentSession, session_id)
    if this is None:
        raise SessionError(f"no treatment session with id {session_id}")
    patient_id = session.scalar(select(Course.patient_id).where(Course.id == this.course_id))
    return (
        select(TreatmentSession)
        .join(Course, TreatmentSession.course_id == Course.id)
        .where(
            Course.patient_id == patient_id,
            TreatmentSession.id != session_id,
            TreatmentSession.started_at <= this.started_at,
        )
        .order_by(TreatmentSession.started_at.desc(), TreatmentSession.id.desc())
    )


def previous_lot(session: Session, session_id: int) -> KnownLot | None:
    """The lot last recorded in the patient's sessions before this one (newest step first), if any."""
    earlier = _earlier_sessions(session, session_id).subquery()
    row = session.execute(
        select(StepRecordRow.lot, StepRecordRow.lot_expiry, earlier.c.number, Course.planned_sessions)
        .join(earlier, StepRecordRow.session_id == earlier.c.id)
        .join(Course, Course.id == earlier.c.course_id)
        .where(StepRecordRow.lot.is_not(None), StepRecordRow.lot_expiry.is_not(None))
        .order_by(earlier.c.started_at.desc(), StepRecordRow.position.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    lot, expiry, number, planned = row
    return KnownLot(lot, expiry, f"session {number} of {planned}")


def previous_zone_areas(session: Session, session_id: int) -> dict[Zone, float]:
    """The zone areas of the patient's newest earlier session that stored any (measured once, reused)."""
    for earlier in session.scalars(_earlier_sessions(session, session_id)):
        areas = {
            Zone(row.zone): row.area_cm2
            for row in session.scalars(select(SessionZone).where(SessionZone.session_id == earlier.id))
        }
        if areas:
            return areas
    return {}
