"""``stampside board``: every chair's open session, live, full screen; it never writes."""

from __future__ import annotations

import sys
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stampside.app.cli.errors import CliError
from stampside.app.cli.options import db_option, read_settings, settings_option

if TYPE_CHECKING:
    from stampside.app.chairside.board_live import BoardUpdate

__all__ = ["board_command"]


@click.command("board")
@db_option
@click.option(
    "--protocol",
    "protocol_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A clinic's treatment protocol file, to name and time the steps of sessions run with it "
    "[default: the built-in protocol].",
)
@click.option(
    "--poll",
    "poll_s",
    type=click.FloatRange(0.1, 60.0),
    default=0.5,
    show_default=True,
    help="SQLite only: seconds between two looks for a change (PostgreSQL tells the board at once).",
)
@click.option("--once", is_flag=True, help="Print the board once as text and exit (no terminal needed).")
@settings_option
def board_command(
    db_url: str | None, protocol_file: Path | None, poll_s: float, once: bool, settings_file: str | None
) -> None:
    """The clinic board: every chair's open session on one screen, live.

    One row per chair: chair name (the settings' chair.name of the computer that opened the
    session, else its host name), practitioner, patient code, session k of n, the current step,
    stamps and their rate per minute, time in session, the stamp's link, and warnings in red:
    link lost, head used before, timer overdue. On PostgreSQL it follows every chair's changes
    as they are committed (LISTEN/NOTIFY); on SQLite it looks for a change every --poll seconds.

    The board only reads: it opens the database read-only and never migrates it (a schema that is
    not the newest is one line saying to run 'stampside db upgrade'). Keys: up/down move, ? help,
    q quits. The same board is "Clinic board" in the app's command palette (ctrl+p). More:
    `stampside docs board`.
    """
    from stampside.app.chairside.board_live import open_board
    from stampside.app.domain.treatment_protocol import ProtocolFileError, default_protocol, load_protocol
    from stampside.app.storage.errors import StorageError

    protocols = [default_protocol()]
    if protocol_file is not None:
        try:
            protocols.insert(0, load_protocol(protocol_file))
        except ProtocolFileError as exc:
            raise CliError(str(exc)) from None
    settings = read_settings(settings_file)
    if not once and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError("the board is a full-screen view and needs a terminal; --once prints it as text")
    try:
        url = settings.resolve_database_url(db_url)
        source = open_board(url, protocols=protocols, live=not once, poll_s=poll_s)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # the data folder could not be made
        raise CliError(f"the database's folder could not be made: {exc.strerror or exc}") from None
    try:
        if once:
            _print_once(source.read(), settings.tz)
            return
        from stampside.app.tui.board import BoardApp

        BoardApp(source, clinic_name=settings.clinic.name, tz=settings.tz).run()
    finally:
        source.close()


def _print_once(update: BoardUpdate, tz: tzinfo | None) -> None:
    """The board as lines of text: one per open session."""
    from stampside.app.chairside.board_live import BoardProblem
    from stampside.app.tui.widgets.stamp_counter import format_elapsed

    if isinstance(update, BoardProblem):
        raise CliError(update.message)
    if not update.rows:
        click.echo("No session is open at any chair.")
        return
    now = update.read_at
    for row in update.rows:
        warnings = ", ".join(warning.text(now) for warning in row.warnings) or "none"
        step = f"{row.step.title} ({row.step.counter})" if row.step.counter else row.step.title
        click.echo(
            f"{row.chair or '—'} | {row.practitioner} | {row.patient_code} | session {row.session_number} of "
            f"{row.planned_sessions} | {step} | {row.stamps} stamps, {row.rate_per_min:.0f}/min | "
            f"link {row.link or 'none yet'} | {format_elapsed(row.time_in_session(now).total_seconds())} "
            f"since {row.started_at.astimezone(tz):%H:%M} | warnings: {warnings}"
        )
