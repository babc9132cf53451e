"""Force quality of the latest stamp (too light / good / too hard) and bars of the recent forces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Label, Static

from stampside.app.domain.treatment_protocol import ForceQuality, ForceThresholds
from stampside.app.tui.widgets.live_text import LiveText
from stampside.app.tui.widgets.text_update import set_text

_QUALITY_TEXT = {
    ForceQuality.TOO_LIGHT: "▼ TOO LIGHT",
    ForceQuality.GOOD: "✓ GOOD",
    ForceQuality.TOO_HARD: "▲ TOO HARD",
}


def format_quality(quality: ForceQuality | None, force_n: float | None) -> str:
    """``"✓ GOOD  6.2 N"``; ``"no stamp yet"`` before the first."""
    if quality is None:
        return "– no stamp yet"
    text = _QUALITY_TEXT[quality]
    return text if force_n is None else f"{text}  {force_n:.1f} N"


def format_bands(thresholds: ForceThresholds) -> str:
    light, hard = thresholds.too_light_below_n, thresholds.too_hard_above_n
    return f"good {light:g}–{hard:g} N"


#: Eighths of a cell, lowest first: a bar's top row.
_EIGHTHS = " ▁▂▃▄▅▆▇█"


def bar_rows(forces: Sequence[float], top_n: float, width: int, height: int) -> list[list[int]]:
    """The newest ``width`` forces as columns of ``height`` rows (top row first), each cell's fill in
    eighths (0–8), scaled so ``top_n`` newtons fills a column; the newest force is the rightmost."""
    shown = list(forces)[-width:] if width > 0 else []
    rows = [[0] * len(shown) for _ in range(height)]
    for column, force in enumerate(shown):
        eighths = round(max(0.0, min(force / top_n, 1.0)) * height * 8) if top_n > 0 else 0
        if force > 0:
            eighths = max(eighths, 1)
        for row in range(height):
            from_bottom = height - 1 - row
            rows[row][column] = max(0, min(8, eighths - from_bottom * 8))
    return rows


class ForceBars(Widget):
    """The recent forces as vertical bars, newest on the right, each in its force quality's colour
    (``force-bars--too-light``/``--good``/``--too-hard``); the scale tops out a little above the
    "too hard" band, or at the hardest stamp shown. Drawn a line at a time (it changes with every
    stamp)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"force-bars--too-light", "force-bars--good", "force-bars--too-hard"}
    DEFAULT_CSS = """
    ForceBars { height: 3; }
    ForceBars > .force-bars--too-light { color: #6baed6; }
    ForceBars > .force-bars--good { color: $success; }
    ForceBars > .force-bars--too-hard { color: #f1a340; }
    """

    def __init__(self, thresholds: ForceThresholds, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.thresholds = thresholds
        self.data: list[float] = []
        self._rows: tuple[tuple[int, int], list[Strip]] | None = None
        self._looks: dict[ForceQuality, Style] | None = None

    def show(self, forces: Sequence[float]) -> None:
        """Draw these forces (oldest first); nothing is redrawn when they are the ones shown."""
        forces = list(forces)
        if forces != self.data:
            self.data = forces
            self._rows = None
            self.refresh()

    def _styles(self) -> dict[ForceQuality, Style]:
        """Each quality's style, looked up once until the styles change (the lookup is not cheap)."""
        if self._looks is None:
            self._looks = {
                quality: self.get_component_rich_style(f"force-bars--{quality.value.replace('_', '-')}")
                for quality in ForceQuality
            }
        return self._looks

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._looks = None
        self._rows = None

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        key = (width, height)
        if self._rows is None or self._rows[0] != key:
            top = max([self.thresholds.too_hard_above_n * 1.25, *self.data])
            rows = bar_rows(self.data, top, width, height)
            styles = self._styles()
            base = self.visual_style.rich_style
            shown = self.data[-width:] if width > 0 else []
            looks = [base + styles[self.thresholds.classify(force)] for force in shown]
            strips = []
            for row in rows:
                pad = width - len(row)
                segments = [Segment(" " * pad, base)] if pad > 0 else []
                segments += [Segment(_EIGHTHS[cell], look) for cell, look in zip(row, looks, strict=True)]
                strips.append(Strip(Segment.simplify(segments), width))
            self._rows = (key, strips)
        strips = self._rows[1]
        return strips[y] if y < len(strips) else Strip.blank(width, self.visual_style.rich_style)


class ForceMeter(Widget):
    """The latest stamp's force quality in words (coloured by ``-too-light``/``-good``/``-too-hard``),
    the protocol's band, and the recent forces as a sparkline."""

    def __init__(self, thresholds: ForceThresholds, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._thresholds = thresholds

    def compose(self) -> ComposeResult:
        yield Label(f"Force  ({format_bands(self._thresholds)})", classes="panel-title", markup=False)
        yield LiveText(format_quality(None, None), id="force-quality")
        yield ForceBars(self._thresholds, id="force-sparkline")

    def show(self, quality: ForceQuality | None, force_n: float | None, recent_n: Sequence[float]) -> None:
        label = self.query_one("#force-quality", Static)
        set_text(label, format_quality(quality, force_n))
        for each in ForceQuality:
            label.set_class(each is quality, f"-{each.value.replace('_', '-')}")
        self.query_one(ForceBars).show(recent_n)

    @property
    def text(self) -> str:
        return str(self.query_one("#force-quality", Static).content)
