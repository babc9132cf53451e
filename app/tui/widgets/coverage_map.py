"""The top-down scalp coverage map: one tile per zone, coloured by coverage and labelled with the numbers.

Front of the head at the top: frontal, then mid-scalp, then the vertex at the back; the
temporal zones on the sides (the patient's left on the left, as seen from behind the chair).
The colour ramp (``-level-0`` … ``-level-5`` in ``widgets.tcss``) is cividis-like, safe for
colour-blind readers, and every tile also carries its percentage, stamp count and markers in
text, so no information is in colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import events
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label, Static

from app.domain.coverage import ZoneCoverage
from app.domain.zones import Zone
from app.tui.widgets.text_update import set_text

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

#: (class, legend text) of each level of the ramp, then the untreated style.
LEGEND: tuple[tuple[str, str], ...] = (
    ("-level-0", " <20% "),
    ("-level-1", " 20–39 "),
    ("-level-2", " 40–59 "),
    ("-level-3", " 60–79 "),
    ("-level-4", " 80–99 "),
    ("-level-5", " 100 ✓ "),
    ("-untreated", " not treated "),
)

_LEVEL_CLASSES = tuple(name for name, _ in LEGEND[:-1])

ACTIVE_MARK = "▶ ACTIVE ◀"


def tile_id(zone: Zone) -> str:
    """The DOM id of a zone's tile: ``zone-left-temporal``."""
    return "zone-" + zone.name.lower().replace("_", "-")


def coverage_level(percent: float | None, reached: bool) -> int:
    """Colour step 0–5 for a coverage percentage; 5 only when the zone is at target."""
    if reached:
        return 5
    if percent is None:
        return 0
    return min(4, max(0, int(percent // 20)))


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


class ZoneTile(Static):
    """One zone of the map; its border title is the zone's key. A click posts :class:`ZoneTile.Selected`."""

    class Selected(Message):
        """The practitioner clicked a zone's tile."""

        def __init__(self, zone: Zone) -> None:
            super().__init__()
            self.zone = zone

    def __init__(self, zone: Zone) -> None:
        super().__init__(zone.label, id=tile_id(zone), classes="zone-tile", markup=False)
        self.zone = zone
        self.border_title = zone.key

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Selected(self.zone))

    def show(self, coverage: ZoneCoverage, active: bool) -> None:
        level = coverage_level(coverage.percent, coverage.reached)
        for index, name in enumerate(_LEVEL_CLASSES):
            self.set_class(coverage.treated and index == level, name)
        self.set_class(not coverage.treated, "-untreated")
        self.set_class(active, "-active")
        subtitle = "active" if active else ""
        if (self.border_subtitle or "") != subtitle:
            self.border_subtitle = subtitle
        set_text(self, tile_text(coverage, active))


class CoverageMap(Widget):
    """The scalp map. Call :meth:`show` with the coverage model's zones and its active zone."""

    def compose(self) -> ComposeResult:
        yield Label("Scalp from above · front ▲", classes="map-caption")
        with Grid(classes="map-grid"):
            for zone in _LAYOUT:
                yield ZoneTile(zone) if zone is not None else Static(classes="map-blank")
        with Horizontal(classes="map-legend"):
            for name, text in LEGEND:
                yield Static(text, classes=f"legend-swatch {name}", markup=False)
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
