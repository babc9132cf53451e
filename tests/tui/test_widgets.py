"""The stamping widgets: their formatting, and each mounted alone in a tiny app."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget

from stampside.app.domain.coverage import CoverageModel, coverage_level
from stampside.app.domain.treatment_protocol import ForceQuality, ForceThresholds
from stampside.app.domain.zones import Zone
from stampside.app.tui.widgets.coverage_map import (
    ACTIVE_MARK,
    CoverageMap,
    format_percent,
    tile_text,
)
from stampside.app.tui.widgets.force_meter import ForceBars, ForceMeter, bar_rows, format_bands, format_quality
from stampside.app.tui.widgets.live_text import LiveText, align_lines, wrap_lines
from stampside.app.tui.widgets.stamp_counter import StampCounter, format_elapsed
from stampside.app.tui.widgets.status_bar import (
    LinkStatus,
    LinkStatusBar,
    describe_link,
    describe_state,
    format_duration,
)
from stampside.devicelink.state import LinkState

THRESHOLDS = ForceThresholds(too_light_below_n=4.0, too_hard_above_n=9.0)


class WidgetApp(App[None]):
    def __init__(self, *widgets: Widget) -> None:
        super().__init__(css_path="../../app/tui/styles/widgets.tcss")
        self._widgets = widgets

    def compose(self) -> ComposeResult:
        yield from self._widgets


def text_of(widget: Widget) -> str:
    return str(widget.render())


# -- status bar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (3.9, "3 s"), (59, "59 s"), (65, "1 min 05 s"), (3725, "1 h 02 min"), (-2, "0 s")],
)
def test_durations_read_as_seconds_minutes_hours(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_bar_says_how_long_the_link_has_been_down() -> None:
    lost = LinkStatus(LinkState.RECONNECTING, serial="SS-1", battery_pct=40, head_id="H-9", down_since=100.0)
    assert describe_state(lost, now=103.2) == "↻ reconnecting 3 s"
    assert describe_state(LinkStatus(LinkState.LOST, down_since=100.0), now=170.0) == "✖ link lost 1 min 10 s"
    assert describe_state(LinkStatus(LinkState.CONNECTED, down_since=100.0), now=170.0) == "● connected"
    text = describe_link(lost, now=103.2)
    assert "Device SS-1" in text
    assert "Battery 40%" in text
    assert "Head H-9" in text


def test_the_bar_shows_dashes_for_unknown_device_details() -> None:
    assert describe_link(LinkStatus(LinkState.CONNECTING), now=0) == (
        " Link: connecting  │  Device —  │  Battery —  │  Head —"
    )


async def test_the_bar_takes_the_class_of_its_state_and_updates() -> None:
    now = [50.0]
    bar = LinkStatusBar(LinkStatus(LinkState.CONNECTED, serial="SS-7"), clock=lambda: now[0])
    async with WidgetApp(bar).run_test(size=(100, 5)) as pilot:
        assert bar.has_class("-connected")
        assert "● connected" in text_of(bar)
        bar.status = LinkStatus(LinkState.LOST, serial="SS-7", down_since=45.0)
        await pilot.pause()
        assert bar.has_class("-lost")
        assert not bar.has_class("-connected")
        assert "link lost 5 s" in text_of(bar)


# -- coverage map -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "reached", "level"),
    [(None, False, 0), (0.0, False, 0), (19.9, False, 0), (20.0, False, 1), (63.0, False, 3), (99.9, False, 4)],
)
def test_coverage_levels_step_by_twenty_percent(percent: float | None, reached: bool, level: int) -> None:
    assert coverage_level(percent, reached) == level


def test_only_a_reached_zone_takes_the_top_level_and_shows_100() -> None:
    assert coverage_level(100.0, True) == 5
    assert format_percent(99.96, False) == "99%"
    assert format_percent(100.0, True) == "100% ✓"
    assert format_percent(63.4, False) == "63%"


def test_a_tile_shows_the_zone_its_numbers_and_the_markers() -> None:
    model = CoverageModel([Zone.FRONTAL], 2.0, 100)
    for seq in range(76):
        model.add_stamp(1, seq, 0)
    assert tile_text(model.zone(Zone.FRONTAL), active=True) == f"Frontal\n63%\n76 stamps\n{ACTIVE_MARK}"
    assert tile_text(model.zone(Zone.VERTEX), active=False) == "Vertex\nnot treated\n0 stamps"


async def test_the_map_colours_and_labels_each_zone() -> None:
    model = CoverageModel([Zone.FRONTAL, Zone.LEFT_TEMPORAL], 2.0, 100, active=Zone.LEFT_TEMPORAL)
    for seq in range(50):
        model.add_stamp(1, seq, 0)
    for seq in range(100, 176):
        model.add_stamp(1, seq, int(Zone.FRONTAL))
    the_map = CoverageMap()
    async with WidgetApp(the_map).run_test(size=(70, 28)) as pilot:
        the_map.show(model.zones(), model.active)
        await pilot.pause()
        frontal = the_map.tile(Zone.FRONTAL)
        left = the_map.tile(Zone.LEFT_TEMPORAL)
        vertex = the_map.tile(Zone.VERTEX)
        assert frontal.has_class("-level-3") and "63%" in text_of(frontal)
        assert left.has_class("-level-5") and left.has_class("-active") and "100% ✓" in text_of(left)
        assert vertex.has_class("-untreated") and not vertex.has_class("-level-0")
        assert frontal.border_title == "f"
        assert not frontal.has_class("-active")


# -- stamp counter and force meter ----------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [(0, "00:00"), (247.9, "04:07"), (3723, "1:02:03")])
def test_elapsed_time_reads_as_a_clock(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text


async def test_the_counter_shows_count_rate_and_elapsed() -> None:
    counter = StampCounter()
    async with WidgetApp(counter).run_test(size=(60, 10)) as pilot:
        counter.show(1234, 178.6, 247)
        await pilot.pause()
        assert counter.text == "1234 stamps  179 /min  ·  04:07 elapsed"


def test_force_quality_reads_in_words() -> None:
    assert format_quality(None, None) == "– no stamp yet"
    assert format_quality(ForceQuality.TOO_LIGHT, 3.2) == "▼ TOO LIGHT  3.2 N"
    assert format_quality(ForceQuality.GOOD, 6.0) == "✓ GOOD  6.0 N"
    assert format_quality(ForceQuality.TOO_HARD, 10.5) == "▲ TOO HARD  10.5 N"
    assert format_bands(THRESHOLDS) == "good 4–9 N"


async def test_the_force_meter_shows_quality_class_and_sparkline() -> None:
    meter = ForceMeter(THRESHOLDS)
    async with WidgetApp(meter).run_test(size=(60, 10)) as pilot:
        meter.show(ForceQuality.TOO_HARD, 10.5, [5.0, 6.5, 10.5])
        await pilot.pause()
        quality = meter.query_one("#force-quality")
        assert "TOO HARD" in meter.text
        assert quality.has_class("-too-hard") and not quality.has_class("-good")
        assert meter.query_one(ForceBars).data == [5.0, 6.5, 10.5]


async def test_a_header_whose_title_is_gone_takes_a_title_change_without_stopping_the_app() -> None:
    """Textual's own header raises NoMatches here (seen once as a crash at the end of a stamping step)."""
    from textual.widgets._header import HeaderTitle

    from stampside.app.tui.widgets.header import AppHeader

    class HeaderApp(App[None]):
        def compose(self) -> ComposeResult:
            yield AppHeader()

    app = HeaderApp()
    async with app.run_test() as pilot:
        header = app.query_one(AppHeader)
        app.sub_title = "first"
        await pilot.pause()
        assert "first" in str(header.query_one(HeaderTitle).render())
        await header.query_one(HeaderTitle).remove()  # as while the header's screen is being removed
        app.sub_title = "second"
        await pilot.pause()
        assert app.is_running and app._exception is None


def test_the_banner_counts_seconds_in_the_first_minute_then_whole_minutes() -> None:
    from datetime import UTC, datetime, timedelta

    from stampside.app.tui.widgets.session_banner import time_in_session

    start = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    shown = [time_in_session(start, start + timedelta(seconds=s)) for s in (12, 60, 61, 119, 840, 3725)]
    assert shown == [
        "12 s in session",
        "1 min in session",
        "1 min in session",  # unchanged for a minute: the banner is not redrawn every second
        "1 min in session",
        "14 min in session",
        "1 h 02 min in session",
    ]


def test_live_text_wraps_at_spaces_and_cuts_a_word_wider_than_the_line() -> None:
    assert wrap_lines("Area 60 cm² (a to edit)", 12) == ("Area 60 cm²", "(a to edit)")
    assert wrap_lines("short\n\nlines", 20) == ("short", "", "lines")
    assert wrap_lines("abcdefghij", 4) == ("abcd", "efgh", "ij")


def test_live_text_aligns_its_lines_in_the_box_as_its_css_says() -> None:
    assert align_lines(("ab",), 6, 3, "center", "middle") == ["      ", "  ab  ", "      "]
    assert align_lines(("ab",), 4, 2, "right", "bottom") == ["    ", "  ab"]
    assert align_lines(("abcdef", "x"), 4, 1, "left", "top") == ["abcd"]


async def test_live_text_draws_what_a_static_would_and_its_height_follows_the_wrapping() -> None:
    text = LiveText("Active zone: Frontal (f)\nArea 60 cm² (a to edit)")
    text.styles.width = 12
    async with WidgetApp(text).run_test(size=(40, 8)) as pilot:
        await pilot.pause()
        lines = [line.text.rstrip() for line in text.render_lines(text.content_region.reset_offset)]
        assert lines == ["Active zone:", "Frontal (f)", "Area 60 cm²", "(a to edit)"]
        assert text.size.height == 4


def test_force_bars_scale_each_force_to_eighths_of_the_rows_newest_on_the_right() -> None:
    rows = bar_rows([10.0, 5.0, 0.0, 0.1], top_n=10.0, width=3, height=2)
    # Only the newest three fit: 5 N is half the scale (8 of 16 eighths), 0 N nothing, 0.1 N a sliver.
    assert rows == [[0, 0, 0], [8, 0, 1]]
    assert bar_rows([10.0], top_n=10.0, width=5, height=2) == [[8], [8]]


async def test_force_bars_colour_each_force_by_its_quality() -> None:
    bars = ForceBars(THRESHOLDS)
    async with WidgetApp(bars).run_test(size=(20, 5)) as pilot:
        bars.show([2.0, 6.0, 12.0])
        await pilot.pause()
        bottom = bars.render_line(bars.size.height - 1)
        colours = [segment.style.color for segment in bottom if segment.text.strip()]
        light, good, hard = (
            bars.get_component_rich_style(f"force-bars--{name}").color for name in ("too-light", "good", "too-hard")
        )
        assert colours == [light, good, hard]
