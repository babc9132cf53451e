"""Photo registration and the before/after view, driven with the Pilot; the stored copy is checked by its SHA-256."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from rich.console import Console
from textual.screen import Screen
from textual.widgets import Input, Select, Static

from app.domain.treatment_protocol import default_protocol
from app.storage.courses import start_course
from app.storage.database import Database, open_database
from app.storage.photos import list_photos, register_photo, verify_photo
from app.tui.screens.photos import PhotosScreen
from app.tui.widgets.photo_panel import PhotoPanel, draw, fit, load_preview

from .course_helpers import NOW, SIZE, WHO, Clock, Host, context, make_jpeg, seed, settle, wait_for


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(str(tmp_path / "stampside.db"))
    yield database
    database.close()


def text(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


async def test_a_registered_photo_is_copied_with_its_sha256_and_shown_before_and_after(
    db: Database, tmp_path: Path
) -> None:
    _, patient = seed(db)
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW - timedelta(days=1))
    photos = tmp_path / "photos"
    originals = tmp_path / "camera"
    originals.mkdir()
    before = make_jpeg(originals / "vertex-before.jpg", (200, 40, 40))
    after = make_jpeg(originals / "vertex-after.jpg", (40, 40, 200))
    (originals / "notes.txt").write_text("not a photo")
    app = Host(lambda: PhotosScreen(context(db, Clock(), photos=photos), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PhotosScreen)
        status = text(screen, "#photo-status")
        assert "Baseline photos incomplete: missing Vertex, Frontal, Mid-scalp, Temporal left, Temporal right" in status
        # Not a photo: explained, nothing stored.
        await pilot.press(*str(originals / "notes.txt"), "enter")
        await settle(pilot)
        assert "notes.txt: not a photo Stampside can register" in text(screen, "#course-message")
        # The baseline vertex photo, typed as a path.
        screen.query_one("#photo-path", Input).value = ""
        await pilot.press(*str(before), "enter")
        await settle(pilot)
        assert "Registered Vertex for Baseline: 64×48, sha256" in text(screen, "#course-message")
        assert "missing Frontal, Mid-scalp" in text(screen, "#photo-status")
        # After session 6.
        screen.query_one("#photo-time-point", Select).value = "after_session_6"
        await pilot.pause()
        screen.query_one("#photo-path", Input).value = str(after)
        await pilot.press("ctrl+s")
        await settle(pilot)
        before_panel = screen.query_one("#before-photo", PhotoPanel)
        after_panel = screen.query_one("#after-photo", PhotoPanel)
        await wait_for(pilot, lambda: before_panel.has_image and after_panel.has_image)
        assert "Baseline · Vertex" in text(screen, "#before-caption")
        assert "After session 6 · Vertex" in text(screen, "#after-caption")
        # Another view has no photos yet: said so on both sides.
        screen.query_one("#compare-view", Select).value = "frontal"
        await settle(pilot)
        await wait_for(pilot, lambda: not before_panel.has_image)
        assert before_panel.placeholder == "not registered yet"
    with db.Session.begin() as s:
        stored = list_photos(s, course_id=course_id)
    assert [(p.time_point, p.view, p.original_name, p.registered_by) for p in stored] == [
        ("baseline", "vertex", "vertex-before.jpg", WHO),
        ("after_session_6", "vertex", "vertex-after.jpg", WHO),
    ]
    for photo in stored:
        copy = photo.path(photos)
        assert copy.is_file() and copy.parent.is_relative_to(photos / "P-0042")
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == photo.sha256
        assert verify_photo(photos, photo)
    assert before.read_bytes() != b"" and (originals / "vertex-before.jpg").exists(), "the original is left alone"


def test_the_half_block_drawing_depends_on_the_pixels_only(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    for x in range(20, 40):
        for y in range(20):
            image.putpixel((x, y), (0, 0, 255))
    path = tmp_path / "split.png"
    image.save(path)
    preview = load_preview(path)
    assert fit(preview.size, (20, 10)) == (20, 10)
    outputs = []
    for _ in range(2):
        console = Console(width=20, record=True, color_system="truecolor", force_terminal=True)
        console.print(draw(preview, (20, 5)))  # 20 columns, 5 rows: 20×10 pixels
        outputs.append(console.export_text(styles=True))
    assert outputs[0] == outputs[1]
    first_line = outputs[0].splitlines()[0]
    assert "▄" in first_line
    assert "255;0;0" in first_line and "0;0;255" in first_line, "left half red, right half blue"


def test_registering_directly_then_opening_shows_a_complete_set(db: Database, tmp_path: Path) -> None:
    _, patient = seed(db)
    photos = tmp_path / "photos"
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW)
        for view in ("vertex", "frontal", "mid_scalp", "temporal_left", "temporal_right"):
            register_photo(
                s,
                make_jpeg(tmp_path / f"{view}.jpg", (90, 90, 90)),
                root=photos,
                patient_id=patient.id,
                course_id=course_id,
                time_point="baseline",
                view=view,
                protocol=default_protocol(),
                now=NOW,
            )

    async def run() -> str:
        app = Host(lambda: PhotosScreen(context(db, Clock(), photos=photos), patient.id))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            return text(app.screen, "#photo-status")

    import asyncio

    status = asyncio.run(run())
    assert "✓ Baseline photos complete (5 views)" in status
