"""The link log as `stampside link events` reads it: order, filters, limit, devices and treatment sessions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import Database
from stampside.app.storage.link_events import (
    LinkEventRow,
    has_device,
    iter_link_events,
    known_serials,
    stored_kinds,
)
from stampside.app.storage.schema import LinkEvent
from stampside.app.storage.sessions import open_session
from stampside.app.storage.stamps import register_device, start_numbering
from stampside.firmware_protocol import DeviceInfo
from tests.storage.conftest import T0, Seeded


def info(serial: str) -> DeviceInfo:
    return DeviceInfo(serial, 2, 1, 0, 0, 1, 1, 1, 2000, 7, 0, 100, 88, 1, 0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def log(clinic: Database) -> Database:
    """Two devices and an event stored without a device, written out of time order on purpose."""
    with clinic.Session.begin() as session:
        one = register_device(session, info("SS-000001"), T0).id
        two = register_device(session, info("SS-000002"), T0).id
        session.add_all(
            [
                LinkEvent(device_id=one, at=at(10), kind="connected", detail="SS-000001 fw 1.0.0 boot 1"),
                LinkEvent(device_id=None, at=at(9), kind="fault", detail="BUFFER_FULL detail=12"),
                LinkEvent(device_id=two, at=at(20), kind="connected", detail="SS-000002 fw 1.0.0 boot 4"),
                LinkEvent(device_id=one, at=at(30), kind="fault", detail="LOW_BATTERY detail=15"),
                LinkEvent(device_id=one, at=at(30), kind="lost", detail="no valid frame for 2 s"),
                LinkEvent(device_id=two, at=at(40), kind="reboot", detail="device announced boot 5"),
            ]
        )
    return clinic


def rows(db: Database, **filters: object) -> list[LinkEventRow]:
    with db.Session.begin() as session:
        return list(iter_link_events(session, **filters))  # type: ignore[arg-type]


def details(found: list[LinkEventRow]) -> list[str]:
    return [row.detail for row in found]


def test_events_come_oldest_first_and_ties_keep_the_order_they_were_written_in(log: Database) -> None:
    assert details(rows(log)) == [
        "BUFFER_FULL detail=12",
        "SS-000001 fw 1.0.0 boot 1",
        "SS-000002 fw 1.0.0 boot 4",
        "LOW_BATTERY detail=15",
        "no valid frame for 2 s",
        "device announced boot 5",
    ]
    first = rows(log)[0]
    assert (first.device_serial, first.kind, first.at) == (None, "fault", at(9))
    assert first.at.tzinfo is not None


def test_a_device_filter_keeps_its_events_and_those_stored_without_a_device(log: Database) -> None:
    assert details(rows(log, serial="SS-000001")) == [
        "BUFFER_FULL detail=12",
        "SS-000001 fw 1.0.0 boot 1",
        "LOW_BATTERY detail=15",
        "no valid frame for 2 s",
    ]
    assert details(rows(log, serial="SS-000001", unattributed=False)) == [
        "SS-000001 fw 1.0.0 boot 1",
        "LOW_BATTERY detail=15",
        "no valid frame for 2 s",
    ]
    assert {row.device_serial for row in rows(log, serial="SS-000002", unattributed=False)} == {"SS-000002"}


def test_since_is_inclusive_and_kinds_combine_with_the_device(log: Database) -> None:
    assert details(rows(log, since=at(30))) == [
        "LOW_BATTERY detail=15",
        "no valid frame for 2 s",
        "device announced boot 5",
    ]
    assert details(rows(log, kinds={"fault"})) == ["BUFFER_FULL detail=12", "LOW_BATTERY detail=15"]
    assert details(rows(log, kinds={"fault", "reboot"}, serial="SS-000002")) == [
        "BUFFER_FULL detail=12",
        "device announced boot 5",
    ]
    assert rows(log, kinds={"jump"}) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        rows(log, since=datetime(2026, 11, 2, 9, 30))


def test_a_limit_keeps_the_newest_still_oldest_first(log: Database) -> None:
    assert details(rows(log, limit=2)) == ["no valid frame for 2 s", "device announced boot 5"]
    assert details(rows(log, limit=3, serial="SS-000001", unattributed=False)) == [
        "SS-000001 fw 1.0.0 boot 1",
        "LOW_BATTERY detail=15",
        "no valid frame for 2 s",
    ]
    assert len(rows(log, limit=100)) == 6
    with pytest.raises(ValueError, match="at least 1"):
        rows(log, limit=0)


def test_devices_and_kinds_known_to_the_database(log: Database) -> None:
    with log.Session.begin() as session:
        assert known_serials(session) == ["SS-000001", "SS-000002"]
        assert stored_kinds(session) == ["connected", "fault", "lost", "reboot"]
        assert has_device(session, "SS-000002")
        assert not has_device(session, "SS-000009")


def test_an_event_in_a_treatment_session_names_the_session_its_number_and_the_patient(
    log: Database, seeded: Seeded
) -> None:
    with log.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=default_protocol(), practitioner_id=seeded.practitioner_id, now=T0
        )
        one = register_device(session, info("SS-000001"), T0).id
        session.add(LinkEvent(device_id=one, at=at(50), kind="lost", detail="cable", session_id=opened.id))
    last = rows(log)[-1]
    assert (last.session, last.session_number, last.patient) == (opened.id, 1, "P-0042")
    outside = rows(log)[0]
    assert (outside.session, outside.session_number, outside.patient) == (None, None, None)


def test_as_dict_is_json_with_utc_times_in_milliseconds() -> None:
    row = LinkEventRow(datetime(2026, 11, 2, 9, 30, 1, 234567, tzinfo=UTC), "SS-000001", "fault", "SENSOR detail=9")
    assert json.loads(json.dumps(row.as_dict())) == {
        "at": "2026-11-02T09:30:01.234Z",
        "device_serial": "SS-000001",
        "device_life": None,
        "kind": "fault",
        "detail": "SENSOR detail=9",
        "session": None,
        "session_number": None,
        "patient": None,
    }


def test_a_device_that_restarted_its_numbering_keeps_one_serial_with_each_life_named(log: Database) -> None:
    with log.Session.begin() as session:
        second = start_numbering(session, info("SS-000001"), 0, "boot counter went back", T0).id
        session.add(LinkEvent(device_id=second, at=at(70), kind="new-numbering", detail="boot counter went back"))
        assert known_serials(session) == ["SS-000001", "SS-000002"]
    found = rows(log, serial="SS-000001", unattributed=False)
    assert [(row.device_life, row.kind) for row in found] == [
        (1, "connected"),
        (1, "fault"),
        (1, "lost"),
        (2, "new-numbering"),
    ]
    assert {row.device_serial for row in found} == {"SS-000001"}
