"""Treatment sessions on a real SQLite file: steps saved and restored, overrides, resume after a crash."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from stampside.app.domain.gates import DeviceFacts, Gate
from stampside.app.domain.steps import SessionFlow
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.domain.zones import Zone
from stampside.app.storage import Database, open_database
from stampside.app.storage.sessions import (
    SessionError,
    ZoneSetting,
    abandon_session,
    find_open_session,
    finish_session,
    get_session,
    open_session,
    set_zones,
)
from stampside.app.storage.step_records import load_step_records, save_step_record
from tests.storage.conftest import T0, Seeded

PROTOCOL = default_protocol()
ADA = "Dr Ada"
BO = "Dr Bo"
GOOD = DeviceFacts(
    identified=True, serial="SIM0001", needle_um=2000, head_id=7, battery_pct=80, clock_synced=True, armed=True
)
ZONES = (ZoneSetting(Zone.FRONTAL, 60.0, 2.0), ZoneSetting(Zone.VERTEX, 45.5, None))


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def open_one(db: Database, seeded: Seeded) -> int:
    with db.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0, zones=ZONES
        )
    return opened.id


def save(db: Database, session_id: int, flow: SessionFlow) -> None:
    """What the app does after every action: store the record that changed, in its own transaction."""
    with db.Session.begin() as session:
        for record in flow.records:
            save_step_record(session, session_id, record)


def test_a_session_keeps_its_protocol_practitioner_and_zones(clinic: Database, seeded: Seeded) -> None:
    session_id = open_one(clinic, seeded)
    with clinic.Session.begin() as session:
        view = get_session(session, session_id)
    assert (view.number, view.planned_sessions, view.label) == (1, 6, "session 1 of 6")
    assert (view.protocol_name, view.protocol_version) == (PROTOCOL.name, PROTOCOL.version)
    assert (view.practitioner_name, view.patient_code, view.status) == ("Dr Ada", "P-0042", "open")
    assert view.zones == ZONES
    assert view.started_at == T0 and view.ended_at is None


def test_the_zones_can_be_changed_while_open(clinic: Database, seeded: Seeded) -> None:
    session_id = open_one(clinic, seeded)
    with clinic.Session.begin() as session:
        set_zones(session, session_id, [ZoneSetting(Zone.MID_SCALP, 80.0, 1.5)])
    with clinic.Session.begin() as session:
        assert get_session(session, session_id).zones == (ZoneSetting(Zone.MID_SCALP, 80.0, 1.5),)
        with pytest.raises(SessionError, match="more than 0"):
            set_zones(session, session_id, [ZoneSetting(Zone.MID_SCALP, 0.0)])


def test_step_records_saved_step_by_step_restore_the_flow(clinic: Database, seeded: Seeded) -> None:
    session_id = open_one(clinic, seeded)
    clock = FakeClock()
    flow = SessionFlow(PROTOCOL, clock)
    flow.start(ADA)
    save(clinic, session_id, flow)
    flow.check_device(GOOD)
    clock.advance(30)
    flow.complete(BO)
    save(clinic, session_id, flow)
    flow.start(ADA)  # disinfection: its timer is running when the app dies
    clock.advance(5)
    save(clinic, session_id, flow)
    with clinic.Session.begin() as session:
        stored = load_step_records(session, session_id)
    assert stored == list(flow.records)
    restored = SessionFlow.restore(PROTOCOL, stored, clock)
    assert restored.position == 1 and restored.current_record == flow.current_record
    assert restored.records[0].confirmed_by == BO and restored.records[0].checks == flow.records[0].checks
    assert restored.timer_remaining() == flow.timer_remaining()


def test_a_whole_session_round_trips_lots_volumes_and_timers(clinic: Database, seeded: Seeded) -> None:
    session_id = open_one(clinic, seeded)
    clock = FakeClock()
    flow = SessionFlow(PROTOCOL, clock)
    flow.start(ADA)
    flow.check_device(GOOD)
    flow.complete(ADA)
    flow.start(ADA)
    clock.advance(PROTOCOL.step("disinfection").timer.seconds)  # type: ignore[union-attr]
    flow.complete(ADA)
    flow.start(ADA)
    flow.record_lot("LOT-42", date(2027, 1, 31))
    flow.record_volume(2.4)
    flow.complete(ADA)
    save(clinic, session_id, flow)
    with clinic.Session.begin() as session:
        stored = load_step_records(session, session_id)
    assert stored == list(flow.records)
    application = stored[2]
    assert (application.lot, application.lot_expiry, application.volume_ml) == ("LOT-42", date(2027, 1, 31), 2.4)
    assert stored[1].timer_ran_seconds == PROTOCOL.step("disinfection").timer.seconds  # type: ignore[union-attr]
    assert all(record.started_at.tzinfo is not None for record in stored)


def test_overrides_are_stored_with_who_when_why_and_the_failure(clinic: Database, seeded: Seeded) -> None:
    session_id = open_one(clinic, seeded)
    clock = FakeClock()
    flow = SessionFlow(PROTOCOL, clock)
    flow.start(ADA)
    flow.check_device(replace(GOOD, head_used_elsewhere=True))
    clock.advance(12)
    override = flow.override(Gate.HEAD_UNUSED, "  new head   fitted, counter not reset ", BO)
    flow.complete(ADA)
    save(clinic, session_id, flow)
    save(clinic, session_id, flow)  # saving again adds nothing
    with clinic.Session.begin() as session:
        stored = load_step_records(session, session_id)
    assert stored[0].overrides == (override,)
    (kept,) = stored[0].overrides
    assert (kept.gate, kept.by, kept.at) == (Gate.HEAD_UNUSED, BO, T0 + timedelta(seconds=12))
    assert kept.reason == "new head fitted, counter not reset"
    assert "head" in kept.failure
    restored = SessionFlow.restore(PROTOCOL, stored, clock)
    assert restored.records[0].override_for(Gate.HEAD_UNUSED) == override


def test_an_open_session_is_found_after_a_crash(clinic_url: str, clinic: Database, seeded: Seeded) -> None:
    session_id = open_one(clinic, seeded)
    clock = FakeClock()
    flow = SessionFlow(PROTOCOL, clock)
    flow.start(ADA)
    flow.check_device(GOOD)
    flow.complete(ADA)
    flow.start(ADA)
    save(clinic, session_id, flow)
    clinic.close()  # the app dies; a new process opens the same file
    again = open_database(clinic_url)
    try:
        with again.Session.begin() as session:
            found = find_open_session(session)
            assert found is not None and found.id == session_id
            assert find_open_session(session, patient_id=seeded.patient_id) == found
            assert find_open_session(session, patient_id=seeded.patient_id + 1) is None
            records = load_step_records(session, found.id)
        resumed = SessionFlow.restore(PROTOCOL, records, clock)
        assert resumed.current_step is not None and resumed.current_step.id == "disinfection"
        assert resumed.current_record is not None
        with again.Session.begin() as session:
            finish_session(session, session_id, now=T0 + timedelta(hours=1))
        with again.Session.begin() as session:
            assert find_open_session(session) is None
    finally:
        again.close()


def test_a_second_session_cannot_open_while_one_is_open(clinic: Database, seeded: Seeded) -> None:
    open_one(clinic, seeded)
    with pytest.raises(SessionError, match="session 1 of this course is still open"):
        open_one(clinic, seeded)


def test_a_closed_session_refuses_changes(clinic: Database, seeded: Seeded) -> None:
    session_id = open_one(clinic, seeded)
    clock = FakeClock()
    flow = SessionFlow(PROTOCOL, clock)
    flow.start(ADA)
    with clinic.Session.begin() as session:
        view = abandon_session(session, session_id, now=T0 + timedelta(minutes=5))
    assert view.status == "abandoned" and view.ended_at == T0 + timedelta(minutes=5)
    with pytest.raises(SessionError, match="abandoned"), clinic.Session.begin() as session:
        save_step_record(session, session_id, flow.records[0])
    with pytest.raises(SessionError, match="abandoned"), clinic.Session.begin() as session:
        finish_session(session, session_id, now=T0)


def test_times_come_back_in_utc_whatever_zone_they_were_given_in(clinic: Database, seeded: Seeded) -> None:
    session_id = open_one(clinic, seeded)
    plus_two = datetime(2026, 11, 2, 12, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    with clinic.Session.begin() as session:
        finish_session(session, session_id, now=plus_two)
    with clinic.Session.begin() as session:
        ended = get_session(session, session_id).ended_at
    assert ended == plus_two and ended is not None and ended.utcoffset() == timedelta(0)
