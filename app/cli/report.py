"""``stampside report …``: session, course, cohort and lot-recall reports as HTML, JSON or CSV."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.cli.errors import CliError, write_failed
from stampside.app.cli.options import STORED_INT, TEXT, db_option, read_settings
from stampside.app.reports import (
    FORMATS,
    CourseReportError,
    build_cohort_report,
    build_course_report,
    build_lot_report,
    build_session_report,
    newest_course_id,
    render,
)
from stampside.app.settings import Settings
from stampside.app.storage import Database, StorageError, open_database
from stampside.app.storage.patients import find_patient, normalize_code
from stampside.app.storage.photos import default_photo_root
from stampside.app.storage.private_files import write_private_bytes, write_private_text
from stampside.app.storage.schema import Course, TreatmentSession
from stampside.app.storage.sessions import SessionError

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice((*FORMATS, "pdf")),
    default="html",
    show_default=True,
    help="html: self-contained and print-ready; json: every figure; csv: the report's main table; "
    "pdf: the HTML laid out for print (needs the pdf extra).",
)
out_option = click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of standard output.",
)


@contextlib.contextmanager
def _database(url: str) -> Iterator[Database]:
    from stampside.app.cli.export import _check_exists

    _check_exists(url)
    try:
        database = open_database(url)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    try:
        yield database
    finally:
        database.close()


def _write(text: str, out: Path | None, what: str) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        write_private_text(out, text)
    except OSError as exc:
        raise write_failed(out, exc) from None
    click.echo(f"wrote the {what} to {out}", err=True)


def _write_pdf(report: Any, out: Path | None, what: str, tz: tzinfo | None) -> None:
    from stampside.app.reports.pdf import PdfUnavailable, html_to_pdf

    if out is None and sys.stdout.isatty():
        raise CliError("a PDF is not for the terminal: add --out FILE.pdf")
    try:
        document = html_to_pdf(render(report, "html", tz=tz))
    except PdfUnavailable as exc:
        raise CliError(str(exc)) from None
    if out is None:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
        return
    try:
        write_private_bytes(out, document)
    except OSError as exc:
        raise write_failed(out, exc) from None
    click.echo(f"wrote the {what} to {out}", err=True)


def _produce(
    settings: Settings,
    db_url: str | None,
    build: Callable[[Session, Database], Any],
    fmt: str,
    out: Path | None,
    what: str,
) -> None:
    """The report from the clinic's database (``db_url``, else the settings'), its times in the settings' zone."""
    with _database(settings.resolve_database_url(db_url)) as database:
        try:
            with database.Session.begin() as session:
                report = build(session, database)
        except (SessionError, CourseReportError, ValueError) as exc:
            raise CliError(str(exc)) from None
        except StorageError as exc:
            raise CliError(str(exc)) from None
    if fmt == "pdf":
        _write_pdf(report, out, what, settings.tz)
    else:
        _write(render(report, fmt, tz=settings.tz), out, what)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def report_group() -> None:
    """Reports a clinic hands out or audits, from the stored records.

    \b
    Examples:
      stampside report session 12 --out session-12.html
      stampside report session --patient P-0042 --number 3 --format json
      stampside report course P-0042 --out course.html
      stampside report cohort --format html --out cohort.html
      stampside report lot LOT-24A17 --format csv --out recall.csv

    HTML files are self-contained (styles, charts and photos inside) and print cleanly.
    """


@report_group.command("session")
@click.argument("session_id", type=STORED_INT, required=False)
@click.option("--patient", type=TEXT, metavar="CODE", help="The patient's code (with --number instead of SESSION_ID).")
@click.option("--number", type=STORED_INT, metavar="N", help="Session N of the patient's newest course.")
@db_option
@format_option
@out_option
def session_command(
    session_id: int | None, patient: str | None, number: int | None, db_url: str | None, fmt: str, out: Path | None
) -> None:
    """One treatment session: steps with times and who confirmed them, volumes and lots, stamp
    count, coverage per zone, force distribution, link events, deviations and overrides.

    Name the session by its id (SESSION_ID, as in `stampside export`) or by --patient and --number.
    """
    if session_id is None and (patient is None or number is None):
        raise CliError("name the session: SESSION_ID, or --patient CODE and --number N")

    def build(session: Session, _database: Database) -> Any:
        wanted = session_id
        if wanted is None:
            assert patient is not None and number is not None
            found = find_patient(session, normalize_code(patient))
            if found is None:
                raise SessionError(f"no patient with code {patient!r}; check the spelling")
            wanted = session.scalar(
                select(TreatmentSession.id)
                .join(Course, TreatmentSession.course_id == Course.id)
                .where(Course.patient_id == found.id, TreatmentSession.number == number)
                .order_by(Course.started_at.desc(), TreatmentSession.started_at.desc())
                .limit(1)
            )
            if wanted is None:
                raise SessionError(f"patient {found.code} has no session {number}")
        return build_session_report(session, wanted)

    _produce(read_settings(), db_url, build, fmt, out, "session report")


@report_group.command("lot")
@click.argument("lot", type=TEXT)
@db_option
@format_option
@out_option
def lot_command(lot: str, db_url: str | None, fmt: str, out: Path | None) -> None:
    """Lot recall: every patient and session that received product lot LOT (case is ignored)."""
    _produce(read_settings(), db_url, lambda session, _db: build_lot_report(session, lot), fmt, out, "lot recall")


def _day(value: str | None, tz: tzinfo | None) -> date:
    """``--as-of``, else today in the clinic's time zone."""
    if value is None:
        return datetime.now().astimezone(tz).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"--as-of {value!r} is not a date: type it as YYYY-MM-DD") from None


@report_group.command("course")
@click.argument("patient", type=TEXT, metavar="PATIENT_CODE", required=False)
@click.option(
    "--course", "course_id", type=STORED_INT, metavar="ID", help="A course by id instead of the patient's newest."
)
@click.option(
    "--photos",
    type=click.Path(file_okay=False, path_type=Path),
    help="The clinic's photo folder [default: $STAMPSIDE_PHOTOS, else next to the database].",
)
@click.option("--as-of", metavar="YYYY-MM-DD", help="Judge screening and follow-ups on this day [default: today].")
@click.option("--no-sessions", is_flag=True, help="Leave out the per-session details.")
@db_option
@format_option
@out_option
def course_command(
    patient: str | None,
    course_id: int | None,
    photos: Path | None,
    as_of: str | None,
    no_sessions: bool,
    db_url: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """One patient's course: screening, schedule and deviations, every session, photos before
    and after side by side, outcomes and adverse events."""
    if patient is None and course_id is None:
        raise CliError("name the course: a PATIENT_CODE (their newest course) or --course ID")
    settings = read_settings()
    today = _day(as_of, settings.tz)

    def build(session: Session, database: Database) -> Any:
        wanted = course_id if course_id is not None else newest_course_id(session, patient or "")
        root = photos or default_photo_root(database.url)
        return build_course_report(
            session, wanted, photo_root=root, today=today, tz=settings.tz, with_sessions=not no_sessions
        )

    _produce(settings, db_url, build, fmt, out, "course report")


@report_group.command("cohort")
@click.option("--as-of", metavar="YYYY-MM-DD", help="Count follow-ups due by this day [default: today].")
@db_option
@format_option
@out_option
def cohort_command(as_of: str | None, db_url: str | None, fmt: str, out: Path | None) -> None:
    """Every course (stopped ones left out): patients, Norwood grades, sessions completed,
    adherence, share improved by investigator and by patient, blinded calls, adverse events."""
    settings = read_settings()
    today = _day(as_of, settings.tz)

    def build(session: Session, _database: Database) -> Any:
        return build_cohort_report(session, today=today, tz=settings.tz)

    _produce(settings, db_url, build, fmt, out, "cohort report")
