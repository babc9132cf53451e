"""Use cases on devices and stamps. Each takes the session of a transaction the caller opened."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from stampside.app.domain.zones import Zone, credited_zone
from stampside.app.storage.heads import register_head
from stampside.app.storage.schema import Course, Device, LinkEvent, Patient, StampEvent, TreatmentSession
from stampside.devicelink.sink import Cursor, LinkLogEntry, ReceivedStamp, StoredStamp
from stampside.firmware_protocol import DeviceInfo
from stampside.firmware_protocol.host_events import Ledger


def utc(unix_seconds: float) -> datetime:
    return datetime.fromtimestamp(unix_seconds, UTC)


def current_device(session: Session, serial: str) -> Device | None:
    """The row of ``serial``'s current numbering (its highest life), or None if never seen."""
    return session.scalars(
        select(Device).where(Device.serial == serial).order_by(Device.life.desc()).limit(1)
    ).one_or_none()


def ledger_of(device: Device) -> Ledger:
    return Ledger(device.serial, device.life, device.epoch or 0, device.cursor_boot, device.cursor_seq)


def register_device(session: Session, info: DeviceInfo, seen_at: datetime) -> Device:
    """Insert the device, or refresh the identity fields its current numbering reported, and note its head."""
    device = current_device(session, info.serial)
    if device is None:
        device = Device(serial=info.serial, life=1, first_seen=seen_at, cursor_boot=0, cursor_seq=0)
        session.add(device)
    _refresh(device, info, seen_at)
    session.flush()
    register_head(session, device.id, info.head_id, seen_at)
    return device


def start_numbering(session: Session, info: DeviceInfo, epoch: int, reason: str, seen_at: datetime) -> Device:
    """The device restarted its numbering: a new row for its serial (life + 1) at cursor (0, 0)."""
    latest = current_device(session, info.serial)
    life = 1 if latest is None else latest.life + 1
    device = Device(
        serial=info.serial,
        life=life,
        epoch=epoch or None,
        started_because=reason[:300] or None,
        first_seen=seen_at,
        cursor_boot=0,
        cursor_seq=0,
    )
    session.add(device)
    _refresh(device, info, seen_at)
    session.flush()
    register_head(session, device.id, info.head_id, seen_at)
    return device


def bind_epoch(session: Session, device_id: int, epoch: int) -> None:
    """Store the epoch of a numbering that did not know it yet (a cursor from before protocol v2)."""
    session.execute(update(Device).where(Device.id == device_id, Device.epoch.is_(None)).values(epoch=epoch))


def device_row_id(session: Session, serial: str, life: int) -> int | None:
    return session.scalar(select(Device.id).where(Device.serial == serial, Device.life == life))


def _refresh(device: Device, info: DeviceInfo, seen_at: datetime) -> None:
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


# The two statements of every commit of the link, built once (Core, on the session's connection):
# building and ORM-executing them again for each stamp was a third of a commit's CPU. Neither is
# audited: the stamps' SELECT reads, and the delivery cursor is the link's bookmark, not a record.
_STAMPS = cast(Table, StampEvent.__table__)
_STORED_IN_RANGE = select(_STAMPS.c.boot, _STAMPS.c.seq).where(
    _STAMPS.c.device_id == bindparam("device_id"),
    _STAMPS.c.boot.in_(bindparam("boots", expanding=True)),
    _STAMPS.c.seq.between(bindparam("low"), bindparam("high")),
)
_DEVICES = cast(Table, Device.__table__)
_SET_CURSOR = (
    update(_DEVICES)
    .where(_DEVICES.c.id == bindparam("device_id"))
    .values(cursor_boot=bindparam("boot"), cursor_seq=bindparam("seq"))
)


def store_stamps(
    session: Session, device_id: int, ledger: Ledger, stamps: Sequence[ReceivedStamp]
) -> list[StoredStamp]:
    """Insert the stamps this device numbering does not have yet; return them as stored.

    Each new stamp joins the treatment session its tags name (``None``: no session) and,
    in a session, is credited to its zone by :func:`~stampside.app.domain.zones.credited_zone` — the
    device's zone, else the zone being stamped when it arrived — in this same transaction.
    Stamps already stored keep the session and zone they have.

    De-duplication is portable: one query for the (boot, seq) pairs already stored in
    the batch's range, then one multi-row INSERT of the rest. The unique constraint on
    (device, boot, seq) is the safety net if another writer races us.
    """
    if not stamps:
        return []
    fresh: dict[tuple[int, int], ReceivedStamp] = {}
    for item in stamps:
        fresh.setdefault((item.stamp.boot, item.stamp.seq), item)
    boots = {boot for boot, _ in fresh}
    seqs = [seq for _, seq in fresh]
    existing = session.connection().execute(
        _STORED_IN_RANGE, {"device_id": device_id, "boots": sorted(boots), "low": min(seqs), "high": max(seqs)}
    )
    for boot, seq in existing:
        fresh.pop((boot, seq), None)
    if not fresh:
        return []
    rows = []
    stored = []
    for item in fresh.values():
        session_id = item.tags.session_id
        zone = None
        if session_id is not None:
            active = Zone.from_wire(item.tags.active_zone) if item.tags.active_zone is not None else None
            credited = credited_zone(item.stamp.zone, active)
            zone = int(credited) if credited is not None else None
        rows.append(
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
                "credited_zone": zone,
            }
        )
        stored.append(StoredStamp(item, ledger, session_id, zone))
    session.execute(insert(StampEvent), rows)
    return stored


def set_cursor(session: Session, device_id: int, cursor: Cursor) -> None:
    boot, seq = cursor
    session.connection().execute(_SET_CURSOR, {"device_id": device_id, "boot": boot, "seq": seq})


def add_link_events(session: Session, entries: Sequence[tuple[LinkLogEntry, int | None]]) -> None:
    """Keep link events, each with its device row and the treatment session that was open when it happened."""
    for entry, device_id in entries:
        session.add(
            LinkEvent(
                device_id=device_id,
                at=utc(entry.at),
                kind=entry.kind,
                detail=entry.detail[:500],
                session_id=entry.tags.session_id,
            )
        )


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One stored stamp as exported: the simulator's truth-log keys and units, plus where, when and in which session.

    ``zone`` is always the zone the device sent; ``credited_zone`` is the zone the treatment
    session counted the stamp in (``None`` outside a session or before it was credited).
    ``session`` is the session's id, ``session_number`` its k in "session k of n", and
    ``patient`` the patient's pseudonymous code; all ``None`` for stamps outside a session.
    ``life`` tells a device's numberings apart (1, then 2 after it restarted its numbering …)
    and ``epoch`` is that numbering's epoch as the device said it (``None``: not known).
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
    life: int = 1
    epoch: int | None = None

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
        "life",
        "epoch",
    )

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.FIELDS}


def iter_export_rows(session: Session, serial: str | None = None, chunk: int = 2000) -> Iterator[ExportRow]:
    """Every stored stamp, ordered by device serial then seq, with its session and patient if any."""
    query = (
        select(
            Device.serial,
            Device.life,
            Device.epoch,
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
        .order_by(Device.serial, Device.life, StampEvent.seq, StampEvent.boot)
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
            life=row.life,
            epoch=row.epoch,
        )
