"""``stampside audit verify|show``: check the audit trail of the clinical records, and print it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

import click
from sqlalchemy.exc import SQLAlchemyError

from stampside.app.cli.errors import CliError
from stampside.app.cli.export import _check_exists
from stampside.app.cli.link_common import quiet_stdout
from stampside.app.cli.link_events import parse_since
from stampside.app.cli.options import TEXT, clinic_database, db_option
from stampside.app.domain.corrections import FieldChange
from stampside.app.storage import StorageError, open_database
from stampside.app.storage.audit import AUDITED_TABLES, STAMP_TABLE
from stampside.app.storage.audit_trail import (
    TrailEntry,
    describe_record,
    patient_codes,
    patient_ids,
    read_trail,
    show_value,
)
from stampside.app.storage.audit_verify import verify_trail
from stampside.app.storage.database import Database
from stampside.app.storage.errors import explain
from stampside.app.storage.patients import normalize_code

#: ``audit verify``'s exit code when the trail or the records do not verify (2 is a usage or database problem).
EXIT_NOT_VERIFIED = 1


@click.group("audit")
def audit_group() -> None:
    """The audit trail: every change of the clinical records, who made it and when, chained by SHA-256.

    \b
    Every insert, update and delete of patients, screenings, courses, sessions, steps,
    checks, overrides, photos, outcomes, adverse events, ratings and link events appends
    an entry with the whole record before and after; stamps count as one total per
    session. 'verify' also finds records changed outside the app (the sqlite3 shell).
    See 'stampside docs audit'.
    """


@audit_group.command("verify")
@db_option
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    metavar="N",
    help="Print at most N findings (0: all of them).",
)
def verify_command(db_url: str | None, limit: int) -> None:
    """Check the trail's chain and every audited record against it; exit 1 if anything differs.

    \b
    Finds an audit entry edited or deleted, and a record inserted, changed or
    deleted outside the app (for example with the sqlite3 shell): each finding
    names the table, the record (and its patient) and what differs. Exit codes:
    0 verified, 1 does not verify, 2 the database could not be read. On success
    it prints the newest entry's hash: note it elsewhere (a report, a signed
    note) to tell later that the trail was not rewritten from the start.
      stampside audit verify --db /tmp/demo.db
    """
    database = _open(db_url)
    try:
        with database.Session.begin() as session:
            result = verify_trail(session)
    except SQLAlchemyError as exc:
        raise CliError(str(explain(database.url, exc))) from None
    finally:
        database.close()
    if result.ok:
        click.echo(
            f"audit trail verified: {result.entries:,} entries; {result.records:,} records and stamp totals "
            f"as the trail has them; head {result.head or '(empty trail)'}"
        )
        return
    shown = result.findings if limit == 0 else result.findings[:limit]
    for finding in shown:
        click.echo(str(finding))
    more = len(result.findings) - len(shown)
    if more:
        click.echo(f"… and {more:,} more (--limit 0 to list them all)")
    click.echo(
        f"Error: the audit trail of {database.description} does not verify: "
        f"{len(result.findings):,} finding{'s' if len(result.findings) != 1 else ''} "
        f"({result.entries:,} entries, {result.records:,} records and stamp totals checked)",
        err=True,
    )
    raise SystemExit(EXIT_NOT_VERIFIED)


@audit_group.command("show")
@db_option
@click.option(
    "--patient", "patient_code", type=TEXT, metavar="CODE", help="Only the entries about this patient (e.g. DEMO-001)."
)
@click.option(
    "--since",
    "since_text",
    metavar="WHEN",
    help="Only the entries written at or after WHEN: a date (2026-03-02, local midnight), a time "
    "(2026-03-02T14:30, local; or with Z or +01:00), a duration back from now (2h, 3d), today, yesterday.",
)
@click.option("--table", "table_names", multiple=True, metavar="TABLE", help="Only this table's entries (repeatable).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    show_default=True,
    help="text: one entry and its values per two lines (local times); jsonl: one JSON object per entry (UTC).",
)
def show_command(
    db_url: str | None, patient_code: str | None, since_text: str | None, table_names: tuple[str, ...], fmt: str
) -> None:
    """Print the audit trail, oldest first: who changed which record when, and the values.

    \b
    An insert shows the record's values, an update the columns it changed (before →
    after), a delete the values it had; 'baseline' entries are the records an
    existing database held when the trail began. Stamps show as per-session totals.
      stampside audit show --db /tmp/demo.db --patient DEMO-001
      stampside audit show --since yesterday --table patients
      stampside audit show --patient DEMO-002 --since 2026-03-01 --format jsonl
    """
    since = parse_since(since_text, datetime.now(UTC)) if since_text is not None else None
    known_tables = sorted({*AUDITED_TABLES, STAMP_TABLE})
    unknown = sorted(set(table_names) - set(known_tables))
    if unknown:
        raise CliError(f"--table {', '.join(unknown)}: not an audited table; the tables are {', '.join(known_tables)}")
    database = _open(db_url)
    try:
        with database.Session.begin() as session:
            ids: list[int] | None = None
            if patient_code is not None:
                code = normalize_code(patient_code)
                ids = patient_ids(session, code)
                if not ids:
                    raise CliError(f"no patient {code} in {database.description}, nor in its audit trail")
            codes = patient_codes(session)
            entries = read_trail(session, patient_ids=ids, since=since, tables=table_names)
            count = _write(entries, codes, sys.stdout, as_json=fmt == "jsonl")
    except BrokenPipeError:
        quiet_stdout()
        raise SystemExit(0) from None
    except SQLAlchemyError as exc:
        raise CliError(str(explain(database.url, exc))) from None
    finally:
        database.close()
    if count == 0:
        narrowed = patient_code is not None or since is not None or table_names
        click.echo(f"no audit entries {'match' if narrowed else 'yet'} in {database.description}", err=True)


def _open(db_url: str | None) -> Database:
    """The clinic's database, which must exist: reading a trail from a new, empty file is a typo."""
    url = clinic_database(db_url)
    _check_exists(url)
    try:
        return open_database(url)
    except StorageError as exc:
        raise CliError(str(exc)) from None


def _write(entries: Iterable[TrailEntry], codes: dict[int, str], out: TextIO, *, as_json: bool) -> int:
    count = 0
    for entry in entries:
        code = codes.get(entry.patient_id) if entry.patient_id is not None else None
        if as_json:
            out.write(json.dumps(entry.as_dict(code), ensure_ascii=False) + "\n")
        else:
            out.write(format_entry(entry, code) + "\n")
        count += 1
    out.flush()
    return count


def format_entry(entry: TrailEntry, patient_code: str | None) -> str:
    """Two lines: ``#seq  local time  actor  action  record``, then the values (indented)."""
    record = describe_record(entry.table, entry.key, patient_code)
    head = f"#{entry.seq:<5} {_local(entry.at)}  {entry.actor}  {entry.action}  {record}"
    correction = _correction_text(entry)
    if correction is not None:
        return f"{head}\n       {correction}"
    if entry.action == "update":
        values = "; ".join(f"{name}: {show_value(old)} → {show_value(new)}" for name, old, new in entry.changed())
    else:
        row = entry.after if entry.after is not None else entry.before or {}
        values = ", ".join(f"{name}={show_value(value)}" for name, value in row.items())
    return f"{head}\n       {values or '(no values)'}"


def _correction_text(entry: TrailEntry) -> str | None:
    """A new correction as people read it: ``correction of adverse_events id=3 by Dr X: reason; severity: mild → …``."""
    values = entry.after
    if entry.table != "corrections" or entry.action != "insert" or values is None:
        return None
    try:
        changes = json.loads(str(values.get("changes")))
    except ValueError:
        changes = []
    shown = "; ".join(str(FieldChange.from_dict(change)) for change in changes if isinstance(change, dict))
    return (
        f"correction of {values.get('table_name')} id={values.get('record_id')} by {values.get('corrected_by')}: "
        f"reason {show_value(values.get('reason'))}" + (f"; {shown}" if shown else "")
    )


def _local(at: str) -> str:
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    return f"{moment.astimezone():%Y-%m-%d %H:%M:%S}"
