"""What an open treatment session holds while it is open: its patient, its device and its stamp head.

Several chairs share one database. A session's hold on a thing is a row of ``session_claims``
(:class:`~stampside.app.storage.schema.SessionClaim`), and the table's UNIQUE ``(kind, claim_key)``
is what keeps two chairs from holding the same patient, device (serial) or head at once: the
database refuses the second chair's INSERT, never a check-then-act here.

* :func:`claim` — inserted in the transaction that opens the session (its patient) or attaches
  its device (the device and the head). On PostgreSQL a second chair's INSERT waits for the first
  chair's transaction: committed, the second is refused; rolled back, the second gets it. On SQLite
  the database's writer lock puts the two transactions one after the other. The INSERT runs in a
  savepoint (:func:`~stampside.app.storage.savepoint.savepoint`), so a refusal leaves the caller's
  transaction usable to read who holds the thing; then :class:`SessionClaimed` says so.
* :func:`release_all` — deleted in the transaction that finishes or abandons the session;
  :func:`release_other` drops a device or head the session no longer uses.
* :func:`holder` — who holds a thing: the chair, the session's practitioner and patient, since when.
* :func:`lock_patient` — a row lock on the patient (``SELECT … FOR UPDATE`` on PostgreSQL) taken
  first by the use cases that open or resume a patient's session, so a second chair waits before
  it writes anything and then sees the first chair's session.

Sessions left open by a version before these claims hold their patient with the chair
``unknown`` (:data:`LEGACY_CHAIR`, migration v0008): any chair may resume such a session, and
the one that does takes the claim over. :func:`move_claims` moves a session's claims from the chair a
practitioner saw holding them to theirs (a deliberate take-over, recorded and signed by
:func:`~stampside.app.storage.sessions.take_over_session`). Claims are not audited: a claim is a lock, not a clinical
record (the session row keeps who and when).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stampside.app.storage.savepoint import savepoint
from stampside.app.storage.schema import Course, Patient, Practitioner, SessionClaim, TreatmentSession

__all__ = [
    "DEVICE",
    "HEAD",
    "LEGACY_CHAIR",
    "MAX_CHAIR_CHARS",
    "PATIENT",
    "ClaimHolder",
    "ClaimKind",
    "SessionClaimed",
    "chair_label",
    "claim",
    "default_chair_name",
    "holder",
    "lock_patient",
    "move_claims",
    "release_all",
    "release_other",
    "take_over_legacy",
]

ClaimKind = Literal["patient", "device", "head"]
PATIENT: ClaimKind = "patient"
DEVICE: ClaimKind = "device"
HEAD: ClaimKind = "head"
#: The chair of a claim the migration gave a session left open before claims existed.
LEGACY_CHAIR = "unknown"
#: ``session_claims.chair`` holds at most this many characters.
MAX_CHAIR_CHARS = 80
#: A claim refused whose holder is gone a moment later (finished in between) is tried again this often.
CLAIM_ATTEMPTS = 3


def default_chair_name() -> str:
    """This computer's chair when the settings name none (``chair.name``): its host name."""
    return chair_label(socket.gethostname()) or "this computer"


def chair_label(chair: str | None) -> str:
    """A chair's name as stored: one line, at most :data:`MAX_CHAIR_CHARS` characters."""
    return " ".join((chair or "").split())[:MAX_CHAIR_CHARS]


@dataclass(frozen=True, slots=True)
class ClaimHolder:
    """Who holds a patient, device or head: the open session, its chair, practitioner and patient, since when."""

    kind: ClaimKind
    key: str
    chair: str
    session_id: int
    session_number: int
    patient_code: str
    practitioner: str
    since: datetime


def _when(moment: datetime, tz: tzinfo | None) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %Y %H:%M")


class SessionClaimed(Exception):
    """What was asked for is held by another chair's open session; the message names who, where and since when.

    ``what`` is the thing refused (``patient``, ``device``, ``head``), ``holder`` who holds it. The
    message is one line and says what to do; :meth:`describe` gives it with times in a time zone.
    """

    def __init__(self, holder: ClaimHolder) -> None:
        self.holder = holder
        super().__init__(self.describe())

    @property
    def what(self) -> ClaimKind:
        return self.holder.kind

    @property
    def chair(self) -> str:
        return self.holder.chair

    @property
    def practitioner(self) -> str:
        return self.holder.practitioner

    @property
    def since(self) -> datetime:
        return self.holder.since

    def where(self, tz: tzinfo | None = None) -> str:
        """``at Chair 1 (Dr Ada, since Mon 02 Nov 2026 09:30)``."""
        held = self.holder
        return f"at {held.chair} ({held.practitioner}, since {_when(held.since, tz)})"

    def describe(self, tz: tzinfo | None = None) -> str:
        """The message, times in ``tz`` (``None``: the computer's zone)."""
        held = self.holder
        session = f"{held.patient_code}'s session {held.session_number}"
        if held.kind == PATIENT:
            return (
                f"Patient {held.patient_code} is in session {held.session_number} {self.where(tz)}: "
                f"read only here; resume or finish it at {held.chair}."
            )
        if held.kind == DEVICE:
            return (
                f"Stamp {held.key} is feeding {session} {self.where(tz)}: it cannot feed this session too; "
                f"use this chair's own stamp, or finish that session first."
            )
        return f"Stamp head {held.key} is in use in {session} {self.where(tz)}: fit a new head for this session."

    def __str__(self) -> str:
        return self.describe()

    def __reduce__(self) -> tuple[type[SessionClaimed], tuple[ClaimHolder]]:
        return (SessionClaimed, (self.holder,))  # pickled with its holder (a worker process's refusal)


def holder(session: Session, kind: ClaimKind, key: str) -> ClaimHolder | None:
    """Who holds ``kind`` ``key`` now (``None``: nobody)."""
    row = session.execute(
        select(
            SessionClaim.chair,
            SessionClaim.claimed_at,
            SessionClaim.session_id,
            TreatmentSession.number,
            Patient.code,
            Practitioner.name,
        )
        .join(TreatmentSession, SessionClaim.session_id == TreatmentSession.id)
        .join(Course, TreatmentSession.course_id == Course.id)
        .join(Patient, Course.patient_id == Patient.id)
        .join(Practitioner, TreatmentSession.practitioner_id == Practitioner.id)
        .where(SessionClaim.kind == kind, SessionClaim.claim_key == key)
    ).one_or_none()
    if row is None:
        return None
    chair, since, session_id, number, code, practitioner = row
    return ClaimHolder(kind, key, chair, session_id, number, code, practitioner, since)


def claim(session: Session, session_id: int, kind: ClaimKind, key: str, *, chair: str, now: datetime) -> None:
    """Session ``session_id`` holds ``kind`` ``key`` from now until it is finished or abandoned.

    Nothing changes when it holds it already. Held by another session, the database refuses the
    INSERT and :class:`SessionClaimed` names the holder; the caller's transaction stays usable
    (the INSERT ran in a savepoint), so the caller decides whether to roll it back.
    """
    last: IntegrityError | None = None
    for _ in range(CLAIM_ATTEMPTS):
        held_by = session.scalar(
            select(SessionClaim.session_id).where(SessionClaim.kind == kind, SessionClaim.claim_key == key)
        )
        if held_by == session_id:
            return
        try:
            with savepoint(session):
                session.add(
                    SessionClaim(
                        kind=kind, claim_key=key, session_id=session_id, chair=chair_label(chair), claimed_at=now
                    )
                )
                session.flush()
            return
        except IntegrityError as exc:
            last = exc
        held = holder(session, kind, key)
        if held is not None and held.session_id != session_id:
            raise SessionClaimed(held) from None
        # Gone already (finished in between), or ours after all: look again.
    assert last is not None
    raise last


def release_all(session: Session, session_id: int) -> None:
    """Session ``session_id`` holds nothing any more (it was finished or abandoned)."""
    session.execute(delete(SessionClaim).where(SessionClaim.session_id == session_id))


def release_other(session: Session, session_id: int, kind: ClaimKind, keep: str) -> None:
    """Session ``session_id`` lets go of the ``kind`` it held other than ``keep`` (another device or head now)."""
    session.execute(
        delete(SessionClaim).where(
            SessionClaim.session_id == session_id, SessionClaim.kind == kind, SessionClaim.claim_key != keep
        )
    )


def take_over_legacy(session: Session, session_id: int, kind: ClaimKind, key: str, *, chair: str) -> bool:
    """A claim of the chair ``unknown`` (a session left open before claims existed) becomes ``chair``'s.

    One conditional UPDATE, so of two chairs resuming such a session at once only one takes it;
    True if this one did.
    """
    result = session.execute(
        update(SessionClaim)
        .where(
            SessionClaim.session_id == session_id,
            SessionClaim.kind == kind,
            SessionClaim.claim_key == key,
            SessionClaim.chair == LEGACY_CHAIR,
        )
        .values(chair=chair_label(chair))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def move_claims(session: Session, session_id: int, *, seen_chair: str, chair: str, now: datetime) -> int:
    """Every claim session ``session_id`` holds at ``seen_chair`` becomes ``chair``'s, from ``now``.

    One conditional UPDATE (a compare-and-set on the claim rows): claims another chair took
    meanwhile, or that finishing the session deleted, are not matched. The number moved; 0 means the
    session is no longer held at ``seen_chair``. Of two chairs moving the same claims at once, the
    second's UPDATE waits for the first (a row lock on PostgreSQL, the writer lock on SQLite) and
    then matches nothing.
    """
    result = session.execute(
        update(SessionClaim)
        .where(SessionClaim.session_id == session_id, SessionClaim.chair == chair_label(seen_chair))
        .values(chair=chair_label(chair), claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def lock_patient(session: Session, patient_id: int) -> None:
    """Lock the patient's row until the end of the transaction (PostgreSQL; SQLite's writer lock does it there).

    Taken before anything is written, so a second chair opening or resuming a session of the same
    patient waits here for the first chair's transaction and then reads what it committed.
    """
    session.execute(select(Patient.id).where(Patient.id == patient_id).with_for_update())
