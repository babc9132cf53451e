"""The guided session's use cases, as plain functions: each is one unit of work on the database.

The chairside app's controller (:mod:`stampside.app.tui.session_controller`) calls these in worker
threads and only shows what they return; the tests call them directly, without Textual.

* :func:`load_session` — what a started or resumed session needs before its screens: step
  records, treated zones and their areas, the zone being stamped, the stamps stored so far.
* :func:`save_steps` — store changed step records.
* :func:`attach_device` — the device, its head and the treated zones, once the link knows them
  (:class:`~stampside.app.storage.claims.SessionClaimed` when another chair's open session holds
  the device or the head: the link must not feed two sessions).
* :func:`store_zones`, :func:`store_active_zone` — as the practitioner edits them.
* :func:`head_used_elsewhere` — for the "unused head" gate.
* :func:`finish` — close the session as done, with the signature of who closed it.
* :func:`summary` — the summary's figures (:func:`stampside.app.storage.session_figures.session_figures`).
* :func:`override_signatures` — the signatures of the session's step overrides, for the summary.
* :func:`aftercare_card` — the aftercare card: the wash window, the clinic's name and phone, and
  the next appointment of the course (:func:`stampside.app.domain.schedule.next_appointments`).
* :func:`write_aftercare` — the aftercare card as text and HTML next to the clinic's records.

Every function blocks; every storage error comes out as it is (SQLAlchemy's,
:class:`~stampside.app.storage.sessions.SessionError`, or
:class:`~stampside.app.storage.claims.SessionClaimed`) for the caller to show. ``chair`` is this
chair's name (the settings' ``chair.name``; ``None``: the computer's host name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from sqlalchemy.engine import URL

from stampside.app.domain.aftercare import AftercareCard, render_html, render_text
from stampside.app.domain.coverage import CreditedStamp, SessionCoverage
from stampside.app.domain.schedule import course_rules_for, next_appointments
from stampside.app.domain.signatures import SignatureMark, Signer
from stampside.app.domain.steps import KnownLot, StepRecord
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.domain.zones import Zone
from stampside.app.settings import ClinicInfo
from stampside.app.storage.database import Database
from stampside.app.storage.heads import head_used_elsewhere as _head_used_elsewhere
from stampside.app.storage.location import data_folder
from stampside.app.storage.patients import get_patient
from stampside.app.storage.private_files import make_private_folder, write_private_text
from stampside.app.storage.schedule import course_state
from stampside.app.storage.session_figures import session_figures
from stampside.app.storage.session_stamps import (
    SessionStamp,
    load_credited_stamps,
    load_session_stamps,
    session_last_stamp_at,
)
from stampside.app.storage.sessions import (
    SessionView,
    ZoneSetting,
    find_resumable_session,
    finish_session,
    get_session,
    previous_lot,
    previous_zone_areas,
    set_active_zone,
    set_zones,
)
from stampside.app.storage.sessions import attach_device as _attach_device
from stampside.app.storage.step_records import load_step_records, save_step_records, step_override_signatures

CARDS_FOLDER = "aftercare"


@dataclass(frozen=True, slots=True)
class PreparedSession:
    """What is read from storage before a session's screens are shown."""

    view: SessionView
    records: list[StepRecord]
    #: The zones treated: stored with the session, else the patient's Norwood grade's, else all five.
    treated: frozenset[Zone]
    #: The session's stored stamps, each in the zone it counts in.
    credited: list[CreditedStamp]
    stamps: list[SessionStamp]
    #: Zone areas stored with the session (edited ones survive a resume); before any are stored,
    #: the patient's previous session's, which were measured on the same scalp.
    areas: dict[Zone, float] = field(default_factory=dict)
    #: The lot last recorded for this patient before this session, offered (to be confirmed) on
    #: the first application; the second application is offered the first's.
    previous_lot: KnownLot | None = None
    #: The areas came from the previous session (not yet stored with this one).
    areas_carried_over: bool = False

    @property
    def active_zone(self) -> Zone | None:
        """The zone being stamped when the session was left, if any."""
        return self.view.active_zone


def load_session(database: Database, session_id: int) -> PreparedSession:
    with database.Session.begin() as s:
        view = get_session(s, session_id)
        records = load_step_records(s, session_id)
        if view.zones:
            treated = frozenset(setting.zone for setting in view.zones)
        else:
            patient = get_patient(s, view.patient_id)
            grade = patient.norwood_grade if patient is not None else None
            treated = grade.default_zones if grade is not None else frozenset(Zone)
        credited = load_credited_stamps(s, session_id) if view.device_id is not None else []
        stamps = load_session_stamps(s, session_id)
        areas = {setting.zone: setting.area_cm2 for setting in view.zones}
        carried = not areas
        if carried:
            areas = previous_zone_areas(s, session_id)
        lot = previous_lot(s, session_id)
    return PreparedSession(view, records, treated, credited, stamps, areas, lot, carried and bool(areas))


@dataclass(frozen=True, slots=True)
class ResumeOffer:
    """The session left open (a crash, a quit), as the start-up offer shows it."""

    view: SessionView
    #: The step it was left in: its number (1-based) and title.
    step_number: int
    step_title: str
    #: When its last stamp was stored (None: no stamp yet).
    last_stamp_at: datetime | None


def resume_offer(database: Database, protocol: TreatmentProtocol, *, chair: str | None = None) -> ResumeOffer | None:
    """The newest open session this chair may resume, with the step it was left in and its last stamp;
    None if none is open here.

    Sessions open at another chair are theirs, not offered: this chair resumes its own, one left
    open before chairs were named (``unknown``), and one that holds no patient.
    """
    with database.Session.begin() as s:
        view = find_resumable_session(s, chair=chair)
        if view is None:
            return None
        records = load_step_records(s, view.id)
        last = session_last_stamp_at(s, view.id)
    position = records[-1].position if records else 0
    if records and records[-1].ended_at is not None:
        position += 1
    steps = protocol.steps
    position = min(position, len(steps) - 1)
    return ResumeOffer(view, position + 1, steps[position].title, last)


def save_steps(database: Database, session_id: int, records: Sequence[StepRecord]) -> None:
    with database.Session.begin() as s:
        save_step_records(s, session_id, list(records))


def attach_device(
    database: Database,
    session_id: int,
    *,
    serial: str,
    head_id: int,
    footprint_mm2: int,
    zones: Iterable[ZoneSetting],
    now: datetime,
    chair: str | None = None,
) -> SessionView:
    """Store the device and head the session uses (the link registered the device), then the treated zones.

    The device and head first: their claims are what a second chair waits on (and is then refused
    with :class:`~stampside.app.storage.claims.SessionClaimed`) before anything audited is written.
    """
    with database.Session.begin() as s:
        _attach_device(s, session_id, serial=serial, head_id=head_id, footprint_mm2=footprint_mm2, now=now, chair=chair)
        set_zones(s, session_id, list(zones))
        return get_session(s, session_id)


def store_zones(database: Database, session_id: int, zones: Iterable[ZoneSetting]) -> None:
    with database.Session.begin() as s:
        set_zones(s, session_id, list(zones))


def store_active_zone(database: Database, session_id: int, zone: Zone) -> None:
    with database.Session.begin() as s:
        set_active_zone(s, session_id, zone)


def head_used_elsewhere(database: Database, session_id: int, serial: str, head_id: int) -> bool:
    with database.Session.begin() as s:
        return _head_used_elsewhere(s, serial=serial, head_id=head_id, session_id=session_id)


def finish(database: Database, session_id: int, now: datetime, signer: Signer | None = None) -> SessionView:
    """Close the session as done, signed (approved) by ``signer``: the session and its signature in one transaction."""
    with database.Session.begin() as s:
        return finish_session(s, session_id, now=now, signer=signer)


def reread(database: Database, session_id: int) -> SessionView:
    with database.Session.begin() as s:
        return get_session(s, session_id)


def summary(database: Database, session_id: int, protocol: TreatmentProtocol) -> SessionCoverage:
    """The summary's figures, the same as the session report's (one computation)."""
    with database.Session.begin() as s:
        return session_figures(s, session_id, protocol)


def override_signatures(database: Database, session_id: int) -> dict[tuple[int, int], SignatureMark]:
    """The signatures of the session's step overrides, by (step position, the override's place in its step)."""
    with database.Session.begin() as s:
        return {place: view.mark for place, view in step_override_signatures(s, session_id).items()}


def default_cards_dir(database_url: URL) -> Path:
    """``aftercare/`` next to a SQLite database file, else in the platform's user data dir."""
    return data_folder(database_url, CARDS_FOLDER)


def card_stem(view: SessionView, ended: datetime) -> str:
    """``aftercare-P-0042-s1-20261125``: patient code (made file-safe), session number, date."""
    code = re.sub(r"[^A-Za-z0-9._-]+", "_", view.patient_code).strip("._") or "patient"
    return f"aftercare-{code}-s{view.number}-{ended:%Y%m%d}"


def aftercare_card(
    database: Database,
    session_id: int,
    protocol: TreatmentProtocol,
    *,
    ended: datetime,
    clinic: ClinicInfo | None = None,
    practitioner: str = "",
    tz: tzinfo | None = None,
) -> AftercareCard:
    """The session's aftercare card, read in one unit of work.

    ``ended`` is when the treatment ended, as a local time (the card shows its times in its
    zone); ``tz`` turns the course's stored times into the clinic's days. The next appointment
    follows the course's own session count and interval: session ``k + 1``'s window after this
    session's day, or after the last session the follow-ups. ``clinic`` comes from the settings
    file (``AppConfig.settings.clinic``): its name, address and phone are printed on the card.
    """
    clinic = clinic if clinic is not None else ClinicInfo()
    with database.Session.begin() as s:
        view = get_session(s, session_id)
        state = course_state(s, view.course_id, protocol=protocol, tz=tz)
    visits = next_appointments(
        protocol,
        view.number,
        ended.date(),
        rules=course_rules_for(state, protocol),
        stopped=state.status == "stopped",
    )
    return AftercareCard.for_session(
        ended,
        protocol.aftercare,
        patient=view.patient_code,
        practitioner=practitioner or view.practitioner_name,
        clinic=clinic.name,
        phone=clinic.phone,
        address=clinic.address,
        session_label=view.label,
        next_visits=visits,
    )


def write_aftercare(card: AftercareCard, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write the card as ``stem.txt`` and ``stem.html`` in ``folder`` (made if missing): 0600 in a 0700 folder."""
    make_private_folder(folder)
    text = write_private_text(folder / f"{stem}.txt", render_text(card))
    return text, write_private_text(folder / f"{stem}.html", render_html(card))
