"""Chairs sharing one database, for the clinic board's tests: each chair's session opened with the
storage API at that chair (its patient, stamp and head claimed by it), and its stamps and link
events stored through the link's own sink (:class:`DatabaseSink`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete

from stampside.app.domain.steps import StepRecord
from stampside.app.domain.treatment_protocol import TreatmentProtocol, default_protocol
from stampside.app.storage import Database, DatabaseSink
from stampside.app.storage.courses import start_course
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schema import SessionClaim
from stampside.app.storage.sessions import attach_device, open_session
from stampside.app.storage.step_records import save_step_record
from stampside.devicelink.sink import CommitBatch, LinkLogEntry, ReceivedStamp, StampTags
from stampside.firmware_protocol import DeviceInfo, Stamp
from stampside.firmware_protocol.host_events import Ledger

PROTOCOL = default_protocol()
_serials = itertools.count(1)


@dataclass
class Chair:
    """One chair's open session and its stamp."""

    database: Database
    session_id: int
    serial: str
    head_id: int
    sink: DatabaseSink
    practitioner: str
    patient_code: str
    #: The next stamp's seq (the device numbers from 1).
    next_seq: int = 1
    #: When (unix seconds) the device's clock read 0: stamps are placed on the device's clock.
    clock_zero: float = 0.0
    sent: list[int] = field(default_factory=list)

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.serial)

    def stamp(self, received_at: datetime, count: int = 1, spacing_s: float = 1.0) -> None:
        """``count`` stamps stored as the link stores them, the last one received at ``received_at``."""
        stamps = []
        for index in range(count):
            at = received_at.timestamp() - (count - 1 - index) * spacing_s
            if not self.clock_zero:
                self.clock_zero = at - 1.0
            seq = self.next_seq
            self.next_seq += 1
            device_ms = int((at - self.clock_zero) * 1000)
            stamp = Stamp(1, seq, device_ms, 63, 180, 0)
            stamps.append(ReceivedStamp(stamp, at, False, StampTags(self.session_id, 1)))
        self.sink.commit(CommitBatch(self.ledger, stamps, (1, self.next_seq - 1)))

    def link_event(self, kind: str, at: datetime, detail: str = "") -> None:
        """A link event (``connected``, ``lost`` …) as the link session logs it in this session."""
        entry = LinkLogEntry(at.timestamp(), kind, detail, StampTags(self.session_id, 1), self.ledger)
        self.sink.commit(CommitBatch(None, log=[entry]))

    def save_steps(self, records: Sequence[StepRecord]) -> None:
        with self.database.Session.begin() as s:
            for record in records:
                save_step_record(s, self.session_id, record)


def device_info(serial: str, head_id: int) -> DeviceInfo:
    return DeviceInfo(serial, 2, 1, 0, 0, 1, 1, 1, 2000, head_id, 0, 100, 88, 1, 0)


def open_chair(
    database: Database,
    *,
    chair: str | None,
    practitioner: str,
    patient_code: str,
    started_at: datetime,
    head_id: int | None = None,
    serial: str | None = None,
    claim: bool = True,
    protocol: TreatmentProtocol = PROTOCOL,
) -> Chair:
    """A practitioner and patient of their own, the patient's course and its open session at ``chair`` with
    a stamp attached (a new one, or the one of ``serial``); ``chair`` None (or ``claim`` false): the
    session holds no claims, as one an earlier version left open."""
    serial = serial or f"SS-{next(_serials):06d}"
    head = head_id if head_id is not None else 1000 + int(serial[3:])
    sink = DatabaseSink(database)
    sink.open_device(device_info(serial, head))
    with database.Session.begin() as s:
        who = add_practitioner(s, practitioner)
        patient = create_patient(s, NewPatient.parse(patient_code, norwood_grade="3"), now=started_at)
        course = start_course(s, patient.id, now=started_at)
        name = chair or "a chair"
        view = open_session(s, course, protocol=protocol, practitioner_id=who.id, now=started_at, chair=name)
        attach_device(s, view.id, serial=serial, head_id=head, footprint_mm2=100, now=started_at, chair=name)
        if not claim or chair is None:  # as a session an earlier version left open without its claims
            s.execute(delete(SessionClaim).where(SessionClaim.session_id == view.id))
    return Chair(database, view.id, serial, head, sink, practitioner, patient.code)


def steps_up_to(
    position: int, started_at: datetime, *, protocol: TreatmentProtocol = PROTOCOL, step_s: float = 60.0
) -> list[StepRecord]:
    """Step records of the first ``position`` steps done and step ``position`` (0-based) started,
    ``step_s`` apart from ``started_at``; a timed step starts its timer when it starts."""
    records = []
    for index, step in enumerate(protocol.steps[: position + 1]):
        begun = started_at + timedelta(seconds=index * step_s)
        done = index < position
        records.append(
            StepRecord(
                step_id=step.id,
                kind=step.kind,
                position=index,
                started_at=begun,
                started_by="Dr Test",
                ended_at=begun + timedelta(seconds=step_s) if done else None,
                confirmed_by="Dr Test" if done else None,
                timer_seconds=step.timer.seconds if step.timer else None,
                timer_started_at=begun if step.timer else None,
                timer_ran_seconds=step_s if step.timer and done else None,
                lot="LOT-1" if step.requires_lot and done else None,
                lot_expiry=(started_at + timedelta(days=365)).date() if step.requires_lot and done else None,
            )
        )
    return records
