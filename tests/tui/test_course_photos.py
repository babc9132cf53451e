"""Photo registration and the before/after view, driven with the Pilot; the stored copy is checked by its SHA-256.

After a photo the view moves to the next missing one; the same file again and a view that has a
photo are asked about first, and the answer on enter registers nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from rich.console import Console
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Select, Static

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.courses import start_course
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.photos import current_photos, list_photos, register_photo, verify_photo
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.screens.photos import PhotosScreen
from stampside.app.tui.widgets.photo_panel import PhotoPanel, draw, fit, load_preview

from .course_helpers import NOW, SIZE, WHO, Clock, Host, context, current, make_jpeg, seed, settle, wait_for


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


def register_direct(db: Database, patient_id: int, course_id: int, src: Path, root: Path, view: str) -> None:
    with db.Session.begin() as s:
        register_photo(
            s,
            src,
            root=root,
            patient_id=patient_id,
            course_id=course_id,
            time_point="baseline",
            view=view,
            protocol=default_protocol(),
            now=NOW - timedelta(hours=2),
        )


def stored_views(db: Database, course_id: int) -> list[tuple[str, str, str]]:
    with db.Session.begin() as s:
        return [(p.time_point, p.view, p.original_name) for p in list_photos(s, course_id=course_id)]


async def register_typed(pilot: Pilot[None], screen: PhotosScreen, path: Path) -> None:
    """Put ``path`` in the file field and press enter there (what follows may be a question)."""
    field = screen.query_one("#photo-path", Input)
    field.value = str(path)
    field.focus()
    await pilot.press("enter")


async def question(pilot: Pilot[None]) -> ConfirmDialog:
    await wait_for(pilot, lambda: isinstance(current(pilot.app), ConfirmDialog))
    dialog = current(pilot.app)
    assert isinstance(dialog, ConfirmDialog)
    await pilot.pause()
    return dialog


def dialog_text(dialog: ConfirmDialog) -> str:
    return " ".join(str(label.content) for label in dialog.query(Label))


async def test_after_a_photo_the_view_moves_to_the_next_missing_one_and_a_complete_set_is_said(
    db: Database, tmp_path: Path
) -> None:
    _, patient = seed(db)
    photos = tmp_path / "photos"
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW - timedelta(days=1))
    for view in ("vertex", "mid_scalp", "temporal_right"):
        register_direct(db, patient.id, course_id, make_jpeg(tmp_path / f"{view}.jpg", (90, 90, 90)), photos, view)
    app = Host(lambda: PhotosScreen(context(db, Clock(), photos=photos), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PhotosScreen)
        chosen = screen.query_one("#photo-view", Select)
        assert chosen.value == "frontal", "opens on the first view the baseline still misses"
        await register_typed(pilot, screen, make_jpeg(tmp_path / "frontal.jpg", (10, 90, 10)))
        await settle(pilot)
        assert chosen.value == "temporal_left"
        assert text(screen, "#course-message").endswith("Next: Temporal left.")
        await register_typed(pilot, screen, make_jpeg(tmp_path / "left.jpg", (90, 10, 10)))
        await settle(pilot)
        assert "Baseline photos complete (5 views)." in text(screen, "#course-message")
        assert "✓ Baseline photos complete (5 views)" in text(screen, "#photo-status")
        assert chosen.value == "temporal_left", "a complete set leaves the view where it was"
        # Another time point: the view goes to the first one it misses.
        screen.query_one("#photo-time-point", Select).value = "month_3"
        await wait_for(pilot, lambda: chosen.value == "vertex")
    assert [v for _, v, _ in stored_views(db, course_id)] == [
        "vertex",
        "mid_scalp",
        "temporal_right",
        "frontal",
        "temporal_left",
    ]


async def test_the_same_file_again_is_asked_about_and_not_registered_on_enter(db: Database, tmp_path: Path) -> None:
    _, patient = seed(db)
    photos = tmp_path / "photos"
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW - timedelta(days=1))
    original = make_jpeg(tmp_path / "IMG_0001.jpg", (200, 40, 40))
    copy = tmp_path / "IMG_0001 (copy).jpg"
    copy.write_bytes(original.read_bytes())
    app = Host(lambda: PhotosScreen(context(db, Clock(), photos=photos), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PhotosScreen)
        await register_typed(pilot, screen, original)
        await settle(pilot)
        assert screen.query_one("#photo-view", Select).value == "frontal"
        # The same photo under another name, for frontal: asked first, naming where it is.
        await register_typed(pilot, screen, copy)
        dialog = await question(pilot)
        assert "same SHA-256" in dialog_text(dialog) and "Baseline · Vertex" in dialog_text(dialog)
        assert "Register it for Baseline · Frontal as well?" in dialog_text(dialog)
        assert dialog.focused is not None and dialog.focused.id == "cancel"
        assert str(dialog.query_one("#cancel", Button).label) == "Don't register (n, enter)"
        await pilot.press("enter")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        said = text(screen, "#course-message")
        assert said == "Not registered: IMG_0001 (copy).jpg is already registered for Baseline · Vertex."
        assert stored_views(db, course_id) == [("baseline", "vertex", "IMG_0001.jpg")]
        assert screen.query_one("#photo-view", Select).value == "frontal"
        # The same file onto the view it is already: nothing to register, said so.
        screen.query_one("#photo-view", Select).value = "vertex"
        await register_typed(pilot, screen, copy)
        await settle(pilot)
        assert "is already the Baseline · Vertex photo (same SHA-256): nothing registered" in text(
            screen, "#course-message"
        )
        assert isinstance(current(app), PhotosScreen)
        # Answered yes: registered for frontal as well.
        screen.query_one("#photo-view", Select).value = "frontal"
        await register_typed(pilot, screen, copy)
        await question(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        assert "Registered Frontal for Baseline" in text(screen, "#course-message")
    assert stored_views(db, course_id) == [
        ("baseline", "vertex", "IMG_0001.jpg"),
        ("baseline", "frontal", "IMG_0001 (copy).jpg"),
    ]


async def test_replacing_a_view_asks_first_and_keeps_the_old_photo_on_enter(db: Database, tmp_path: Path) -> None:
    _, patient = seed(db)
    photos = tmp_path / "photos"
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW - timedelta(days=1))
    register_direct(db, patient.id, course_id, make_jpeg(tmp_path / "old-vertex.jpg", (90, 90, 90)), photos, "vertex")
    newer = make_jpeg(tmp_path / "new-vertex.jpg", (10, 10, 90))

    def current_vertex() -> str:
        with db.Session.begin() as s:
            return current_photos(s, course_id)[("baseline", "vertex")].original_name

    app = Host(lambda: PhotosScreen(context(db, Clock(), photos=photos), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PhotosScreen)
        screen.query_one("#photo-view", Select).value = "vertex"
        await register_typed(pilot, screen, newer)
        dialog = await question(pilot)
        assert "Replace the Baseline · Vertex photo (old-vertex.jpg, registered 26 Nov 2026 12:05)" in dialog_text(
            dialog
        )
        assert "with new-vertex.jpg?" in dialog_text(dialog)
        assert str(dialog.query_one("#cancel", Button).label) == "Keep the old one (n, enter)"
        assert str(dialog.query_one("#confirm", Button).label) == "Replace (y)"
        await pilot.press("enter")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        said = text(screen, "#course-message")
        assert said == "Kept the Baseline · Vertex photo (old-vertex.jpg); new-vertex.jpg was not registered."
        assert current_vertex() == "old-vertex.jpg"
        assert len(stored_views(db, course_id)) == 1
        # Escape keeps it too.
        await register_typed(pilot, screen, newer)
        await question(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        assert current_vertex() == "old-vertex.jpg"
        # Yes replaces it; the old one stays stored, superseded.
        await register_typed(pilot, screen, newer)
        await question(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        assert "Registered Vertex for Baseline" in text(screen, "#course-message")
        assert current_vertex() == "new-vertex.jpg"
        assert screen.query_one("#photo-view", Select).value == "frontal"
    assert stored_views(db, course_id) == [
        ("baseline", "vertex", "old-vertex.jpg"),
        ("baseline", "vertex", "new-vertex.jpg"),
    ]
