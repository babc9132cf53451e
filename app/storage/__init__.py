"""Storage: SQLAlchemy 2.0 models, Alembic migrations run on open, and the link's durable sink.

Typical use::

    db = open_database(url)            # --db, else $STAMPSIDE_DB, else the default file
    with db.Session.begin() as session:
        ...                            # one transaction per use case
    sink = DatabaseSink(db)            # for devicelink.LinkSession(..., sink=sink)
    sink.session_id = session_id       # new stamps and link events join this treatment session

The treatment records have one module of use cases each, all taking the session of the
caller's transaction: ``practitioners``, ``patients``, ``courses``, ``sessions``,
``step_records``, ``session_stamps`` and ``heads``.
"""

from app.storage.database import Database, open_database
from app.storage.errors import StorageError
from app.storage.location import DB_ENV_VAR, default_database_path, resolve_database_url
from app.storage.sink import DatabaseSink
from app.storage.stamps import ExportRow, iter_export_rows

__all__ = [
    "DB_ENV_VAR",
    "Database",
    "DatabaseSink",
    "ExportRow",
    "StorageError",
    "default_database_path",
    "iter_export_rows",
    "open_database",
    "resolve_database_url",
]
