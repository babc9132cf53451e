"""A demo cohort seeded once per module into a real SQLite file, for the report tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stampside.app.demo_data import SeededCohort, seed_demo_cohort
from stampside.app.storage import Database, open_database


@pytest.fixture(scope="module")
def cohort_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, SeededCohort, Path]]:
    path = tmp_path_factory.mktemp("cohort") / "clinic.db"
    database = open_database(f"sqlite:///{path}")
    cohort = seed_demo_cohort(database, photo_root=path.with_name("photos"))
    yield database, cohort, path
    database.close()
