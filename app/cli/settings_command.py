"""``stampside settings``: where the clinic's settings file is, an example, and a check of it."""

from __future__ import annotations

import click

from app.cli.options import read_settings, settings_option
from app.settings import EXAMPLE, resolve_settings_path


@click.group("settings")
def settings_group() -> None:
    """The clinic's settings file (TOML): clinic name and phone for the aftercare card, foot switch keys.

    \b
      stampside settings path              where the app looks for it
      stampside settings example > FILE    a file to start from
      stampside settings show              what the app would use (checks the file)
    """


@settings_group.command("path")
@settings_option
def path_command(settings_file: str | None) -> None:
    """Print the settings file the app reads (--settings, else $STAMPSIDE_SETTINGS, else the user config folder)."""
    click.echo(str(resolve_settings_path(settings_file)))


@settings_group.command("example")
def example_command() -> None:
    """Print an example settings file with every setting."""
    click.echo(EXAMPLE, nl=False)


@settings_group.command("show")
@settings_option
def show_command(settings_file: str | None) -> None:
    """Check the settings file and print what the app would use (exit code 2 if it is wrong)."""
    settings = read_settings(settings_file)
    where = resolve_settings_path(settings_file)
    source = str(settings.source) if settings.source else f"defaults (no file at {where})"
    click.echo(f"from:            {source}")
    click.echo(f"clinic name:     {settings.clinic.name or '(not set: the aftercare card says “the clinic”)'}")
    click.echo(f"clinic phone:    {settings.clinic.phone or '(not set: the aftercare card gives no number)'}")
    click.echo(f"advance keys:    {', '.join(settings.keys.advance) or '(none besides enter and space)'}")
    click.echo(f"next zone keys:  {', '.join(settings.keys.next_zone) or '(none besides the zone letters)'}")
