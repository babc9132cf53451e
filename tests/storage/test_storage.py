"""Storage on real SQLite files: migrations, durability settings, de-duplication, the cursor, errors."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

import stampside.app.storage.database as database_module
import stampside.app.storage.errors as errors_module
import stampside.app.storage.sink as sink_module
from stampside.app.storage import (
    DB_ENV_VAR,
    Database,
    DatabaseSink,
    StorageError,
    default_database_path,
    iter_export_rows,
    open_database,
    resolve_database_url,
)
from stampside.app.storage.migrate import current_revision, head_revision
from stampside.app.storage.schema import Device, LinkEvent, StampEvent
from stampside.devicelink.sink import CommitBatch, LinkLogEntry, ReceivedStamp
from stampside.firmware_protocol import DeviceInfo, Stamp
from stampside.firmware_protocol.host_events import Ledger


def info(serial: str = "SN-1", boot: int = 1, last_seq: int = 0) -> DeviceInfo:
    return DeviceInfo(serial, 2, 1, 0, 0, 1, 1, 1, 2000, 1001, 3, 100, 88, boot, last_seq)


def received(seqs: range | list[int], boot: int = 1, replay: bool = False) -> list[ReceivedStamp]:
    return [ReceivedStamp(Stamp(boot, s, s * 7, 63, 180, 2), time.time(), replay) for s in seqs]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'stamps.db'}")
    yield database
    database.close()


def count(db: Database) -> int:
    with db.Session.begin() as session:
        return session.scalar(select(func.count()).select_from(StampEvent)) or 0


# -- opening and migrations ----------------------------------------------------------------


def test_migrations_run_on_a_fresh_file_and_again_are_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    first = open_database(f"sqlite:///{path}")
    assert path.exists()
    assert current_revision(first.engine) == head_revision()
    tables = set(inspect(first.engine).get_table_names())
    assert {"devices", "stamp_events", "link_events", "alembic_version"} <= tables
    first.close()
    again = open_database(f"sqlite:///{path}")
    assert current_revision(again.engine) == head_revision()
    again.close()


def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from stampside.app.storage.schema import Base

    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_constraint_names_follow_the_naming_convention(db: Database) -> None:
    inspector = inspect(db.engine)
    uniques = {u["name"] for u in inspector.get_unique_constraints("stamp_events")}
    assert "uq_stamp_events_device_id_boot_seq" in uniques


def test_sqlite_runs_in_wal_with_synchronous_full_and_a_busy_timeout(db: Database) -> None:
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


# -- where the database is ------------------------------------------------------------------


def test_stampside_db_is_honoured_when_no_url_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "from-env.db"
    monkeypatch.setenv(DB_ENV_VAR, f"sqlite:///{target}")
    assert resolve_database_url(None) == f"sqlite:///{target}"
    database = open_database()
    database.close()
    assert target.exists()
    # An explicit URL wins over the environment.
    assert resolve_database_url("sqlite:///other.db") == "sqlite:///other.db"


def test_a_plain_path_means_a_sqlite_file(tmp_path: Path) -> None:
    assert resolve_database_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path / 'x.db'}"


def test_the_default_is_a_sqlite_file_in_the_user_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DB_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = default_database_path()
    assert path == tmp_path / "data" / "stampside" / "stampside.db"
    assert resolve_database_url(None) == f"sqlite:///{path}"
    assert path.parent.is_dir()


# -- errors a person can act on --------------------------------------------------------------


def test_a_missing_folder_gets_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="folder does not exist or is not writable"):
        open_database(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")


def test_a_file_that_is_not_a_database_gets_a_clear_message(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello, this is not SQLite\n" * 100)
    with pytest.raises(StorageError, match="not a Stampside database"):
        open_database(str(bogus))


def test_a_malformed_url_gets_a_clear_message() -> None:
    with pytest.raises(StorageError, match="not a database URL"):
        open_database("postgresql://user@host:notaport/db")


def test_a_locked_database_gets_a_clear_message_not_a_traceback(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = DatabaseSink(db)
    sink.open_device(info())
    db.engine.dispose()
    monkeypatch.setattr(errors_module, "BUSY_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT_SECONDS", 0.2)
    locked = open_database(str(db.url.database))
    blocker = sqlite3.connect(str(db.url.database), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked by another program"):
            DatabaseSink(locked).commit(CommitBatch(Ledger("SN-1"), received(range(1, 4)), (1, 3)))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        locked.close()


# -- the sink: de-duplication and the cursor --------------------------------------------------


def test_a_new_device_starts_with_an_empty_cursor_and_keeps_its_identity(db: Database) -> None:
    sink = DatabaseSink(db)
    assert sink.open_device(info(boot=3)) == Ledger("SN-1", 1, 0, 0, 0)
    with db.Session.begin() as session:
        device = session.scalars(select(Device)).one()
        assert (device.serial, device.last_boot, device.needle_um, device.firmware) == ("SN-1", 3, 2000, "1.0.0")


def test_stamps_are_stored_once_whatever_arrives_twice(db: Database) -> None:
    sink = DatabaseSink(db)
    sink.open_device(info())
    assert len(sink.commit(CommitBatch(Ledger("SN-1"), received(range(1, 101)), (1, 100)))) == 100
    again = sink.commit(CommitBatch(Ledger("SN-1"), received(range(50, 151), replay=True), (1, 150)))
    assert [s.stamp.seq for s in again] == list(range(101, 151))
    doubled = received([200, 200, 201])
    assert [s.stamp.seq for s in sink.commit(CommitBatch(Ledger("SN-1"), doubled, None))] == [200, 201]
    assert count(db) == 152


def test_the_same_seq_of_another_device_is_another_stamp(db: Database) -> None:
    sink = DatabaseSink(db)
    sink.open_device(info("SN-1"))
    sink.open_device(info("SN-2"))
    sink.commit(CommitBatch(Ledger("SN-1"), received(range(1, 6)), (1, 5)))
    assert len(sink.commit(CommitBatch(Ledger("SN-2"), received(range(1, 6)), (1, 5)))) == 5
    assert count(db) == 10


def test_the_unique_constraint_is_the_safety_net(db: Database) -> None:
    sink = DatabaseSink(db)
    sink.open_device(info())
    sink.commit(CommitBatch(Ledger("SN-1"), received([1]), (1, 1)))
    with pytest.raises(IntegrityError), db.Session.begin() as session:
        device_id = session.scalar(select(Device.id))
        row = {"device_id": device_id, "boot": 1, "seq": 1, "device_time_ms": 0, "force_dn": 1}
        row.update(contact_ms=1, zone=0, received_at=datetime.now(UTC), replay=False)
        session.execute(insert(StampEvent), [row])


def test_the_cursor_is_stored_in_the_same_transaction_as_the_stamps(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = DatabaseSink(db)
    sink.open_device(info())
    sink.commit(CommitBatch(Ledger("SN-1"), received(range(1, 11)), (1, 10)))
    assert (sink.open_device(info()).boot, sink.open_device(info()).seq) == (1, 10)

    def broken_set_cursor(*args: object) -> None:
        raise StorageError("disk pulled out")

    monkeypatch.setattr(sink_module, "set_cursor", broken_set_cursor)
    with pytest.raises(StorageError):
        sink.commit(CommitBatch(Ledger("SN-1"), received(range(11, 21)), (1, 20)))
    # Neither the stamps nor the cursor of the failed batch were kept.
    assert count(db) == 10
    monkeypatch.undo()
    assert (sink.open_device(info()).boot, sink.open_device(info()).seq) == (1, 10)


def test_link_events_are_kept_with_the_device(db: Database) -> None:
    sink = DatabaseSink(db)
    sink.open_device(info())
    sink.commit(CommitBatch(Ledger("SN-1"), (), None, [LinkLogEntry(time.time(), "connected", "SN-1 fw 1.0.0")]))
    sink.commit(CommitBatch(None, (), None, [LinkLogEntry(time.time(), "lost", "no device")]))
    with db.Session.begin() as session:
        kinds = session.execute(select(LinkEvent.kind, LinkEvent.device_id).order_by(LinkEvent.id)).all()
    assert [k for k, _ in kinds] == ["connected", "lost"]
    assert kinds[0][1] is not None and kinds[1][1] is None


def test_export_rows_are_ordered_by_device_then_seq_with_force_in_newtons(db: Database) -> None:
    sink = DatabaseSink(db)
    sink.open_device(info("SN-B"))
    sink.open_device(info("SN-A"))
    sink.commit(CommitBatch(Ledger("SN-B"), received([2, 1]), (1, 2)))
    sink.commit(CommitBatch(Ledger("SN-A"), received([3, 1, 2]), (1, 3)))
    with db.Session.begin() as session:
        rows = list(iter_export_rows(session))
    assert [(r.device_serial, r.seq) for r in rows] == [("SN-A", 1), ("SN-A", 2), ("SN-A", 3), ("SN-B", 1), ("SN-B", 2)]
    assert rows[0].force == 6.3 and isinstance(rows[0].force, float)
    assert rows[0].received_at.endswith("Z")


def test_received_at_comes_back_timezone_aware(db: Database) -> None:
    sink = DatabaseSink(db)
    sink.open_device(info())
    sink.commit(CommitBatch(Ledger("SN-1"), received([1]), (1, 1)))
    with db.Session.begin() as session:
        stamp = session.scalars(select(StampEvent)).one()
        assert stamp.received_at.tzinfo is not None
        assert session.execute(text("select count(*) from stamp_events")).scalar() == 1


def test_the_head_revision_read_without_alembic_is_the_migration_scripts_head() -> None:
    from stampside.app.storage.migrate import head_revision
    from stampside.app.storage.schema_version import HEAD_REVISION

    assert head_revision() == HEAD_REVISION, "a new migration: set HEAD_REVISION in app/storage/schema_version.py"


def test_opening_an_up_to_date_database_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "clinic.db"
    open_database(str(path)).close()  # created and migrated
    probe = (
        "import sys; from stampside.app.storage.database import open_database; "
        f"db = open_database({str(path)!r}); db.close(); "
        "print('alembic' in sys.modules)"
    )
    again = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "False"
    fresh = probe.replace(str(path), str(tmp_path / "new.db"))
    first = subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "True", "a new database is migrated by Alembic"
