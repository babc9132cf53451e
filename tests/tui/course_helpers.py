"""Helpers for the Pilot tests of the course screens: a host app that shows one screen on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from stampside.app.domain.eligibility import LabFlag, LabResult, Screening
from stampside.app.domain.treatment_protocol import TreatmentProtocol, default_protocol
from stampside.app.storage.courses import start_screened_course
from stampside.app.storage.database import Database
from stampside.app.storage.patients import NewPatient, PatientView, create_patient
from stampside.app.storage.photos import register_photo
from stampside.app.storage.practitioners import PractitionerView, add_practitioner
from stampside.app.storage.screening import save_screening
from stampside.app.tui.screens.course_base import CourseContext

NOW = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)  # a Thursday
TODAY = date(2026, 11, 26)
SIZE = (110, 40)
WHO = "Dr. Ana Ruiz"
PATIENCE = 20.0
STYLES = Path(__file__).resolve().parents[2] / "app" / "tui" / "styles" / "app.tcss"


class Clock:
    """The screens' clock in tests: stands still until a test moves it on."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Host(App[None]):
    """An app with the dialogs' styles that shows the screen ``make`` builds (and records its result)."""

    CSS_PATH = str(STYLES)

    def __init__(self, make: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self._make = make
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self._make(), self.results.append)


def context(
    db: Database, clock: Clock, photos: Path | None = None, protocol: TreatmentProtocol | None = None
) -> CourseContext:
    return CourseContext(db, protocol or default_protocol(), clock, WHO, tz=UTC, photo_root=photos)


def seed(db: Database, code: str = "P-0042") -> tuple[PractitionerView, PatientView]:
    with db.Session.begin() as s:
        practitioner = add_practitioner(s, WHO)
        patient = create_patient(s, NewPatient.parse(code), now=NOW - timedelta(days=60))
    return practitioner, patient


def passing_screening(day: date = TODAY, **changes: object) -> Screening:
    labs = [
        LabResult(test=t, taken_on=day - timedelta(days=10), flag=LabFlag.NORMAL)
        for t in ("vitamin_d", "vitamin_b12", "ferritin", "tsh")
    ]
    fields: dict[str, object] = {
        "screened_on": day,
        "sex": "male",
        "smoker": False,
        "norwood_grade": "3V",
        "labs": labs,
    }
    fields.update(changes)
    return Screening.parse(**fields)


def screen_patient(db: Database, patient_id: int, screening: Screening | None = None) -> None:
    with db.Session.begin() as s:
        save_screening(
            s,
            patient_id,
            screening or passing_screening(),
            protocol=default_protocol(),
            screened_by=WHO,
            now=NOW - timedelta(days=1),
        )


def make_jpeg(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Path:
    """A small JPEG with a gradient, so halves of it differ."""
    image = Image.new("RGB", size, colour)
    for x in range(size[0]):
        image.putpixel((x, 0), (x * 4 % 256, 0, 0))
    image.save(path, "JPEG", quality=90)
    return path


def current(app: App[None]) -> Screen[object]:
    """The screen on top (a function, so type narrowing from earlier asserts does not stick)."""
    return app.screen


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = PATIENCE) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)


def ready_for_course(db: Database, patient_id: int, now: datetime = NOW) -> int:
    """What the course gates need before session 1: a passing screening, the course, the baseline photo set.

    The course starts a day before ``now``; the photos are tiny JPEGs copied next to the database file.
    """
    protocol = default_protocol()
    database_file = db.url.database
    assert database_file, "a SQLite file database"
    folder = Path(database_file).parent
    root = folder / "seed-photos"
    source = make_jpeg(folder / "seed-baseline.jpg", (120, 100, 90))
    day = (now - timedelta(days=1)).date()
    with db.Session.begin() as s:
        save_screening(
            s, patient_id, passing_screening(day), protocol=protocol, screened_by=WHO, now=now - timedelta(days=1)
        )
        course_id = start_screened_course(s, patient_id, protocol=protocol, now=now - timedelta(days=1))
        for view in protocol.photos.views_for("baseline"):
            register_photo(
                s,
                source,
                root=root,
                patient_id=patient_id,
                course_id=course_id,
                time_point="baseline",
                view=view,
                protocol=protocol,
                now=now - timedelta(days=1),
            )
    return course_id
