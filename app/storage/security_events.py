"""Security events: what the clinic's security officer should see, kept in ``security_events``.

* ``pin_lockout``: a practitioner typed too many wrong PINs in a row and is locked out for a
  while (:class:`stampside.app.domain.pins.LockoutPolicy`);
* ``pin_set``: a practitioner got their first PIN (chosen at their first sign-in, or given
  with ``stampside practitioner add``);
* ``pin_reset``: a PIN was replaced (``stampside practitioner set-pin``), which lifts a lockout.

Each event is also an entry of the audit trail (:mod:`stampside.app.storage.trail_appends`). No event
holds a PIN or its hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.storage.schema import Practitioner, SecurityEvent
from stampside.app.storage.trail_appends import record_insert

__all__ = ["PIN_LOCKOUT", "PIN_RESET", "PIN_SET", "SecurityEventView", "list_security_events", "log_security_event"]

PIN_LOCKOUT = "pin_lockout"
PIN_SET = "pin_set"
PIN_RESET = "pin_reset"


@dataclass(frozen=True, slots=True)
class SecurityEventView:
    id: int
    at: datetime
    kind: str
    practitioner: str | None
    detail: str


def log_security_event(
    session: Session, kind: str, *, at: datetime, practitioner_id: int | None = None, detail: str = ""
) -> None:
    """Store a security event (and its audit entry) in the caller's transaction."""
    row = SecurityEvent(at=at, kind=kind, practitioner_id=practitioner_id, detail=detail[:500])
    session.add(row)
    record_insert(session, row)


def list_security_events(session: Session, *, since: datetime | None = None) -> list[SecurityEventView]:
    """The security events, oldest first (from ``since`` on, if given)."""
    query = (
        select(SecurityEvent, Practitioner.name)
        .outerjoin(Practitioner, Practitioner.id == SecurityEvent.practitioner_id)
        .order_by(SecurityEvent.at, SecurityEvent.id)
    )
    if since is not None:
        query = query.where(SecurityEvent.at >= since)
    return [SecurityEventView(row.id, row.at, row.kind, name, row.detail) for row, name in session.execute(query)]
