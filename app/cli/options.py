"""Options several ``stampside`` commands share."""

from __future__ import annotations

import click

from app.settings import Settings
from app.storage.location import DB_ENV_VAR

#: ``--db DB_URL``: where stamps are stored; falls back to $STAMPSIDE_DB, then the user data folder.
db_option = click.option(
    "--db",
    "db_url",
    envvar=DB_ENV_VAR,
    metavar="DB_URL",
    help="Database URL or SQLite file path [default: $STAMPSIDE_DB, else the user data folder].",
)


#: ``--settings PATH``: the clinic's settings file (clinic name and phone, foot switch keys).
settings_option = click.option(
    "--settings",
    "settings_file",
    envvar="STAMPSIDE_SETTINGS",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    help="The clinic's settings (TOML: clinic name and phone, foot switch keys) "
    "[default: $STAMPSIDE_SETTINGS, else settings.toml in the user config folder; `stampside settings path`].",
)


def read_settings(settings_file: str | None) -> Settings:
    """The settings, or a :class:`CliError` that names the file, the field and what is expected."""
    from app.cli.errors import CliError
    from app.settings import SettingsError, load_settings

    try:
        return load_settings(settings_file)
    except SettingsError as error:
        raise CliError(str(error)) from None
