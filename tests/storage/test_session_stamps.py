"""Stamps in a session: the sink stores each with the session and zone it arrived in, heads keep their
history, export shows it."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from stampside.app.cli.export import export_command
from stampside.app.domain.coverage import CoverageModel, CreditedStamp
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.domain.zones import Zone
from stampside.app.storage import Database, DatabaseSink, iter_export_rows
from stampside.app.storage.courses import start_course
from stampside.app.storage.heads import head_history, head_used_elsewhere
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.schema import DeviceHead, LinkEvent, StampEvent
from stampside.app.storage.session_stamps import count_session_stamps, load_credited_stamps
from stampside.app.storage.sessions import SessionError, abandon_session, attach_device, finish_session, open_session
from stampside.devicelink.sink import NO_TAGS, CommitBatch, LinkLogEntry, ReceivedStamp, StampTags
from stampside.firmware_protocol import DeviceInfo, Stamp
from stampside.firmware_protocol.host_events import Ledger
from tests.storage.conftest import T0, Seeded

PROTOCOL = default_protocol()
SERIAL = "SN-1"
LEDGER = Ledger(SERIAL)


def info(head_id: int = 7) -> DeviceInfo:
    return DeviceInfo(SERIAL, 2, 1, 0, 0, 1, 1, 1, 2000, head_id, 0, 100, 88, 1, 0)


def received(seqs: range | list[int], zone: int = 0, tags: StampTags = NO_TAGS) -> list[ReceivedStamp]:
    return [ReceivedStamp(Stamp(1, s, s * 7, 63, 180, zone), time.time(), False, tags) for s in seqs]


def in_session(session_id: int | None, active: Zone | None = Zone.FRONTAL) -> StampTags:
    return StampTags(session_id, int(active) if active is not None else None)


def open_with_device(db: Database, course_id: int, practitioner_id: int, head_id: int = 7, days: int = 0) -> int:
    with db.Session.begin() as session:
        opened = open_session(
            session, course_id, protocol=PROTOCOL, practitioner_id=practitioner_id, now=T0 + timedelta(days)
        )
        attach_device(session, opened.id, serial=SERIAL, head_id=head_id, footprint_mm2=100, now=T0 + timedelta(days))
    return opened.id


@pytest.fixture
def sink(clinic: Database) -> DatabaseSink:
    sink = DatabaseSink(clinic)
    sink.open_device(info())
    return sink


def test_the_sink_stores_each_stamp_and_link_event_with_the_session_it_arrived_in(
    clinic: Database, seeded: Seeded, sink: DatabaseSink
) -> None:
    sink.commit(CommitBatch(LEDGER, received(range(1, 4)), (1, 3)))  # `link record`, no session
    session_id = open_with_device(clinic, seeded.course_id, seeded.practitioner_id)
    entry = LinkLogEntry(time.time(), "lost", "no answer", in_session(session_id))
    new = sink.commit(CommitBatch(LEDGER, received(range(3, 7), tags=in_session(session_id)), (1, 6), [entry]))
    assert [(s.stamp.seq, s.session_id, s.credited_zone) for s in new] == [
        (4, session_id, 1),
        (5, session_id, 1),
        (6, session_id, 1),
    ]  # 3 arrived again: it keeps NULL and is not reported as new
    sink.commit(CommitBatch(LEDGER, received([7]), (1, 7)))
    with clinic.Session.begin() as session:
        tagged = session.execute(select(StampEvent.seq, StampEvent.session_id).order_by(StampEvent.seq)).all()
        links = session.scalars(select(LinkEvent.session_id)).all()
        assert count_session_stamps(session, session_id) == 3
    assert tagged == [(1, None), (2, None), (3, None), (4, session_id), (5, session_id), (6, session_id), (7, None)]
    assert links == [session_id]


def test_each_stamp_is_credited_where_it_was_made_in_the_same_insert(
    clinic: Database, seeded: Seeded, sink: DatabaseSink
) -> None:
    session_id = open_with_device(clinic, seeded.course_id, seeded.practitioner_id)
    sink.commit(
        CommitBatch(
            LEDGER,
            received([1, 2], zone=0, tags=in_session(session_id, Zone.FRONTAL))
            + received([3], zone=0, tags=in_session(session_id, None))
            + received([4], zone=5, tags=in_session(session_id, Zone.FRONTAL))
            + received([5], zone=12, tags=in_session(session_id, Zone.FRONTAL)),
            (1, 5),
        )
    )
    with clinic.Session.begin() as session:
        loaded = load_credited_stamps(session, session_id)
    assert loaded == [
        CreditedStamp(1, 1, Zone.FRONTAL, 100),  # zone 0: the zone being stamped
        CreditedStamp(1, 2, Zone.FRONTAL, 100),
        CreditedStamp(1, 3, None, 100),  # zone 0 and no zone chosen: unassigned
        CreditedStamp(1, 4, Zone.RIGHT_TEMPORAL, 100),  # the device's own zone wins
        CreditedStamp(1, 5, None, 100),  # a reserved zone id: unassigned
    ]
    resumed = CoverageModel([Zone.FRONTAL, Zone.RIGHT_TEMPORAL], 2.0, 100)
    resumed.load(loaded)
    assert resumed.stamps_in(Zone.FRONTAL) == 2


def test_a_stamp_already_stored_keeps_its_session_whatever_its_replay_says(
    clinic: Database, seeded: Seeded, sink: DatabaseSink
) -> None:
    first = open_with_device(clinic, seeded.course_id, seeded.practitioner_id)
    sink.commit(CommitBatch(LEDGER, received([1], zone=3, tags=in_session(first)), (1, 1)))
    with clinic.Session.begin() as session:
        abandon_session(session, first, now=T0 + timedelta(minutes=1))
    second = open_with_device(clinic, seeded.course_id, seeded.practitioner_id)
    again = sink.commit(CommitBatch(LEDGER, received([1, 2], tags=in_session(second)), (1, 2)))
    assert [s.stamp.seq for s in again] == [2]
    with clinic.Session.begin() as session:
        rows = session.execute(select(StampEvent.seq, StampEvent.session_id, StampEvent.credited_zone)).all()
    assert sorted(rows) == [(1, first, int(Zone.VERTEX)), (2, second, int(Zone.FRONTAL))]


def test_a_new_numbering_of_the_same_serial_keeps_its_stamps_apart(clinic: Database, sink: DatabaseSink) -> None:
    sink.commit(CommitBatch(LEDGER, received(range(1, 4)), (1, 3)))
    second = sink.start_life(info(), sink.open_device(info()), 0x5EED, "boot counter wiped")
    assert (second.life, second.epoch, second.boot, second.seq) == (2, 0x5EED, 0, 0)
    assert sink.open_device(info()) == second  # the current numbering from now on
    new = sink.commit(CommitBatch(second, received(range(1, 3)), (1, 2)))
    assert [s.stamp.seq for s in new] == [1, 2]  # same (boot, seq) as stored ones, yet new
    with clinic.Session.begin() as session:
        rows = [(r.life, r.epoch, r.seq) for r in iter_export_rows(session)]
    assert rows == [(1, None, 1), (1, None, 2), (1, None, 3), (2, 0x5EED, 1), (2, 0x5EED, 2)]


def test_an_unknown_epoch_is_bound_once(clinic: Database, sink: DatabaseSink) -> None:
    first = sink.open_device(info())
    sink.bind_epoch(first, 0xABCD)
    sink.bind_epoch(first, 0x1234)  # already known: kept
    assert sink.open_device(info()).epoch == 0xABCD


def test_a_head_used_in_a_finished_session_is_used_elsewhere(
    clinic: Database, seeded: Seeded, sink: DatabaseSink
) -> None:
    first = open_with_device(clinic, seeded.course_id, seeded.practitioner_id)
    with clinic.Session.begin() as session:
        assert not head_used_elsewhere(session, serial=SERIAL, head_id=7, session_id=first)
        finish_session(session, first, now=T0 + timedelta(hours=1))
    second = open_with_device(clinic, seeded.course_id, seeded.practitioner_id, days=7)
    with clinic.Session.begin() as session:
        assert head_used_elsewhere(session, serial=SERIAL, head_id=7, session_id=second)
        assert not head_used_elsewhere(session, serial=SERIAL, head_id=8, session_id=second)
        assert not head_used_elsewhere(session, serial="SN-OTHER", head_id=7)
        history = head_history(session, serial=SERIAL, head_id=7)
    assert [(use.session_id, use.number, use.status, use.patient_code) for use in history] == [
        (first, 1, "finished", "P-0042"),
        (second, 2, "open", "P-0042"),
    ]


def test_every_head_a_device_reports_is_noted_once(clinic: Database, sink: DatabaseSink) -> None:
    sink.open_device(info(head_id=7))
    sink.open_device(info(head_id=8))
    with clinic.Session.begin() as session:
        heads = session.execute(select(DeviceHead.head_id).order_by(DeviceHead.head_id)).scalars().all()
        assert heads == [7, 8]
        assert head_history(session, serial=SERIAL, head_id=8) == []


def test_a_false_start_without_stamps_does_not_use_the_head_but_one_with_stamps_does(
    clinic: Database, seeded: Seeded, sink: DatabaseSink
) -> None:
    false_start = open_with_device(clinic, seeded.course_id, seeded.practitioner_id)
    with clinic.Session.begin() as session:
        abandon_session(session, false_start, now=T0 + timedelta(minutes=2))
    stamped = open_with_device(clinic, seeded.course_id, seeded.practitioner_id)
    with clinic.Session.begin() as session:
        assert not head_used_elsewhere(session, serial=SERIAL, head_id=7, session_id=stamped)
    sink.commit(CommitBatch(LEDGER, received([1], tags=in_session(stamped)), (1, 1)))
    with clinic.Session.begin() as session:
        abandon_session(session, stamped, now=T0 + timedelta(minutes=20))
    third = open_with_device(clinic, seeded.course_id, seeded.practitioner_id)
    with clinic.Session.begin() as session:
        assert head_used_elsewhere(session, serial=SERIAL, head_id=7, session_id=third)
        assert [use.stamps for use in head_history(session, serial=SERIAL, head_id=7)] == [0, 1, 0]


def test_a_session_needs_a_connected_device(clinic: Database, seeded: Seeded) -> None:
    with pytest.raises(SessionError, match="has not connected yet"), clinic.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0
        )
        attach_device(session, opened.id, serial="SN-NONE", head_id=1, footprint_mm2=100, now=T0)


def _session_with_stamps(clinic: Database, seeded: Seeded, sink: DatabaseSink) -> int:
    sink.commit(CommitBatch(LEDGER, received([1], zone=3), (1, 1)))  # recorded outside a session
    session_id = open_with_device(clinic, seeded.course_id, seeded.practitioner_id)
    sink.commit(
        CommitBatch(
            LEDGER,
            received([2], zone=0, tags=in_session(session_id))
            + received([3], zone=12, tags=in_session(session_id)),
            (1, 3),
        )
    )
    return session_id


def test_export_rows_carry_session_patient_and_credited_zone_and_keep_the_device_zone(
    clinic: Database, seeded: Seeded, sink: DatabaseSink
) -> None:
    session_id = _session_with_stamps(clinic, seeded, sink)
    with clinic.Session.begin() as session:
        rows = list(iter_export_rows(session))
    got = [(r.seq, r.zone, r.session, r.session_number, r.patient, r.credited_zone) for r in rows]
    assert got == [
        (1, 3, None, None, None, None),
        (2, 0, session_id, 1, "P-0042", 1),
        (3, 12, session_id, 1, "P-0042", None),
    ]


def test_stampside_export_has_the_old_columns_first_then_the_session_ones(
    clinic_url: str, clinic: Database, seeded: Seeded, sink: DatabaseSink
) -> None:
    session_id = _session_with_stamps(clinic, seeded, sink)
    runner = CliRunner()
    as_csv = runner.invoke(export_command, ["--db", clinic_url, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    reader = csv.DictReader(io.StringIO(as_csv.stdout))
    assert reader.fieldnames == [
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
    ]
    table = list(reader)
    assert (table[0]["session"], table[0]["patient"], table[0]["credited_zone"]) == ("", "", "")
    assert (table[1]["session"], table[1]["patient"], table[1]["zone"], table[1]["credited_zone"]) == (
        str(session_id),
        "P-0042",
        "0",
        "1",
    )
    as_jsonl = runner.invoke(export_command, ["--db", clinic_url])
    assert as_jsonl.exit_code == 0, as_jsonl.output
    records = [json.loads(line) for line in as_jsonl.stdout.splitlines()]
    assert records[2] | {"received_at": "-"} == {
        "device_serial": SERIAL,
        "boot": 1,
        "seq": 3,
        "device_time_ms": 21,
        "force": 6.3,
        "contact_ms": 180,
        "zone": 12,
        "received_at": "-",
        "replay": False,
        "session": session_id,
        "session_number": 1,
        "patient": "P-0042",
        "credited_zone": None,
        "life": 1,
        "epoch": None,
    }


def test_another_patients_session_gets_its_own_code(clinic: Database, seeded: Seeded, sink: DatabaseSink) -> None:
    with clinic.Session.begin() as session:
        other = create_patient(session, NewPatient.parse("P-0099"), now=T0)
        course = start_course(session, other.id, now=T0)
    session_id = open_with_device(clinic, course, seeded.practitioner_id)
    sink.commit(CommitBatch(LEDGER, received([1], tags=in_session(session_id)), (1, 1)))
    with clinic.Session.begin() as session:
        assert [row.patient for row in iter_export_rows(session)] == ["P-0099"]
