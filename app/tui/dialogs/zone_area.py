"""Edit the active zone's area in cm² (the coverage target scales with it)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Label

from stampside.app.domain.zone_area import parse_zone_area
from stampside.app.tui.dialogs.entry import EntryDialog


class ZoneAreaDialog(EntryDialog[float]):
    """Dismisses with the new area in cm², or ``None`` on escape; a bad value is explained in place."""

    def __init__(self, zone_label: str, area_cm2: float, default_cm2: float) -> None:
        super().__init__(title=f"Area of {zone_label}", field_id="zone-area", value=f"{area_cm2:g}")
        self._default = default_cm2

    def compose_intro(self) -> Iterable[Widget]:
        yield Label(
            f"In cm² (default {self._default:g} cm²). The coverage target is area × target density.",
            classes="dialog-text",
        )

    def accept(self, text: str) -> float:
        return parse_zone_area(text)  # ZoneAreaError is a ValueError: shown in place
