"""Storage: SQLAlchemy 2.0 models, Alembic migrations run on open, and the link's durable sink.

Typical use::

    db = open_database(url)            # --db, else $STAMPSIDE_DB, else the default file
    with db.Session.begin() as session:
        ...                            # one transaction per use case
    sink = DatabaseSink(db)            # for devicelink.LinkSession(..., sink=sink)
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
