"""Stamp heads and their use history: which sessions each head of a device was used in.

A head is used in a session when the session named it (:func:`register_head` from
:func:`stampside.app.storage.sessions.attach_device`) and then either finished or got stamps. A
session abandoned before any stamp did not use the head, so "the stamp head has never been
used in another session" (:func:`head_used_elsewhere`) stays true after a false start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from stampside.app.storage.schema import Course, Device, DeviceHead, Patient, StampEvent, TreatmentSession


@dataclass(frozen=True, slots=True)
class HeadUse:
    """One session a head was named in."""

    session_id: int
    patient_code: str
    number: int
    started_at: datetime
    status: str
    stamps: int


def register_head(session: Session, device_id: int, head_id: int, seen_at: datetime) -> int:
    """The ``device_heads`` row of this head on this device, created when first seen; return its id."""
    found = session.scalar(
        select(DeviceHead.id).where(DeviceHead.device_id == device_id, DeviceHead.head_id == head_id)
    )
    if found is not None:
        return found
    head = DeviceHead(device_id=device_id, head_id=head_id, first_seen=seen_at)
    session.add(head)
    session.flush()
    return head.id


def _head_row_ids(session: Session, serial: str, head_id: int) -> list[int]:
    """The rows of this head on every numbering of the device (a head outlives a wiped device)."""
    return list(
        session.scalars(
            select(DeviceHead.id)
            .join(Device, DeviceHead.device_id == Device.id)
            .where(Device.serial == serial, DeviceHead.head_id == head_id)
        )
    )


def head_used_elsewhere(session: Session, *, serial: str, head_id: int, session_id: int | None = None) -> bool:
    """Whether this head of this device was used in a session other than ``session_id``.

    Used means the session finished, or stamps were stored in it.
    """
    row_ids = _head_row_ids(session, serial, head_id)
    if not row_ids:
        return False
    has_stamps = exists().where(StampEvent.session_id == TreatmentSession.id)
    query = select(TreatmentSession.id).where(
        TreatmentSession.device_head_id.in_(row_ids),
        or_(TreatmentSession.status == "finished", has_stamps),
    )
    if session_id is not None:
        query = query.where(TreatmentSession.id != session_id)
    return session.scalar(query.limit(1)) is not None


def head_history(session: Session, *, serial: str, head_id: int) -> list[HeadUse]:
    """Every session that named this head, oldest first, with its stamp count."""
    row_ids = _head_row_ids(session, serial, head_id)
    if not row_ids:
        return []
    stamps = select(func.count(StampEvent.id)).where(StampEvent.session_id == TreatmentSession.id).scalar_subquery()
    rows = session.execute(
        select(
            TreatmentSession.id,
            Patient.code,
            TreatmentSession.number,
            TreatmentSession.started_at,
            TreatmentSession.status,
            stamps,
        )
        .join(Course, TreatmentSession.course_id == Course.id)
        .join(Patient, Course.patient_id == Patient.id)
        .where(TreatmentSession.device_head_id.in_(row_ids))
        .order_by(TreatmentSession.started_at, TreatmentSession.id)
    )
    return [
        HeadUse(sid, code, number, started, status, int(count)) for sid, code, number, started, status, count in rows
    ]
