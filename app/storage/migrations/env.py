"""Alembic environment: runs on the connection ``app.storage.migrate`` hands over.

Run from the command line (``alembic -c app/storage/alembic.ini ...``) it opens
``sqlalchemy.url`` from that file, or ``$STAMPSIDE_DB`` / the default database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from app.storage.schema import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from app.storage.location import resolve_database_url

    url = context.config.get_main_option("sqlalchemy.url") or resolve_database_url()
    engine = create_engine(url)
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


run_migrations()
