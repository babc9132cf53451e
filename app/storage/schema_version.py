"""Which schema revision a database has, read without Alembic: opening an up-to-date database stays cheap.

Alembic (with its Mako templates and DDL modules) takes a quarter of a second to import, and
the app opens its database before the start screen is ready. Every start but the first finds
the database at the newest revision already, so :func:`~stampside.app.storage.database.open_database`
reads ``alembic_version`` itself and imports :mod:`stampside.app.storage.migrate` only when the revision
differs from :data:`HEAD_REVISION` (a new file, an older schema). A test keeps the constant
equal to the migration scripts' head, so a new revision cannot be forgotten here.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect

__all__ = ["HEAD_REVISION", "VERSION_TABLE", "stored_revision"]

#: The newest revision of ``app/storage/migrations`` (``alembic heads``).
HEAD_REVISION = "0009"
VERSION_TABLE = "alembic_version"


def stored_revision(engine: Engine) -> str | None:
    """The revision the database says it has; ``None`` for a new database or one Alembic must look at."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        rows = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
    return str(rows[0][0]) if len(rows) == 1 else None
