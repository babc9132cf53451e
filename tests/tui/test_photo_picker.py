"""The photo file picker, driven with keys only: folders, previews in half blocks, picking registers the photo."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static

from stampside.app.storage.courses import start_course
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.photos import list_photos
from stampside.app.tui.dialogs.photo_picker import PhotoPickerDialog, list_folder
from stampside.app.tui.screens.photos import PhotosScreen
from stampside.app.tui.widgets.photo_panel import PhotoPanel

from .course_helpers import NOW, SIZE, Clock, Host, context, current, make_jpeg, seed, settle, wait_for


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(str(tmp_path / "stampside.db"))
    yield database
    database.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder of the test's own with a Pictures folder (where the picker starts the first time)."""
    folder = tmp_path / "home"
    (folder / "Pictures").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_PICTURES_DIR", raising=False)
    return folder


def make_png(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (48, 64), colour).save(path, "PNG")
    return path


def camera(tmp_path: Path) -> Path:
    """A camera folder: two photos, a subfolder with a third, a text file, a hidden file, a fake JPEG."""
    folder = tmp_path / "camera"
    (folder / "day 2").mkdir(parents=True)
    make_jpeg(folder / "IMG_0001.jpg", (200, 40, 40))
    make_png(folder / "img_0002.PNG", (40, 200, 40))
    make_jpeg(folder / "day 2" / "IMG_0100.JPG", (40, 40, 200))
    (folder / "notes.txt").write_text("not a photo")
    (folder / ".hidden.jpg").write_bytes(b"")
    (folder / "fake.jpg").write_text("a text file with a photo's name")
    return folder


def prompts(picker: PhotoPickerDialog) -> list[str]:
    files = picker.query_one("#picker-files", OptionList)
    return [str(files.get_option_at_index(i).prompt).strip() for i in range(files.option_count)]


def picker_of(pilot: Pilot[None]) -> PhotoPickerDialog:
    screen = current(pilot.app)
    assert isinstance(screen, PhotoPickerDialog)
    return screen


async def open_picker(pilot: Pilot[None]) -> PhotoPickerDialog:
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: isinstance(current(pilot.app), PhotoPickerDialog))
    picker = picker_of(pilot)
    await wait_for(pilot, lambda: picker.query_one("#picker-files", OptionList).option_count > 0)
    return picker


async def go_to(pilot: Pilot[None], picker: PhotoPickerDialog, path: Path) -> None:
    """``ctrl+l`` to the folder field, ``path`` put in it (typing it is the other test's), ``enter``."""
    await pilot.press("ctrl+l")
    picker.query_one("#picker-folder", Input).value = str(path)
    await pilot.press("enter")


async def previewed(pilot: Pilot[None], picker: PhotoPickerDialog, name: str) -> None:
    """Wait until the preview of ``name`` is drawn."""
    await wait_for(pilot, lambda: picker.preview_shown is not None and picker.preview_shown.name == name)
    assert picker.query_one("#picker-preview", PhotoPanel).has_image
    assert str(picker.query_one("#picker-caption", Static).content).startswith(name)


def message(screen: Any) -> str:
    return str(screen.query_one("#course-message", Static).content)


async def test_photos_are_picked_from_folders_with_keys_only_and_the_view_moves_on(
    db: Database, tmp_path: Path, home: Path
) -> None:
    _, patient = seed(db)
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW - timedelta(days=1))
    folder = camera(tmp_path)
    make_jpeg(home / "Pictures" / "holiday.jpg", (10, 120, 10))
    photos = tmp_path / "photos"
    app = Host(lambda: PhotosScreen(context(db, Clock(), photos=photos), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = current(app)
        assert isinstance(screen, PhotosScreen)
        assert screen.query_one("#photo-view", Select).value == "vertex"
        # The first time, the picker starts in the Pictures folder with its first photo previewed.
        picker = await open_picker(pilot)
        assert picker.query_one("#picker-folder", Input).value == str(home / "Pictures")
        await previewed(pilot, picker, "holiday.jpg")
        # Another folder, typed: folders first, photos by name; other files and hidden ones left out.
        await pilot.press("ctrl+l", *str(folder), "enter")
        await wait_for(pilot, lambda: picker.query_one("#picker-folder", Input).value == str(folder))
        assert prompts(picker) == ["▲ ..  (up a folder)", "▸ day 2/", "fake.jpg", "IMG_0001.jpg", "img_0002.PNG"]
        # The first photo is highlighted; a text file named like a photo says it is no picture.
        caption = picker.query_one("#picker-caption", Static)
        await wait_for(pilot, lambda: str(caption.content) == "fake.jpg: not a picture Stampside can read")
        assert not picker.query_one("#picker-preview", PhotoPanel).has_image
        # The next photo previews as the cursor moves; the one before is shown again from memory.
        await pilot.press("down")
        await previewed(pilot, picker, "IMG_0001.jpg")
        await pilot.press("down")
        await previewed(pilot, picker, "img_0002.PNG")
        assert "48×64 PNG" in str(picker.query_one("#picker-caption", Static).content)
        await pilot.press("up")
        await previewed(pilot, picker, "IMG_0001.jpg")
        # Enter picks it: registered for the baseline vertex, and the view moves on to frontal.
        await pilot.press("enter")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        assert "Registered Vertex for Baseline" in message(screen)
        assert "Next: Frontal." in message(screen)
        assert screen.query_one("#photo-view", Select).value == "frontal"
        # Again: the picker opens where it was, on the photo after the one picked.
        picker = await open_picker(pilot)
        assert picker.query_one("#picker-folder", Input).value == str(folder)
        await previewed(pilot, picker, "img_0002.PNG")
        await pilot.press("enter")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        assert screen.query_one("#photo-view", Select).value == "mid_scalp"
        # Into a subfolder: home goes to "..", down to "day 2/", enter opens it and highlights its photo.
        picker = await open_picker(pilot)
        await previewed(pilot, picker, "img_0002.PNG")
        await pilot.press("home", "down", "enter")
        await previewed(pilot, picker, "IMG_0100.JPG")
        assert picker.query_one("#picker-folder", Input).value == str(folder / "day 2")
        assert prompts(picker) == ["▲ ..  (up a folder)", "IMG_0100.JPG"]
        # Backspace goes up a folder, on the folder it came from; enter goes back in.
        await pilot.press("backspace")
        await wait_for(pilot, lambda: picker.query_one("#picker-folder", Input).value == str(folder))
        assert picker.query_one("#picker-files", OptionList).highlighted == 1
        await pilot.press("enter")
        await previewed(pilot, picker, "IMG_0100.JPG")
        await pilot.press("enter")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        assert screen.query_one("#photo-view", Select).value == "temporal_left"
        # Escape cancels: nothing registered, the view stays.
        picker = await open_picker(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        assert screen.query_one("#photo-view", Select).value == "temporal_left"
        assert "missing Temporal left, Temporal right" in str(screen.query_one("#photo-status", Static).content)
    with db.Session.begin() as s:
        stored = list_photos(s, course_id=course_id)
    assert [(p.time_point, p.view, p.original_name) for p in stored] == [
        ("baseline", "vertex", "IMG_0001.jpg"),
        ("baseline", "frontal", "img_0002.PNG"),
        ("baseline", "mid_scalp", "IMG_0100.JPG"),
    ]


async def test_a_missing_folder_a_file_that_is_no_photo_and_a_fake_photo_are_explained(
    db: Database, tmp_path: Path, home: Path
) -> None:
    _, patient = seed(db)
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW - timedelta(days=1))
    folder = camera(tmp_path)
    app = Host(lambda: PhotosScreen(context(db, Clock(), photos=tmp_path / "photos"), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = current(app)
        # An empty Pictures folder: said so, nothing to pick.
        picker = await open_picker(pilot)
        panel = picker.query_one("#picker-preview", PhotoPanel)
        await wait_for(pilot, lambda: panel.placeholder == "no JPEG, PNG or TIFF photos in this folder")
        assert prompts(picker) == ["▲ ..  (up a folder)"]
        # A folder that does not exist: a message, the typed text kept, the field keeps the focus.
        missing = tmp_path / "no-such-folder"
        await go_to(pilot, picker, missing)
        error = picker.query_one("#picker-error", Static)
        await wait_for(pilot, lambda: error.has_class("shown"))
        assert str(error.content) == f"{missing}: no such folder; check the path or type another folder"
        assert picker.query_one("#picker-folder", Input).value == str(missing)
        assert picker.focused is picker.query_one("#picker-folder", Input)
        # A text file typed: its folder opens, with a word on why it is not chosen.
        await go_to(pilot, picker, folder / "notes.txt")
        await wait_for(pilot, lambda: picker.query_one("#picker-folder", Input).value == str(folder))
        assert "notes.txt: not a JPEG, PNG or TIFF photo" in str(error.content)
        # A photo's path typed (relative to the folder shown) is highlighted and previewed.
        await pilot.press("ctrl+l", *"day 2/IMG_0100.JPG", "enter")
        await previewed(pilot, picker, "IMG_0100.JPG")
        assert not error.has_class("shown")
        # A text file named like a photo: the preview says it is not a picture; picking it is refused.
        await go_to(pilot, picker, folder / "fake.jpg")
        caption = picker.query_one("#picker-caption", Static)
        await wait_for(pilot, lambda: "not a picture Stampside can read" in str(caption.content))
        assert not picker.query_one("#picker-preview", PhotoPanel).has_image
        await pilot.press("enter")
        await wait_for(pilot, lambda: current(app) is screen)
        await settle(pilot)
        assert "fake.jpg: not a photo Stampside can register" in message(screen)
        assert screen.query_one("#course-message", Static).has_class("error")
    with db.Session.begin() as s:
        assert list_photos(s, course_id=course_id) == []


def test_a_folder_lists_its_subfolders_and_photos_by_name(tmp_path: Path) -> None:
    folder = camera(tmp_path)
    listing = list_folder(folder)
    assert listing.parent == tmp_path
    assert [p.name for p in listing.folders] == ["day 2"]
    assert [p.name for p in listing.photos] == ["fake.jpg", "IMG_0001.jpg", "img_0002.PNG"]
    assert listing.others == 1 and listing.chosen is None
    typed = list_folder("day 2/IMG_0100.JPG", relative_to=folder)
    assert typed.folder == folder / "day 2" and typed.chosen == folder / "day 2" / "IMG_0100.JPG"
    assert list_folder(folder / "notes.txt").note.startswith("notes.txt: not a JPEG, PNG or TIFF photo")
