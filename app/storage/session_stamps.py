"""Stamps in a treatment session, read back: with the zone each was credited to, or with their figures.

A stamp belongs to at most one session. :class:`~stampside.app.storage.sink.DatabaseSink` stores each
new stamp with the session that was open when it arrived and the zone it counts in
(:func:`stampside.app.domain.zones.credited_zone`), in the INSERT that stores it.
``stamp_events.zone`` keeps the zone the device sent; ``credited_zone`` is the session's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stampside.app.domain.coverage import CreditedStamp
from stampside.app.domain.zones import Zone
from stampside.app.storage.schema import Device, StampEvent, TreatmentSession
from stampside.app.storage.sessions import SessionError


def _device_of(session: Session, session_id: int) -> tuple[int, int]:
    treatment = session.get(TreatmentSession, session_id)
    if treatment is None:
        raise SessionError(f"no treatment session with id {session_id}")
    if treatment.device_id is None:
        raise SessionError(f"session {treatment.number} has no device yet; attach the device first")
    return treatment.device_id, treatment.footprint_mm2 or 0


@dataclass(frozen=True, slots=True)
class SessionStamp:
    """A stored stamp of a session with what the stamping figures need (count, rate, force, zone).

    ``zone`` is the device's zone id; ``credited`` the zone the stamp counts in for the
    session (:func:`counted_zone`), None when unassigned. ``life`` is the device numbering.
    """

    life: int
    boot: int
    seq: int
    device_time_ms: int
    force_dn: int
    zone: int
    credited: Zone | None
    received_at: datetime


def counted_zone(credited_zone: int | None, device_zone: int) -> Zone | None:
    """The zone a stored stamp counts in: the one credited when it was stored; for a stamp stored
    without one (by an older version), the device's zone 1–5; else none (unassigned)."""
    return Zone.from_wire(credited_zone) if credited_zone is not None else Zone.from_wire(device_zone)


def load_session_stamps(
    session: Session, session_id: int, *, received_after: datetime | None = None
) -> list[SessionStamp]:
    """The session's stamps in device order, so a resumed stamping step starts from them;
    ``received_after`` (aware): only those stored after it (the board's rate of the last minute)."""
    where = [StampEvent.session_id == session_id]
    if received_after is not None:
        where.append(StampEvent.received_at > received_after)
    rows = session.execute(
        select(
            Device.life,
            StampEvent.boot,
            StampEvent.seq,
            StampEvent.device_time_ms,
            StampEvent.force_dn,
            StampEvent.zone,
            StampEvent.credited_zone,
            StampEvent.received_at,
        )
        .join(Device, StampEvent.device_id == Device.id)
        .where(*where)
        .order_by(Device.life, StampEvent.boot, StampEvent.seq)
    )
    return [
        SessionStamp(life, boot, seq, time_ms, force, zone, counted_zone(credited, zone), received)
        for life, boot, seq, time_ms, force, zone, credited, received in rows
    ]


def load_credited_stamps(session: Session, session_id: int) -> list[CreditedStamp]:
    """The session's stamps for ``CoverageModel.load``, each in the zone it counts in (:func:`counted_zone`)."""
    _, footprint = _device_of(session, session_id)
    return [
        CreditedStamp(stamp.boot, stamp.seq, stamp.credited, footprint, stamp.life)
        for stamp in load_session_stamps(session, session_id)
    ]


def count_session_stamps(session: Session, session_id: int) -> int:
    return session.scalar(select(func.count(StampEvent.id)).where(StampEvent.session_id == session_id)) or 0


def session_last_stamp_at(session: Session, session_id: int) -> datetime | None:
    """When the session's newest stamp was stored (None: it has none)."""
    return session.scalar(select(func.max(StampEvent.received_at)).where(StampEvent.session_id == session_id))
