"""The chairside session's use cases, without Textual: each one unit of work on a real SQLite file."""

from __future__ import annotations

import time
from datetime import UTC, timedelta
from pathlib import Path

import platformdirs
import pytest

from stampside.app.chairside import session_cases as cases
from stampside.app.domain.aftercare import AftercareCard
from stampside.app.domain.steps import SessionFlow
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.domain.zones import NorwoodGrade, Zone
from stampside.app.reports.session import build_session_report
from stampside.app.settings import ClinicInfo
from stampside.app.storage import Database, DatabaseSink
from stampside.app.storage.sessions import SessionError, ZoneSetting, open_session
from stampside.devicelink.sink import CommitBatch, ReceivedStamp, StampTags
from stampside.firmware_protocol import DeviceInfo, Stamp
from tests.storage.conftest import T0, Seeded

PROTOCOL = default_protocol()
SERIAL = "SN-CASES"


def opened(clinic: Database, seeded: Seeded) -> int:
    with clinic.Session.begin() as s:
        return open_session(s, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0).id


def test_a_new_session_loads_with_the_patients_norwood_zones_and_no_stamps(clinic: Database, seeded: Seeded) -> None:
    session_id = opened(clinic, seeded)
    prepared = cases.load_session(clinic, session_id)
    assert prepared.treated == NorwoodGrade("3V").default_zones
    assert prepared.records == [] and prepared.stamps == [] and prepared.credited == []
    assert prepared.active_zone is None


def test_steps_zones_the_device_and_the_active_zone_are_stored_and_come_back(clinic: Database, seeded: Seeded) -> None:
    session_id = opened(clinic, seeded)
    flow = SessionFlow(PROTOCOL, lambda: T0)
    flow.start("Dr Ada")
    cases.save_steps(clinic, session_id, flow.records)
    sink = DatabaseSink(clinic)
    sink.open_device(DeviceInfo(SERIAL, 2, 1, 0, 0, 1, 2, 2, 2000, 7, 0, 90, 88, 1, 0))
    zones = [ZoneSetting(Zone.FRONTAL, 70.0, None), ZoneSetting(Zone.VERTEX, 50.0, 3.0)]
    view = cases.attach_device(
        clinic, session_id, serial=SERIAL, head_id=7, footprint_mm2=90, zones=zones, now=T0 + timedelta(minutes=5)
    )
    assert (view.device_serial, view.head_id, view.footprint_mm2) == (SERIAL, 7, 90)
    cases.store_active_zone(clinic, session_id, Zone.VERTEX)
    ledger = sink.open_device(DeviceInfo(SERIAL, 2, 1, 0, 0, 1, 2, 2, 2000, 7, 0, 90, 88, 1, 0))
    tags = StampTags(session_id, int(Zone.VERTEX))
    sink.commit(
        CommitBatch(
            ledger,
            [ReceivedStamp(Stamp(1, s, s * 100, 60, 150, 0), time.time(), False, tags) for s in (1, 2, 3)],
            (1, 3),
        )
    )
    prepared = cases.load_session(clinic, session_id)
    assert [r.step_id for r in prepared.records] == [flow.records[0].step_id]
    assert prepared.treated == {Zone.FRONTAL, Zone.VERTEX}
    assert prepared.areas == {Zone.FRONTAL: 70.0, Zone.VERTEX: 50.0}
    assert prepared.active_zone is Zone.VERTEX
    assert [(s.seq, s.credited) for s in prepared.stamps] == [(1, Zone.VERTEX), (2, Zone.VERTEX), (3, Zone.VERTEX)]
    assert [c.zone for c in prepared.credited] == [Zone.VERTEX] * 3


def test_the_summary_is_the_session_reports_figures(clinic: Database, seeded: Seeded) -> None:
    session_id = opened(clinic, seeded)
    sink = DatabaseSink(clinic)
    ledger = sink.open_device(DeviceInfo(SERIAL, 2, 1, 0, 0, 1, 2, 2, 2000, 7, 0, 100, 88, 1, 0))
    cases.attach_device(clinic, session_id, serial=SERIAL, head_id=7, footprint_mm2=100, zones=[], now=T0)
    tags = StampTags(session_id, int(Zone.FRONTAL))
    sink.commit(
        CommitBatch(
            ledger, [ReceivedStamp(Stamp(1, s, s, 60, 150, 0), time.time(), False, tags) for s in range(1, 9)], (1, 8)
        )
    )
    figures = cases.summary(clinic, session_id, PROTOCOL)
    with clinic.Session.begin() as s:
        report = build_session_report(s, session_id, PROTOCOL)
    assert figures.stamps == report.stamps == 8
    assert figures.unassigned == report.unassigned_stamps
    listed = {z.zone.label: (z.stamps, z.percent) for z in figures.zones if z.treated or z.stamps}
    assert listed == {line.zone: (line.stamps, line.percent) for line in report.coverage}


def test_finishing_closes_the_session_once(clinic: Database, seeded: Seeded) -> None:
    session_id = opened(clinic, seeded)
    finished = cases.finish(clinic, session_id, T0 + timedelta(hours=1))
    assert finished.status == "finished"
    with pytest.raises(SessionError):
        cases.finish(clinic, session_id, T0 + timedelta(hours=2))
    assert cases.reread(clinic, session_id).status == "finished"


def test_the_aftercare_card_is_written_as_text_and_html(clinic: Database, seeded: Seeded, tmp_path: Path) -> None:
    session_id = opened(clinic, seeded)
    view = cases.reread(clinic, session_id)
    card = AftercareCard.for_session(
        T0, PROTOCOL.aftercare, patient=view.patient_code, practitioner="Dr Ada", session_label=view.label
    )
    stem = cases.card_stem(view, T0)
    assert stem == "aftercare-P-0042-s1-20261102"
    text, page = cases.write_aftercare(card, tmp_path / "cards", stem)
    assert text.read_text().strip() and "<html" in page.read_text().lower()
    if clinic.url.get_backend_name() == "sqlite":  # beside the clinic's file
        assert cases.default_cards_dir(clinic.url) == Path(str(clinic.url.database)).parent / "aftercare"
    else:  # a server's database has no folder of its own: the user's data folder
        assert cases.default_cards_dir(clinic.url) == platformdirs.user_data_path("stampside") / "aftercare"


CLINIC = ClinicInfo(name="Scalp & Skin <Clinic>", phone="+44 20 7946 0000")


def test_the_written_card_has_the_clinics_phone_and_the_next_session(
    clinic: Database, seeded: Seeded, tmp_path: Path
) -> None:
    session_id = opened(clinic, seeded)
    ended = T0 + timedelta(hours=1)  # Mon 2 Nov 2026, 10:30 UTC
    card = cases.aftercare_card(clinic, session_id, PROTOCOL, ended=ended, clinic=CLINIC, tz=UTC)
    view = cases.reread(clinic, session_id)
    text, page = cases.write_aftercare(card, tmp_path / "cards", cases.card_stem(view, ended))
    written, html = text.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")
    next_session = "Session 2 of 6: Mon 9 Nov 2026 (any day from Sat 7 Nov 2026 to Thu 12 Nov 2026)"
    for content in (written, html):
        assert next_session in content
        assert "+44 20 7946 0000" in content
        assert "Treatment ended" in content and "Mon 2 Nov 2026, 10:30" in content
    assert "Call Scalp & Skin <Clinic> on +44 20 7946 0000." in written
    assert "Call Scalp &amp; Skin &lt;Clinic&gt; on +44 20 7946 0000." in html
    assert "Practitioner: Dr Ada" in written, "the session's practitioner when none is passed"


def test_after_the_last_session_the_written_card_has_both_follow_ups(
    clinic: Database, seeded: Seeded, tmp_path: Path
) -> None:
    for week in range(5):  # sessions 1-5, a week apart
        with clinic.Session.begin() as s:
            at = T0 + timedelta(weeks=week)
            view = open_session(s, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=at)
        cases.finish(clinic, view.id, at + timedelta(hours=1))
    last = T0 + timedelta(weeks=5)  # Mon 7 Dec 2026
    with clinic.Session.begin() as s:
        sixth = open_session(s, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=last)
    assert sixth.label == "session 6 of 6"
    card = cases.aftercare_card(clinic, sixth.id, PROTOCOL, ended=last, clinic=ClinicInfo(phone="0161 496 0000"))
    text, page = cases.write_aftercare(card, tmp_path, "card")
    for content in (text.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")):
        assert "3-month follow-up: Sun 7 Mar 2027 (any day from Sun 21 Feb 2027 to Sun 21 Mar 2027)" in content
        assert "6-month follow-up: Mon 7 Jun 2027" in content
        assert "Call the clinic on 0161 496 0000." in content
        assert "Session 7" not in content


def test_the_next_session_is_offered_the_last_lot_and_the_zone_areas_measured_before(
    clinic: Database, seeded: Seeded
) -> None:
    first_id = opened(clinic, seeded)
    first_prepared = cases.load_session(clinic, first_id)
    assert first_prepared.previous_lot is None and not first_prepared.areas_carried_over
    flow = SessionFlow(PROTOCOL, lambda: T0)
    for _ in range(2):  # pre-checks and disinfection, gates overridden where needed
        step = flow.current_step
        assert step is not None
        flow.start("Dr Ada")
        for result in flow.gates():
            if not result.ok:
                flow.override(result.gate, "checked by hand before the session", "Dr Ada")
        flow.complete("Dr Ada")
    flow.start("Dr Ada")  # the first application
    flow.record_lot("LX-2291", T0.date() + timedelta(days=90))
    cases.save_steps(clinic, first_id, flow.records)
    zones = [ZoneSetting(Zone.FRONTAL, 71.5, None), ZoneSetting(Zone.VERTEX, 48.0, None)]
    cases.store_zones(clinic, first_id, zones)
    cases.finish(clinic, first_id, T0 + timedelta(hours=1))

    with clinic.Session.begin() as s:
        second = open_session(
            s, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0 + timedelta(days=7)
        )
    prepared = cases.load_session(clinic, second.id)
    assert prepared.previous_lot is not None
    assert (prepared.previous_lot.lot, prepared.previous_lot.expiry) == ("LX-2291", T0.date() + timedelta(days=90))
    assert prepared.previous_lot.source == "session 1 of 6"
    assert prepared.areas == {Zone.FRONTAL: 71.5, Zone.VERTEX: 48.0} and prepared.areas_carried_over
    assert prepared.records == [], "offered, not recorded: nothing is stored with the new session"
    cases.store_zones(clinic, second.id, [ZoneSetting(Zone.FRONTAL, 80.0, None)])
    again = cases.load_session(clinic, second.id)
    assert again.areas == {Zone.FRONTAL: 80.0} and not again.areas_carried_over, "its own, once stored"
