"""Options several ``stampside`` commands share."""

from __future__ import annotations

from typing import Any

import click

from stampside.app.settings import Settings, SettingsFile
from stampside.app.storage.location import DB_ENV_VAR, demo_database_path

#: ``--db DB_URL``: the clinic's database; falls back to $STAMPSIDE_DB (which click reads), then the
#: settings (:func:`clinic_database`).
db_option = click.option(
    "--db",
    "db_url",
    envvar=DB_ENV_VAR,
    metavar="DB_URL",
    help="Database URL or SQLite file path [default: $STAMPSIDE_DB, else the settings file's db or data "
    "folder, else the user data folder; `stampside config show`].",
)


class _DemoDbOption(click.Option):
    """``--db`` of the demo commands: its help names the demo's own database as it is when the help is shown."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = (
            "Database URL or SQLite file path [default: the demo's own database, demo/demo.db in the settings' "
            f"data folder, else {demo_database_path()}]. The demo never uses ${DB_ENV_VAR} or the settings' db, "
            "the clinic's database."
        )
        return super().get_help_record(ctx)


#: ``--db DB_URL`` of ``demo`` and ``demo-data``: the demo's own database unless given; never $STAMPSIDE_DB.
demo_db_option = click.option("--db", "db_url", cls=_DemoDbOption, metavar="DB_URL")


class _Text(click.types.StringParamType):
    """Text a database is searched for (a patient code, a serial, a lot): it must be text, not bytes
    that are not UTF-8, which the shell passes through and no stored record can hold."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text: str = super().convert(value, param, ctx)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.fail(f"{text!r} holds bytes that are not UTF-8 text", param, ctx)
        return text


class _StoredInt(click.types.IntParamType):
    """A whole number a database is searched for (an id, a session number): it fits the database's
    64-bit integers, or no record has it."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number: int = super().convert(value, param, ctx)
        if not -(2**63) <= number < 2**63:
            self.fail(f"{value!r} is beyond any number the database holds", param, ctx)
        return number


#: The type of a parameter whose value is looked up in the database as text.
TEXT = _Text()
#: The type of a parameter whose value is looked up in the database as a number.
STORED_INT = _StoredInt()


#: ``--settings PATH``: the clinic's settings file (:mod:`stampside.app.settings`).
settings_option = click.option(
    "--settings",
    "settings_file",
    envvar="STAMPSIDE_SETTINGS",
    metavar="PATH",
    type=click.Path(dir_okay=False),
    help="The clinic's settings (TOML: database, data folder, clinic, time zone, foot switch keys) "
    "[default: $STAMPSIDE_SETTINGS, else settings.toml in the user config folder; `stampside config path`].",
)


def read_settings(settings_file: str | None = None, **flags: Any) -> Settings:
    """The settings in effect (the file, the environment over it, ``flags`` such as ``db=`` over both),
    or a :class:`CliError` that names the file or variable, the field and what is expected."""
    from stampside.app.cli.errors import CliError
    from stampside.app.settings import SettingsError, load_settings

    try:
        return load_settings(settings_file, flags=flags)
    except SettingsError as error:
        raise CliError(str(error)) from None


def read_settings_file(settings_file: str | None) -> SettingsFile:
    """The settings file as TOML, its values not checked yet (the app checks them after its first paint)."""
    from stampside.app.cli.errors import CliError
    from stampside.app.settings import SettingsError
    from stampside.app.settings import read_settings_file as read

    try:
        return read(settings_file)
    except SettingsError as error:
        raise CliError(str(error)) from None


def clinic_database(db_url: str | None) -> str:
    """The clinic's database URL: ``db_url`` (``--db``, or ``$STAMPSIDE_DB`` as click read it), else the
    settings' ``db``, else ``stampside.db`` in their data folder, else the user data folder's file."""
    if db_url:  # the flag or the variable: the settings file is not needed
        from stampside.app.storage.location import normalize_database_url

        return normalize_database_url(db_url)
    return read_settings().resolve_database_url()
