"""The summary screen, the session report (JSON and HTML), the course report and the demo data show one
session's figures from one function (``stampside.app.storage.session_figures.session_figures``), so they agree.

The sessions here are seeded so that the three computations that existed before disagreed:
stamps with a reserved zone id (the report did not count them), a session stored without zones
(the summary treated all five zones, the report showed no coverage; now the patient's Norwood
grade decides, as on the stamping screen), and a protocol whose target densities are not the
demo data's old hard-coded 2.0.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import update

from stampside.app.demo_data import SeededCohort, seed_demo_cohort
from stampside.app.domain.treatment_protocol import CoverageTargets, TreatmentProtocol, default_protocol
from stampside.app.domain.zones import NorwoodGrade, Zone
from stampside.app.reports import build_course_report, build_session_report, render
from stampside.app.reports.session import SessionReport
from stampside.app.storage import Database, DatabaseSink, open_database
from stampside.app.storage.courses import start_course
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schema import StampEvent
from stampside.app.storage.session_figures import session_figures
from stampside.app.storage.sessions import ZoneSetting, attach_device, finish_session, open_session
from stampside.app.tui.screens.steps import SessionFigures
from stampside.app.tui.session_steps import read_figures
from stampside.devicelink.sink import NO_TAGS, CommitBatch, ReceivedStamp, StampTags
from stampside.firmware_protocol import DeviceInfo, Stamp
from stampside.firmware_protocol.host_events import Ledger

PROTOCOL = default_protocol()
SERIAL = "SN-AGREE"
LEDGER = Ledger(SERIAL)
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
F, M, V, L, R = Zone.FRONTAL, Zone.MID_SCALP, Zone.VERTEX, Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL


@dataclass(frozen=True)
class Clinic:
    database: Database
    course_id: int
    #: Stored zones: an edited area, a stored density, a zone without one; every kind of stamp.
    zoned: int
    #: No zones stored: the patient's Norwood grade (3V) decides.
    unzoned: int


def _stamps(seqs: range | list[int], device_zone: int, tags: StampTags = NO_TAGS) -> list[ReceivedStamp]:
    return [ReceivedStamp(Stamp(1, seq, seq * 300, 63, 180, device_zone), time.time(), False, tags) for seq in seqs]


def _at(session_id: int, active: Zone | None) -> StampTags:
    """Stamps arriving in ``session_id`` while ``active`` is the zone being stamped."""
    return StampTags(session_id, int(active) if active is not None else None)


def _session(
    database: Database, sink: DatabaseSink, course_id: int, practitioner_id: int, zones: list[ZoneSetting], day: int
) -> int:
    with database.Session.begin() as s:
        view = open_session(
            s, course_id, protocol=PROTOCOL, practitioner_id=practitioner_id, now=T0 + timedelta(day), zones=zones
        )
        attach_device(s, view.id, serial=SERIAL, head_id=7 + day, footprint_mm2=100, now=T0 + timedelta(day))
    return view.id


def _finish(database: Database, sink: DatabaseSink, session_id: int, day: int) -> None:
    with database.Session.begin() as s:
        finish_session(s, session_id, now=T0 + timedelta(day, hours=1))


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    database = open_database(f"sqlite:///{tmp_path_factory.mktemp('agree') / 'clinic.db'}")
    with database.Session.begin() as s:
        practitioner = add_practitioner(s, "Dr Ada").id
        patient = create_patient(s, NewPatient.parse("P-0042", norwood_grade="3V"), now=T0)
        course_id = start_course(s, patient.id, now=T0)
    sink = DatabaseSink(database)
    sink.open_device(DeviceInfo(SERIAL, 2, 1, 0, 0, 1, 1, 1, 2000, 7, 0, 100, 88, 1, 0))

    zones = [
        ZoneSetting(F, 83.5, None),  # area edited; density from the protocol (2.0)
        ZoneSetting(V, 50.0, 3.5),  # density stored with the session
        ZoneSetting(L, 25.0, None),
    ]
    zoned = _session(database, sink, course_id, practitioner, zones, 0)
    batch = (
        _stamps(range(1, 11), 0, _at(zoned, F))  # zone 0 on the wire, stored in the zone being stamped
        + _stamps(range(11, 15), int(V), _at(zoned, F))  # the device's own zone wins: vertex
        + _stamps([15, 16], int(R), _at(zoned, F))  # the device's zone, not treated
        + _stamps([17], 9, _at(zoned, F))  # a reserved zone id: unassigned
        + _stamps([18], 0, _at(zoned, None))  # zone 0 and no zone chosen: unassigned
        + _stamps([19, 20], 0, _at(zoned, L))  # zone 0 while left temporal was being stamped
    )
    sink.commit(CommitBatch(LEDGER, batch, (1, 20)))
    with database.Session.begin() as s:  # as stored by a version that did not store the zone: the device's counts
        s.execute(update(StampEvent).where(StampEvent.seq.in_(range(11, 15))).values(credited_zone=None))
    _finish(database, sink, zoned, 0)

    unzoned = _session(database, sink, course_id, practitioner, [], 7)
    at = _at(unzoned, F)
    sink.commit(
        CommitBatch(
            LEDGER, _stamps(range(21, 26), int(F), at) + _stamps([26], int(M), at) + _stamps([27], 12, at), (1, 27)
        )
    )
    _finish(database, sink, unzoned, 7)
    yield Clinic(database, course_id, zoned, unzoned)
    database.close()


def _cells(html: str, session_id: int) -> tuple[str, list[list[str]]]:
    """The session's "Stamps" fact and the rows of its coverage table, as plain text."""
    section = html[html.index(f'<section id="session-{session_id}"') :]
    section = section[: section.index("</section>")]
    stamps = re.search(r"<dt>Stamps</dt><dd>(.*?)</dd>", section, re.S)
    assert stamps is not None
    table = re.search(r'<table class="coverage">(.*?)</table>', section, re.S)
    assert table is not None
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S):
        cells = [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if cells:
            rows.append(cells)
    return unescape(re.sub(r"<[^>]+>", "", stamps.group(1))), rows


def _assert_agree(summary: SessionFigures, report: SessionReport, data: dict[str, object], html: str) -> None:
    """Every figure the summary shows is the report's, in the dataclass, the JSON and the HTML."""
    listed = [zone for zone in summary.zones if zone.treated or zone.stamps]
    untreated = sum(zone.stamps for zone in summary.zones if not zone.treated)
    assert report.stamps == data["stamps"] == summary.stamps
    assert report.unassigned_stamps == data["unassigned_stamps"] == summary.unassigned
    assert report.untreated_stamps == data["untreated_stamps"] == untreated
    assert sum(zone.stamps for zone in summary.zones) + summary.unassigned == summary.stamps
    lines = data["coverage"]
    assert isinstance(lines, list)
    assert [line["zone"] for line in lines] == [zone.zone.label for zone in listed]
    for line, zone in zip(lines, listed, strict=True):
        assert line["treated"] == zone.treated, zone.zone
        assert line["stamps"] == zone.stamps, zone.zone
        assert line["percent"] == zone.percent, zone.zone
        assert line["reached"] == zone.reached, zone.zone
        assert line["area_cm2"] == zone.area_cm2, zone.zone
        assert line["target_density"] == zone.target_density, zone.zone
        assert line["target_cm2"] == zone.target_cm2, zone.zone
        assert line["covered_cm2"] == zone.covered_cm2, zone.zone
        assert line["stamps_to_target"] == zone.stamps_to_target, zone.zone
    fact, rows = _cells(html, report.session_id)
    assert fact.startswith(str(summary.stamps))
    assert (f"{summary.unassigned} without a zone" in fact) == bool(summary.unassigned)
    assert [row[0] for row in rows] == [zone.zone.label for zone in listed]
    for row, zone in zip(rows, listed, strict=True):
        percent = "–" if zone.percent is None else f"{zone.percent:.0f} %"
        assert row[1:] == [
            "yes" if zone.treated else "no",
            f"{zone.area_cm2:.0f} cm²",
            "–" if zone.target_density is None else f"{zone.target_density:.2f}".rstrip("0").rstrip("."),
            str(zone.stamps),
            percent,
        ], zone.zone


def _figures(
    database: Database, session_id: int, protocol: TreatmentProtocol = PROTOCOL
) -> tuple[SessionFigures, SessionReport, dict[str, object], str]:
    """What the summary shows, and the session report as a dataclass, as JSON and as HTML."""
    with database.Session.begin() as s:
        summary = read_figures(s, session_id, protocol)
        report = build_session_report(s, session_id, protocol)
    data = json.loads(render(report, "json"))
    html = render(report, "html", generated_at=T0)
    return summary, report, data, html


def test_summary_and_report_agree_on_a_session_with_every_kind_of_stamp(clinic: Clinic) -> None:
    summary, report, data, html = _figures(clinic.database, clinic.zoned)
    _assert_agree(summary, report, data, html)
    zones = {zone.zone: zone for zone in summary.zones}
    # The expected values, so that agreeing on something else is not enough.
    assert summary.stamps == 20 and summary.unassigned == 2  # a reserved id, and zone 0 never credited
    assert {zone for zone, figures in zones.items() if figures.treated} == {F, V, L}
    assert [zones[zone].stamps for zone in Zone] == [10, 0, 4, 2, 2]  # credited, else the device's zone
    assert (zones[F].area_cm2, zones[F].target_cm2, zones[F].percent) == pytest.approx((83.5, 167.0, 1000 / 167))
    assert (zones[V].target_density, zones[V].target_cm2, zones[V].percent) == pytest.approx((3.5, 175.0, 400 / 175))
    assert zones[R].treated is False and zones[R].percent == 4.0 and report.untreated_stamps == 2
    assert [line.zone for line in report.coverage] == ["Frontal", "Vertex", "Left temporal", "Right temporal"]
    assert report.coverage_percent == pytest.approx(100 * 16 / (167 + 175 + 50))
    assert data["coverage_percent"] == report.coverage_percent


def test_a_session_stored_without_zones_treats_the_norwood_zones_in_the_summary_and_the_report(clinic: Clinic) -> None:
    summary, report, data, html = _figures(clinic.database, clinic.unzoned)
    _assert_agree(summary, report, data, html)
    treated = {zone.zone for zone in summary.zones if zone.treated}
    assert treated == NorwoodGrade.III_VERTEX.default_zones  # not all five, and not "no coverage"
    assert {line.zone for line in report.coverage if line.treated} == {zone.label for zone in treated}
    assert (summary.stamps, summary.unassigned, report.untreated_stamps) == (7, 1, 1)  # mid-scalp is not treated
    assert report.coverage_percent == pytest.approx(100 * 5 / (2 * (60 + 50 + 25 + 25)))


def test_the_course_report_shows_each_session_with_the_same_figures(clinic: Clinic) -> None:
    with clinic.database.Session.begin() as s:
        course = build_course_report(s, clinic.course_id, protocol=PROTOCOL, with_sessions=False)
        figures = {sid: session_figures(s, sid, PROTOCOL) for sid in (clinic.zoned, clinic.unzoned)}
    assert {line.session_id: (line.stamps, line.coverage_percent) for line in course.schedule} == {
        sid: (f.stamps, f.percent) for sid, f in figures.items()
    }


def test_stamps_stored_before_the_device_is_attached_are_counted_with_no_coverage(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'clinic.db'}")
    try:
        with database.Session.begin() as s:
            practitioner = add_practitioner(s, "Dr Ada").id
            patient = create_patient(s, NewPatient.parse("P-0001", norwood_grade="3"), now=T0)
            view = open_session(
                s, start_course(s, patient.id, now=T0), protocol=PROTOCOL, practitioner_id=practitioner, now=T0
            )
        sink = DatabaseSink(database)
        sink.open_device(DeviceInfo(SERIAL, 2, 1, 0, 0, 1, 1, 1, 2000, 7, 0, 100, 88, 1, 0))
        sink.commit(CommitBatch(LEDGER, _stamps(range(1, 4), int(F), _at(view.id, F)), (1, 3)))
        with database.Session.begin() as s:
            summary = read_figures(s, view.id, PROTOCOL)
            report = build_session_report(s, view.id, PROTOCOL)
        assert summary.stamps == report.stamps == 3
        assert [zone.zone for zone in summary.zones if zone.treated] == sorted(NorwoodGrade.III.default_zones)
        assert all(zone.stamps == 0 for zone in summary.zones) and report.coverage_percent == 0.0
    finally:
        database.close()


# -- the demo data -------------------------------------------------------------------------

#: Per-zone densities the demo's old hard-coded 2.0 did not know about.
DENSE = PROTOCOL.model_copy(
    update={"coverage": CoverageTargets(target_density=2.0, zones={"frontal": 3.0, "vertex": 1.5})}
)


@pytest.fixture(scope="module")
def dense_cohort(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, SeededCohort]]:
    path = tmp_path_factory.mktemp("dense") / "clinic.db"
    database = open_database(f"sqlite:///{path}")
    yield database, seed_demo_cohort(database, protocol=DENSE, photo_root=path.with_name("photos"))
    database.close()


def test_the_demo_data_stamps_to_the_targets_the_summary_and_the_report_read_back(
    dense_cohort: tuple[Database, SeededCohort],
) -> None:
    database, cohort = dense_cohort
    for session_id in cohort.session_ids:
        with database.Session.begin() as s:
            figures = session_figures(s, session_id, DENSE)
        for zone in figures.zones:
            if not zone.treated:
                assert zone.stamps == 0, (session_id, zone.zone)
                continue
            assert zone.target_density == DENSE.coverage.density_for(zone.zone)
            target = zone.target_cm2 * 100 / figures.footprint_mm2 if zone.target_cm2 is not None else 0
            # The demo stamps each treated zone to its target, give or take a few stamps.
            assert -3 <= zone.stamps - target <= 6, (session_id, zone.zone, zone.stamps, target)
        assert figures.unassigned == 0
    for session_id in cohort.session_ids[:2] + cohort.session_ids[-1:]:
        summary, report, data, html = _figures(database, session_id, DENSE)
        _assert_agree(summary, report, data, html)
