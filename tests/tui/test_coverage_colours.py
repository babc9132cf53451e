"""The coverage map in every colour mode: truecolor, 256 colours, 16 colours and monochrome.

The palettes are checked the way Rich downgrades them, and the map itself is rendered and its
cells read back as the terminal would get them (each background as the escape code Textual
writes for a console of that colour system), so a level that looks like its neighbour, like
"not treated" or like the screen behind the map fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations

import pytest
from rich._palettes import EIGHT_BIT_PALETTE, STANDARD_PALETTE
from rich.color import Color, ColorSystem
from textual import constants
from textual.app import App
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from stampside.app.domain.coverage import LEVELS, TARGET_LEVEL, ZoneCoverage, coverage_level, level_bounds
from stampside.app.domain.zones import Zone
from stampside.app.tui.widgets.coverage_map import (
    LEGEND_LEVELS,
    PALETTES,
    ColourMode,
    CoverageLegend,
    CoverageMap,
    ZoneTile,
    colour_mode,
    fill_around,
    level_label,
    level_style,
    tile_text,
)

from .test_widgets import WidgetApp

#: The colour system each palette is drawn in (16 colours: also the legacy Windows console).
SYSTEMS = [
    (ColourMode.TRUECOLOR, ColorSystem.TRUECOLOR),
    (ColourMode.EIGHT_BIT, ColorSystem.EIGHT_BIT),
    (ColourMode.STANDARD, ColorSystem.STANDARD),
    (ColourMode.STANDARD, ColorSystem.WINDOWS),
]


def theme_colours() -> dict[str, str]:
    """The default theme's background and surface: what can be behind the map."""
    variables = App().get_css_variables()
    return {name: variables[name] for name in ("background", "surface")}


def downgraded(colour: str, system: ColorSystem) -> tuple[int | None, tuple[int, int, int] | None]:
    down = Color.parse(colour[:7]).downgrade(system)
    return down.number, (tuple(down.triplet) if down.triplet is not None else None)  # type: ignore[return-value]


# -- the levels are the domain's ------------------------------------------------------------------


def test_the_levels_and_their_legend_words() -> None:
    assert LEVELS == (0, 1, 2, 3, 4, 5)
    assert [level_bounds(level) for level in LEVELS] == [(0, 19), (20, 39), (40, 59), (60, 79), (80, 99), (100, 100)]
    assert [level_label(level) for level in LEGEND_LEVELS] == [
        "<20%",
        "20–39",
        "40–59",
        "60–79",
        "80–99",
        "100 ✓",
        "not treated",
    ]
    assert coverage_level(99.99, reached=False) == 4
    assert coverage_level(100.0, reached=True) == TARGET_LEVEL
    with pytest.raises(ValueError, match="0–5"):
        level_bounds(6)


# -- the colour mode ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("color_system", "no_color", "mode"),
    [
        ("truecolor", False, ColourMode.TRUECOLOR),
        ("256", False, ColourMode.EIGHT_BIT),
        ("standard", False, ColourMode.STANDARD),
        ("windows", False, ColourMode.STANDARD),
        (None, False, ColourMode.MONOCHROME),
        ("truecolor", True, ColourMode.MONOCHROME),
        ("256", True, ColourMode.MONOCHROME),
    ],
)
def test_the_colour_mode_follows_the_console_and_no_color(
    color_system: str | None, no_color: bool, mode: ColourMode
) -> None:
    assert colour_mode(color_system, no_color) is mode


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A terminal described by environment variables only (Textual reads them when an app is made)."""
    if constants.COLOR_SYSTEM != "auto":
        pytest.skip("TEXTUAL_COLOR_SYSTEM is set: the terminal's own variables are not read")
    for name in ("NO_COLOR", "COLORTERM", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


@pytest.mark.parametrize(
    ("variables", "mode"),
    [
        ({"TERM": "xterm-256color", "COLORTERM": "truecolor"}, ColourMode.TRUECOLOR),
        ({"TERM": "xterm-256color"}, ColourMode.EIGHT_BIT),
        ({"TERM": "xterm"}, ColourMode.STANDARD),
        ({"TERM": "xterm-256color", "COLORTERM": "truecolor", "NO_COLOR": "1"}, ColourMode.MONOCHROME),
        ({"TERM": "dumb"}, ColourMode.MONOCHROME),
    ],
    ids=["truecolor", "256", "16", "NO_COLOR", "dumb"],
)
async def test_the_map_takes_the_colour_mode_of_the_terminal(
    terminal: pytest.MonkeyPatch, variables: dict[str, str], mode: ColourMode
) -> None:
    for name, value in variables.items():
        terminal.setenv(name, value)
    the_map = CoverageMap()
    async with WidgetApp(the_map).run_test(size=(70, 28)):
        assert the_map.colours is mode
        assert the_map.has_class(f"-colours-{mode.value}")
        assert {tile.colours for tile in the_map.query(ZoneTile)} == {mode}


# -- the palettes, as Rich downgrades them --------------------------------------------------------


@pytest.mark.parametrize(("mode", "system"), SYSTEMS, ids=lambda value: getattr(value, "name", None))
def test_every_level_untreated_and_the_background_differ_after_the_downgrade(
    mode: ColourMode, system: ColorSystem
) -> None:
    styles = {level_label(level): level_style(mode, level) for level in LEGEND_LEVELS}
    tiles = {label: downgraded(style.background or "", system) for label, style in styles.items()}
    for (one, a), (other, b) in combinations(tiles.items(), 2):
        assert a != b, f"{one!r} and {other!r} are the same colour in {system.name}: {a}"
    for name, colour in theme_colours().items():
        behind = downgraded(colour, system)
        for label, tile in tiles.items():
            assert tile != behind, f"{label!r} is the theme's {name} in {system.name}: {tile}"


def test_the_256_and_16_colour_palettes_are_exact_palette_entries() -> None:
    """Nothing is rounded: the colour the palette names is the one the terminal is asked for."""
    for mode, system, entries in (
        (ColourMode.EIGHT_BIT, ColorSystem.EIGHT_BIT, EIGHT_BIT_PALETTE),
        (ColourMode.STANDARD, ColorSystem.STANDARD, STANDARD_PALETTE),
    ):
        for style in PALETTES[mode]:
            assert style.background is not None
            colour = Color.parse(style.background)
            down = colour.downgrade(system)
            assert down.number is not None and entries[down.number] == colour.triplet, style


def _luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = Color.parse(colour).get_truecolor()
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


@pytest.mark.parametrize("mode", [ColourMode.TRUECOLOR, ColourMode.EIGHT_BIT])
def test_the_numbers_on_each_level_are_readable(mode: ColourMode) -> None:
    for level in LEGEND_LEVELS:
        style = level_style(mode, level)
        assert style.background is not None and style.color is not None
        light, dark = sorted((_luminance(style.background), _luminance(style.color)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, f"level {level} text contrast in {mode.name}"


def test_monochrome_fills_every_level_with_its_own_character_and_leaves_untreated_blank() -> None:
    fills = [level_style(ColourMode.MONOCHROME, level).fill for level in LEGEND_LEVELS]
    assert fills == ["·", ":", "░", "▒", "▓", "█", " "]
    assert all(style.background is None for style in PALETTES[ColourMode.MONOCHROME])


def test_the_fill_goes_around_the_words_with_a_margin() -> None:
    assert fill_around("ab\ncde", "░", 9, 6).split("\n") == [
        "░░░░░░░░░",
        "░░     ░░",
        "░░ ab  ░░",
        "░░ cde ░░",
        "░░     ░░",
        "░░░░░░░░░",
    ]
    assert fill_around("Left temporal", ":", 8, 2) == "Left\ntemporal"  # no room: the words only
    assert fill_around("x", ":", 0, 0) == "x"


# -- the map as the terminal gets it ---------------------------------------------------------------


def cells(strip: Strip, system: ColorSystem) -> list[tuple[str, str]]:
    """(character, background) of each cell: the background as the escape code for ``system``.

    The code is made the way Textual makes it for its output (``Strip.render_ansi``: the colour
    downgraded to the console's colour system), without touching the styles' own caches.
    """
    result: list[tuple[str, str]] = []
    for text, style, _ in strip:
        bgcolor = style.bgcolor if style is not None else None
        code = "default" if bgcolor is None else ";".join(bgcolor.downgrade(system).get_ansi_codes(foreground=False))
        result.extend((char, code) for char in text)
    return result


def drawn(widget: Widget, system: ColorSystem) -> list[list[tuple[str, str]]]:
    """Every line of a widget, border and padding included, as cells."""
    return [cells(strip, system) for strip in widget.render_lines(Region(0, 0, *widget.outer_size))]


def inside(widget: Widget, system: ColorSystem) -> list[tuple[str, str]]:
    """The cells of a widget within its border."""
    return [cell for line in drawn(widget, system)[1:-1] for cell in line[1:-1]]


def legend_entries(legend: CoverageLegend, system: ColorSystem) -> tuple[str, dict[str, str]]:
    """The legend's text, and the background of each entry's words."""
    row = [cell for line in drawn(legend, system) for cell in line]
    text = "".join(char for char, _ in row)
    backgrounds = {}
    for level in LEGEND_LEVELS:
        label = level_label(level)
        at = text.index(label)
        backgrounds[label] = row[at][1]
    return text, backgrounds


def at_level(zone: Zone, level: int | None) -> ZoneCoverage:
    """A zone's figures at a level (``None``: not treated)."""
    percent = 0.0 if level is None else (100.0 if level == TARGET_LEVEL else level * 20 + 5.0)
    return ZoneCoverage(
        zone=zone,
        treated=level is not None,
        area_cm2=50.0,
        target_density=2.0,
        stamps=int(percent),
        covered_cm2=percent,
        target_cm2=100.0,
        percent=percent,
        reached=level == TARGET_LEVEL,
        stamps_to_target=100 - int(percent),
    )


#: Two pictures of the five zones that, between them, show every level and "not treated".
ROUNDS: tuple[dict[Zone, int | None], ...] = (
    {Zone.FRONTAL: 0, Zone.MID_SCALP: 1, Zone.VERTEX: 2, Zone.LEFT_TEMPORAL: 3, Zone.RIGHT_TEMPORAL: 4},
    {Zone.FRONTAL: 5, Zone.MID_SCALP: None, Zone.VERTEX: 2, Zone.LEFT_TEMPORAL: 3, Zone.RIGHT_TEMPORAL: 4},
)


@dataclass
class Rendered:
    """The map drawn at every level, as the terminal got it."""

    #: Each level's (None: not treated) cells inside its tile.
    tiles: dict[int | None, list[tuple[str, str]]] = field(default_factory=dict)
    #: Each level's tile text.
    words: dict[int | None, str] = field(default_factory=dict)
    #: The cells of an empty grid square: the screen behind the map.
    behind: list[tuple[str, str]] = field(default_factory=list)
    legend_text: str = ""
    #: The background of each legend entry's words, by the entry's words.
    legend_backgrounds: dict[str, str] = field(default_factory=dict)


async def render_levels(the_map: CoverageMap, system: ColorSystem) -> Rendered:
    rendered = Rendered()
    async with WidgetApp(the_map).run_test(size=(76, 30)) as pilot:
        for levels in ROUNDS:
            zones = [at_level(zone, level) for zone, level in levels.items()]
            the_map.show(zones, Zone.VERTEX)
            await pilot.pause()
            for coverage in zones:
                level = coverage.level if coverage.treated else None
                rendered.tiles[level] = inside(the_map.tile(coverage.zone), system)
                rendered.words[level] = tile_text(coverage, coverage.zone == Zone.VERTEX)
        blank = the_map.query(".map-blank").first(Static)
        rendered.behind = [cell for line in drawn(blank, system) for cell in line]
        rendered.legend_text, rendered.legend_backgrounds = legend_entries(the_map.query_one(CoverageLegend), system)
    assert set(rendered.tiles) == set(LEGEND_LEVELS)
    return rendered


@pytest.mark.parametrize(("mode", "system"), SYSTEMS, ids=lambda value: getattr(value, "name", None))
async def test_every_level_has_its_own_background_in_the_rendered_map(
    mode: ColourMode, system: ColorSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)  # with it, Textual greys every colour out
    rendered = await render_levels(CoverageMap(mode), system)
    backgrounds: dict[int | None, str] = {}
    for level, tile_cells in rendered.tiles.items():
        found = {background for _, background in tile_cells}
        assert len(found) == 1, f"level {level}: one background inside the tile, got {found}"
        backgrounds[level] = found.pop()
    for (one, a), (other, b) in combinations(backgrounds.items(), 2):
        assert a != b, f"levels {one} and {other} are both {a} in {system.name}"
    screen = {background for _, background in rendered.behind}
    assert len(screen) == 1
    assert screen.isdisjoint(backgrounds.values()), f"a level is the map's background {screen} in {system.name}"
    for level in LEGEND_LEVELS:  # the legend shows each level in the tiles' colour
        assert rendered.legend_backgrounds[level_label(level)] == backgrounds[level]


async def test_in_monochrome_every_level_has_its_own_fill_character(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    the_map = CoverageMap()
    rendered = await render_levels(the_map, ColorSystem.TRUECOLOR)
    assert the_map.colours is ColourMode.MONOCHROME
    fills: dict[int | None, frozenset[str]] = {}
    for level, tile_cells in rendered.tiles.items():
        text = "".join(char for char, _ in tile_cells)
        for line in rendered.words[level].split("\n"):
            assert line in text  # the words are all there
        fills[level] = frozenset(text) - set(rendered.words[level]) - {" "}
    assert fills[None] == frozenset(), "a zone not treated has no pattern"
    assert all(len(fills[level]) == 1 for level in LEVELS)
    for (one, a), (other, b) in combinations(fills.items(), 2):
        assert a != b, f"levels {one} and {other} both fill with {set(a)}"
    for level in LEGEND_LEVELS:  # the legend shows each fill with its words
        fill = level_style(ColourMode.MONOCHROME, level).fill
        assert f"[{fill * 2}] {level_label(level)}" in rendered.legend_text
