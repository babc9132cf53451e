"""Upgrading a v0002 database with a patient, a course and a finished session to v0003 keeps them all."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import open_database
from stampside.app.storage.courses import course_screening_id, course_summary
from stampside.app.storage.migrate import alembic_config, current_revision, head_revision
from stampside.app.storage.schedule import start_checks
from stampside.app.storage.schema import Base

AT = datetime(2026, 10, 1, 9, tzinfo=UTC)
NEW_TABLES = {
    "screenings",
    "screening_lab_results",
    "screening_contraindications",
    "course_screenings",
    "course_overrides",
    "schedule_deviations",
    "photos",
    "outcome_assessments",
    "self_assessments",
    "self_assessment_answers",
    "adverse_events",
    "blinded_ratings",
}


def make_v0002_database(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
            connection.execute(text("INSERT INTO practitioners (id, name, active) VALUES (1, 'Dr Old', 1)"))
            connection.execute(
                text(
                    "INSERT INTO patients (id, code, name, birth_year, norwood_grade, created_at)"
                    " VALUES (1, 'P-OLD', NULL, 1980, '4', :at)"
                ),
                {"at": AT},
            )
            connection.execute(
                text(
                    "INSERT INTO courses (id, patient_id, planned_sessions, interval_days, started_at, status)"
                    " VALUES (1, 1, 6, 7, :at, 'active')"
                ),
                {"at": AT},
            )
            connection.execute(
                text(
                    "INSERT INTO treatment_sessions (id, course_id, number, protocol_name, protocol_version,"
                    " practitioner_id, started_at, ended_at, status) VALUES (1, 1, 1, 'Stampside', '1.0', 1, :at,"
                    " :end, 'finished')"
                ),
                {"at": AT, "end": AT.replace(hour=10)},
            )
        assert current_revision(engine) == "0002"
    finally:
        engine.dispose()


def test_upgrading_from_v0002_keeps_courses_and_sessions(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v0002_database(path)
    db = open_database(f"sqlite:///{path}")
    try:
        assert current_revision(db.engine) == head_revision()
        assert set(inspect(db.engine).get_table_names()) >= NEW_TABLES
        with db.Session.begin() as session:
            summary = course_summary(session, 1)
            assert summary is not None and summary.completed == 1
            assert course_screening_id(session, 1) is None  # started before the screening gate existed
            checks = start_checks(session, 1, protocol=default_protocol(), today=AT.date().replace(day=8), tz=UTC)
            assert checks.number == 2 and checks.timing.days_since_previous == 7 and checks.clear
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        db.close()


def test_v0003_downgrades_to_v0002_with_the_sessions_intact(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v0002_database(path)
    open_database(f"sqlite:///{path}").close()
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
        assert current_revision(engine) == "0002"
        assert not NEW_TABLES & set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM treatment_sessions")).scalar() == 1
    finally:
        engine.dispose()


def test_v0003_renders_as_plain_postgresql() -> None:
    buffer = io.StringIO()
    context = MigrationContext.configure(dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buffer})
    script = ScriptDirectory.from_config(alembic_config()).get_revision("0003")
    assert script is not None
    with Operations.context(context):
        script.module.upgrade()
        script.module.downgrade()
    sql = buffer.getvalue()
    for table in NEW_TABLES:
        assert f"CREATE TABLE {table}" in sql and f"DROP TABLE {table}" in sql
    assert "TIMESTAMP WITH TIME ZONE" in sql
    assert "PRAGMA" not in sql and "AUTOINCREMENT" not in sql and "_alembic_tmp" not in sql
