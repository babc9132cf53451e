"""Tick boxes read ``[ ]`` / ``[x]``: never Textual's ``▐X▌``, whose X is there even when unticked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import SelectionList

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.database import Database, open_database
from stampside.app.tui.screens.screening import ScreeningScreen
from stampside.app.tui.widgets.check_list import TICKED, UNTICKED, CheckList

from .course_helpers import SIZE, Clock, Host, context, seed, settle

#: What Textual's SelectionList and Checkbox draw for a box (in some terminals the X reads as ticked).
BUTTON_GLYPHS = ("▐", "▌")


def lines(widget: CheckList[str]) -> list[str]:
    """The widget's lines as drawn inside its border, one per option."""
    return [widget.render_line(y).text.rstrip() for y in range(widget.option_count)]


class ListApp(App[None]):
    def __init__(self, checks: CheckList[str]) -> None:
        super().__init__()
        self.checks = checks

    def compose(self) -> ComposeResult:
        yield self.checks


async def test_unticked_and_ticked_boxes_read_as_words() -> None:
    checks = CheckList[str](("Active scalp infection", "infection"), ("Keloid history", "keloid", True), id="checks")
    async with ListApp(checks).run_test(size=(50, 6)) as pilot:
        await pilot.pause()
        assert lines(checks) == ["[ ] Active scalp infection", "[x] Keloid history"]
        assert checks.selected == ["keloid"]
        checks.focus()
        await pilot.press("space")  # the highlighted (first) option
        await pilot.pause()
        assert lines(checks) == ["[x] Active scalp infection", "[x] Keloid history"]
        await pilot.click(CheckList, offset=(3, 2))  # the second box (inside the border and padding)
        await pilot.pause()
        assert lines(checks) == ["[x] Active scalp infection", "[ ] Keloid history"]
        assert checks.selected == ["infection"]
        assert not any(glyph in line for line in lines(checks) for glyph in BUTTON_GLYPHS)


async def test_a_ticked_box_is_also_bold_in_colour_and_an_unticked_one_is_plain() -> None:
    checks = CheckList[str](("one", "1"), ("two", "2"), ("three", "3", True))
    async with ListApp(checks).run_test(size=(30, 5)) as pilot:
        await pilot.pause()
        # Option 0 has the highlight; 1 and 2 are drawn plain.
        unticked, ticked = (next(iter(checks.render_line(y))) for y in (1, 2))
        assert (unticked.text, ticked.text) == (UNTICKED, TICKED)
        assert ticked.style is not None and ticked.style.bold
        assert unticked.style is not None and not unticked.style.bold
        assert ticked.style.color != unticked.style.color


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(str(tmp_path / "stampside.db"))
    yield database
    database.close()


async def test_the_screening_forms_contraindications_read_unticked_then_ticked(db: Database) -> None:
    _, patient = seed(db)
    app = Host(lambda: ScreeningScreen(context(db, Clock()), patient.id))
    labels = [item.label for item in default_protocol().screening.contraindications]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        found = app.screen.query_one("#contraindications", SelectionList)
        assert isinstance(found, CheckList)
        assert lines(found) == [f"{UNTICKED} {label}" for label in labels]
        found.select(found.get_option_at_index(0).value)
        await pilot.pause()
        assert lines(found) == [f"{TICKED} {labels[0]}", *(f"{UNTICKED} {label}" for label in labels[1:])]
        assert not any(glyph in line for line in lines(found) for glyph in BUTTON_GLYPHS)
