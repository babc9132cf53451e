"""Stamps in a treatment session: attach them with the zone the coverage model credited, load them back.

A stamp belongs to at most one session. :class:`~app.storage.sink.DatabaseSink` tags new
stamps with the open session as it stores them; :func:`credit_stamps` records the zone each
was credited to (and attaches stamps stored without a session). ``stamp_events.zone`` keeps
the zone the device sent; ``credited_zone`` is the session's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from app.domain.coverage import CreditedStamp
from app.domain.zones import Zone
from app.storage.schema import Base, StampEvent, TreatmentSession
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


def credit_stamps(session: Session, session_id: int, stamps: Iterable[CreditedStamp]) -> None:
    """Attach stored stamps of the session's device to the session, each with its credited zone.

    Stamps not stored yet are skipped (credit them again once stored). A stamp already in
    another session raises :class:`SessionError` and nothing is changed.
    """
    device_id, _ = _device_of(session, session_id)
    items = {(stamp.boot, stamp.seq): stamp for stamp in stamps}
    keys = list(items)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        taken = session.scalar(
            select(func.count(StampEvent.id)).where(
                StampEvent.device_id == device_id,
                tuple_(StampEvent.boot, StampEvent.seq).in_(chunk),
                StampEvent.session_id.is_not(None),
                StampEvent.session_id != session_id,
            )
        )
        if taken:
            raise SessionError(f"{taken} of these stamps belong to another session; they were not moved")
    table = Base.metadata.tables[StampEvent.__tablename__]
    statement = (
        update(table)
        .where(
            table.c.device_id == device_id,
            table.c.boot == bindparam("k_boot"),
            table.c.seq == bindparam("k_seq"),
            or_(table.c.session_id.is_(None), table.c.session_id == session_id),
        )
        .values(session_id=session_id, credited_zone=bindparam("k_zone"))
    )
    params = [
        {"k_boot": stamp.boot, "k_seq": stamp.seq, "k_zone": int(stamp.zone) if stamp.zone is not None else None}
        for stamp in items.values()
    ]
    if params:
        session.execute(statement, params)


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
