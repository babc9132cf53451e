"""The audit trail on real SQLite files: the app's writes chain up, and `verify` finds what changed outside the app.

"Outside the app" is Python's ``sqlite3`` module on the same file, as the ``sqlite3`` shell would do it.
"""

from __future__ import annotations

import io
import itertools
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, delete, insert, select, update
from sqlalchemy.orm import Session

from stampside.app.demo_data import seed_demo_cohort
from stampside.app.domain.gates import DeviceFacts
from stampside.app.domain.steps import SessionFlow
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.domain.zones import Zone
from stampside.app.storage import Database, DatabaseSink, open_database
from stampside.app.storage.audit import AuditError
from stampside.app.storage.audit_actor import acting_as, current_actor, set_actor
from stampside.app.storage.audit_hash import entry_hash, stamp_digest, stamp_line_hash
from stampside.app.storage.audit_trail import TrailEntry, patient_ids, read_trail
from stampside.app.storage.audit_verify import Verification, verify_trail
from stampside.app.storage.courses import start_course
from stampside.app.storage.migrate import alembic_config, current_revision
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schema import AuditEntry, Patient, StampEvent
from stampside.app.storage.sessions import ZoneSetting, attach_device, finish_session, open_session, set_zones
from stampside.app.storage.stamps import store_stamps
from stampside.app.storage.step_records import save_step_record
from stampside.devicelink.sink import CommitBatch, LinkLogEntry, ReceivedStamp, StampTags
from stampside.firmware_protocol import DeviceInfo, Stamp
from stampside.firmware_protocol.host_events import Ledger
from tests.storage.conftest import T0, Seeded

PROTOCOL = default_protocol()
SERIAL = "SN-AUDIT"
#: DEMO-001's record key.
PATIENT_ONE = '{"id":1}'


def outside(path: Path, sql: str, *params: object) -> None:
    """Change the file the way the sqlite3 shell would: no app, no audit trail."""
    connection = sqlite3.connect(path)
    try:
        connection.execute(sql, params)
        connection.commit()
    finally:
        connection.close()


def verify(db: Database) -> Verification:
    with db.Session.begin() as session:
        return verify_trail(session)


def trail(db: Database, **filters: object) -> list[TrailEntry]:
    with db.Session.begin() as session:
        return list(read_trail(session, **filters))  # type: ignore[arg-type]


def messages(result: Verification) -> list[str]:
    return [str(finding) for finding in result.findings]


def device_info(head_id: int = 7) -> DeviceInfo:
    return DeviceInfo(SERIAL, 2, 1, 0, 0, 1, 1, 1, 2000, head_id, 0, 100, 88, 1, 0)


def stamps(seqs: range, session_id: int | None) -> list[ReceivedStamp]:
    return [ReceivedStamp(Stamp(1, s, s * 7, 63, 180, 1), time.time(), False, StampTags(session_id, 1)) for s in seqs]


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo cohort, seeded once; each test works on its own copy."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    database = open_database(f"sqlite:///{path}")
    try:
        seed_demo_cohort(database)
    finally:
        database.close()
    return path


@pytest.fixture
def demo(demo_file: Path, tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    copy = tmp_path / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{demo_file}{suffix}").exists():
            shutil.copy(f"{demo_file}{suffix}", f"{copy}{suffix}")
    database = open_database(f"sqlite:///{copy}")
    yield database, copy
    database.close()


# --- the app's writes -------------------------------------------------------------------------------


def test_every_app_write_appends_an_entry_chained_to_the_one_before(clinic: Database, seeded: Seeded) -> None:
    with acting_as("practitioner:Dr Ada"), clinic.Session.begin() as session:
        opened = open_session(
            session,
            seeded.course_id,
            protocol=PROTOCOL,
            practitioner_id=seeded.practitioner_id,
            now=T0,
            zones=[ZoneSetting(Zone.FRONTAL, 60.0, 2.0)],
        )
    with acting_as("practitioner:Dr Ada"), clinic.Session.begin() as session:
        finish_session(session, opened.id, now=T0 + timedelta(minutes=40))

    entries = trail(clinic)
    assert [entry.seq for entry in entries] == list(range(1, len(entries) + 1))
    assert [(e.action, e.table) for e in entries[:3]] == [
        ("insert", "practitioners"),
        ("insert", "patients"),
        ("insert", "courses"),
    ]
    assert entries[1].after is not None and entries[1].after["code"] == "P-0042"
    finished = entries[-1]
    assert (finished.action, finished.table, finished.key) == ("update", "treatment_sessions", {"id": opened.id})
    assert finished.actor == "practitioner:Dr Ada"
    changed = {name: (old, new) for name, old, new in finished.changed()}
    assert changed["status"] == ("open", "finished")
    assert set(changed) == {"status", "ended_at"}
    assert finished.patient_id == seeded.patient_id
    with clinic.Session.begin() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        for before, after in itertools.pairwise(rows):
            assert after.prev_hash == before.entry_hash
    assert verify(clinic).ok


def test_the_actor_is_the_block_then_the_process_then_the_program() -> None:
    set_actor(None)
    assert current_actor().startswith("process:")
    set_actor("cli:report")
    try:
        assert current_actor() == "cli:report"
        with acting_as("link:SS-1"):
            assert current_actor() == "link:SS-1"
        assert current_actor() == "cli:report"
    finally:
        set_actor(None)


def test_stamps_are_one_total_per_session_and_batch_named_for_the_device(clinic: Database, seeded: Seeded) -> None:
    sink = DatabaseSink(clinic)
    ledger = sink.open_device(device_info())
    with clinic.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0
        )
        attach_device(session, opened.id, serial=SERIAL, head_id=7, footprint_mm2=100, now=T0)
    sink.commit(CommitBatch(ledger, stamps(range(1, 4), opened.id), (1, 3), []))
    sink.commit(CommitBatch(ledger, stamps(range(4, 9), opened.id), (1, 8), []))
    sink.commit(CommitBatch(ledger, stamps(range(9, 11), None), (1, 10), []))

    totals = trail(clinic, tables=["stamp_events"])
    assert [(e.key, e.after["count"] if e.after else None) for e in totals] == [
        ({"session_id": opened.id}, 3),
        ({"session_id": opened.id}, 8),
        ({"device_id": 1, "session_id": None}, 2),
    ]
    assert {e.actor for e in totals} == {f"link:{SERIAL}"}
    assert totals[0].patient_id == seeded.patient_id and totals[2].patient_id is None
    assert totals[1].before == totals[0].after
    assert verify(clinic).ok


def test_stamps_changed_through_the_app_get_their_totals_counted_again(clinic: Database, seeded: Seeded) -> None:
    sink = DatabaseSink(clinic)
    ledger = sink.open_device(device_info())
    with clinic.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0
        )
    sink.commit(CommitBatch(ledger, stamps(range(1, 6), opened.id), (1, 5), []))
    with clinic.Session.begin() as session:
        session.execute(update(StampEvent).where(StampEvent.seq <= 2).values(session_id=None))
    with clinic.Session.begin() as session:
        session.execute(delete(StampEvent).where(StampEvent.seq == 5))
    totals = [(e.action, e.key, e.after["count"] if e.after else None) for e in trail(clinic, tables=["stamp_events"])]
    assert totals == [
        ("insert", {"session_id": opened.id}, 5),
        ("update", {"session_id": opened.id}, 3),
        ("insert", {"device_id": 1, "session_id": None}, 2),
        ("update", {"session_id": opened.id}, 2),
    ]
    assert verify(clinic).ok


def test_a_stamp_hashes_alike_as_the_app_stores_it_and_as_the_database_gives_it_back() -> None:
    at = datetime(2026, 3, 2, 9, 4, 15, 746843, tzinfo=UTC)
    as_stored = (3, 1, 17, 5100, 63, 180, 0, at, True, 12, None)
    as_read = (3, 1, 17, 5100, 63, 180, 0, "2026-03-02 09:04:15.746843", 1, 12, None)
    assert stamp_digest([as_stored]) == stamp_digest([as_read]) == stamp_line_hash(as_read)
    outside_the_app = [
        (3, 1, 17, 5100, 64, 180, 0, "2026-03-02 09:04:15.746843", 1, 12, None),  # another force
        (3, 1, 17, 5100, 63.0, 180, 0, "2026-03-02 09:04:15.746843", 1, 12, None),  # a REAL
        (3, 1, 17, 5100, 63, 180, 0, "yesterday", 1, 12, None),  # not a time
        (3, 1, 17, 5100, 63, 180, 0, "2026-03-02 09:04:15.746843", 1, 12, 0),  # a zone for NULL
    ]
    assert len({stamp_digest([as_read]), *(stamp_digest([line]) for line in outside_the_app)}) == 5


def test_link_events_are_audited_with_their_session(clinic: Database, seeded: Seeded) -> None:
    sink = DatabaseSink(clinic)
    ledger = sink.open_device(device_info())
    with clinic.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0
        )
    entry = LinkLogEntry(time.time(), "lost", "no heartbeat for 2.0 s", StampTags(opened.id), ledger)
    sink.commit(CommitBatch(ledger, (), None, [entry]))
    (logged,) = trail(clinic, tables=["link_events"])
    assert logged.after is not None and logged.after["kind"] == "lost"
    assert (logged.actor, logged.patient_id) == (f"link:{SERIAL}", seeded.patient_id)


def test_a_step_saved_again_adds_entries_only_for_what_changed(clinic: Database, seeded: Seeded) -> None:
    with clinic.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0
        )
    flow = SessionFlow(PROTOCOL, lambda: T0)
    flow.start("Dr Ada")
    facts = DeviceFacts(identified=True, serial=SERIAL, needle_um=2000, head_id=7, battery_pct=80, clock_synced=True)
    flow.check_device(facts)
    for _ in range(2):
        with clinic.Session.begin() as session:
            save_step_record(session, opened.id, flow.records[-1])
    checks = trail(clinic, tables=["step_checks"])
    assert checks and {e.action for e in checks} == {"insert"}

    flow.check_device(replace(facts, battery_pct=10))
    with clinic.Session.begin() as session:
        save_step_record(session, opened.id, flow.records[-1])
    changed = trail(clinic, tables=["step_checks"])[len(checks) :]
    assert [e.action for e in changed] == ["update"]
    assert {name for name, _, _ in changed[0].changed()} == {"passed", "message"}


def test_changed_zones_are_updates_of_the_zone_not_a_delete_and_insert(clinic: Database, seeded: Seeded) -> None:
    zones = [ZoneSetting(Zone.FRONTAL, 60.0, 2.0), ZoneSetting(Zone.VERTEX, 40.0, None)]
    with clinic.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0, zones=zones
        )
    with clinic.Session.begin() as session:
        set_zones(session, opened.id, [ZoneSetting(Zone.FRONTAL, 75.0, 2.0)])
    entries = trail(clinic, tables=["session_zones"])[2:]
    assert [(e.action, e.key["zone"]) for e in entries] == [("update", int(Zone.FRONTAL)), ("delete", int(Zone.VERTEX))]
    assert entries[0].changed() == [("area_cm2", 60, 75)]


def test_a_bulk_insert_that_would_bypass_the_trail_is_refused(clinic: Database) -> None:
    with pytest.raises(AuditError, match=r"session\.add"), clinic.Session.begin() as session:
        session.execute(insert(Patient), [{"code": "P-1", "created_at": T0}])


# --- verify ------------------------------------------------------------------------------------------


def test_the_demo_cohort_verifies(demo: tuple[Database, Path]) -> None:
    database, _ = demo
    result = verify(database)
    assert result.ok, messages(result)
    assert result.entries > 1000 and result.records > 900
    assert result.head is not None and len(result.head) == 64


def test_a_patient_changed_outside_the_app_is_named_with_what_differs(demo: tuple[Database, Path]) -> None:
    database, path = demo
    outside(path, "UPDATE patients SET name='Edited' WHERE code='DEMO-001'")
    result = verify(database)
    assert not result.ok
    (finding,) = result.findings
    assert (finding.table, finding.record) == ("patients", "patients id=1 (DEMO-001)")
    assert "changed outside the app" in finding.message and "name 'Patient One' → 'Edited'" in finding.message


def test_a_deleted_audit_entry_is_found(demo: tuple[Database, Path]) -> None:
    database, path = demo
    outside(path, "DELETE FROM audit_entries WHERE seq = 40")
    assert "audit entry #40 missing: deleted from the trail" in messages(verify(database))


def test_the_newest_audit_entry_deleted_leaves_its_record_unaccounted_for(demo: tuple[Database, Path]) -> None:
    database, path = demo
    outside(path, "DELETE FROM audit_entries WHERE seq = (SELECT max(seq) FROM audit_entries)")
    assert not verify(database).ok


def inserted(database: Database, table: str, key: str) -> int:
    """The seq of the entry that inserted this record."""
    with database.Session.begin() as session:
        seq = session.scalar(
            select(AuditEntry.seq).where(
                AuditEntry.table_name == table, AuditEntry.record_key == key, AuditEntry.action == "insert"
            )
        )
    assert seq is not None
    return seq


def test_an_edited_audit_entry_is_found(demo: tuple[Database, Path]) -> None:
    database, path = demo
    seq = inserted(database, "patients", PATIENT_ONE)
    outside(path, "UPDATE audit_entries SET actor = 'someone else' WHERE seq = ?", seq)
    (finding,) = verify(database).findings
    assert finding.record == "patients id=1 (DEMO-001)"
    assert f"audit entry #{seq} was changed after it was written" in finding.message


def test_an_audit_entry_edited_and_rehashed_breaks_the_chain_at_the_next(demo: tuple[Database, Path]) -> None:
    database, path = demo
    with database.Session.begin() as session:
        row = session.get(AuditEntry, 3)
        assert row is not None
        fields = {c.name: getattr(row, c.name) for c in AuditEntry.__table__.columns if c.name != "entry_hash"}
    fields["actor"] = "someone else"
    outside(
        path, "UPDATE audit_entries SET actor = ?, entry_hash = ? WHERE seq = 3", "someone else", entry_hash(fields)
    )
    assert "audit entry #4 does not follow entry #3: the trail was rewritten before it" in messages(verify(database))


def test_records_deleted_and_inserted_outside_the_app_are_found(demo: tuple[Database, Path]) -> None:
    database, path = demo
    outside(path, "DELETE FROM adverse_events WHERE id = 1")
    outside(path, "INSERT INTO practitioners (name, active) VALUES ('Mallory', 1)")
    found = messages(verify(database))
    assert any(m.startswith("adverse_events id=1 (patient DEMO-001): deleted outside the app") for m in found)
    assert any(m.startswith("practitioners id=3: inserted outside the app") for m in found)
    assert len(found) == 2


def test_stamps_changed_or_deleted_outside_the_app_are_found(demo: tuple[Database, Path]) -> None:
    database, path = demo
    outside(path, "UPDATE stamp_events SET force_dn = force_dn + 1 WHERE id = 5")
    outside(path, "DELETE FROM stamp_events WHERE id = (SELECT max(id) FROM stamp_events)")
    found = messages(verify(database))
    assert len(found) == 2
    assert any(
        "stamp_events session_id=1 (patient DEMO-001): stamps changed" in m and "contents differ" in m for m in found
    )
    assert any("stamps in the trail" in m and "stored" in m for m in found)


def test_an_outside_change_is_still_found_after_the_app_changes_the_record_again(demo: tuple[Database, Path]) -> None:
    database, path = demo
    outside(path, "UPDATE patients SET name='Edited' WHERE code='DEMO-001'")
    with database.Session.begin() as session:
        patient = session.scalars(select(Patient).where(Patient.code == "DEMO-001")).one()
        patient.birth_year = 1980
    (finding,) = verify(database).findings
    assert finding.record == "patients id=1 (DEMO-001)"
    first = inserted(database, "patients", PATIENT_ONE)
    assert f"changed outside the app between entries #{first} and" in finding.message
    assert "name 'Patient One' → 'Edited'" in finding.message


def test_the_trail_of_one_patient_since_a_time(demo: tuple[Database, Path]) -> None:
    database, _ = demo
    with database.Session.begin() as session:
        ids = patient_ids(session, "DEMO-002")
    entries = trail(database, patient_ids=ids)
    assert entries and {e.patient_id for e in entries} == {2}
    assert {"patients", "treatment_sessions", "step_records", "stamp_events", "photos"} <= {e.table for e in entries}
    assert trail(database, patient_ids=ids, since=datetime.now(UTC) + timedelta(days=1)) == []
    assert len(trail(database, patient_ids=ids, since=datetime(2000, 1, 1, tzinfo=UTC))) == len(entries)


# --- an existing database ----------------------------------------------------------------------------


def make_v0004_database(path: Path) -> None:
    """A database at v0004 with a patient, a course, a session with stamps and link events, written by the
    app's own use cases (a plain Session: there is no audit trail yet)."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
        with Session(engine) as session, session.begin():
            ada = add_practitioner(session, "Dr Old")
            patient = create_patient(session, NewPatient.parse("P-OLD", name="Old Patient", norwood_grade="4"), now=T0)
            course = start_course(session, patient.id, now=T0)
            # The session's rows as v0004 stores them (today's open_session also claims the patient: v0008).
            from stampside.app.storage.schema import SessionZone, TreatmentSession

            opened = TreatmentSession(
                course_id=course,
                number=1,
                protocol_name=PROTOCOL.name,
                protocol_version=PROTOCOL.version,
                practitioner_id=ada.id,
                started_at=T0,
                status="open",
            )
            session.add(opened)
            session.flush()
            session.add(SessionZone(session_id=opened.id, zone=int(Zone.VERTEX), area_cm2=45.5, target_density=1.5))
            from stampside.app.storage.stamps import add_link_events, register_device

            device = register_device(session, device_info(), T0)
            store_stamps(session, device.id, Ledger(SERIAL), stamps(range(1, 21), opened.id))
            store_stamps(session, device.id, Ledger(SERIAL), stamps(range(21, 26), None))
            add_link_events(session, [(LinkLogEntry(time.time(), "connected", "", StampTags(opened.id)), device.id)])
        assert current_revision(engine) == "0004"
    finally:
        engine.dispose()


def test_an_existing_database_gets_its_records_as_the_baseline_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v0004_database(path)
    database = open_database(f"sqlite:///{path}")
    try:
        baseline = trail(database)
        assert {e.action for e in baseline} == {"baseline"} and {e.actor for e in baseline} == {"migration:0005"}
        assert {e.table for e in baseline} >= {"practitioners", "patients", "courses", "treatment_sessions"}
        assert {"session_zones", "stamp_events", "link_events"} <= {e.table for e in baseline}
        totals = {str(e.key): e.after["count"] for e in baseline if e.table == "stamp_events" and e.after}
        assert totals == {"{'session_id': 1}": 20, "{'device_id': 1, 'session_id': None}": 5}
        assert verify(database).ok, messages(verify(database))

        with database.Session.begin() as session:
            create_patient(session, NewPatient.parse("P-NEW"), now=T0)
        assert verify(database).ok
        outside(path, "UPDATE courses SET status = 'stopped' WHERE id = 1")
        assert [f.record for f in verify(database).findings] == ["courses id=1 (patient P-OLD)"]
    finally:
        database.close()


def test_v0005_renders_as_plain_postgresql_without_a_baseline() -> None:
    buffer = io.StringIO()
    context = MigrationContext.configure(dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buffer})
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0005")
    assert script is not None
    with Operations.context(context):
        script.module.upgrade()
        script.module.downgrade()
    sql = buffer.getvalue()
    assert "CREATE TABLE audit_entries" in sql and "DROP TABLE audit_entries" in sql
    assert "INSERT" not in sql and "PRAGMA" not in sql
