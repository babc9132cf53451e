"""The suite's PostgreSQL: one real server per run, and a fresh database of its own for every test.

``scripts/test`` (the README's test command) starts the server with ``scripts/postgres up`` and
hands its URL to pytest in ``STAMPSIDE_TEST_POSTGRES_URL``; a bare ``pytest`` starts one of its
own (its own data folder and port) and stops it at the end. Either way nothing is skipped:
PostgreSQL is installed from Debian's packages when missing.

A test's database is a copy of a template migrated to the head once per process
(``CREATE DATABASE … TEMPLATE``, tens of milliseconds), dropped after the test with
``WITH (FORCE)`` so a connection the test left open cannot keep it.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text

URL_VARIABLE = "STAMPSIDE_TEST_POSTGRES_URL"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres"

_names = itertools.count(1)


def run_script(command: str, data: Path) -> subprocess.CompletedProcess[str]:
    """``scripts/postgres COMMAND`` on the cluster in ``data``."""
    env = {**os.environ, "STAMPSIDE_PG_DATA": str(data)}
    return subprocess.run([str(SCRIPT), command], capture_output=True, text=True, env=env, timeout=600)


@contextmanager
def suite_server() -> Iterator[str]:
    """The URL of the run's server: the one ``scripts/test`` started, else one started here."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        yield given
        return
    # Under the temporary folder's root, not pytest's own 0700 folders: as root the server runs
    # as the 'postgres' account, which must reach its data folder.
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"stampside-pg-suite-{os.getpid()}"
    started = run_script("up", data)
    if started.returncode != 0:
        raise RuntimeError(f"scripts/postgres up failed: {started.stderr.strip()}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        run_script("down", data)


@contextmanager
def own_cluster(name: str) -> Iterator[tuple[str, Path]]:
    """A cluster of the caller's own (URL, data folder), for a test that stops and starts its server:
    the run's shared server must not go away under the other tests. Removed afterwards."""
    # Under the temporary folder's root: as root the server runs as 'postgres', which must reach it.
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"stampside-pg-{name}-{os.getpid()}"
    started = run_script("up", data)
    if started.returncode != 0:
        raise RuntimeError(f"scripts/postgres up failed: {started.stderr.strip()}")
    try:
        yield started.stdout.strip().splitlines()[-1], data
    finally:
        run_script("down", data)


class PostgresDatabases:
    """Makes fresh databases on one server, each a copy of a template at the schema's head."""

    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url)
        self._admin: Engine = create_engine(
            self.server_url.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_size=1
        )
        self._prefix = f"t{os.getpid()}"
        self._template: str | None = None

    def url(self, name: str) -> str:
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def _execute(self, statement: str) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(statement))

    def _migrated_template(self) -> str:
        if self._template is None:
            from stampside.app.storage import open_database

            name = f"{self._prefix}_template"
            self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            self._execute(f"CREATE DATABASE {name}")
            open_database(self.url(name)).close()
            self._template = name
        return self._template

    @contextmanager
    def fresh(self, *, migrated: bool = True) -> Iterator[str]:
        """A new database's URL (at the schema's head, or empty), dropped afterwards."""
        name = f"{self._prefix}_{next(_names)}"
        template = self._migrated_template() if migrated else "template0"
        self._execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        try:
            yield self.url(name)
        finally:
            self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        if self._template is not None:
            self._execute(f"DROP DATABASE IF EXISTS {self._template} WITH (FORCE)")
        self._admin.dispose()
