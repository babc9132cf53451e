"""Storage: SQLAlchemy 2.0 models, Alembic migrations run on open, and the link's durable sink.

Typical use::

    db = open_database(url)            # --db, else $STAMPSIDE_DB, else the default file
    with db.Session.begin() as session:
        ...                            # one transaction per use case
    sink = DatabaseSink(db)            # for devicelink.LinkSession(..., sink=sink)
    link.tags = StampTags(session_id, zone)   # on the LinkSession: where arriving stamps are stored

The treatment records have one module of use cases each, all taking the session of the
caller's transaction: ``practitioners``, ``patients``, ``courses``, ``sessions``,
``step_records``, ``session_stamps`` and ``heads``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stampside.app.storage.database import Database, open_database
    from stampside.app.storage.errors import StorageError
    from stampside.app.storage.location import DB_ENV_VAR, default_database_path, resolve_database_url
    from stampside.app.storage.sink import DatabaseSink
    from stampside.app.storage.stamps import ExportRow, iter_export_rows

#: Each public name → the submodule it comes from. They are imported on first use (PEP 562),
#: so ``stampside.app.storage.location`` (what the CLI's options need) does not import SQLAlchemy.
_SOURCES = {
    "DB_ENV_VAR": "location",
    "Database": "database",
    "DatabaseSink": "sink",
    "ExportRow": "stamps",
    "StorageError": "errors",
    "default_database_path": "location",
    "iter_export_rows": "stamps",
    "open_database": "database",
    "resolve_database_url": "location",
}

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


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{source}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
