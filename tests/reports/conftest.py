"""A demo cohort seeded once per module, on a SQLite file and then on the suite's PostgreSQL
server, for the report tests: the same records must give the same reports on both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from stampside.app.demo_data import SeededCohort, seed_demo_cohort
from stampside.app.storage import Database, open_database
from tests.postgres_server import PostgresDatabases


@dataclass(frozen=True)
class CohortPlace:
    """Where the cohort is: its database's URL (for ``--db``) and its photo folder."""

    url: str
    photos: Path


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def cohort_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, SeededCohort, CohortPlace]]:
    folder = tmp_path_factory.mktemp("cohort")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder / 'clinic.db'}"
        else:
            databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
            url = stack.enter_context(databases.fresh())
        database = open_database(url)
        stack.callback(database.close)
        place = CohortPlace(url, folder / "photos")
        cohort = seed_demo_cohort(database, photo_root=place.photos)
        yield database, cohort, place
