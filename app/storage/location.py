"""Which database to use: ``--db``, else ``STAMPSIDE_DB``, else a SQLite file in the user data dir."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from stampside.app.storage.private_files import make_private_folder

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

APP_NAME = "stampside"
#: The environment variable that names the database when ``--db`` is not given.
DB_ENV_VAR = "STAMPSIDE_DB"
DEFAULT_FILE_NAME = "stampside.db"
#: ``stampside demo`` and ``demo-data`` keep their records here, never in the clinic's database.
DEMO_FOLDER_NAME = "demo"
DEMO_FILE_NAME = "demo.db"


def default_database_path() -> Path:
    """The SQLite file used when nothing else is said, in the platform's user data dir."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / DEFAULT_FILE_NAME


def expand_home(path: Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; a ``~name`` that is no user here stays as it
    is, as the shell leaves it."""
    try:
        return path.expanduser()
    except RuntimeError:  # no such user (or no home at all)
        return path


def normalize_database_url(value: str) -> str:
    """Accept a SQLAlchemy URL, or a plain file path meaning a SQLite file."""
    value = value.strip()
    if "://" in value:
        return value
    return f"sqlite:///{expand_home(Path(value)).absolute()}"


def resolve_database_url(explicit: str | None = None) -> str:
    """``explicit`` (from ``--db``), else ``$STAMPSIDE_DB``, else the default SQLite file."""
    if explicit:
        return normalize_database_url(explicit)
    from_env = os.environ.get(DB_ENV_VAR, "").strip()
    if from_env:
        return normalize_database_url(from_env)
    path = default_database_path()
    make_private_folder(path.parent)  # the app's own data folder: 0700
    return f"sqlite:///{path}"


def demo_database_path(data_folder: Path | None = None) -> Path:
    """The demo's own SQLite file, in a ``demo`` folder of the data folder (the settings' ``data_folder``,
    else the user data dir): its cards, photos and screenshots land beside it, apart from the clinic's."""
    folder = data_folder if data_folder is not None else platformdirs.user_data_path(APP_NAME, appauthor=False)
    return folder / DEMO_FOLDER_NAME / DEMO_FILE_NAME


def resolve_demo_database_url(explicit: str | None = None, *, data_folder: Path | None = None) -> str:
    """``explicit`` (from ``--db``), else the demo's own file (:func:`demo_database_path`); never
    ``$STAMPSIDE_DB`` or the settings' ``db``, the clinic's database."""
    if explicit:
        return normalize_database_url(explicit)
    path = demo_database_path(data_folder)
    make_private_folder(path.parent)
    return f"sqlite:///{path}"


def data_folder(database_url: URL, name: str, *, elsewhere: Path | None = None) -> Path:
    """``name/`` beside a SQLite database file (the clinic's records stay together), else in ``elsewhere``
    (the settings' data folder) or the user data dir.

    What the app writes for people (aftercare cards, reports, exports, screenshots) goes here;
    the writers make it 0700 and the files in it 0600 (:mod:`stampside.app.storage.private_files`).
    """
    if database_url.get_backend_name() == "sqlite" and database_url.database not in (None, "", ":memory:"):
        return expand_home(Path(str(database_url.database))).absolute().parent / name
    return (elsewhere or platformdirs.user_data_path(APP_NAME, appauthor=False)) / name
