"""Alembic environment: runs on the connection ``stampside.app.storage.migrate`` hands over.

Run from the command line (``alembic -c app/storage/alembic.ini ...``) it opens
``sqlalchemy.url`` from that file, or ``$STAMPSIDE_DB`` / the default database, and upgrades
in one transaction as the app does.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from stampside.app.storage.schema import Base


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
    from stampside.app.storage.location import resolve_database_url
    from stampside.app.storage.migrate import migration_transaction

    url = context.config.get_main_option("sqlalchemy.url") or resolve_database_url()
    engine = create_engine(url)
    try:
        # The same single, locked transaction as the app's own upgrades (app.storage.migrate):
        # a developer's `alembic upgrade` killed half-way leaves the database as it was.
        with migration_transaction(engine) as own:
            _run(own)
    finally:
        engine.dispose()


run_migrations()
