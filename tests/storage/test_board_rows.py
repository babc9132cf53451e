"""The clinic board's rows, computed from what is stored: every open session with its chair, practitioner,
patient, step, stamps, rate, link and warnings; and the board's database access, which only reads.

Each test runs on a SQLite file and on the suite's PostgreSQL server (``db_url``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from stampside.app.chairside.board import BoardRow, StepPlace, board_rows, read_board
from stampside.app.chairside.board_live import BoardFollower, BoardProblem, BoardUpdate, open_board
from stampside.app.domain.chair_warnings import WarningKind
from stampside.app.domain.treatment_protocol import StepKind
from stampside.app.storage import Database, StorageError, open_database
from stampside.app.storage.change_feed import BOARD_CHANNEL, open_change_feed
from stampside.app.storage.read_only import open_read_only
from stampside.app.storage.schema import Base, LinkEvent, Practitioner
from stampside.app.storage.sessions import abandon_session, finish_session
from tests.chairs import PROTOCOL, Chair, open_chair, steps_up_to

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
STARTED = NOW - timedelta(minutes=20)


@pytest.fixture
def clinic(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


def two_chairs(clinic: Database) -> tuple[Chair, Chair]:
    one = open_chair(clinic, chair="Chair 1", practitioner="Dr Ada", patient_code="P-0001", started_at=STARTED)
    two = open_chair(
        clinic, chair="Chair 2", practitioner="Dr Bea", patient_code="P-0002", started_at=STARTED + timedelta(minutes=5)
    )
    return one, two


def rows(clinic: Database, now: datetime = NOW) -> list[BoardRow]:
    with clinic.Session.begin() as s:
        return board_rows(s, now, protocols=[PROTOCOL])


def by_chair(found: list[BoardRow]) -> dict[str | None, BoardRow]:
    return {row.chair: row for row in found}


def test_the_board_shows_each_chairs_open_session_with_its_step_stamps_rate_and_link(clinic: Database) -> None:
    one, two = two_chairs(clinic)
    stamping = [step.kind for step in PROTOCOL.steps].index(StepKind.STAMPING)
    one.save_steps(steps_up_to(stamping, STARTED))
    one.link_event("connected", STARTED + timedelta(minutes=1))
    one.stamp(NOW - timedelta(minutes=5), count=10)  # long before the rate's minute
    one.stamp(NOW - timedelta(seconds=1), count=30, spacing_s=2.0)  # 30 in the last minute
    two.save_steps(steps_up_to(0, STARTED + timedelta(minutes=5)))

    found = rows(clinic)

    assert [row.chair for row in found] == ["Chair 1", "Chair 2"]
    first, second = found
    assert (first.practitioner, first.patient_code, first.session_number, first.planned_sessions) == (
        "Dr Ada",
        "P-0001",
        1,
        6,
    )
    assert first.step == StepPlace("Stamping", stamping + 1, len(PROTOCOL.steps))
    assert first.stamps == 40
    assert first.rate_per_min == pytest.approx(30.0)
    assert (first.link, first.link_since) == ("connected", STARTED + timedelta(minutes=1))
    assert first.time_in_session(NOW) == timedelta(minutes=20)
    assert first.warnings == ()
    assert second.step == StepPlace("Pre-session checks", 1, len(PROTOCOL.steps))
    assert (second.stamps, second.rate_per_min, second.link) == (0, 0.0, None)
    assert second.time_in_session(NOW) == timedelta(minutes=15)


def test_closed_sessions_leave_the_board_and_a_session_without_a_claim_shows_last_without_a_chair(
    clinic: Database,
) -> None:
    one, two = two_chairs(clinic)
    unclaimed = open_chair(
        clinic, chair=None, practitioner="Dr Cy", patient_code="P-0003", started_at=STARTED - timedelta(hours=1)
    )
    assert [row.chair for row in rows(clinic)] == ["Chair 1", "Chair 2", None]
    assert rows(clinic)[-1].session_id == unclaimed.session_id
    with clinic.Session.begin() as s:
        finish_session(s, one.session_id, now=NOW)
        abandon_session(s, unclaimed.session_id, now=NOW)
    assert [row.session_id for row in rows(clinic)] == [two.session_id]


def test_a_lost_link_warns_until_the_link_is_back(clinic: Database) -> None:
    one, _ = two_chairs(clinic)
    one.link_event("connected", NOW - timedelta(minutes=10))
    one.link_event("fault", NOW - timedelta(minutes=3), "battery low")  # not a link state
    one.link_event("lost", NOW - timedelta(seconds=42), "no answer")
    row = by_chair(rows(clinic))["Chair 1"]
    assert (row.link, [warning.kind for warning in row.warnings]) == ("lost", [WarningKind.LINK_LOST])
    assert row.warnings[0].text(NOW) == "link lost 0:42"
    one.link_event("connected", NOW - timedelta(seconds=2))
    row = by_chair(rows(clinic))["Chair 1"]
    assert (row.link, row.warnings) == ("connected", ())


def test_a_head_used_in_another_session_warns_as_the_unused_head_check_would_fail(clinic: Database) -> None:
    earlier = open_chair(clinic, chair="Chair 9", practitioner="Dr Old", patient_code="P-0009", started_at=STARTED)
    with clinic.Session.begin() as s:
        finish_session(s, earlier.session_id, now=STARTED + timedelta(minutes=1))
    open_chair(
        clinic,
        chair="Chair 1",
        practitioner="Dr Ada",
        patient_code="P-0001",
        started_at=STARTED + timedelta(minutes=2),
        serial=earlier.serial,
        head_id=earlier.head_id,
    )
    open_chair(clinic, chair="Chair 2", practitioner="Dr Bea", patient_code="P-0002", started_at=STARTED)
    found = by_chair(rows(clinic))
    assert [warning.kind for warning in found["Chair 1"].warnings] == [WarningKind.HEAD_USED]
    assert found["Chair 1"].warnings[0].text(NOW) == "head used before"
    assert found["Chair 2"].warnings == ()


def test_a_timed_step_left_open_a_minute_past_its_timer_is_overdue(clinic: Database) -> None:
    one, _ = two_chairs(clinic)
    disinfection = [step.kind for step in PROTOCOL.steps].index(StepKind.DISINFECTION)
    timer = PROTOCOL.steps[disinfection].timer
    assert timer is not None
    records = steps_up_to(disinfection, STARTED)
    one.save_steps(records)
    ran_out = records[-1].started_at + timedelta(seconds=timer.seconds)

    assert by_chair(rows(clinic, ran_out + timedelta(seconds=59)))["Chair 1"].warnings == ()
    [overdue] = by_chair(rows(clinic, ran_out + timedelta(seconds=65)))["Chair 1"].warnings
    assert overdue.kind is WarningKind.TIMER_OVERDUE
    assert overdue.text(ran_out + timedelta(seconds=65)) == "timer overdue 1:05"


def test_a_session_of_a_protocol_the_board_was_not_given_shows_the_step_its_records_name(clinic: Database) -> None:
    one, _ = two_chairs(clinic)
    one.save_steps(steps_up_to(1, STARTED))
    with clinic.Session.begin() as s:
        [first, _] = board_rows(s, NOW)  # no protocols
    assert first.step == StepPlace("Disinfection", 2)
    assert first.step.counter == "2"


def table_counts(database: Database) -> dict[str, int]:
    with database.engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def test_the_board_opens_the_database_read_only_and_never_writes(clinic: Database, db_url: str) -> None:
    one, _ = two_chairs(clinic)
    one.link_event("lost", NOW - timedelta(seconds=5))
    before = table_counts(clinic)
    source = open_board(db_url, protocols=[PROTOCOL], heartbeat_s=0.05, poll_s=0.05, clock=lambda: NOW)
    seen: list[BoardUpdate] = []
    done = threading.Event()

    def publish(update: BoardUpdate) -> None:
        seen.append(update)
        if len(seen) >= 3:
            done.set()

    follower = BoardFollower(source, publish)
    follower.start()
    try:
        assert done.wait(30), "the board did not read three times"
    finally:
        follower.stop()
        try:
            with pytest.raises(DBAPIError, match=r"read-?only"), source.database.engine.begin() as connection:
                connection.execute(insert(Practitioner).values(name="Dr Intruder", active=True))
        finally:
            source.close()
    assert not follower.running
    assert all(not isinstance(update, BoardProblem) for update in seen), seen
    assert table_counts(clinic) == before


def test_a_database_not_at_the_newest_schema_is_one_line_to_upgrade_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(StorageError, match=r"not the newest \(\d+\): run 'stampside db upgrade' first") as caught:
        open_read_only(str(empty))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "empty.db-wal").exists()
    with pytest.raises(StorageError, match="no database file at"):
        open_read_only(str(tmp_path / "missing.db"))
    assert not (tmp_path / "missing.db").exists()


def test_the_change_feed_wakes_on_a_commit_from_another_connection(clinic: Database, db_url: str) -> None:
    reader = open_read_only(db_url)
    feed = open_change_feed(reader, poll_interval=0.02)
    stop = threading.Event()
    try:
        assert feed.wait(0.1, stop) is False  # nothing changed
        with clinic.Session.begin() as s:  # a table the board shows (PostgreSQL's triggers notify for those)
            s.add(LinkEvent(device_id=None, at=NOW, kind="lost", detail="no answer"))
        assert feed.wait(30, stop) is True
        if clinic.url.get_backend_name() == "postgresql":
            assert feed.description == "live via LISTEN/NOTIFY"
        else:
            assert feed.description == "polling every 0.02 s"
        stop.set()
        assert feed.wait(30, stop) is False  # asked to stop: it returns at once, changed or not
    finally:
        feed.close()
        reader.close()


def test_the_board_channel_is_the_one_the_migration_notifies() -> None:
    from stampside.app.storage.migrations.versions import v0008_session_claims as migration

    assert migration.BOARD_CHANNEL == BOARD_CHANNEL
    assert {"treatment_sessions", "session_claims", "step_records", "stamp_events", "link_events"} <= set(
        migration.BOARD_TABLES
    )


def test_the_board_reads_one_transaction(clinic: Database, db_url: str) -> None:
    two_chairs(clinic)
    reader = open_read_only(db_url)
    try:
        snapshot = read_board(reader, NOW, protocols=[PROTOCOL])
        with reader.engine.connect() as connection:
            if reader.url.get_backend_name() == "postgresql":
                assert connection.execute(text("SHOW transaction_read_only")).scalar_one() == "on"
    finally:
        reader.close()
    assert [row.chair for row in snapshot.rows] == ["Chair 1", "Chair 2"] and snapshot.read_at == NOW


def test_a_read_that_fails_is_a_problem_to_show_and_the_next_read_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "clinic.db"
    open_database(str(path)).close()
    source = open_board(str(path), live=False, clock=lambda: NOW)
    try:
        with sqlite3.connect(path) as other:  # a table missing for a moment (a restore under way)
            other.execute("ALTER TABLE treatment_sessions RENAME TO sessions_aside")
        problem = source.read()
        assert isinstance(problem, BoardProblem) and problem.at == NOW
        assert problem.message.startswith(f"database error on {path}") and "\n" not in problem.message
        with sqlite3.connect(path) as other:
            other.execute("ALTER TABLE sessions_aside RENAME TO treatment_sessions")
        assert not isinstance(source.read(), BoardProblem)
    finally:
        source.close()
