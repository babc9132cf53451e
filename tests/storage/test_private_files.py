"""Private files: created 0600 in folders 0700 whatever the umask, written whole or not at all.

Real files in tmp_path under umasks that would leave them readable by others (0o022, 0o000)
or not even writable by the owner (0o277): the modes are set, not left to the umask. The
database is a real SQLite file: it and its -wal and -shm files are checked while it is open.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from stampside.app.storage import open_database, resolve_database_url
from stampside.app.storage.private_files import (
    create_private_file,
    make_private_folder,
    open_private_text,
    write_private_bytes,
    write_private_text,
)
from tests.file_modes import mode, not_private, umask

UMASKS = pytest.mark.parametrize("mask", [0o022, 0o000, 0o277], ids=lambda m: f"umask{m:03o}")


@UMASKS
def test_folders_and_their_missing_parents_are_created_0700(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        made = make_private_folder(tmp_path / "data" / "reports" / "2026")
    assert made == tmp_path / "data" / "reports" / "2026" and made.is_dir()
    assert not_private(tmp_path / "data") == []


@UMASKS
def test_written_files_are_0600(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        folder = make_private_folder(tmp_path / "out")
        written = [
            write_private_text(folder / "report.html", "<html></html>"),
            write_private_bytes(folder / "photo.jpg", b"\xff\xd8\xff"),
            folder / "export.csv",
        ]
        with open_private_text(folder / "export.csv", newline="") as out:
            out.write("a,b\r\n1,2\r\n")
        assert create_private_file(folder / "empty.db") is True
    assert [mode(p) for p in written] == [0o600, 0o600, 0o600]
    assert (folder / "export.csv").read_bytes() == b"a,b\r\n1,2\r\n", "newline='' keeps the CSV's own line ends"
    assert not_private(folder) == []


def test_an_existing_app_folder_loses_others_access_and_a_chosen_one_is_left_as_it_is(tmp_path: Path) -> None:
    apps, chosen = tmp_path / "reports", tmp_path / "chosen"
    for folder in (apps, chosen):
        folder.mkdir()
        folder.chmod(0o755)
    make_private_folder(apps)
    make_private_folder(chosen, own=False)
    make_private_folder(chosen / "DEMO-001")
    assert (mode(apps), mode(chosen), mode(chosen / "DEMO-001")) == (0o700, 0o755, 0o700)
    parent_before = mode(tmp_path)
    make_private_folder(tmp_path / "new" / "deeper")
    assert mode(tmp_path) == parent_before


def test_a_rewrite_replaces_the_file_whole_and_a_world_readable_one_becomes_0600(tmp_path: Path) -> None:
    path = tmp_path / "cohort.html"
    path.write_text("old")
    path.chmod(0o644)
    write_private_text(path, "new")
    assert path.read_text() == "new" and mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.html"], "no temporary file is left"


def test_a_stream_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    path = tmp_path / "stamps.csv"
    path.write_text("the export of yesterday\n")
    with pytest.raises(RuntimeError, match="database went away"), open_private_text(path) as out:
        out.write("device_serial,boot,seq\n" * 1000)
        raise RuntimeError("database went away")
    assert path.read_text() == "the export of yesterday\n"
    assert [p.name for p in tmp_path.iterdir()] == ["stamps.csv"]


def test_a_file_in_a_missing_folder_is_an_os_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_private_text(tmp_path / "missing" / "report.html", "x")
    assert list(tmp_path.iterdir()) == []


def test_a_device_such_as_dev_null_is_written_to_directly() -> None:
    devnull = Path(os.devnull)
    before = mode(devnull)
    with open_private_text(devnull) as out:
        out.write("nothing")
    assert mode(devnull) == before and devnull.exists()


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=lambda m: f"umask{m:03o}")
def test_the_database_and_its_wal_and_shm_files_are_0600(tmp_path: Path, mask: int) -> None:
    db_file = tmp_path / "clinic.db"
    with umask(mask):
        database = open_database(f"sqlite:///{db_file}")
        try:
            with database.Session.begin() as session:
                session.execute(text("CREATE TABLE probe (x INTEGER)"))
                session.execute(text("INSERT INTO probe VALUES (1)"))
            wal, shm = tmp_path / "clinic.db-wal", tmp_path / "clinic.db-shm"
            assert wal.exists() and shm.exists(), "WAL mode keeps both while the database is open"
            assert (mode(db_file), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
        finally:
            database.close()
    assert not_private(*tmp_path.iterdir()) == []


def test_a_database_left_world_readable_by_an_earlier_version_is_made_private_when_opened(tmp_path: Path) -> None:
    db_file = tmp_path / "clinic.db"
    open_database(f"sqlite:///{db_file}").close()
    left = [db_file, tmp_path / "clinic.db-wal", tmp_path / "clinic.db-shm"]
    for path in left:
        path.touch()
        path.chmod(0o644)
    database = open_database(f"sqlite:///{db_file}")
    try:
        assert [mode(p) for p in left] == [0o600, 0o600, 0o600]
    finally:
        database.close()


def test_the_default_data_folder_and_its_missing_parents_are_created_0700(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAMPSIDE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / "share"))
    with umask(0o000):
        url = resolve_database_url(None)
        open_database(url).close()
    assert url == f"sqlite:///{tmp_path / 'home' / 'share' / 'stampside' / 'stampside.db'}"
    assert not_private(tmp_path / "home") == []
