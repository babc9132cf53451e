"""Which database to use: ``--db``, else ``STAMPSIDE_DB``, else a SQLite file in the user data dir."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

APP_NAME = "stampside"
#: The environment variable that names the database when ``--db`` is not given.
DB_ENV_VAR = "STAMPSIDE_DB"
DEFAULT_FILE_NAME = "stampside.db"


def default_database_path() -> Path:
    """The SQLite file used when nothing else is said, in the platform's user data dir."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / DEFAULT_FILE_NAME


def normalize_database_url(value: str) -> str:
    """Accept a SQLAlchemy URL, or a plain file path meaning a SQLite file."""
    value = value.strip()
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().absolute()}"


def resolve_database_url(explicit: str | None = None) -> str:
    """``explicit`` (from ``--db``), else ``$STAMPSIDE_DB``, else the default SQLite file."""
    if explicit:
        return normalize_database_url(explicit)
    from_env = os.environ.get(DB_ENV_VAR, "").strip()
    if from_env:
        return normalize_database_url(from_env)
    path = default_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"



def data_folder(database_url: URL, name: str) -> Path:
    """``name/`` beside a SQLite database file (the clinic's records stay together), else in the user data dir.

    What the app writes for people (aftercare cards, reports, exports, screenshots) goes here.
    """
    if database_url.get_backend_name() == "sqlite" and database_url.database not in (None, "", ":memory:"):
        return Path(str(database_url.database)).expanduser().absolute().parent / name
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / name
