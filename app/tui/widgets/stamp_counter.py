"""The big live stamp count, with the stamping rate and the elapsed time of the step."""

from __future__ import annotations

from textual.app import ComposeResult
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


class StampCounter(Widget):
    """Stamps so far in large digits; rate per minute and elapsed time underneath."""

    def compose(self) -> ComposeResult:
        yield Label("Stamps", classes="panel-title")
        yield Digits("0", id="stamp-count")
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
