"""Suite-wide settings: long soak runs are skipped unless STAMPSIDE_SOAK=1, every test has
its own user state folder and the default clinic settings, and ``db_url`` runs a test on both
databases the app supports (SQLite, and a real PostgreSQL server: tests/postgres_server.py)."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.postgres_server import PostgresDatabases, suite_server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("STAMPSIDE_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak run: set STAMPSIDE_SOAK=1 (bench/ carries the long figures)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def own_user_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point the user state folder at a folder of this test's own (subprocesses inherit it).

    ``stampside sim`` keeps the simulated device's boot counter, seq and buffer there between
    runs: without this, every test starting a simulator with the default serial would power
    up the device the previous test left behind (platformdirs honours XDG_STATE_HOME on Linux).
    """
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    # And the user data folder: on a server's database, photos, cards and reports go there.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(autouse=True)
def no_clinic_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The settings are the defaults unless a test says otherwise: an empty user config folder, and
    none of the settings' STAMPSIDE_ variables of the shell that runs the tests (STAMPSIDE_DB stays,
    as before: commands read it as --db)."""
    from stampside.app.settings import SETTINGS_ENV_VAR, env_var_name, setting_names

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv(SETTINGS_ENV_VAR, raising=False)
    for name in setting_names():
        if name != "db":
            for variable in {env_var_name(name), env_var_name(name.split(".")[0])}:
                monkeypatch.delenv(variable, raising=False)


@pytest.fixture(autouse=True, scope="session")
def cheap_pin_hashing() -> Iterator[None]:
    """PINs are hashed with argon2's cheapest parameters in tests: the product's (RFC 9106's low-memory
    profile) take a tenth of a second each by design. Commands run as subprocesses keep the product's."""
    from argon2 import profiles

    from stampside.app.storage.pin_hashing import use_parameters

    before = use_parameters(profiles.CHEAPEST)
    yield
    use_parameters(before)


@pytest.fixture(autouse=True)
def collectable_after_the_test() -> Iterator[None]:
    """The app takes its long-lived objects out of the garbage collector's reach (``gc.freeze()``,
    :class:`~stampside.app.tui.app.StampsideApp`), as at the chair; after a test they are given back,
    so one test's app is collected before the next starts."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()


@pytest.fixture(scope="session")
def demo_cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file that ``stampside demo-data`` filled, made once per run: copy it with
    :func:`fresh_demo_copy` (``demo-data`` takes seconds; several tests only need its records)."""
    folder = tmp_path_factory.mktemp("demo-cohort")
    path = folder / "demo.db"
    # A process of its own, with empty user folders: nothing of this one's state, nor of the
    # machine's user, goes in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAMPSIDE_")}
    env.update(XDG_CONFIG_HOME=str(folder / "config"), XDG_DATA_HOME=str(folder / "data"))
    env.update(XDG_STATE_HOME=str(folder / "state"))
    stampside = str(Path(sys.executable).with_name("stampside"))
    done = subprocess.run(
        [stampside, "demo-data", "--db", f"sqlite:///{path}"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def fresh_demo_copy(demo_cohort_file: Path, tmp_path: Path) -> Path:
    """This test's own copy of the demo cohort (SQLite's backup API: the WAL's content included)."""
    copy = tmp_path / "demo-copy.db"
    with closing(sqlite3.connect(demo_cohort_file)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    return copy


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The run's PostgreSQL server (started once), making a fresh database per test."""
    with suite_server() as url:
        databases = PostgresDatabases(url)
        yield databases
        databases.close()


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A fresh PostgreSQL database of this test's own, migrated to the schema's head."""
    with postgres_databases.fresh() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of this test's own: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        from stampside.app.storage import open_database

        url = f"sqlite:///{tmp_path / 'clinic.db'}"
        open_database(url).close()
        yield url
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    with databases.fresh() as url:
        yield url
