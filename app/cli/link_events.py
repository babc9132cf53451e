"""``stampside link events``: the stored link log (connects, losses, reboots, faults) as a table or JSON."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TextIO

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from stampside.app.cli.errors import CliError
from stampside.app.cli.link_common import quiet_stdout
from stampside.app.cli.options import TEXT, clinic_database, db_option
from stampside.app.storage import StorageError, open_database
from stampside.app.storage.database import Database
from stampside.app.storage.errors import explain
from stampside.app.storage.link_events import (
    KNOWN_KINDS,
    LinkEventRow,
    has_device,
    iter_link_events,
    known_serials,
    stored_kinds,
)

#: ``90s``, ``10m``, ``2h``, ``3d``, ``1w`` (also ``1.5h``, ``10min``, ``2 days``).
_DURATION = re.compile(
    r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?|w|weeks?)$", re.IGNORECASE
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

SINCE_HELP = (
    "a time like 2025-11-25, 2025-11-25T14:30 (local time), 2025-11-25T14:30Z or 2025-11-25T14:30+01:00; "
    "a duration back from now like 90s, 10m, 2h, 3d; or today, yesterday"
)


def parse_since(text: str, now: datetime) -> datetime:
    """The time ``--since TEXT`` names, timezone-aware (UTC). ``now`` is timezone-aware.

    A time without a zone is local time; a date alone is its local midnight.
    Raises :class:`CliError` for anything else.
    """
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        seconds = float(match["n"]) * _UNIT_SECONDS[match["unit"][0].lower()]
        return (now - timedelta(seconds=seconds)).astimezone(UTC)
    lowered = value.lower()
    if lowered in ("today", "yesterday"):
        day = now.astimezone().date() - timedelta(days=1 if lowered == "yesterday" else 0)
        return datetime.combine(day, time()).astimezone().astimezone(UTC)  # local midnight
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--since {text!r}: not a time; use {SINCE_HELP}") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # local time
    return parsed.astimezone(UTC)


def parse_kinds(values: Iterable[str]) -> set[str]:
    """``--kind fault --kind lost,reboot`` → {"fault", "lost", "reboot"}."""
    return {kind.strip().lower() for value in values for kind in value.split(",") if kind.strip()}


def _require_existing_database(url: str) -> None:
    """Reading from a SQLite file that does not exist is a typo, not an empty log."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return  # open_database explains it
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.exists():
            raise CliError(f"no database at {path}: check --db (or STAMPSIDE_DB), or record into it first")


def _local_time(at: datetime) -> str:
    local = at.astimezone()
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d}"


def _session_text(row: LinkEventRow) -> str:
    if row.session is None:
        return "-"
    if row.patient is None:
        return str(row.session)
    number = f" #{row.session_number}" if row.session_number is not None else ""
    return f"{row.session} ({row.patient}{number})"


#: The largest --limit a database takes (a signed 64-bit integer); a larger one means every event.
LARGEST_LIMIT = 2**63 - 1

TABLE_HEADER = f"{'TIME (local)':<23}  {'DEVICE':<12}  {'KIND':<12}  {'SESSION':<7}  DETAIL"


def format_row(row: LinkEventRow) -> str:
    """One table line: local time, device, kind, treatment session, detail."""
    device = row.device_serial or "-"
    if row.device_life is not None and row.device_life > 1:
        device += f" (life {row.device_life})"
    return f"{_local_time(row.at):<23}  {device:<12}  {row.kind:<12}  {_session_text(row):<7}  {row.detail}".rstrip()


def _write(rows: Iterable[LinkEventRow], out: TextIO, as_json: bool) -> int:
    count = 0
    for row in rows:
        if as_json:
            out.write(json.dumps(row.as_dict()) + "\n")
        else:
            if count == 0:
                out.write(TABLE_HEADER + "\n")
            out.write(format_row(row) + "\n")
        count += 1
    out.flush()
    return count


def _check_filters(database: Database, serial: str | None, kinds: set[str]) -> None:
    """An unknown serial or kind is a typo: say which ones there are."""
    with database.Session.begin() as session:
        if serial is not None and not has_device(session, serial):
            serials = known_serials(session)
            known = ", ".join(serials[:20]) + (f" and {len(serials) - 20} more" if len(serials) > 20 else "")
            raise CliError(
                f"no device {serial} in {database.description}; known: {known or 'none (nothing recorded yet)'}"
            )
        if kinds:
            valid = {*KNOWN_KINDS, *stored_kinds(session)}
            unknown = sorted(kinds - valid)
            if unknown:
                listed = ", ".join([*KNOWN_KINDS, *sorted(valid - set(KNOWN_KINDS))])
                raise CliError(f"unknown kind {', '.join(unknown)}; kinds are: {listed}")


@click.command("events")
@click.option(
    "--device",
    "serial",
    type=TEXT,
    metavar="SERIAL",
    help="Only this device's events (its serial, e.g. SS-000001), and those stored without a device (shown as -).",
)
@db_option
@click.option("--since", "since_text", metavar="WHEN", help=f"Only events at or after WHEN: {SINCE_HELP}.")
@click.option(
    "--kind",
    "kind_values",
    multiple=True,
    metavar="KIND",
    help="Only events of this kind (repeat it, or separate kinds with commas): " + ", ".join(KNOWN_KINDS) + ".",
)
@click.option("--limit", type=int, metavar="N", help="Only the newest N events (still printed newest last).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
def events_command(
    serial: str | None,
    db_url: str | None,
    since_text: str | None,
    kind_values: tuple[str, ...],
    limit: int | None,
    as_json: bool,
) -> None:
    """List the stored link events, oldest first (newest last).

    What happened to each link: connected, lost, reboot, resync, jump,
    new-numbering, arm-refused, incompatible, handshake, and the device's faults
    (kind fault: BUFFER_FULL, LOW_BATTERY, BATTERY_EMPTY, SENSOR, UNEXPECTED_REBOOT,
    with their detail), recorded by 'link record', 'link monitor --db' and the
    chairside app.

    \b
    The table shows the local time, the device serial (- when it was stored
    without one: logged before the link knew its device), the kind, the treatment
    session (id, patient and number; - outside one) and the detail. --json writes
    one object per line: at (UTC, ISO 8601), device_serial, device_life (the
    device's numbering: 2 and up after it restarted it), kind, detail, session,
    session_number, patient.

    \b
    Examples:
      stampside link events --db sqlite:///qa.db
      stampside link events --device SS-000001 --kind fault
      stampside link events --kind lost,reboot --since 2h
      stampside link events --since 2025-11-25T09:00 --limit 20
      stampside link events --device SS-000001 --json | jq -r .detail
    """
    kinds = parse_kinds(kind_values)
    since = parse_since(since_text, datetime.now(UTC)) if since_text is not None else None
    if limit is not None and limit < 1:
        raise CliError("--limit must be at least 1")
    if limit is not None and limit > LARGEST_LIMIT:
        limit = None  # more than a database can hold: every event
    url = clinic_database(db_url)
    _require_existing_database(url)
    try:
        database = open_database(url)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    try:
        _check_filters(database, serial, kinds)
        with database.Session.begin() as session:
            rows = iter_link_events(session, serial=serial, since=since, kinds=kinds, limit=limit)
            count = _write(rows, sys.stdout, as_json)
    except SQLAlchemyError as exc:
        raise CliError(str(explain(database.url, exc))) from None
    except BrokenPipeError:
        quiet_stdout()
        raise SystemExit(0) from None
    finally:
        database.close()
    if count == 0 and not as_json:
        narrowed = serial is not None or since is not None or kinds
        click.echo(
            f"no link events {'match' if narrowed else 'yet'} in {database.description}",
            err=True,
        )
