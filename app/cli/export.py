"""``stampside export``: every stored stamp as JSON Lines or CSV."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from stampside.app.cli.errors import CliError, write_failed
from stampside.app.cli.options import TEXT, clinic_database, db_option
from stampside.app.storage import Database, ExportRow, StorageError, iter_export_rows, open_database
from stampside.app.storage.private_files import open_private_text


def _check_exists(url: str) -> None:
    """Exporting from a SQLite file that does not exist is a typo, not an empty database."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return  # open_database explains it
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.exists():
            raise CliError(f"no database at {path}: check --db (or STAMPSIDE_DB), or record into it first")


def _write_jsonl(rows: Iterable[ExportRow], out: TextIO) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row.as_dict()) + "\n")
        count += 1
    return count


def _export(database: Database, fmt: str, serial: str | None, target: TextIO) -> int:
    """Every stored stamp (of ``serial``, if given) into ``target``; how many."""
    with database.Session.begin() as session:
        rows = iter_export_rows(session, serial)
        if fmt == "jsonl":
            return _write_jsonl(rows, target)
        writer = csv.DictWriter(target, fieldnames=ExportRow.FIELDS, lineterminator="\n")
        writer.writeheader()
        count = 0
        for row in rows:
            writer.writerow(row.as_dict())
            count += 1
        return count


@click.command()
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="JSON Lines (one object per stamp) or CSV with a header row.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@click.option("--device", "serial", type=TEXT, metavar="SERIAL", help="Only this device's stamps.")
def export_command(db_url: str | None, fmt: str, out: Path | None, serial: str | None) -> None:
    """Export every stored stamp, one row each, ordered by device and seq.

    \b
    Columns: device_serial, boot, seq, device_time_ms, force (newtons), contact_ms,
    zone, received_at (UTC, ISO 8601), replay, session (id), session_number,
    patient (pseudonymous code), credited_zone. boot, seq, device_time_ms, force,
    contact_ms and zone have the names and units of the simulator's truth log: zone is
    the zone the device sent, credited_zone the one the treatment session counted it in.
    The last four are empty for stamps recorded outside a treatment session.
    A FILE given with --out is readable by this account only and appears whole or not at all.
    """
    url = clinic_database(db_url)
    _check_exists(url)
    try:
        database = open_database(url)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    try:
        if out is None:
            count = _export(database, fmt, serial, sys.stdout)
            sys.stdout.flush()
        else:
            try:
                with open_private_text(out, newline="") as target:
                    count = _export(database, fmt, serial, target)
            except OSError as exc:
                raise write_failed(out, exc) from None
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - keep interpreter shutdown quiet
        raise SystemExit(0) from None
    finally:
        database.close()
    if out is not None:
        click.echo(f"exported {count} stamps to {out}", err=True)
