"""Use cases on devices and stamps. Each takes the session of a transaction the caller opened."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from app.storage.heads import register_head
from app.storage.schema import Course, Device, LinkEvent, Patient, StampEvent, TreatmentSession
from devicelink.sink import Cursor, LinkLogEntry, ReceivedStamp
from firmware_protocol import DeviceInfo


def utc(unix_seconds: float) -> datetime:
    return datetime.fromtimestamp(unix_seconds, UTC)


def register_device(session: Session, info: DeviceInfo, seen_at: datetime) -> Device:
    """Insert the device, or refresh the identity fields it reported, and note its head; return it."""
    device = session.scalars(select(Device).where(Device.serial == info.serial)).one_or_none()
    if device is None:
        device = Device(serial=info.serial, first_seen=seen_at, cursor_boot=0, cursor_seq=0)
        session.add(device)
    device.hw_revision = info.hw_revision
    device.firmware = info.firmware
    device.min_version = info.min_version
    device.max_version = info.max_version
    device.needle_um = info.needle_um
    device.head_id = info.head_id
    device.head_uses = info.head_uses
    device.footprint_mm2 = info.footprint_mm2
    device.battery_pct = info.battery_pct
    device.last_boot = info.boot
    device.last_seq = info.last_seq
    device.last_seen = seen_at
    session.flush()
    register_head(session, device.id, info.head_id, seen_at)
    return device


def device_id_for(session: Session, serial: str) -> int | None:
    return session.scalar(select(Device.id).where(Device.serial == serial))


def store_stamps(
    session: Session, device_id: int, stamps: Sequence[ReceivedStamp], *, session_id: int | None = None
) -> int:
    """Insert the stamps this device does not have yet; return how many were inserted.

    New stamps join the treatment session ``session_id`` (``None``: no session). Stamps
    already stored keep the session they have.

    De-duplication is portable: one query for the (boot, seq) pairs already stored in
    the batch's range, then one multi-row INSERT of the rest. The unique constraint on
    (device, boot, seq) is the safety net if another writer races us.
    """
    if not stamps:
        return 0
    fresh: dict[tuple[int, int], ReceivedStamp] = {}
    for item in stamps:
        fresh.setdefault((item.stamp.boot, item.stamp.seq), item)
    boots = {boot for boot, _ in fresh}
    seqs = [seq for _, seq in fresh]
    existing = session.execute(
        select(StampEvent.boot, StampEvent.seq).where(
            StampEvent.device_id == device_id,
            StampEvent.boot.in_(boots),
            StampEvent.seq.between(min(seqs), max(seqs)),
        )
    )
    for boot, seq in existing:
        fresh.pop((boot, seq), None)
    if not fresh:
        return 0
    rows = [
        {
            "device_id": device_id,
            "boot": item.stamp.boot,
            "seq": item.stamp.seq,
            "device_time_ms": item.stamp.device_time_ms,
            "force_dn": item.stamp.force_dn,
            "contact_ms": item.stamp.contact_ms,
            "zone": item.stamp.zone,
            "received_at": utc(item.received_at),
            "replay": item.replay,
            "session_id": session_id,
        }
        for item in fresh.values()
    ]
    session.execute(insert(StampEvent), rows)
    return len(rows)


def set_cursor(session: Session, device_id: int, cursor: Cursor) -> None:
    boot, seq = cursor
    session.execute(update(Device).where(Device.id == device_id).values(cursor_boot=boot, cursor_seq=seq))


def add_link_events(
    session: Session, device_id: int | None, entries: Sequence[LinkLogEntry], *, session_id: int | None = None
) -> None:
    for entry in entries:
        session.add(
            LinkEvent(
                device_id=device_id,
                at=utc(entry.at),
                kind=entry.kind,
                detail=entry.detail[:500],
                session_id=session_id,
            )
        )


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One stored stamp as exported: the simulator's truth-log keys and units, plus where, when and in which session.

    ``zone`` is always the zone the device sent; ``credited_zone`` is the zone the treatment
    session counted the stamp in (``None`` outside a session or before it was credited).
    ``session`` is the session's id, ``session_number`` its k in "session k of n", and
    ``patient`` the patient's pseudonymous code; all ``None`` for stamps outside a session.
    """

    device_serial: str
    boot: int
    seq: int
    device_time_ms: int
    #: Peak force in newtons (stored as tenths: force_dn / 10).
    force: float
    contact_ms: int
    zone: int
    received_at: str
    replay: bool
    session: int | None = None
    session_number: int | None = None
    patient: str | None = None
    credited_zone: int | None = None

    FIELDS = (
        "device_serial",
        "boot",
        "seq",
        "device_time_ms",
        "force",
        "contact_ms",
        "zone",
        "received_at",
        "replay",
        "session",
        "session_number",
        "patient",
        "credited_zone",
    )

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.FIELDS}


def iter_export_rows(session: Session, serial: str | None = None, chunk: int = 2000) -> Iterator[ExportRow]:
    """Every stored stamp, ordered by device serial then seq, with its session and patient if any."""
    query = (
        select(
            Device.serial,
            StampEvent.boot,
            StampEvent.seq,
            StampEvent.device_time_ms,
            StampEvent.force_dn,
            StampEvent.contact_ms,
            StampEvent.zone,
            StampEvent.received_at,
            StampEvent.replay,
            StampEvent.session_id,
            TreatmentSession.number,
            Patient.code,
            StampEvent.credited_zone,
        )
        .join(Device, StampEvent.device_id == Device.id)
        .outerjoin(TreatmentSession, StampEvent.session_id == TreatmentSession.id)
        .outerjoin(Course, TreatmentSession.course_id == Course.id)
        .outerjoin(Patient, Course.patient_id == Patient.id)
        .order_by(Device.serial, StampEvent.seq, StampEvent.boot)
        .execution_options(yield_per=chunk)
    )
    if serial is not None:
        query = query.where(Device.serial == serial)
    for row in session.execute(query):
        yield ExportRow(
            device_serial=row.serial,
            boot=row.boot,
            seq=row.seq,
            device_time_ms=row.device_time_ms,
            force=row.force_dn / 10,
            contact_ms=row.contact_ms,
            zone=row.zone,
            received_at=row.received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            replay=bool(row.replay),
            session=row.session_id,
            session_number=row.number,
            patient=row.code,
            credited_zone=row.credited_zone,
        )
