"""The big live stamp count, with the stamping rate and the elapsed time of the step."""

from __future__ import annotations

from rich.segment import Segment
from textual.app import ComposeResult
from textual.renderables.digits import DIGITS, DIGITS3X3, DIGITS3X3_BOLD
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Digits, Label, Static

from stampside.app.tui.widgets.live_text import LiveText
from stampside.app.tui.widgets.text_update import set_text


def format_elapsed(seconds: float) -> str:
    """``"04:07"``, or ``"1:02:03"`` past an hour."""
    whole = max(0, int(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_rate(rate_per_min: float) -> str:
    return f"{rate_per_min:.0f} /min"


class CountDigits(Digits):
    """Textual's ``Digits``, drawn a line at a time from the glyphs' rows.

    The count changes with every stamp; ``Digits`` builds a Rich renderable and converts it for
    each new value, which was the most expensive part of a stamp's frame. This joins the 3×3
    glyphs' rows (the same font, bold when the style is) into three strips per value. Left
    aligned: the counter's CSS gives it ``width: auto``, so the digits fill it.
    """

    def __init__(self, value: str = "", *, id: str | None = None) -> None:
        super().__init__(value, id=id)
        self._strips: tuple[object, list[Strip]] | None = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.visual_style.rich_style
        key = (self.value, width, style)
        if self._strips is None or self._strips[0] != key:
            font = DIGITS3X3_BOLD if style.bold else DIGITS3X3
            rows = ["", "", ""]
            for character in self.value:
                position = DIGITS.find(character)
                glyph: list[str]
                if position < 0:  # as Digits draws a character it has no glyph for
                    glyph = [" ", " ", character]
                else:
                    glyph = [row.ljust(3) for row in font[position * 3 : position * 3 + 3]]
                for row in range(3):
                    rows[row] += glyph[row]
            self._strips = (key, [Strip([Segment(row, style)]).adjust_cell_length(width, style) for row in rows])
        strips = self._strips[1]
        return strips[y] if 0 <= y < len(strips) else Strip.blank(width, style)


class StampCounter(Widget):
    """Stamps so far in large digits; rate per minute and elapsed time underneath."""

    def compose(self) -> ComposeResult:
        yield Label("Stamps", classes="panel-title")
        yield CountDigits("0", id="stamp-count")
        yield LiveText("0 /min  ·  00:00 elapsed", id="stamp-rate")

    def show(self, count: int, rate_per_min: float, elapsed_s: float) -> None:
        """Show the figures; what did not change is not redrawn."""
        digits = self.query_one("#stamp-count", Digits)
        if digits.value != str(count):
            digits.update(str(count))
        set_text(
            self.query_one("#stamp-rate", Static),
            f"{format_rate(rate_per_min)}  ·  {format_elapsed(elapsed_s)} elapsed",
        )

    @property
    def text(self) -> str:
        """What the counter says, as plain text (for tests and screen readers)."""
        count = self.query_one("#stamp-count", Digits).value
        return f"{count} stamps  {self.query_one('#stamp-rate', Static).content}"
