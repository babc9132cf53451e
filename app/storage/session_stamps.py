"""Stamps in a treatment session, read back: with the zone each was credited to, or with their figures.

A stamp belongs to at most one session. :class:`~app.storage.sink.DatabaseSink` stores each
new stamp with the session that was open when it arrived and the zone it counts in
(:func:`app.domain.zones.credited_zone`), in the INSERT that stores it.
``stamp_events.zone`` keeps the zone the device sent; ``credited_zone`` is the session's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.coverage import CreditedStamp
from app.domain.zones import Zone
from app.storage.schema import StampEvent, TreatmentSession
from app.storage.sessions import SessionError

#: Stamps per statement, far below every dialect's bound-parameter limit.
CHUNK = 200


def _device_of(session: Session, session_id: int) -> tuple[int, int]:
    treatment = session.get(TreatmentSession, session_id)
    if treatment is None:
        raise SessionError(f"no treatment session with id {session_id}")
    if treatment.device_id is None:
        raise SessionError(f"session {treatment.number} has no device yet; attach the device first")
    return treatment.device_id, treatment.footprint_mm2 or 0


def load_credited_stamps(session: Session, session_id: int) -> list[CreditedStamp]:
    """The session's stamps for ``CoverageModel.load``: the credited zone, else the device's (1–5), else none."""
    _, footprint = _device_of(session, session_id)
    rows = session.execute(
        select(StampEvent.boot, StampEvent.seq, StampEvent.zone, StampEvent.credited_zone)
        .where(StampEvent.session_id == session_id)
        .order_by(StampEvent.boot, StampEvent.seq)
    )
    stamps = []
    for boot, seq, device_zone, credited in rows:
        zone = Zone.from_wire(credited) if credited is not None else Zone.from_wire(device_zone)
        stamps.append(CreditedStamp(boot, seq, zone, footprint))
    return stamps


def count_session_stamps(session: Session, session_id: int) -> int:
    return session.scalar(select(func.count(StampEvent.id)).where(StampEvent.session_id == session_id)) or 0


@dataclass(frozen=True, slots=True)
class SessionStamp:
    """A stored stamp of a session with what the stamping figures need (count, rate, force, zone)."""

    boot: int
    seq: int
    device_time_ms: int
    force_dn: int
    zone: int
    received_at: datetime


def load_session_stamps(session: Session, session_id: int) -> list[SessionStamp]:
    """The session's stamps in device order, so a resumed stamping step starts from them."""
    rows = session.execute(
        select(
            StampEvent.boot,
            StampEvent.seq,
            StampEvent.device_time_ms,
            StampEvent.force_dn,
            StampEvent.zone,
            StampEvent.received_at,
        )
        .where(StampEvent.session_id == session_id)
        .order_by(StampEvent.boot, StampEvent.seq)
    )
    return [SessionStamp(*row) for row in rows]
