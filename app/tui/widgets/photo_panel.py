"""A photo drawn in the terminal with half blocks (two pixels a cell), sized to the widget.

The picture is decoded and scaled down off the UI thread (:func:`load_preview`); the widget
only fits the small preview to its size and draws it with ``rich-pixels``' half-cell
renderer, so what it shows depends on the pixels alone (the same in every terminal and in
tests). Without a picture it shows a placeholder line.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps
from rich.console import RenderableType
from rich.text import Text
from rich_pixels import HalfcellRenderer, Pixels
from textual.widget import Widget

#: The largest preview kept in memory, in pixels (a terminal cell shows two pixels, one above the other).
PREVIEW_MAX = (240, 160)


def load_preview(path: Path) -> Image.Image:
    """The photo at ``path``, turned upright by its EXIF orientation, in RGB and at most :data:`PREVIEW_MAX`.

    Raises :class:`OSError` (a missing or unreadable file) or Pillow's errors for a damaged one.
    """
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    image.thumbnail(PREVIEW_MAX, Image.Resampling.LANCZOS)
    return image


def fit(size: tuple[int, int], cells: tuple[int, int]) -> tuple[int, int]:
    """The pixel size that fits an image of ``size`` into ``cells`` (columns, rows) keeping its shape."""
    width, height = size
    columns, rows = cells
    if width <= 0 or height <= 0 or columns <= 0 or rows <= 0:
        return (0, 0)
    scale = min(columns / width, (rows * 2) / height)
    return (max(1, round(width * scale)), max(2, round(height * scale)))


def draw(image: Image.Image, cells: tuple[int, int]) -> Pixels | None:
    """``image`` fitted into ``cells`` (columns, rows) as half-block cells; ``None`` when there is no room."""
    target = fit(image.size, cells)
    if target == (0, 0):
        return None
    scaled = image.resize(target, Image.Resampling.LANCZOS)
    pixels: Pixels = Pixels.from_image(scaled, renderer=HalfcellRenderer())
    return pixels


class PhotoPanel(Widget):
    """Shows one picture (or ``placeholder``) scaled to the widget's size."""

    DEFAULT_CSS = """
    PhotoPanel {
        width: 1fr;
        height: 12;
    }
    """

    def __init__(self, placeholder: str = "no photo", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._image: Image.Image | None = None
        self._placeholder = placeholder
        self._cache: tuple[tuple[int, int], Pixels] | None = None

    @property
    def has_image(self) -> bool:
        return self._image is not None

    @property
    def placeholder(self) -> str:
        return self._placeholder

    def show(self, image: Image.Image | None, placeholder: str = "no photo") -> None:
        """Draw ``image`` (a preview from :func:`load_preview`), or the ``placeholder`` text without one."""
        self._image = image
        self._placeholder = placeholder
        self._cache = None
        self.refresh()

    def render(self) -> RenderableType:
        if self._image is None:
            return Text(self._placeholder, style="italic", justify="center")
        cells = (self.size.width, self.size.height)
        if self._cache is None or self._cache[0] != cells:
            pixels = draw(self._image, cells)
            if pixels is None:
                return Text("")
            self._cache = (cells, pixels)
        return self._cache[1]
