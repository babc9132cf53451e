"""``stampside db``: the schema revision, an upgrade, the migrations, and a backup of a live SQLite file.

(The PostgreSQL backup through ``pg_dump`` is in tests/storage/test_postgres_server.py.)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from stampside.app.cli.main import main
from stampside.app.storage import open_database
from stampside.app.storage.migrate import upgrade_to
from stampside.app.storage.schema_version import HEAD_REVISION
from tests.file_modes import not_private


def run(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(main, list(args))
    return done.exit_code, done.output


def test_current_says_the_stored_and_the_newest_revision_and_exits_1_when_behind(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    database = open_database(f"sqlite:///{old}", migrate=False)
    upgrade_to(database.engine, "0004")
    database.close()
    code, out = run("db", "current", "--db", f"sqlite:///{old}")
    assert code == 1
    assert f"revision 0004; newest {HEAD_REVISION}" in out
    assert "run 'stampside db upgrade'" in out

    code, out = run("db", "upgrade", "--db", f"sqlite:///{old}")
    assert code == 0, out
    assert f"upgraded from 0004 to {HEAD_REVISION}" in out
    code, out = run("db", "upgrade", "--db", f"sqlite:///{old}")
    assert code == 0 and f"already at the newest revision, {HEAD_REVISION}" in out
    code, out = run("db", "current", "--db", f"sqlite:///{old}")
    assert code == 0 and f"revision {HEAD_REVISION}; newest {HEAD_REVISION}" in out


def test_a_missing_file_or_a_wrong_url_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    code, out = run("db", "current", "--db", f"sqlite:///{missing}")
    assert (code, out.strip()) == (2, f"Error: no database file at {missing}")
    assert not missing.exists()
    code, out = run("db", "backup", str(tmp_path / "b.db"), "--db", f"sqlite:///{missing}")
    assert code == 2 and not (tmp_path / "b.db").exists()
    code, out = run("db", "current", "--db", "nonsense://x")
    assert code == 2 and out.startswith("Error: not a database URL")


def test_history_lists_every_migration_oldest_first() -> None:
    code, out = run("db", "history")
    assert code == 0
    revisions = [line.split()[0] for line in out.splitlines()]
    assert revisions == [f"{n:04d}" for n in range(1, int(HEAD_REVISION) + 1)]
    assert "audit trail" in out


def test_a_backup_of_a_database_in_use_is_a_whole_private_database_of_its_own(
    tmp_path: Path, fresh_demo_copy: Path
) -> None:
    live = fresh_demo_copy
    writer = sqlite3.connect(live)  # a writer holds the database open (WAL) during the backup
    writer.execute("UPDATE patients SET name = name")
    backup = tmp_path / "backups" / "clinic-backup.db"
    code, out = run("db", "backup", str(backup), "--db", f"sqlite:///{live}")
    writer.close()
    assert code == 0, out
    assert out.startswith(f"backed up {live} to {backup}")
    assert sorted(p.name for p in backup.parent.iterdir()) == ["clinic-backup.db"]  # no -wal, no partial
    assert not_private(backup.parent) == []
    with sqlite3.connect(live) as a, sqlite3.connect(backup) as b:
        for table in ("patients", "stamp_events", "audit_entries", "signatures"):
            query = f"SELECT * FROM {table} ORDER BY 1"
            assert a.execute(query).fetchall() == b.execute(query).fetchall(), table
    code, out = run("audit", "verify", "--db", f"sqlite:///{backup}")
    assert code == 0, out


def test_copy_moves_every_record_verified_and_refuses_a_target_that_holds_records(
    tmp_path: Path, fresh_demo_copy: Path
) -> None:
    source, target = fresh_demo_copy, tmp_path / "copy.db"
    code, out = run("db", "copy", "--from", f"sqlite:///{source}", "--to", f"sqlite:///{target}")
    assert code == 0, out
    lines = out.splitlines()
    assert any(line.split()[:2] == ["stamp_events", "9,788"] and line.endswith("verified") for line in lines), out
    assert lines[-1].startswith("copied ") and f"from {source} to {target}" in lines[-1]
    code, out = run("audit", "verify", "--db", f"sqlite:///{target}")
    assert code == 0, out  # the trail's hashes hold on the copy: the same records, the same keys
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        query = "SELECT * FROM audit_entries ORDER BY seq"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()  # and the copy appended nothing

    code, out = run("db", "copy", "--from", f"sqlite:///{source}", "--to", f"sqlite:///{target}")
    assert code == 2 and "the target already holds records" in out
    old = tmp_path / "old.db"
    database = open_database(f"sqlite:///{old}", migrate=False)
    upgrade_to(database.engine, "0006")
    database.close()
    code, out = run("db", "copy", "--from", f"sqlite:///{old}", "--to", f"sqlite:///{tmp_path / 'new.db'}")
    assert code == 2 and "upgrade it first" in out


def test_an_unreachable_server_is_one_line() -> None:
    code, out = run("db", "current", "--db", "postgresql+psycopg://clinic@127.0.0.1:1/records")
    assert code == 2
    assert out.count("\n") == 1 and out.startswith("Error: cannot reach the database server"), out


def test_roles_prints_the_grants_without_a_database_and_refuses_a_bad_name_or_sqlite(tmp_path: Path) -> None:
    # The grants on a server are tested on a real one: tests/storage/test_clinic_roles.py.
    code, out = run("db", "roles", "--app-role", "stampside_app", "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert code == 0, out
    assert out.startswith("-- Stampside, schema revision") and 'TO "stampside_app";' in out
    assert 'GRANT SELECT, INSERT ON TABLE\n    "audit_entries",' in out
    assert not (tmp_path / "none.db").exists()  # printing touches no database
    code, out = run("db", "roles", "--app-role", "stampside_app", "--owner-role", "stampside_owner")
    assert code == 0 and 'ALTER TABLE "audit_entries" OWNER TO "stampside_owner";' in out
    for bad in ("Chair", "app; DROP TABLE patients", "pg_app", "public", "x" * 64, ""):
        code, out = run("db", "roles", "--app-role", bad)
        assert code == 2 and "Invalid value for '--app-role'" in out and "Traceback" not in out, (bad, out)
    code, out = run("db", "roles", "--app-role", "same", "--owner-role", "same")
    assert (code, out.strip()) == (
        2,
        "Error: the app role and the owner role must be two roles: the owner can drop every table",
    )
    clinic = tmp_path / "clinic.db"
    open_database(f"sqlite:///{clinic}").close()
    code, out = run("db", "roles", "--app-role", "stampside_app", "--apply", "--db", f"sqlite:///{clinic}")
    assert code == 2 and out.count("\n") == 1
    assert out.startswith(f"Error: {clinic} is not a PostgreSQL database: roles are the server's")


def test_a_database_newer_than_this_stampside_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    open_database(f"sqlite:///{newer}").close()
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()
    code, out = run("db", "upgrade", "--db", f"sqlite:///{newer}")
    assert (code, out.strip()) == (
        2,
        f"Error: {newer} is at schema revision 9999, newer than this Stampside knows (its newest is "
        f"{HEAD_REVISION}): another computer's newer Stampside upgraded it; upgrade Stampside on this computer",
    )
