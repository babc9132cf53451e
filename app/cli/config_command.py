"""``stampside config`` (also ``stampside settings``): where the settings file is, an example, and what is in effect."""

from __future__ import annotations

from pathlib import Path

import click
import platformdirs

from stampside.app.cli.options import read_settings, settings_option
from stampside.app.settings import EXAMPLE, Settings, local_zone_name, resolve_settings_path, setting_names
from stampside.app.storage.location import APP_NAME, default_database_path

HELP = """The clinic's settings: one TOML file, environment variables over it, a command's flags over both.

\b
  stampside config path              where the app reads the settings file
  stampside config example > FILE    a file to start from, every setting explained
  stampside config show              every setting in effect and where it came from

Every setting can be set by a variable too: STAMPSIDE_ and its name in capitals, with __ after
a table's name (STAMPSIDE_TIMEZONE, STAMPSIDE_CLINIC__PHONE, STAMPSIDE_KEYS__ADVANCE=f13).
`stampside settings …` is the same command.
"""


@click.group("config", help=HELP)
def config_group() -> None:
    pass


#: ``stampside settings …``: the name the command had first; the same subcommands.
settings_alias = click.Group(
    "settings", commands=config_group.commands, help=HELP, short_help="The same as `stampside config`."
)


@config_group.command("path")
@settings_option
def path_command(settings_file: str | None) -> None:
    """Print the settings file the app reads (--settings, else $STAMPSIDE_SETTINGS, else the user config folder)."""
    click.echo(str(resolve_settings_path(settings_file)))


@config_group.command("example")
def example_command() -> None:
    """Print an example settings file with every setting."""
    click.echo(EXAMPLE, nl=False)


@config_group.command("show")
@settings_option
@click.option("--db", "db_url", metavar="DB_URL", help="Show the settings as a command given --db DB_URL has them.")
def show_command(settings_file: str | None, db_url: str | None) -> None:
    """Check the settings and print each one in effect with where it came from: a flag, an
    environment variable, the settings file, or the default (exit code 2 if one is wrong)."""
    settings = read_settings(settings_file, db=db_url)
    where = resolve_settings_path(settings_file)
    click.echo(f"{'settings file':<18} {where}{'' if settings.source else ' (none there: nothing read)'}")
    values = shown_values(settings)
    for name in setting_names():
        click.echo(f"{name:<18} {values[name]}  [{settings.origin(name)}]")


def shown_values(settings: Settings) -> dict[str, str]:
    """Each setting's value as ``config show`` prints it; an unset one says what it means."""
    clinic, keys = settings.clinic, settings.keys
    return {
        "db": settings.database_url() or f"sqlite:///{default_database_path()}",
        "data_folder": str(settings.data_folder) if settings.data_folder else f"(not set: {_beside(settings)})",
        "timezone": settings.timezone or f"{local_zone_name()} (the computer's)",
        "idle_lock_minutes": str(settings.idle_lock_minutes),
        "clinic.name": clinic.name or "(not set: the aftercare card says “the clinic”)",
        "clinic.address": clinic.address or "(not set: the aftercare card gives no address)",
        "clinic.phone": clinic.phone or "(not set: the aftercare card gives no number)",
        "chair.name": settings.chair.name or f"{settings.chair_name} (the computer's host name)",
        "keys.advance": ", ".join(keys.advance) or "(none besides enter and space)",
        "keys.next_zone": ", ".join(keys.next_zone) or "(none besides the zone letters)",
    }


def _beside(settings: Settings) -> str:
    """Where the app writes for people when no data folder is set: beside a SQLite file, else the user data folder."""
    url = settings.database_url() or f"sqlite:///{default_database_path()}"
    if url.startswith("sqlite:///") and url.removeprefix("sqlite:///") not in ("", ":memory:"):
        return f"beside the database, {Path(url.removeprefix('sqlite:///')).parent}"
    return f"the user data folder, {platformdirs.user_data_path(APP_NAME, appauthor=False)}"
