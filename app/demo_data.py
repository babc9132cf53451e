"""A realistic demo cohort for QA, screenshots and the report tests: ``stampside demo-data``.

:func:`seed_demo_cohort` fills a database through the same storage functions the app uses
(no raw SQL): practitioners, patients with Norwood grades, a course each, and treatment
sessions walked through the protocol's steps with a :class:`~app.domain.steps.SessionFlow`
on a made-up clock — device checks, lots, volumes, timers, the odd override — with stamps
stored by the link's :class:`~app.storage.sink.DatabaseSink` (including a link drop and its
replay) and credited to zones the way the stamping screen credits them.

Everything is derived from ``seed``: the same seed gives the same cohort.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.domain.coverage import CoverageModel
from app.domain.gates import DeviceFacts, Gate
from app.domain.steps import SessionFlow
from app.domain.treatment_protocol import StepKind, TreatmentProtocol, default_protocol
from app.domain.zones import DEFAULT_AREA_CM2, NorwoodGrade, Zone
from app.storage.courses import start_course
from app.storage.database import Database
from app.storage.patients import NewPatient, create_patient, find_patient
from app.storage.practitioners import add_practitioner, list_practitioners
from app.storage.session_stamps import credit_stamps
from app.storage.sessions import ZoneSetting, attach_device, finish_session, open_session
from app.storage.sink import DatabaseSink
from app.storage.step_records import save_step_record
from devicelink.sink import CommitBatch, LinkLogEntry, ReceivedStamp
from firmware_protocol import DeviceInfo, Stamp

#: The demo patients: code, name, year of birth, Norwood grade, sessions done.
DEMO_PATIENTS: tuple[tuple[str, str, int, str, int], ...] = (
    ("DEMO-001", "Patient One", 1979, "3", 6),
    ("DEMO-002", "Patient Two", 1985, "3V", 6),
    ("DEMO-003", "Patient Three", 1972, "4", 6),
    ("DEMO-004", "Patient Four", 1990, "3", 6),
    ("DEMO-005", "Patient Five", 1968, "4", 6),
)
DEMO_PRACTITIONERS = ("Demo practitioner A", "Demo practitioner B")
DEMO_SERIAL = "DEMO-STAMP-1"
#: The product lots the demo clinic used, with their expiry dates.
DEMO_LOTS = (("LOT-24A17", date(2027, 6, 30)), ("LOT-25B03", date(2027, 12, 31)))
FOOTPRINT_MM2 = 100


class DemoDataError(ValueError):
    """The database already holds the demo cohort (or part of it)."""


@dataclass(frozen=True, slots=True)
class SeededCohort:
    patients: int
    sessions: int
    stamps: int
    session_ids: tuple[int, ...]


class _Clock:
    """A hand-moved clock for the session flow."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def seed_demo_cohort(
    database: Database,
    *,
    seed: int = 7,
    first_session: datetime | None = None,
    protocol: TreatmentProtocol | None = None,
) -> SeededCohort:
    """Add the demo cohort; refuses (:class:`DemoDataError`) if its patients are already there."""
    protocol = protocol or default_protocol()
    rng = random.Random(seed)
    start = first_session or datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    with database.Session.begin() as session:
        if any(find_patient(session, code) is not None for code, *_ in DEMO_PATIENTS):
            raise DemoDataError("the demo patients are already in this database; use an empty database")
        known = {p.name: p.id for p in list_practitioners(session)}
        practitioner_ids = [known.get(name) or add_practitioner(session, name).id for name in DEMO_PRACTITIONERS]
    sink = DatabaseSink(database)
    head_ids = iter(range(5001, 6000))
    seq_counter = _Counter()
    session_ids: list[int] = []
    stamps = 0
    for index, (code, name, birth_year, grade, done) in enumerate(DEMO_PATIENTS):
        day0 = start + timedelta(days=index * 3, hours=index)
        with database.Session.begin() as session:
            patient = create_patient(
                session,
                NewPatient.parse(code, name=name, birth_year=str(birth_year), norwood_grade=grade),
                now=day0 - timedelta(days=14),
            )
            course_id = start_course(
                session,
                patient.id,
                now=day0 - timedelta(days=1),
                planned_sessions=protocol.course.sessions,
                interval_days=protocol.course.interval_days,
            )
        zones = NorwoodGrade(grade).default_zones
        for number in range(1, done + 1):
            when = day0 + timedelta(days=(number - 1) * protocol.course.interval_days + rng.choice((0, 0, 0, 1, -1)))
            practitioner_id = practitioner_ids[(index + number) % len(practitioner_ids)]
            practitioner = DEMO_PRACTITIONERS[(index + number) % len(DEMO_PRACTITIONERS)]
            session_id, count = _session(
                database,
                sink,
                rng,
                protocol=protocol,
                course_id=course_id,
                practitioner_id=practitioner_id,
                practitioner=practitioner,
                when=when,
                zones=zones,
                head_id=next(head_ids),
                seqs=seq_counter,
                lot=DEMO_LOTS[0] if when < start + timedelta(days=40) else DEMO_LOTS[1],
            )
            session_ids.append(session_id)
            stamps += count
    return SeededCohort(len(DEMO_PATIENTS), len(session_ids), stamps, tuple(session_ids))


class _Counter:
    """The demo device's global stamp sequence (it never reboots in the demo)."""

    def __init__(self) -> None:
        self.seq = 0

    def take(self, count: int) -> Iterator[int]:
        for _ in range(count):
            self.seq += 1
            yield self.seq


def _device_info(head_id: int, battery: int, last_seq: int) -> DeviceInfo:
    return DeviceInfo(DEMO_SERIAL, 2, 1, 4, 0, 1, 1, 1, 2000, head_id, 0, FOOTPRINT_MM2, battery, 1, last_seq)


def _session(
    database: Database,
    sink: DatabaseSink,
    rng: random.Random,
    *,
    protocol: TreatmentProtocol,
    course_id: int,
    practitioner_id: int,
    practitioner: str,
    when: datetime,
    zones: frozenset[Zone],
    head_id: int,
    seqs: _Counter,
    lot: tuple[str, date],
) -> tuple[int, int]:
    clock = _Clock(when)
    settings = [ZoneSetting(zone, DEFAULT_AREA_CM2[zone], protocol.coverage.density_for(zone)) for zone in zones]
    # Now and then the battery is low at the checks: the practitioner overrides it with a reason.
    battery = rng.randint(18, 24) if rng.random() < 0.1 else rng.randint(30, 100)
    info = _device_info(head_id, battery, seqs.seq)
    sink.open_device(info)
    with database.Session.begin() as session:
        view = open_session(
            session, course_id, protocol=protocol, practitioner_id=practitioner_id, now=clock(), zones=settings
        )
        attach_device(session, view.id, serial=DEMO_SERIAL, head_id=head_id, footprint_mm2=FOOTPRINT_MM2, now=clock())
    session_id = view.id
    sink.session_id = session_id
    sink.commit(CommitBatch(DEMO_SERIAL, (), None, [LinkLogEntry(clock().timestamp(), "connected", "demo stamp")]))
    flow = SessionFlow(protocol, clock)
    stamps = 0

    def save() -> None:
        record = flow.records[-1]
        with database.Session.begin() as session:
            save_step_record(session, session_id, record)

    while not flow.finished:
        step = flow.current_step
        assert step is not None
        flow.start(practitioner)
        clock.advance(rng.uniform(5, 20))
        if step.kind is StepKind.PRE_CHECKS:
            facts = DeviceFacts.from_device_info(info, head_used_elsewhere=False, clock_synced=True)
            results = flow.check_device(facts)
            for result in results:
                if not result.ok and result.gate is Gate.BATTERY:
                    flow.override(result.gate, "spare battery pack fitted before stamping", practitioner)
        elif step.kind is StepKind.STAMPING:
            flow.check_device(
                DeviceFacts.from_device_info(info, head_used_elsewhere=False, clock_synced=True, armed=True)
            )
            stamps += _stamping(database, sink, rng, clock, session_id, zones, seqs)
            flow.record_volume(step.volume_ml or 2.5)
        elif step.kind is StepKind.APPLICATION and step.requires_lot:
            flow.record_lot(lot[0], lot[1])
            flow.record_volume(step.volume_ml or 2.5)
        if step.timer is not None:
            clock.advance(step.timer.seconds + rng.uniform(0, 30))
        else:
            clock.advance(rng.uniform(20, 90))
        save()
        flow.complete(practitioner)
        save()
    sink.session_id = None
    with database.Session.begin() as session:
        finish_session(session, session_id, now=clock.advance(30))
    return session_id, stamps


def _stamping(
    database: Database,
    sink: DatabaseSink,
    rng: random.Random,
    clock: _Clock,
    session_id: int,
    zones: frozenset[Zone],
    seqs: _Counter,
) -> int:
    """Stamp each treated zone to about its target, with one link drop replayed, and credit the zones."""
    model = CoverageModel(zones, 2.0, FOOTPRINT_MM2)
    batch: list[ReceivedStamp] = []
    credited = []
    device_ms = rng.randint(10_000, 50_000)
    total = 0
    drop_at = rng.randint(40, 120)
    for zone in sorted(zones):
        model.set_active(zone)
        wanted = model.zone(zone).stamps_to_target or 0
        for seq in seqs.take(wanted + rng.randint(-3, 6)):
            device_ms += int(rng.uniform(280, 520))
            force = max(15, min(140, round(rng.gauss(65, 12))))
            stamp = Stamp(1, seq, device_ms, force, rng.randint(120, 260), 0)
            at = clock.advance((device_ms % 1000) / 2500 + 0.25)
            total += 1
            replay = drop_at <= total < drop_at + 25
            batch.append(ReceivedStamp(stamp, at.timestamp(), replay))
            credited.append(model.add_stamp(1, seq, 0).stamp)
    log = [
        LinkLogEntry(when.timestamp(), kind, detail)
        for when, kind, detail in (
            (clock() - timedelta(seconds=200), "lost", "no heartbeat for 2.0 s"),
            (clock() - timedelta(seconds=195), "connected", "link back after 5 s"),
            (clock() - timedelta(seconds=195), "resync", "25 buffered stamps replayed"),
        )
    ]
    sink.commit(CommitBatch(DEMO_SERIAL, batch, (1, seqs.seq), log))
    with database.Session.begin() as session:
        credit_stamps(session, session_id, credited)
    return total
