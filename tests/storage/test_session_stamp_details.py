"""A resumed stamping step reads the session's stored stamps with their time, force and zone."""

from __future__ import annotations

import time

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import Database, DatabaseSink
from stampside.app.storage.session_stamps import load_session_stamps
from stampside.app.storage.sessions import attach_device, open_session
from stampside.devicelink.sink import CommitBatch, ReceivedStamp, StampTags
from stampside.firmware_protocol import DeviceInfo, Stamp
from stampside.firmware_protocol.host_events import Ledger
from tests.storage.conftest import T0, Seeded


def test_load_session_stamps_gives_only_the_sessions_stamps_in_device_order(clinic: Database, seeded: Seeded) -> None:
    sink = DatabaseSink(clinic)
    sink.open_device(DeviceInfo("SN-1", 2, 1, 0, 0, 1, 1, 1, 2000, 7, 0, 100, 88, 1, 0))
    with clinic.Session.begin() as s:
        opened = open_session(
            s, seeded.course_id, protocol=default_protocol(), practitioner_id=seeded.practitioner_id, now=T0
        )
        attach_device(s, opened.id, serial="SN-1", head_id=7, footprint_mm2=100, now=T0)
    wall = time.time()
    ledger = Ledger("SN-1")
    sink.commit(CommitBatch(ledger, [ReceivedStamp(Stamp(1, 1, 500, 60, 180, 0), wall, False)], (1, 1)))
    tags = StampTags(opened.id, 1)
    sink.commit(
        CommitBatch(
            ledger,
            [
                ReceivedStamp(Stamp(1, 3, 1500, 75, 180, 2), wall, False, tags),
                ReceivedStamp(Stamp(1, 2, 1000, 55, 180, 1), wall, True, tags),
            ],
            (1, 3),
        )
    )
    with clinic.Session.begin() as s:
        stamps = load_session_stamps(s, opened.id)
    assert [(st.seq, st.device_time_ms, st.force_dn, st.zone) for st in stamps] == [(2, 1000, 55, 1), (3, 1500, 75, 2)]
    assert all(abs(st.received_at.timestamp() - wall) < 1 for st in stamps)
