"""Upgrading a database made by the first schema (v0001) keeps its devices, stamps and link events."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select, text

from stampside.app.storage import iter_export_rows, open_database
from stampside.app.storage.migrate import alembic_config, current_revision, head_revision
from stampside.app.storage.schema import Base, LinkEvent, StampEvent


def make_v0001_database(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            connection.execute(
                text(
                    "INSERT INTO devices (id, serial, hw_revision, firmware, min_version, max_version, needle_um,"
                    " head_id, head_uses, footprint_mm2, battery_pct, last_boot, last_seq, cursor_boot, cursor_seq,"
                    " first_seen, last_seen) VALUES (1, 'SN-OLD', 2, '1.0.0', 1, 1, 2000, 7, 0, 100, 90, 1, 3, 1, 3,"
                    " :at, :at)"
                ),
                {"at": datetime(2026, 10, 1, tzinfo=UTC)},
            )
            for seq in (1, 2, 3):
                connection.execute(
                    text(
                        "INSERT INTO stamp_events (device_id, boot, seq, device_time_ms, force_dn, contact_ms, zone,"
                        " received_at, replay) VALUES (1, 1, :seq, :ms, 63, 180, 2, :at, 0)"
                    ),
                    {"seq": seq, "ms": seq * 1000, "at": datetime(2026, 10, 1, tzinfo=UTC)},
                )
            connection.execute(
                text("INSERT INTO link_events (device_id, at, kind, detail) VALUES (1, :at, 'connected', '')"),
                {"at": datetime(2026, 10, 1, tzinfo=UTC)},
            )
        assert current_revision(engine) == "0001"
    finally:
        engine.dispose()


def test_upgrading_from_v0001_keeps_every_stamp_outside_any_session(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v0001_database(path)
    db = open_database(f"sqlite:///{path}")
    try:
        assert current_revision(db.engine) == head_revision()
        with db.Session.begin() as session:
            stamps = session.scalars(select(StampEvent).order_by(StampEvent.seq)).all()
            assert [(s.seq, s.zone, s.session_id, s.credited_zone) for s in stamps] == [
                (1, 2, None, None),
                (2, 2, None, None),
                (3, 2, None, None),
            ]
            assert session.scalars(select(LinkEvent.session_id)).all() == [None]
            rows = list(iter_export_rows(session))
        assert [(r.device_serial, r.seq, r.zone, r.session, r.patient, r.credited_zone) for r in rows] == [
            ("SN-OLD", 1, 2, None, None, None),
            ("SN-OLD", 2, 2, None, None, None),
            ("SN-OLD", 3, 2, None, None, None),
        ]
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        db.close()


def test_v0002_downgrades_to_v0001_with_the_stamps_intact(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v0001_database(path)
    open_database(f"sqlite:///{path}").close()
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        assert current_revision(engine) == "0001"
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM stamp_events")).scalar() == 3
    finally:
        engine.dispose()


def test_every_migration_renders_as_plain_postgresql() -> None:
    """Portability guard: up and down, as PostgreSQL SQL, with no SQLite-only statement."""
    buffer = io.StringIO()
    context = MigrationContext.configure(dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buffer})
    scripts = list(reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions())))
    with Operations.context(context):
        for script in scripts:
            script.module.upgrade()
        for script in reversed(scripts):
            script.module.downgrade()
    sql = buffer.getvalue()
    assert "CREATE TABLE treatment_sessions" in sql
    assert "ALTER TABLE stamp_events ADD COLUMN session_id INTEGER" in sql
    assert "PRAGMA" not in sql and "AUTOINCREMENT" not in sql and "_alembic_tmp" not in sql
