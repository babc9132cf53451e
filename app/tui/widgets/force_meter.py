"""Force quality of the latest stamp (too light / good / too hard) and a sparkline of the recent forces."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from app.domain.treatment_protocol import ForceQuality, ForceThresholds
from app.tui.widgets.text_update import set_text

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


class ForceMeter(Widget):
    """The latest stamp's force quality in words (coloured by ``-too-light``/``-good``/``-too-hard``),
    the protocol's band, and the recent forces as a sparkline."""

    def __init__(self, thresholds: ForceThresholds, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._thresholds = thresholds

    def compose(self) -> ComposeResult:
        yield Label(f"Force  ({format_bands(self._thresholds)})", classes="panel-title", markup=False)
        yield Static(format_quality(None, None), id="force-quality", markup=False)
        yield Sparkline([], id="force-sparkline")

    def show(self, quality: ForceQuality | None, force_n: float | None, recent_n: Sequence[float]) -> None:
        label = self.query_one("#force-quality", Static)
        set_text(label, format_quality(quality, force_n))
        for each in ForceQuality:
            label.set_class(each is quality, f"-{each.value.replace('_', '-')}")
        sparkline = self.query_one("#force-sparkline", Sparkline)
        recent = list(recent_n)
        if sparkline.data != recent:
            sparkline.data = recent

    @property
    def text(self) -> str:
        return str(self.query_one("#force-quality", Static).content)
