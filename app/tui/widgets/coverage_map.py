"""The top-down scalp coverage map: one tile per zone, coloured by coverage and labelled with the numbers.

Front of the head at the top: frontal, then mid-scalp, then the vertex at the back; the
temporal zones on the sides (the patient's left on the left, as seen from behind the chair).

The levels (0–5, steps of 20 %, 5 at target) are the domain's
(:func:`stampside.app.domain.coverage.coverage_level`); this module only maps a level to a
:class:`LevelStyle`, one palette per colour mode of the terminal (:func:`colour_mode`):

* truecolor: a cividis-like ramp, dark blue (little coverage) to yellow (at target), safe for
  colour-blind readers; "not treated" is a neutral dark grey;
* 256 colours: the same ramp in entries of the xterm 256-colour palette (so nothing is rounded
  onto its neighbour: navy, slate blue, grey, khaki, gold, yellow);
* 16 colours: blue, bright blue, cyan, light grey, yellow, bright yellow; "not treated" bright black;
* monochrome (``NO_COLOR``, or a terminal without colour): no colour, each level fills its tile
  with its own character, from ``·`` (under 20 %) to ``█`` (at target), and "not treated" is blank.

Every tile also carries its percentage, stamp count and markers in text, and the legend shows
each level's colour or fill character with its range, so no information is in colour alone.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from rich.cells import cell_len
from textual import events
from textual.app import App, ComposeResult, RenderResult
from textual.containers import Grid
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label, Static

from stampside.app.domain.coverage import LEVELS, TARGET_LEVEL, ZoneCoverage, level_bounds
from stampside.app.domain.zones import Zone
from stampside.app.tui.widgets.live_text import LiveText, align_lines
from stampside.app.tui.widgets.text_update import set_text

#: Tiles in grid order (see ``widgets.tcss``): the temporal tiles span two rows.
_LAYOUT: tuple[Zone | None, ...] = (
    Zone.LEFT_TEMPORAL,
    Zone.FRONTAL,
    Zone.RIGHT_TEMPORAL,
    Zone.MID_SCALP,
    None,
    Zone.VERTEX,
    None,
)

ACTIVE_MARK = "▶ ACTIVE ◀"


class ColourMode(Enum):
    """How many colours the terminal shows, as far as the map is concerned."""

    TRUECOLOR = "truecolor"
    EIGHT_BIT = "256"
    STANDARD = "16"
    MONOCHROME = "mono"


def colour_mode(color_system: str | None, no_color: bool = False) -> ColourMode:
    """The map's colour mode for a Rich colour system (``stampside.app.console.color_system``) and ``NO_COLOR``.

    ``"truecolor"`` and ``"256"`` are themselves; ``"standard"`` and ``"windows"`` (the legacy
    Windows console) have 16 colours; no colour system, or ``NO_COLOR`` set (Textual's
    ``app.no_color``), is monochrome.
    """
    if no_color or color_system is None:
        return ColourMode.MONOCHROME
    if color_system == "truecolor":
        return ColourMode.TRUECOLOR
    if color_system == "256":
        return ColourMode.EIGHT_BIT
    return ColourMode.STANDARD


def app_colour_mode(app: App[object]) -> ColourMode:
    """The colour mode the running app draws in (Textual honours ``NO_COLOR`` and ``TEXTUAL_COLOR_SYSTEM``)."""
    return colour_mode(app.console.color_system, app.no_color)


@dataclass(frozen=True, slots=True)
class LevelStyle:
    """How a level (or "not treated") looks: a tile's background, its text colour and its fill character."""

    #: ``#rrggbb``; None leaves the background the screen's.
    background: str | None
    #: ``#rrggbb``; None leaves the text colour to the stylesheet.
    color: str | None
    #: What fills the tile around its text (" ": nothing).
    fill: str = " "


def _ramp(*colours: tuple[str, str], untreated: tuple[str, str]) -> tuple[LevelStyle, ...]:
    return tuple(LevelStyle(background, color) for background, color in (*colours, untreated))


_WHITE = "#ffffff"
_BLACK = "#000000"

#: Per colour mode: the style of levels 0–5, then of "not treated".
PALETTES: dict[ColourMode, tuple[LevelStyle, ...]] = {
    ColourMode.TRUECOLOR: _ramp(
        ("#00224e", _WHITE),
        ("#35456c", _WHITE),
        ("#666970", _WHITE),
        ("#958f78", _BLACK),
        ("#cbba69", _BLACK),
        ("#fee838", _BLACK),
        untreated=("#303030", "#c0c0c0"),
    ),
    # xterm 256-colour entries 18, 61, 244, 144, 178, 226; "not treated" 237 (text 250).
    ColourMode.EIGHT_BIT: _ramp(
        ("#000087", _WHITE),
        ("#5f5faf", _WHITE),
        ("#808080", _BLACK),
        ("#afaf87", _BLACK),
        ("#d7af00", _BLACK),
        ("#ffff00", _BLACK),
        untreated=("#3a3a3a", "#bcbcbc"),
    ),
    # ANSI colours 4, 12, 6, 7, 3, 11; "not treated" 8 (bright black).  Text: 15 (white) or 0 (black).
    ColourMode.STANDARD: _ramp(
        ("#0000aa", _WHITE),
        ("#5555ff", _WHITE),
        ("#00aaaa", _BLACK),
        ("#aaaaaa", _BLACK),
        ("#aa5500", _BLACK),
        ("#ffff55", _BLACK),
        untreated=("#555555", _WHITE),
    ),
    ColourMode.MONOCHROME: (
        *(LevelStyle(None, None, fill) for fill in "·:░▒▓█"),
        LevelStyle(None, None, " "),
    ),
}


def level_style(mode: ColourMode, level: int | None) -> LevelStyle:
    """The style of a coverage level (0–5) in a colour mode; ``None`` for a zone that is not treated."""
    palette = PALETTES[mode]
    return palette[-1] if level is None else palette[level]


def level_label(level: int | None) -> str:
    """The legend's words for a level: "<20%", "20–39" … "80–99", "100 ✓"; ``None``: "not treated"."""
    if level is None:
        return "not treated"
    low, high = level_bounds(level)
    if level == TARGET_LEVEL:
        return f"{low} ✓"
    if low == 0:
        return f"<{high + 1}%"
    return f"{low}–{high}"


#: Every entry of the legend: the levels, lowest first, then "not treated".
LEGEND_LEVELS: tuple[int | None, ...] = (*LEVELS, None)


def tile_id(zone: Zone) -> str:
    """The DOM id of a zone's tile: ``zone-left-temporal``."""
    return "zone-" + zone.name.lower().replace("_", "-")


def format_percent(percent: float | None, reached: bool) -> str:
    """Whole percent, rounded down so "100%" only shows once the target is reached."""
    if percent is None:
        return "no target"
    shown = 100 if reached else min(99, int(percent))
    return f"{shown}%" + (" ✓" if reached else "")


def format_stamps(count: int) -> str:
    return f"{count} stamp" + ("" if count == 1 else "s")


def tile_text(coverage: ZoneCoverage, active: bool) -> str:
    """The lines a zone's tile shows (plain text, no markup)."""
    state = format_percent(coverage.percent, coverage.reached) if coverage.treated else "not treated"
    lines = [coverage.zone.label, state, format_stamps(coverage.stamps)]
    if active:
        lines.append(ACTIVE_MARK)
    return "\n".join(lines)


def fill_around(text: str, fill: str, width: int, height: int) -> str:
    """``text`` centred in a ``width`` × ``height`` block of ``fill``, with a margin of spaces around the words.

    Lines longer than ``width`` are wrapped first; when the text needs every row, it comes back
    wrapped but without fill (the words matter more than the pattern).
    """
    if width <= 0 or height <= 0:
        return text
    lines = [part for line in text.split("\n") for part in (textwrap.wrap(line, width) or [""])]
    if len(lines) >= height:
        return "\n".join(lines)
    box_width = min(width, max(cell_len(line) for line in lines) + 2)
    if len(lines) + 2 <= height:  # a blank row above and below the words when there is room
        lines = ["", *lines, ""]
    top = (height - len(lines)) // 2
    left = (width - box_width) // 2
    right = width - box_width - left
    rows = [fill * width] * top
    for line in lines:
        pad = box_width - cell_len(line)
        rows.append(fill * left + " " * (pad // 2) + line + " " * (pad - pad // 2) + fill * right)
    rows += [fill * width] * (height - len(rows))
    return "\n".join(rows)


class ZoneTile(LiveText):
    """One zone of the map; its border title is the zone's key. A click posts :class:`ZoneTile.Selected`."""

    class Selected(Message):
        """The practitioner clicked a zone's tile."""

        def __init__(self, zone: Zone) -> None:
            super().__init__()
            self.zone = zone

    def __init__(self, zone: Zone, colours: ColourMode = ColourMode.TRUECOLOR) -> None:
        super().__init__(zone.label, id=tile_id(zone), classes="zone-tile")
        self.zone = zone
        self.colours = colours
        self.level: int | None = None
        self.look = LevelStyle(None, None)
        self.border_title = zone.key

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Selected(self.zone))

    def show(self, coverage: ZoneCoverage, active: bool) -> None:
        level = coverage.level if coverage.treated else None
        for index in LEVELS:
            self.set_class(index == level, f"-level-{index}")
        self.set_class(level is None, "-untreated")
        self.set_class(active, "-active")
        self.level = level
        look = level_style(self.colours, level)
        if look != self.look:
            self.look = look
            self.styles.background = look.background
            self.styles.color = look.color
            self.refresh()
        subtitle = "active" if active else ""
        if (self.border_subtitle or "") != subtitle:
            self.border_subtitle = subtitle
        set_text(self, tile_text(coverage, active))

    def text_lines(self, width: int, height: int) -> list[str]:
        if self.look.fill == " ":
            return super().text_lines(width, height)
        rows = fill_around(self.text, self.look.fill, width, height).split("\n")
        return align_lines(tuple(rows), width, height, "center", "middle")


def legend_swatch(level: int | None, colours: ColourMode) -> Content:
    """One entry of the legend: the level's words on its colour, or after its fill character in monochrome."""
    look = level_style(colours, level)
    label = level_label(level)
    if colours is ColourMode.MONOCHROME:
        return Content(f"[{look.fill * 2}] {label} ")
    style = " ".join(part for part in (look.color, f"on {look.background}" if look.background else None) if part)
    return Content.styled(f" {label} ", style)


class CoverageLegend(Widget):
    """The levels and "not treated", each in its own style; the entries wrap onto more lines when narrow."""

    def __init__(self, colours: ColourMode, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.colours = colours
        self.swatches = tuple(legend_swatch(level, colours) for level in LEGEND_LEVELS)

    def lines(self, width: int) -> list[Content]:
        """The swatches laid out in lines of at most ``width`` cells (a swatch wider than that has a line alone)."""
        lines: list[list[Content]] = [[]]
        used = 0
        for swatch in self.swatches:
            if lines[-1] and used + swatch.cell_length > width:
                lines.append([])
                used = 0
            lines[-1].append(swatch)
            used += swatch.cell_length
        return [Content("").join(line) for line in lines]

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return sum(swatch.cell_length for swatch in self.swatches)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width)) if width > 0 else 0

    def render(self) -> RenderResult:
        return Content("\n").join(self.lines(self.content_size.width))


class CoverageMap(Widget):
    """The scalp map. Call :meth:`show` with the coverage model's zones and its active zone.

    ``colours`` picks the palette; by default it is the running app's (:func:`app_colour_mode`).
    """

    def __init__(
        self,
        colours: ColourMode | None = None,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._colours = colours

    @property
    def colours(self) -> ColourMode:
        """The colour mode the map draws in."""
        return self._colours if self._colours is not None else app_colour_mode(self.app)

    def compose(self) -> ComposeResult:
        colours = self._colours = self.colours
        self.add_class(f"-colours-{colours.value}")
        yield Label("Scalp from above · front ▲", classes="map-caption")
        with Grid(classes="map-grid"):
            for zone in _LAYOUT:
                yield ZoneTile(zone, colours) if zone is not None else Static(classes="map-blank")
        yield CoverageLegend(colours, classes="map-legend")
        yield Label(
            "Keys: f frontal · m mid · v vertex · l left · r right",
            classes="map-keys",
            markup=False,
        )

    def tile(self, zone: Zone) -> ZoneTile:
        return self.query_one(f"#{tile_id(zone)}", ZoneTile)

    def show(self, zones: Sequence[ZoneCoverage], active: Zone) -> None:
        for coverage in zones:
            self.tile(coverage.zone).show(coverage, coverage.zone == active)
