"""Plain text that is redrawn for every stamp, drawn through Textual's line API.

A ``Static`` lays its text out through Textual's general content pipeline (markup, spans,
wrapping, alignment) each time it changes: about a third of a millisecond per line, and the
stamping screen changes a dozen lines for every stamp. :class:`LiveText` is a ``Static`` (so
``update``, ``content`` and :func:`~stampside.app.tui.widgets.text_update.set_text` work as before) whose
lines are plain text in the widget's one style: it wraps by words, aligns as its CSS says
(``text-align``, ``content-align-vertical``) and hands each line to the compositor as a single
segment.
"""

from __future__ import annotations

from functools import lru_cache

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Static

__all__ = ["LiveText", "align_lines", "wrap_lines"]


@lru_cache(maxsize=256)
def wrap_lines(text: str, width: int) -> tuple[str, ...]:
    """``text``'s lines, each broken at spaces into lines of at most ``width`` cells (a word wider
    than that is cut); an empty line stays one empty line."""
    if width <= 0:
        return tuple(text.split("\n"))
    out: list[str] = []
    for line in text.split("\n"):
        if cell_len(line) <= width:
            out.append(line)
            continue
        current = ""
        for word in line.split(" "):
            candidate = word if not current else f"{current} {word}"
            if cell_len(candidate) <= width:
                current = candidate
                continue
            if current:
                out.append(current)
            while cell_len(word) > width:
                out.append(set_cell_size(word, width))
                word = word[len(set_cell_size(word, width)) :]
            current = word
        out.append(current)
    return tuple(out)


def align_lines(lines: tuple[str, ...], width: int, height: int, horizontal: str, vertical: str) -> list[str]:
    """``lines`` padded to exactly ``width`` × ``height`` cells, placed as the alignments say."""
    rows = list(lines[:height]) if height > 0 else list(lines)
    if vertical in ("middle", "bottom") and len(rows) < height:
        above = (height - len(rows)) // 2 if vertical == "middle" else height - len(rows)
        rows = [""] * above + rows
    rows += [""] * (height - len(rows))
    placed = []
    for row in rows:
        row = set_cell_size(row, min(width, cell_len(row)))
        spare = width - cell_len(row)
        if horizontal == "center":
            row = " " * (spare // 2) + row + " " * (spare - spare // 2)
        elif horizontal == "right":
            row = " " * spare + row
        else:
            row = row + " " * spare
        placed.append(row)
    return placed


class LiveText(Static):
    """A ``Static`` of plain text (no markup) drawn a line at a time; see the module's docstring."""

    def __init__(
        self,
        content: str = "",
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(content, name=name, id=id, classes=classes, markup=False)
        self._placed: tuple[object, list[str]] | None = None

    @property
    def text(self) -> str:
        """The text shown."""
        return str(self.content)

    def text_lines(self, width: int, height: int) -> list[str]:
        """The rows to draw, each exactly ``width`` cells, ``height`` of them (subclasses may draw
        something else than the wrapped text)."""
        styles = self.styles
        return align_lines(
            wrap_lines(self.text, width), width, height, str(styles.text_align), str(styles.content_align_vertical)
        )

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        style = self.visual_style.rich_style
        key = (self.text, width, height, str(self.styles.text_align), str(self.styles.content_align_vertical))
        if self._placed is None or self._placed[0] != key:
            self._placed = (key, self.text_lines(width, height))
        rows = self._placed[1]
        if y >= len(rows) or not rows[y].strip(" "):
            return Strip.blank(width, style)
        row = rows[y]
        words = row.strip(" ")
        left = len(row) - len(row.lstrip(" "))
        right = len(row) - left - len(words)
        # The spaces around the words in the background's style alone, as Textual's own text has
        # them (an SVG screenshot would otherwise run them into the words and misplace them).
        pad = Style(bgcolor=style.bgcolor)
        segments = [Segment(" " * left, pad), Segment(words, style), Segment(" " * right, pad)]
        return Strip([segment for segment in segments if segment.text], width)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return max((cell_len(line) for line in self.text.split("\n")), default=0)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(wrap_lines(self.text, width)) if width > 0 else 0
