"""Alembic migrations, run programmatically when the database is opened.

The migration scripts ship inside the package (``app/storage/migrations``), so an
installed Stampside can upgrade a database without an ``alembic.ini`` or a checkout. On
SQLite they run in batch mode (table copies), which Alembic needs to alter tables there.
``app/storage/alembic.ini`` is for developers making new revisions::

    alembic -c app/storage/alembic.ini revision --autogenerate -m "what changed"
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database at ``engine`` to the newest schema (a no-op when it is there)."""
    config = alembic_config()
    if current_revision(engine) == ScriptDirectory.from_config(config).get_current_head():
        return
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
