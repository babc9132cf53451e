"""Session and lot-recall reports from a seeded database: figures match storage, HTML is whole."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from stampside.app.cli.main import main
from stampside.app.demo_data import DEMO_LOTS, SeededCohort
from stampside.app.domain.gates import Gate
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.reports import build_lot_report, build_session_report, render
from stampside.app.storage import Database
from stampside.app.storage.schema import StampEvent, StepOverride, StepRecordRow
from tests.reports.conftest import CohortPlace

Cohort = tuple[Database, SeededCohort, CohortPlace]


class _Outline(HTMLParser):
    """Collects element ids, tags and external references of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in ("src", "href") and value and not value.startswith(("data:", "#")):
                self.external.append(value)


def outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    return parser


def test_a_session_report_has_every_step_and_the_stored_figures(cohort_db: Cohort) -> None:
    database, cohort, _ = cohort_db
    session_id = cohort.session_ids[3]
    with database.Session.begin() as session:
        report = build_session_report(session, session_id)
        stored = session.scalar(select(func.count(StampEvent.id)).where(StampEvent.session_id == session_id))
    protocol = default_protocol()
    assert [step.step_id for step in report.steps] == [step.id for step in protocol.steps]
    assert all(step.confirmed_by for step in report.steps)
    assert report.stamps == stored and stored > 0
    assert sum(b.stamps for b in report.force_bins) == report.stamps
    assert sum(report.force_quality.values()) == report.stamps
    assert sum(zone.stamps for zone in report.coverage) == report.stamps
    assert report.replayed_stamps == 25
    assert {event.kind for event in report.link_events} >= {"connected", "lost", "resync"}
    assert report.lots and report.lots[0] in {lot for lot, _ in DEMO_LOTS}
    assert report.status == "finished"


def test_session_html_is_self_contained_with_its_sections_and_charts(cohort_db: Cohort) -> None:
    database, cohort, _ = cohort_db
    with database.Session.begin() as session:
        report = build_session_report(session, cohort.session_ids[0])
    html = render(report, "html", generated_at=datetime(2026, 11, 25, tzinfo=UTC))
    page = outline(html)
    sid = report.session_id
    assert {f"{part}-{sid}" for part in ("steps", "coverage", "force", "link-events", "deviations")} <= page.ids
    assert page.tags.count("svg") == 2  # coverage bars and force histogram
    assert page.external == []
    assert "@media print" in html
    assert report.patient_code in html


def test_the_html_shows_times_in_the_clinics_time_zone_from_the_settings(cohort_db: Cohort) -> None:
    database, cohort, place = cohort_db
    with database.Session.begin() as session:
        report = build_session_report(session, cohort.session_ids[0])
    tokyo, utc = ZoneInfo("Asia/Tokyo"), ZoneInfo("UTC")
    started = {zone: f" · {report.started_at.astimezone(zone):%Y-%m-%d %H:%M}" for zone in (tokyo, utc)}
    html = render(report, "html", generated_at=datetime(2026, 11, 25, tzinfo=UTC), tz=tokyo)
    assert started[tokyo] in html and started[utc] not in html
    assert "on 2026-11-25 09:00." in html
    assert started[utc] in render(report, "html", tz=utc)
    result = CliRunner().invoke(
        main, ["report", "session", str(report.session_id), "--db", place.url], env={"STAMPSIDE_TIMEZONE": "Asia/Tokyo"}
    )
    assert result.exit_code == 0, result.output
    assert started[tokyo] in result.output


def test_json_and_csv_carry_the_same_steps(cohort_db: Cohort) -> None:
    database, cohort, _ = cohort_db
    with database.Session.begin() as session:
        report = build_session_report(session, cohort.session_ids[1])
    data = json.loads(render(report, "json"))
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert len(data["steps"]) == len(rows) == len(report.steps)
    assert [row["step"] for row in rows] == [step["step_id"] for step in data["steps"]]
    assert data["stamps"] == report.stamps


def test_typed_text_is_escaped_and_overrides_are_listed_as_deviations(cohort_db: Cohort) -> None:
    database, cohort, _ = cohort_db
    session_id = cohort.session_ids[-1]
    typed = "<script>alert('x')</script> spare battery & charger"
    with database.Session.begin() as session:
        step = session.scalars(
            select(StepRecordRow).where(StepRecordRow.session_id == session_id, StepRecordRow.position == 0)
        ).one()
        session.add(
            StepOverride(
                step_record_id=step.id,
                gate=Gate.BATTERY.value,
                reason=typed,
                made_by="Demo practitioner A",
                made_at=step.started_at,
                failure="battery 18 % is below 25 %",
            )
        )
    with database.Session.begin() as session:
        report = build_session_report(session, session_id)
    html = render(report, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert any(o.reason == typed and o.gate == "battery" for o in report.overrides)
    assert any(typed in line for line in report.deviations)
    assert report.steps[0].overrides


def test_a_lot_recall_finds_every_use_whatever_the_case(cohort_db: Cohort) -> None:
    database, _cohort, _ = cohort_db
    lot, _expiry = DEMO_LOTS[0]
    with database.Session.begin() as session:
        report = build_lot_report(session, f"  {lot.lower()} ")
        stored = session.scalar(select(func.count(StepRecordRow.id)).where(StepRecordRow.lot == lot))
        nothing = build_lot_report(session, "NO-SUCH-LOT")
    assert len(report.uses) == stored and stored > 0
    assert set(report.patients) <= {f"DEMO-00{n}" for n in range(1, 6)}
    assert all(use.lot == lot for use in report.uses)
    assert nothing.uses == ()
    assert "Check the spelling" in render(nothing, "html")
    with pytest.raises(ValueError, match="lot number"), database.Session.begin() as session:
        build_lot_report(session, "  ")


def test_report_commands_write_files_and_explain_mistakes(cohort_db: Cohort, tmp_path: Path) -> None:
    _database, _cohort, place = cohort_db
    runner = CliRunner()
    out = tmp_path / "s.html"
    result = runner.invoke(
        main, ["report", "session", "--patient", "demo-002", "--number", "3", "--db", place.url, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Session 3 of 6 · patient DEMO-002" in out.read_text()
    lot = runner.invoke(main, ["report", "lot", DEMO_LOTS[1][0], "--db", place.url, "--format", "csv"])
    assert lot.exit_code == 0 and lot.output.startswith("lot,patient,")
    for args, message in (
        (["report", "session", "999", "--db", place.url], "no treatment session with id 999"),
        (["report", "session", "--db", place.url], "name the session"),
        (["report", "session", "--patient", "NOPE", "--number", "1", "--db", place.url], "no patient"),
        (["report", "lot", "X", "--db", str(tmp_path / "missing.db")], "no database at"),
        (["demo-data", "--db", place.url], "already in this database"),
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output
        assert "Traceback" not in result.output
    assert re.search(r"--format \[html\|json\|csv\|pdf\]", runner.invoke(main, ["report", "lot", "--help"]).output)
