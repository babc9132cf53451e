"""Choose a photo file from a folder, keys first, with a half-block preview of the highlighted one.

The list shows the folder's JPEG, PNG and TIFF files (what :func:`~stampside.app.storage.photos.register_photo`
takes), its subfolders and ``..``; ``enter`` opens a folder or picks a photo, ``backspace`` goes
up a folder, ``ctrl+l`` goes to the folder field (type a folder, or a file's path, and ``enter``),
``escape`` cancels. Listing a folder and decoding previews happen in threads, one preview at a
time (the newest highlighted file wins), so the list stays responsive on a slow or big folder.

The picker starts in the folder used last in this app run (the file after the last picked one
highlighted), else the user's Pictures folder if there is one, else the home folder.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import platformdirs
from PIL import Image, UnidentifiedImageError
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from stampside.app.tui.dialogs.confirm import key_label
from stampside.app.tui.widgets.photo_panel import PhotoPanel, load_preview

__all__ = [
    "PHOTO_SUFFIXES",
    "FolderError",
    "FolderListing",
    "PhotoPickerDialog",
    "PickerPreview",
    "default_folder",
    "list_folder",
    "read_preview",
    "remember_pick",
]

#: The file name endings listed as photos (what registering accepts), compared in lower case.
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
#: How many decoded previews a picker keeps (each at most ``PREVIEW_MAX`` pixels).
PREVIEW_CACHE = 48


class FolderError(ValueError):
    """A folder cannot be listed; the message names it and says what to do."""


@dataclass(frozen=True, slots=True)
class FolderListing:
    """A folder's subfolders and photo files, sorted by name; ``chosen`` is a photo named when typed."""

    folder: Path
    parent: Path | None
    folders: tuple[Path, ...]
    photos: tuple[Path, ...]
    #: Files that are not listed (not a JPEG, PNG or TIFF by their name).
    others: int = 0
    chosen: Path | None = None
    #: Why a typed file was not chosen (not a photo), for the message line.
    note: str = ""


def _name_key(path: Path) -> tuple[str, str]:
    return (path.name.casefold(), path.name)


def list_folder(typed: Path | str, relative_to: Path | None = None) -> FolderListing:
    """The folder at ``typed`` (``~`` expanded, relative to ``relative_to``), or the folder of a file typed.

    Hidden entries are left out. Raises :class:`FolderError` for a path that does not exist or
    cannot be read.
    """
    text = str(typed).strip()
    if not text:
        raise FolderError("Type a folder (e.g. ~/Pictures), then enter.")
    path = Path(text).expanduser()
    if not path.is_absolute() and relative_to is not None:
        path = relative_to / path
    path = Path(os.path.normpath(path.absolute()))
    chosen: Path | None = None
    note = ""
    try:
        if path.is_file():
            if path.suffix.lower() in PHOTO_SUFFIXES:
                chosen = path
            else:
                note = f"{path.name}: not a JPEG, PNG or TIFF photo; choose a photo from the list"
            path = path.parent
        elif not path.exists():
            raise FolderError(f"{path}: no such folder; check the path or type another folder")
        elif not path.is_dir():
            raise FolderError(f"{path}: not a folder; type a folder")
        folders: list[Path] = []
        photos: list[Path] = []
        others = 0
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir():
                        folders.append(Path(entry.path))
                    elif entry.is_file():
                        if os.path.splitext(entry.name)[1].lower() in PHOTO_SUFFIXES:
                            photos.append(Path(entry.path))
                        else:
                            others += 1
                except OSError:  # an entry that vanished or cannot be looked at is left out
                    continue
    except PermissionError:
        raise FolderError(f"{path}: cannot be opened (permission denied); choose another folder") from None
    except OSError as exc:
        raise FolderError(f"{path}: cannot be opened ({exc.strerror or exc}); choose another folder") from None
    parent = path.parent if path.parent != path else None
    return FolderListing(
        path, parent, tuple(sorted(folders, key=_name_key)), tuple(sorted(photos, key=_name_key)), others, chosen, note
    )


@dataclass(frozen=True, slots=True)
class PickerPreview:
    """A file's preview (``None`` when it cannot be shown) and a line about it."""

    image: Image.Image | None
    caption: str


def read_preview(path: Path) -> PickerPreview:
    """Decode ``path`` for the preview (call it off the UI thread); a file that is no picture says why."""
    try:
        size = path.stat().st_size
        with Image.open(path) as opened:
            kind, (width, height) = opened.format or "image", opened.size
        image = load_preview(path)
    except (UnidentifiedImageError, SyntaxError):
        return PickerPreview(None, f"{path.name}: not a picture Stampside can read")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        return PickerPreview(None, f"{path.name}: cannot be shown ({reason})")
    kib = size / 1024
    amount = f"{kib / 1024:.1f} MB" if kib >= 1024 else f"{max(kib, 0.1):.0f} KB" if kib >= 1 else f"{size} bytes"
    return PickerPreview(image, f"{path.name} · {width}×{height} {kind} · {amount}")


# -- where the picker starts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Memory:
    folder: Path
    picked: Path | None


_memory: weakref.WeakKeyDictionary[App[object], _Memory] = weakref.WeakKeyDictionary()


def remember_pick(app: App[object], folder: Path, picked: Path | None = None) -> None:
    """Remember ``folder`` (and the file ``picked`` in it) as the last used in this run of ``app``."""
    _memory[app] = _Memory(folder, picked)


def default_folder(app: App[object] | None = None) -> Path:
    """The folder used last in this run of ``app``, else the user's Pictures folder if it exists, else home."""
    memory = _memory.get(app) if app is not None else None
    if memory is not None:
        return memory.folder
    try:
        pictures = platformdirs.user_pictures_path()
        if pictures.is_dir():
            return pictures
    except OSError:
        pass
    return Path.home()


# -- the dialog --------------------------------------------------------------------------------

EntryKind = Literal["parent", "folder", "photo"]


class FileList(OptionList):
    """The folder's entries; ``enter`` opens a folder or picks a photo (shown in the footer)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select", "Pick / open folder")]


class PhotoPickerDialog(ModalScreen[Path | None]):
    """Dismisses with the chosen photo file's path, or ``None`` on escape."""

    CSS = """
    .dialog.picker-dialog {
        width: 120;
        max-width: 100%;
        height: 100%;
        max-height: 100%;
        padding: 0 1;
    }
    #picker-body {
        height: 1fr;
        min-height: 6;
    }
    #picker-files {
        width: 1fr;
        height: 100%;
    }
    #picker-side {
        width: 1fr;
        height: 100%;
        padding-left: 1;
    }
    #picker-preview {
        width: 100%;
        height: 1fr;
    }
    #picker-caption {
        height: auto;
        color: $text-muted;
    }
    .picker-dialog .dialog-buttons {
        margin-top: 0;
    }
    .picker-dialog .dialog-title {
        margin-bottom: 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("backspace", "parent", "Up a folder"),
        Binding("ctrl+l", "type_folder", "Type a folder"),
    ]

    def __init__(self, folder: Path | None = None, *, title: str = "Choose a photo") -> None:
        """``folder``: where to start (``None``: :func:`default_folder` of the app showing it)."""
        super().__init__(classes="dialog-screen")
        self._start = folder
        self._title = title
        self._listing: FolderListing | None = None
        self._entries: list[tuple[EntryKind, Path]] = []
        self._previews: OrderedDict[Path, PickerPreview] = OrderedDict()
        #: The photo whose preview should show (a slow load for an older one is not shown).
        self._wanted: Path | None = None
        self._loading = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker-dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Label("Folder (ctrl+l to type one, or a file's path; enter opens it)", classes="field-label")
            yield Input(placeholder="e.g. ~/Pictures/P-0042", id="picker-folder")
            with Horizontal(id="picker-body"):
                yield FileList(id="picker-files", markup=False)
                with Vertical(id="picker-side"):
                    yield PhotoPanel("no photo highlighted", id="picker-preview")
                    yield Static("", id="picker-caption", markup=False)
            yield Static("", id="picker-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(key_label("Pick", "enter"), id="picker-pick", variant="primary")
                yield Button(key_label("Up", "backspace"), id="picker-parent")
                yield Button(key_label("Folder", "ctrl+l"), id="picker-type")
                yield Button(key_label("Cancel", "esc"), id="picker-cancel")
        yield Footer()

    def on_mount(self) -> None:
        memory = _memory.get(self.app)
        folder = self._start or default_folder(self.app)
        highlight = memory.picked if memory is not None and memory.folder == folder else None
        self.query_one("#picker-folder", Input).value = str(folder)
        self.query_one("#picker-files", FileList).focus()
        self._open(folder, after=highlight)

    # -- listing -----------------------------------------------------------------------------

    @work(group="picker-list", exclusive=True)
    async def _open(self, typed: Path | str, *, select: Path | None = None, after: Path | None = None) -> None:
        """List ``typed``; highlight ``select``, else the photo after ``after``, else the first photo."""
        here = self._listing.folder if self._listing is not None else None
        try:
            listing = await asyncio.to_thread(list_folder, typed, here)
        except FolderError as exc:
            self._error(str(exc))
            field = self.query_one("#picker-folder", Input)
            field.value = str(typed)
            field.focus()
            return
        self._show(listing, select=listing.chosen or select, after=after)

    def _show(self, listing: FolderListing, *, select: Path | None, after: Path | None) -> None:
        self._listing = listing
        self._error(listing.note)
        self.query_one("#picker-folder", Input).value = str(listing.folder)
        entries: list[tuple[EntryKind, Path]] = []
        if listing.parent is not None:
            entries.append(("parent", listing.parent))
        entries += [("folder", folder) for folder in listing.folders]
        entries += [("photo", photo) for photo in listing.photos]
        self._entries = entries
        files = self.query_one("#picker-files", FileList)
        files.clear_options()
        files.add_options([Option(self._prompt(kind, path)) for kind, path in entries])
        index = self._initial_index(listing, select=select, after=after)
        if index is not None:
            files.highlighted = index
        files.focus()
        self._highlighted(index)

    def _initial_index(self, listing: FolderListing, *, select: Path | None, after: Path | None) -> int | None:
        paths = [path for _, path in self._entries]
        if select is not None and select in paths:
            return paths.index(select)
        photos = list(listing.photos)
        if after is not None and after in photos:
            following = photos.index(after) + 1
            if following < len(photos):
                return paths.index(photos[following])
            return paths.index(after)
        if photos:
            return paths.index(photos[0])
        return 0 if paths else None

    @staticmethod
    def _prompt(kind: EntryKind, path: Path) -> Content:
        if kind == "parent":
            return Content.styled("▲ ..  (up a folder)", "bold")
        if kind == "folder":
            return Content.styled(f"▸ {path.name}/", "bold")
        return Content(f"  {path.name}")

    # -- preview -----------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#picker-files")
    def _on_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._highlighted(event.option_index)

    def _highlighted(self, index: int | None) -> None:
        panel = self.query_one("#picker-preview", PhotoPanel)
        caption = self.query_one("#picker-caption", Static)
        entry = self._entries[index] if index is not None and 0 <= index < len(self._entries) else None
        if entry is None or entry[0] != "photo":
            self._wanted = None
            listing = self._listing
            if listing is not None and not listing.photos:
                panel.show(None, "no JPEG, PNG or TIFF photos in this folder")
            else:
                panel.show(None, "enter opens this folder" if entry is not None else "")
            others = f"; {listing.others} other files not shown" if listing is not None and listing.others else ""
            caption.update(f"{entry[1] if entry is not None else ''}{others}")
            return
        path = entry[1]
        self._wanted = path
        cached = self._previews.get(path)
        if cached is not None:
            self._show_preview(cached)
            return
        panel.show(None, "loading the preview…")
        caption.update(path.name)
        if not self._loading:
            self._loading = True
            self._load_previews()

    @work(group="picker-preview")
    async def _load_previews(self) -> None:
        """Decode the wanted preview in a thread, then the one wanted meanwhile, until caught up."""
        try:
            while self._wanted is not None and self._wanted not in self._previews:
                path = self._wanted
                preview = await asyncio.to_thread(read_preview, path)
                self._previews[path] = preview
                while len(self._previews) > PREVIEW_CACHE:
                    self._previews.popitem(last=False)
        finally:
            self._loading = False
        wanted = self._wanted
        if wanted is not None and wanted in self._previews:
            self._show_preview(self._previews[wanted])

    def _show_preview(self, preview: PickerPreview) -> None:
        self.query_one("#picker-preview", PhotoPanel).show(preview.image, "no preview")
        self.query_one("#picker-caption", Static).update(preview.caption)

    @property
    def preview_shown(self) -> Path | None:
        """The photo whose preview is on screen (for tests and callers), ``None`` while loading or without one."""
        panel = self.query_one("#picker-preview", PhotoPanel)
        return self._wanted if self._wanted in self._previews and panel.has_image else None

    # -- actions -----------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#picker-files")
    def _on_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(event.option_index)

    def _choose(self, index: int | None) -> None:
        if index is None or not 0 <= index < len(self._entries):
            self._error("Nothing to pick here: open a folder with photos (backspace goes up, ctrl+l types one).")
            return
        kind, path = self._entries[index]
        if kind == "parent":
            self.action_parent()
        elif kind == "folder":
            self._open(path)
        else:
            remember_pick(self.app, path.parent, path)
            self.dismiss(path)

    @on(Input.Submitted, "#picker-folder")
    def _folder_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._open(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "picker-pick":
            self._choose(self.query_one("#picker-files", FileList).highlighted)
        elif event.button.id == "picker-parent":
            self.action_parent()
        elif event.button.id == "picker-type":
            self.action_type_folder()
        else:
            self.action_cancel()

    def action_parent(self) -> None:
        listing = self._listing
        if listing is None or listing.parent is None:
            return
        self._open(listing.parent, select=listing.folder)

    def action_type_folder(self) -> None:
        field = self.query_one("#picker-folder", Input)
        field.focus()
        field.select_all()

    def action_cancel(self) -> None:
        listing = self._listing
        if listing is not None:
            memory = _memory.get(self.app)
            picked = memory.picked if memory is not None and memory.folder == listing.folder else None
            remember_pick(self.app, listing.folder, picked)
        self.dismiss(None)

    def _error(self, text: str) -> None:
        error = self.query_one("#picker-error", Static)
        error.update(text)
        error.set_class(bool(text), "shown")
