"""The photos of a course: register a file for a time point and view, see what is missing, compare before/after.

Registering copies the file into the clinic's photo folder with its location data removed
and stores its SHA-256 (:func:`~stampside.app.storage.photos.register_photo`); a file that is not a
photo, or cannot be read, is explained. The file is chosen from a folder with previews
(:class:`~stampside.app.tui.dialogs.photo_picker.PhotoPickerDialog`, ``ctrl+o``) or its path typed.
Before storing, a file already registered in the course (same SHA-256, any time point or
view) and a view that already has a photo are asked about; the safe answer, on ``enter``,
registers nothing. After a photo is registered the view moves on to the next one the time
point still misses (:func:`~stampside.app.domain.timepoints.next_missing_view`), and a complete set is
said so. The status lists each time point's set and the views it still misses
(:func:`~stampside.app.domain.timepoints.photo_set_status`). Below, one view is shown before
(baseline) and after (a later time point) side by side, drawn with half blocks.

Keys: ``ctrl+o`` choose a file and register it, ``ctrl+s`` register the typed file, ``ctrl+t``
swap the compared time point, ``escape`` back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, Select, Static

from stampside.app.domain.timepoints import PhotoSetStatus, next_missing_view, photo_set_status
from stampside.app.storage.courses import current_course_id
from stampside.app.storage.patients import get_patient
from stampside.app.storage.photos import (
    PhotoError,
    PhotoView,
    current_photos,
    photo_sha256,
    photos_with_sha256,
    register_photo,
)
from stampside.app.tui.dialogs.confirm import ConfirmDialog, key_label
from stampside.app.tui.dialogs.photo_picker import PhotoPickerDialog
from stampside.app.tui.screens.course_base import CourseContext, CourseScreen
from stampside.app.tui.widgets.header import AppHeader
from stampside.app.tui.widgets.photo_panel import PhotoPanel, load_preview


@dataclass(frozen=True, slots=True)
class CoursePhotos:
    """The course's newest photo per (time point, view), as read in one transaction."""

    patient_code: str
    course_id: int | None
    photos: dict[tuple[str, str], PhotoView] = field(default_factory=dict)

    def views_of(self, time_point: str) -> list[str]:
        """The views with a photo at ``time_point``."""
        return [view for (point, view) in self.photos if point == time_point]


@dataclass(frozen=True, slots=True)
class RegisterCheck:
    """What registering a file would run into: its SHA-256, the course's photos with it, the view's photo now."""

    sha256: str
    same_file: list[PhotoView]
    current: dict[tuple[str, str], PhotoView]


class PhotosScreen(CourseScreen[None]):
    """Photo registration and comparison for ``patient_id``'s newest course."""

    CSS_PATH = "../styles/course.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "choose", "Choose file"),
        Binding("ctrl+s", "register", "Register photo"),
        Binding("ctrl+t", "next_after", "Compare with next time point"),
    ]

    def __init__(self, context: CourseContext, patient_id: int, time_point: str | None = None) -> None:
        super().__init__(context)
        self.patient_id = patient_id
        self.course: CoursePhotos | None = None
        self._time_point = time_point
        self._later: list[str] = []
        #: The photo each side should show (a slow load for an older choice is dropped).
        self._wanted: dict[str, int | None] = {}

    def compose(self) -> ComposeResult:
        rules = self.ctx.protocol.photos
        points = [(point.label, point.id) for point in rules.time_points]
        views = [(view.label, view.id) for view in rules.views]
        first = self._time_point or points[0][1]
        later = [(label, point) for label, point in points if point != points[0][1]] or points
        self._later = [point for _, point in later]
        yield AppHeader()
        with VerticalScroll(classes="course-body"):
            yield Label("Photos", id="photos-title", classes="course-title")
            with Horizontal(classes="field-row"):
                with Vertical(classes="field-cell"):
                    yield Label("Time point", classes="field-label")
                    yield Select(points, value=first, allow_blank=False, id="photo-time-point")
                with Vertical(classes="field-cell"):
                    yield Label("View", classes="field-label")
                    yield Select(views, value=views[0][1], allow_blank=False, id="photo-view")
            yield Label("Photo file (ctrl+o chooses it from a folder, or type its path)", classes="field-label")
            yield Input(placeholder="e.g. ~/Pictures/P-0042/vertex.jpg", id="photo-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button(key_label("Choose file", "ctrl+o"), id="choose-photo")
                yield Button(key_label("Register photo", "ctrl+s"), id="register-photo", variant="primary")
            yield Static("", id="course-message", classes="course-message")
            yield Static("", id="photo-status")
            yield Label("Before and after", classes="course-subtitle")
            with Horizontal(classes="field-row"):
                with Vertical(classes="field-cell"):
                    yield Label("View", classes="field-label")
                    yield Select(views, value=views[0][1], allow_blank=False, id="compare-view")
                with Vertical(classes="field-cell"):
                    yield Label("After", classes="field-label")
                    yield Select(later, value=later[0][1], allow_blank=False, id="compare-after")
            with Horizontal(id="photo-compare"):
                with Vertical(classes="photo-side"):
                    yield Static("", id="before-caption", classes="photo-caption")
                    yield PhotoPanel(id="before-photo")
                with Vertical(classes="photo-side"):
                    yield Static("", id="after-caption", classes="photo-caption")
                    yield PhotoPanel(id="after-photo")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#photo-path", Input).focus()
        self._load()

    def _read(self, s: Session) -> CoursePhotos:
        patient = get_patient(s, self.patient_id)
        code = patient.code if patient is not None else "?"
        course_id = current_course_id(s, self.patient_id)
        if course_id is None:
            return CoursePhotos(code, None)
        return CoursePhotos(code, course_id, current_photos(s, course_id))

    @work(group="photos-load")
    async def _load(self) -> None:
        course = await self.call(self._read)
        if course is not None:
            self._show(course)
            self._take_next_view()

    def _show(self, course: CoursePhotos) -> None:
        self.course = course
        self.query_one("#photos-title", Label).update(f"Photos · {course.patient_code}")
        rules = self.ctx.protocol.photos
        if course.course_id is None:
            self.query_one("#photo-status", Static).update(
                "No course yet: photos belong to a course; screen the patient and start it from the start screen."
            )
        else:
            lines = []
            for point in rules.time_points:
                present = course.views_of(point.id)
                status = photo_set_status(rules, point, present)
                mark = "✓" if status.complete else "·" if not present else "✗"
                lines.append(f"{mark} {status.message}")
            self.query_one("#photo-status", Static).update("\n".join(lines))
        self._compare()

    # -- the view to take next -----------------------------------------------------------------

    def _set_status(self, time_point: str) -> PhotoSetStatus | None:
        course = self.course
        if course is None or course.course_id is None:
            return None
        return photo_set_status(self.ctx.protocol.photos, time_point, course.views_of(time_point))

    def _take_next_view(self, after: str | None = None) -> PhotoSetStatus | None:
        """Select the next view the chosen time point still misses (after ``after``); its set's status."""
        status = self._set_status(str(self.query_one("#photo-time-point", Select).value))
        if status is None:
            return None
        view = next_missing_view(status, after)
        if view is not None:
            self.query_one("#photo-view", Select).value = view
        return status

    @on(Select.Changed, "#photo-time-point")
    def _time_point_changed(self) -> None:
        self._take_next_view()

    # -- compare ------------------------------------------------------------------------------

    @on(Select.Changed, "#compare-view")
    @on(Select.Changed, "#compare-after")
    def _compare_changed(self) -> None:
        if self.course is not None:
            self._compare()

    def action_next_after(self) -> None:
        select = self.query_one("#compare-after", Select)
        values = self._later
        if values:
            current = select.value
            index = values.index(current) if isinstance(current, str) and current in values else -1
            select.value = values[(index + 1) % len(values)]

    def _compare(self) -> None:
        course = self.course
        if course is None:
            return
        rules = self.ctx.protocol.photos
        view = str(self.query_one("#compare-view", Select).value)
        after = str(self.query_one("#compare-after", Select).value)
        before = rules.time_points[0].id
        sides = (("before", before), ("after", after))
        for side, point in sides:
            photo = course.photos.get((point, view))
            label = f"{rules.time_point(point).label} · {rules.view(view).label}"
            self._wanted[side] = photo.id if photo is not None else None
            if photo is None:
                self.query_one(f"#{side}-caption", Static).update(label)
                self.query_one(f"#{side}-photo", PhotoPanel).show(None, "not registered yet")
            else:
                self.query_one(f"#{side}-caption", Static).update(
                    f"{label} · {photo.registered_at.astimezone(self.ctx.tz):%d %b %Y} · sha256 {photo.sha256[:12]}…"
                )
                self._draw(side, photo)

    @work(group="photos-draw", exclusive=False)
    async def _draw(self, side: str, photo: PhotoView) -> None:
        panel = self.query_one(f"#{side}-photo", PhotoPanel)
        try:
            preview: Image.Image | None = await asyncio.to_thread(load_preview, photo.path(self.ctx.photos))
            note = ""
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            preview = None
            note = f"stored copy cannot be shown: {photo.stored_path} ({getattr(exc, 'strerror', None) or exc})"
        if self._wanted.get(side) == photo.id:  # not replaced by a newer choice meanwhile
            panel.show(preview, note)

    # -- register -----------------------------------------------------------------------------

    @on(Button.Pressed, "#register-photo")
    def _register_pressed(self) -> None:
        self.action_register()

    @on(Button.Pressed, "#choose-photo")
    def _choose_pressed(self) -> None:
        self.action_choose()

    def action_choose(self) -> None:
        """Choose the file in the picker; picking it registers it (with the usual questions)."""
        course = self.course
        if course is None or course.course_id is None:
            self.say("No course for this patient: start the course before registering photos.", error=True)
            return
        self.app.push_screen(PhotoPickerDialog(), self._picked)

    def _picked(self, path: Path | None) -> None:
        if path is None:
            return
        self.query_one("#photo-path", Input).value = str(path)
        self.action_register()

    @on(Input.Submitted, "#photo-path")
    def _path_submitted(self) -> None:
        self.action_register()

    def action_register(self) -> None:
        course = self.course
        if course is None or course.course_id is None:
            self.say("No course for this patient: start the course before registering photos.", error=True)
            return
        path = self.query_one("#photo-path", Input).value.strip()
        if not path:
            self.say("Type the path of the photo file to register.", error=True)
            self.query_one("#photo-path", Input).focus()
            return
        time_point = str(self.query_one("#photo-time-point", Select).value)
        view = str(self.query_one("#photo-view", Select).value)
        self._register(course.course_id, Path(path), time_point, view)

    def _place(self, photo: PhotoView) -> str:
        rules = self.ctx.protocol.photos
        return f"{rules.time_point(photo.time_point).label} · {rules.view(photo.view).label}"

    async def _may_register(self, path: Path, check: RegisterCheck, time_point: str, view: str) -> bool:
        """Ask about a file already registered and a view that has a photo; ``False``: register nothing."""
        rules = self.ctx.protocol.photos
        where = f"{rules.time_point(time_point).label} · {rules.view(view).label}"
        existing = check.current.get((time_point, view))
        if existing is not None and existing.sha256 == check.sha256:
            self.say(f"{path.name} is already the {where} photo (same SHA-256): nothing registered.", error=True)
            return False
        if check.same_file:
            places: list[str] = []
            for photo in check.same_file:
                now = check.current.get((photo.time_point, photo.view))
                place = self._place(photo) + ("" if now is not None and now.id == photo.id else " (since replaced)")
                if place not in places:
                    places.append(place)
            named = ", ".join(places)
            register_anyway = await self.app.push_screen_wait(
                ConfirmDialog(
                    f"{path.name} is the same photo (same SHA-256) as the one registered for {named}. "
                    f"Register it for {where} as well?",
                    title="Photo already registered",
                    confirm_label="Register anyway",
                    cancel_label="Don't register",
                )
            )
            if not register_anyway:
                self.say(f"Not registered: {path.name} is already registered for {named}.")
                return False
        if existing is not None:
            registered = existing.registered_at.astimezone(self.ctx.tz)
            replace = await self.app.push_screen_wait(
                ConfirmDialog(
                    f"Replace the {where} photo ({existing.original_name}, registered {registered:%d %b %Y %H:%M}) "
                    f"with {path.name}? The old one stays stored but no longer counts.",
                    title=f"Replace {where}?",
                    confirm_label="Replace",
                    cancel_label="Keep the old one",
                )
            )
            if not replace:
                self.say(f"Kept the {where} photo ({existing.original_name}); {path.name} was not registered.")
                return False
        return True

    @work(group="photos-save", exclusive=True)
    async def _register(self, course_id: int, path: Path, time_point: str, view: str) -> None:
        ctx = self.ctx

        def look(s: Session) -> RegisterCheck:
            digest = photo_sha256(path)
            return RegisterCheck(digest, photos_with_sha256(s, course_id, digest), current_photos(s, course_id))

        check = await self.call(look, PhotoError)
        if check is None or not await self._may_register(path, check, time_point, view):
            return

        def store(s: Session) -> tuple[PhotoView, CoursePhotos]:
            photo = register_photo(
                s,
                path,
                root=ctx.photos,
                patient_id=self.patient_id,
                course_id=course_id,
                time_point=time_point,
                view=view,
                protocol=ctx.protocol,
                now=ctx.now(),
                registered_by=ctx.who,
            )
            return photo, self._read(s)

        stored = await self.call(store, PhotoError)
        if stored is None:
            return
        photo, course = stored
        rules = ctx.protocol.photos
        self.query_one("#photo-path", Input).value = ""
        self.query_one("#compare-view", Select).value = view
        if time_point != rules.time_points[0].id:
            self.query_one("#compare-after", Select).value = time_point
        self._show(course)
        status = self._take_next_view(after=view)
        if status is None or str(self.query_one("#photo-time-point", Select).value) != time_point:
            then = ""
        elif status.complete:
            then = f" {status.message}."
        else:
            then = f" Next: {rules.view(str(self.query_one('#photo-view', Select).value)).label}."
        self.say(
            f"Registered {rules.view(view).label} for {rules.time_point(time_point).label}: "
            f"{photo.width}×{photo.height}, sha256 {photo.sha256[:16]}…, location data removed.{then}"
        )
