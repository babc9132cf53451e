"""Fixtures the TUI tests share: a new SQLite database file per test, opened for the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stampside.app.storage.database import Database, open_database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stampside.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(str(db_path))
    yield database
    database.close()
