"""What the app writes for people from the command palette: a course report and a stamp export.

Each is one unit of work on the database, written into the clinic's data folder beside the
database file (:func:`~stampside.app.storage.location.data_folder`): ``reports/`` and ``exports/``, folders
0700 with files 0600, each written whole or not at all (:mod:`stampside.app.storage.private_files`).
They are the same reports and the same export as ``stampside report course`` and ``stampside
export`` (one computation each), so a file from the app and one from a script agree.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path

from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.database import Database
from stampside.app.storage.location import data_folder
from stampside.app.storage.patients import get_patient
from stampside.app.storage.photos import default_photo_root
from stampside.app.storage.private_files import make_private_folder, open_private_text, write_private_text
from stampside.app.storage.stamps import ExportRow, iter_export_rows

REPORTS_FOLDER = "reports"
EXPORTS_FOLDER = "exports"
SCREENSHOTS_FOLDER = "screenshots"

__all__ = [
    "EXPORTS_FOLDER",
    "REPORTS_FOLDER",
    "SCREENSHOTS_FOLDER",
    "Written",
    "export_stamps",
    "write_course_report",
]


@dataclass(frozen=True, slots=True)
class Written:
    """A file written, and what it holds in a few words (for the notification)."""

    path: Path
    what: str


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "patient"


def write_course_report(
    database: Database,
    patient_id: int,
    *,
    protocol: TreatmentProtocol,
    today: date,
    now: datetime,
    tz: tzinfo | None = None,
    folder: Path | None = None,
) -> Written:
    """The patient's newest course as the printable HTML course report; ``ValueError`` if there is none."""
    from stampside.app.reports import build_course_report, render
    from stampside.app.storage.courses import current_course_id

    folder = folder or data_folder(database.url, REPORTS_FOLDER)
    with database.Session.begin() as s:
        patient = get_patient(s, patient_id)
        if patient is None:
            raise ValueError("that patient is no longer in the database")
        course_id = current_course_id(s, patient_id)
        if course_id is None:
            raise ValueError(f"{patient.code} has no course yet: start one with the first session")
        report = build_course_report(
            s, course_id, protocol=protocol, photo_root=default_photo_root(database.url), today=today, tz=tz
        )
    path = make_private_folder(folder) / f"course-{_safe(patient.code)}-{now:%Y%m%d-%H%M%S}.html"
    write_private_text(path, render(report, "html", generated_at=now, tz=tz))
    return Written(path, f"course report for {patient.code}")


def export_stamps(database: Database, *, now: datetime, folder: Path | None = None) -> Written:
    """Every stored stamp as CSV, the columns of ``stampside export``."""
    folder = make_private_folder(folder or data_folder(database.url, EXPORTS_FOLDER))
    path = folder / f"stamps-{now:%Y%m%d-%H%M%S}.csv"
    count = 0
    with database.Session.begin() as s, open_private_text(path, newline="") as out:
        writer = csv.DictWriter(out, fieldnames=ExportRow.FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in iter_export_rows(s):
            writer.writerow(row.as_dict())
            count += 1
    return Written(path, f"{count} stamp{'s' if count != 1 else ''} exported")
