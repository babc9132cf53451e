"""Reading the link log: what happened to the links (connects, losses, reboots, resyncs, faults).

The link session writes one row per event into ``link_events`` (see ``devicelink.sink.LinkLogEntry``),
with the device when it was known and the treatment session open at the time, if any.
These use cases take the session of a transaction the caller opened::

    with db.Session.begin() as session:
        if serial is not None and not has_device(session, serial):
            ...  # say which devices there are: known_serials(session)
        for row in iter_link_events(session, serial=serial, kinds={"fault"}, limit=50):
            print(row.at, row.kind, row.detail)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, or_, select
from sqlalchemy.orm import Session

from stampside.app.storage.schema import Course, Device, LinkEvent, Patient, TreatmentSession

#: The kinds the link session writes (``devicelink.sink.LinkLogEntry.kind``), in a stable order.
KNOWN_KINDS = (
    "connected",
    "lost",
    "reboot",
    "resync",
    "jump",
    "new-numbering",
    "fault",
    "arm-refused",
    "incompatible",
    "handshake",
)


@dataclass(frozen=True, slots=True)
class LinkEventRow:
    """One stored link event, with its device and treatment session when there was one.

    ``device_life`` is the device's numbering the event was stored under (1, then 2, 3 ...
    when the device restarted its numbering; see ``app.storage.schema.Device``).
    ``device_serial`` and ``device_life`` are ``None`` for an event stored without its
    device: a link lost before any handshake, an incompatible device, and (a known gap of
    the link session) events not committed together with stamps, such as the FAULT
    BUFFER_FULL a device queued while no host listened. ``session`` is the treatment
    session's id, ``session_number`` its k in "session k of n" and ``patient`` the patient's
    pseudonymous code; all three are ``None`` outside a treatment session (``link record``).
    """

    at: datetime
    device_serial: str | None
    kind: str
    detail: str
    session: int | None = None
    session_number: int | None = None
    patient: str | None = None
    device_life: int | None = None

    FIELDS = ("at", "device_serial", "device_life", "kind", "detail", "session", "session_number", "patient")

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: ``at`` in UTC, ISO 8601 with milliseconds (as ``stampside export`` writes times)."""
        values: dict[str, object] = {name: getattr(self, name) for name in self.FIELDS}
        values["at"] = iso_utc(self.at)
        return values


def iso_utc(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def has_device(session: Session, serial: str) -> bool:
    """Whether a device with this serial was ever recorded (in any of its numberings)."""
    return session.scalar(select(Device.id).where(Device.serial == serial).limit(1)) is not None


def known_serials(session: Session) -> list[str]:
    """Every recorded device's serial, once each, sorted."""
    return list(session.scalars(select(Device.serial).distinct().order_by(Device.serial)))


def stored_kinds(session: Session) -> list[str]:
    """The distinct kinds of the stored link events, sorted."""
    return list(session.scalars(select(LinkEvent.kind).distinct().order_by(LinkEvent.kind)))


def _query(
    serial: str | None, since: datetime | None, kinds: Collection[str], unattributed: bool
) -> Select[datetime, str, int, str, str, int | None, int, str]:
    query = (
        select(
            LinkEvent.at,
            Device.serial,
            Device.life,
            LinkEvent.kind,
            LinkEvent.detail,
            LinkEvent.session_id,
            TreatmentSession.number,
            Patient.code,
        )
        .outerjoin(Device, LinkEvent.device_id == Device.id)
        .outerjoin(TreatmentSession, LinkEvent.session_id == TreatmentSession.id)
        .outerjoin(Course, TreatmentSession.course_id == Course.id)
        .outerjoin(Patient, Course.patient_id == Patient.id)
    )
    if serial is not None:
        mine = Device.serial == serial
        query = query.where(or_(mine, LinkEvent.device_id.is_(None)) if unattributed else mine)
    if since is not None:
        if since.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware time for since")
        query = query.where(LinkEvent.at >= since)
    if kinds:
        query = query.where(LinkEvent.kind.in_(sorted(set(kinds))))
    return query


def iter_link_events(
    session: Session,
    *,
    serial: str | None = None,
    since: datetime | None = None,
    kinds: Collection[str] = (),
    limit: int | None = None,
    unattributed: bool = True,
    chunk: int = 2000,
) -> Iterator[LinkEventRow]:
    """The stored link events, oldest first (newest last).

    ``serial`` keeps one device's events (every numbering of it) and, with ``unattributed``, the events stored
    without a device (``device_serial`` None): the link logged them before storage knew its
    device, so they may be this device's. ``since`` (timezone-aware) keeps those at or after
    that time; ``kinds`` those of these kinds (empty: every kind); ``limit`` the newest
    ``limit`` of them, still oldest first. Events at the same time keep the order they were
    written in.
    """
    query = _query(serial, since, kinds, unattributed)
    if limit is not None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        newest = session.execute(query.order_by(LinkEvent.at.desc(), LinkEvent.id.desc()).limit(limit)).all()
        rows: Iterable[Row[datetime, str, int, str, str, int | None, int, str]] = reversed(newest)
    else:
        rows = session.execute(query.order_by(LinkEvent.at, LinkEvent.id).execution_options(yield_per=chunk))
    for at, device_serial, life, kind, detail, session_id, number, code in rows:
        yield LinkEventRow(
            at=at,
            device_serial=device_serial,
            device_life=life,
            kind=kind,
            detail=detail,
            session=session_id,
            session_number=number,
            patient=code,
        )
