"""Options several ``stampside`` commands share."""

from __future__ import annotations

import click

from app.storage.location import DB_ENV_VAR

#: ``--db DB_URL``: where stamps are stored; falls back to $STAMPSIDE_DB, then the user data folder.
db_option = click.option(
    "--db",
    "db_url",
    envvar=DB_ENV_VAR,
    metavar="DB_URL",
    help="Database URL or SQLite file path [default: $STAMPSIDE_DB, else the user data folder].",
)
