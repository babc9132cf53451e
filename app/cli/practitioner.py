"""``stampside practitioner list|add|set-pin|events``: who can sign in, their PINs, and the security events.

A PIN is asked twice without showing it (or read from the first line of standard input with
``--pin-stdin``, for scripts), hashed with argon2 and never printed, logged or stored in clear.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from sqlalchemy.exc import SQLAlchemyError

from stampside.app.cli.errors import CliError
from stampside.app.cli.options import TEXT, clinic_database, db_option
from stampside.app.domain.pins import PinRefused
from stampside.app.storage import StorageError, open_database
from stampside.app.storage.database import Database
from stampside.app.storage.errors import explain
from stampside.app.storage.pins import pin_states, set_pin
from stampside.app.storage.practitioners import (
    PractitionerError,
    PractitionerView,
    add_practitioner,
    list_practitioners,
)
from stampside.app.storage.security_events import list_security_events


@click.group("practitioner")
def practitioner_group() -> None:
    """Practitioners: who signs in at the chair, with a PIN or passphrase.

    \b
    Each practitioner signs in to the chairside app with their PIN, types it again to
    sign overrides, screening verdicts, outcome entries and the closing of a session,
    and unlocks the app with it after the idle lock. Five wrong PINs in a row lock the
    practitioner out for five minutes (a security event). A practitioner without a PIN
    chooses one at their first sign-in, or here:
      stampside practitioner add "Dr. Ana Ruiz"
      stampside practitioner set-pin "Dr. Ana Ruiz"
      stampside practitioner events
    """


def _open(db_url: str | None) -> Database:
    try:
        return open_database(clinic_database(db_url))
    except StorageError as exc:
        raise CliError(str(exc)) from None


def _read_pin(from_stdin: bool) -> tuple[str, str]:
    """The new PIN twice: typed without showing (asked twice), or the first line of standard input (once)."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        return line, line
    pin = click.prompt("PIN (not shown)", hide_input=True, default="", show_default=False)
    again = click.prompt("The same PIN again", hide_input=True, default="", show_default=False)
    return pin, again


def _find(database: Database, name: str) -> PractitionerView:
    """The active practitioner named ``name`` (case and spacing do not matter)."""
    wanted = " ".join(name.split()).casefold()
    with database.Session.begin() as session:
        practitioners = list_practitioners(session)
    for practitioner in practitioners:
        if practitioner.name.casefold() == wanted:
            return practitioner
    known = ", ".join(p.name for p in practitioners) or "none yet"
    raise CliError(f"no practitioner named {name!r} in {database.description}; the practitioners are: {known}")


def _store_pin(database: Database, practitioner: PractitionerView, pin: str, again: str, *, replace: bool) -> None:
    try:
        with database.Session.begin() as session:
            set_pin(
                session,
                practitioner.id,
                pin,
                again,
                now=datetime.now(UTC),
                replace=replace,
                how="from the command line",
            )
    except PinRefused as exc:
        raise CliError(f"{practitioner.name}: {exc}; no PIN was stored") from None


@practitioner_group.command("list")
@db_option
def list_command(db_url: str | None) -> None:
    """The practitioners who can sign in, and whether each has a PIN yet (or is locked out)."""
    database = _open(db_url)
    try:
        with database.Session.begin() as session:
            practitioners = list_practitioners(session)
            states = pin_states(session)
    except SQLAlchemyError as exc:
        raise CliError(str(explain(database.url, exc))) from None
    finally:
        database.close()
    if not practitioners:
        click.echo(f"no practitioners yet in {database.description}: stampside practitioner add NAME", err=True)
        return
    now = datetime.now(UTC)
    for practitioner in practitioners:
        state = states.get(practitioner.id)
        if state is None:
            status = "no PIN yet (chosen at the first sign-in)"
        elif state.locked_until is not None and state.locked_until > now:
            status = f"PIN set; locked out until {state.locked_until.astimezone():%H:%M}"
        else:
            status = "PIN set"
        click.echo(f"{practitioner.name}\t{status}")


@practitioner_group.command("add")
@db_option
@click.argument("name", type=TEXT)
@click.option("--pin/--no-pin", "with_pin", default=True, show_default=True, help="Ask for their PIN now.")
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from the first line of standard input (scripts).")
def add_command(db_url: str | None, name: str, with_pin: bool, pin_stdin: bool) -> None:
    """Add practitioner NAME (or make a retired one active again), with their PIN.

    \b
    Without --no-pin the PIN is asked twice, not shown; with --no-pin they choose it at
    their first sign-in in the app.
      stampside practitioner add "Dr. Ana Ruiz"
      echo 7391 | stampside practitioner add "Dr. Lea Marin" --pin-stdin
    """
    database = _open(db_url)
    try:
        pin, again = _read_pin(pin_stdin) if with_pin else ("", "")
        try:
            with database.Session.begin() as session:
                practitioner = add_practitioner(session, name)
                if with_pin:
                    set_pin(session, practitioner.id, pin, again, now=datetime.now(UTC), how="from the command line")
        except (PractitionerError, PinRefused) as exc:
            raise CliError(f"{exc}; nobody was added") from None
        except SQLAlchemyError as exc:
            raise CliError(str(explain(database.url, exc))) from None
    finally:
        database.close()
    how = "with a PIN" if with_pin else "without a PIN: they choose it at their first sign-in"
    click.echo(f"added {practitioner.name} {how}", err=True)


@practitioner_group.command("set-pin")
@db_option
@click.argument("name", type=TEXT)
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from the first line of standard input (scripts).")
def set_pin_command(db_url: str | None, name: str, pin_stdin: bool) -> None:
    """Give practitioner NAME a new PIN (a forgotten one, a lockout lifted): a security event says so.

    \b
      stampside practitioner set-pin "Dr. Ana Ruiz"
    """
    database = _open(db_url)
    try:
        practitioner = _find(database, name)
        pin, again = _read_pin(pin_stdin)
        try:
            _store_pin(database, practitioner, pin, again, replace=True)
        except SQLAlchemyError as exc:
            raise CliError(str(explain(database.url, exc))) from None
    finally:
        database.close()
    click.echo(f"new PIN set for {practitioner.name}", err=True)


@practitioner_group.command("events")
@db_option
def events_command(db_url: str | None) -> None:
    """The security events, oldest first: lockouts after wrong PINs, PINs set."""
    database = _open(db_url)
    try:
        with database.Session.begin() as session:
            events = list_security_events(session)
    except SQLAlchemyError as exc:
        raise CliError(str(explain(database.url, exc))) from None
    finally:
        database.close()
    if not events:
        click.echo(f"no security events in {database.description}", err=True)
        return
    for event in events:
        click.echo(
            f"{event.at.astimezone():%Y-%m-%d %H:%M:%S}\t{event.kind}\t{event.practitioner or '–'}\t{event.detail}"
        )
