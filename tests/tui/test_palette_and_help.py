"""The command palette carries the app's actions on every screen, and ``?`` shows the screen's keys.

Pilot tests on the real app and a tmp SQLite file: the palette lists the start screen's
actions (new patient, screening, photos, outcomes, course report, resume, export) and the
stamping screen's (change zone, arm, disarm); running an entry does what its key does;
Screenshot saves an SVG into the data folder and Export stamps a CSV; the palette never
offers Textual's own Screenshot, which could not save here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.domain.zones import Zone
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.tui.app import AppConfig, StampsideApp, create_app
from stampside.app.tui.dialogs.help import HelpDialog
from stampside.app.tui.dialogs.new_patient import NewPatientDialog
from stampside.app.tui.dialogs.override import OverrideDialog
from stampside.app.tui.screens.stamping import StampingScreen
from stampside.app.tui.screens.start import StartScreen
from tests.tui.session_helpers import PRACTITIONER, MovableClock, seed, wait_for
from tests.tui.sign_in_helpers import past_sign_in

SIZE = (100, 30)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "clinic" / "stampside.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    db_path.parent.mkdir(parents=True)
    database = open_database(str(db_path))
    with database.Session.begin() as s:
        add_practitioner(s, PRACTITIONER)  # who signs in
    yield database
    database.close()


def make(db_path: Path) -> StampsideApp:
    clock = MovableClock(datetime(2026, 11, 26, 14, 5, tzinfo=UTC))
    return create_app(AppConfig(database=str(db_path), protocol=default_protocol(), clock=clock, tz=UTC))


async def ready(pilot: Pilot[None]) -> StartScreen:
    """The start screen, composed, once signed in."""
    app = pilot.app
    await past_sign_in(pilot)
    await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and bool(app.screen.query("#patients")))
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, StartScreen)
    return screen


async def palette_entries(pilot: Pilot[None], query: str = "") -> list[str]:
    """Open the palette (ctrl+p), type ``query``, and read the names it lists."""
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))
    palette = pilot.app.screen
    if query:
        await pilot.press(*query)
    results = palette.query_one("CommandList", OptionList)

    def names() -> list[str]:
        return [str(results.get_option_at_index(i).prompt).split("\n")[0] for i in range(results.option_count)]

    # The palette gathers every provider's hits in the background: wait until the list stops changing.
    seen: list[list[str]] = [[]]

    def settled() -> bool:
        now = names()
        steady = bool(now) and now == seen[-1]
        seen.append(now)
        return steady

    while not settled():
        await pilot.pause(0.2)
    return seen[-1]


async def test_the_palette_lists_the_start_screens_actions_and_runs_them(db_path: Path, db: Database) -> None:
    app = make(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        names = await palette_entries(pilot)
        for wanted in (
            "New patient",
            "Screening",
            "Photos",
            "Outcomes",
            "Course report",
            "Resume open session",
            "Export stamps",
            "Screenshot",
            "Help",
        ):
            assert wanted in names, names
        assert names.count("Screenshot") == 1 and names.count("Quit") == 1, "Textual's own are replaced"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))

        await palette_entries(pilot, "new patient")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewPatientDialog))


async def test_the_palette_saves_a_screenshot_and_exports_the_stamps_into_the_data_folder(
    db_path: Path, db: Database
) -> None:
    seed(db)
    app = make(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await palette_entries(pilot, "screenshot")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.last_screenshot is not None)
        shot = app.last_screenshot
        assert shot is not None and shot.parent == db_path.parent / "screenshots"
        assert shot.suffix == ".svg" and "<svg" in shot.read_text(encoding="utf-8")[:500]

        await palette_entries(pilot, "export stamps")
        await pilot.press("enter")
        exports = db_path.parent / "exports"
        await wait_for(pilot, lambda: exports.is_dir() and any(exports.glob("stamps-*.csv")))
    [exported] = exports.glob("stamps-*.csv")
    with exported.open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[:3] == ["device_serial", "boot", "seq"]


async def test_the_palette_on_the_stamping_screen_changes_zone_and_offers_arm_and_disarm(
    db_path: Path, db: Database
) -> None:
    app = make(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        treated = {Zone.FRONTAL, Zone.MID_SCALP, Zone.VERTEX}
        screen = StampingScreen.for_protocol(default_protocol(), treated, 90, active=Zone.FRONTAL)
        await app.push_screen(screen)
        await wait_for(pilot, lambda: app.screen is screen)
        names = await palette_entries(pilot)
        for zone in Zone:
            assert f"Change zone: {zone.label}" in names
        assert {"Next zone", "Arm", "Disarm", "Finish stamping", "Zone area"} <= set(names)
        await pilot.press("escape")
        await palette_entries(pilot, "change zone: vertex")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.coverage.active is Zone.VERTEX)


async def test_question_mark_shows_the_screens_keys_and_what_it_needs(db_path: Path, db: Database) -> None:
    app = make(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpDialog))
        keys = str(app.screen.query_one("#help-keys", Static).content)
        assert "Start / resume" in keys and "New patient" in keys and "ctrl+p" in keys
        assert "s starts the patient's next session" in str(app.screen.query_one("#help-requires", Static).content)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))

        screen = StampingScreen.for_protocol(default_protocol(), {Zone.VERTEX}, 90, active=Zone.VERTEX)
        await app.push_screen(screen)
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpDialog))
        keys = str(app.screen.query_one("#help-keys", Static).content)
        assert "Finish step" in keys and "Frontal" in keys and "Next zone" in keys
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)


async def test_the_palette_on_a_step_screen_offers_the_steps_actions(db_path: Path, db: Database) -> None:
    from dataclasses import replace

    from tests.tui.test_snapshots import PASSING, checks_screen

    app = make(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = checks_screen(replace(PASSING, needle_um=1500))  # a failing check to override
        await app.push_screen(screen)
        await wait_for(pilot, lambda: app.screen is screen)
        names = await palette_entries(pilot)
        assert {"Next step", "Override a check", "Help", "Screenshot", "Export stamps"} <= set(names), names
        await pilot.press("escape")
        await palette_entries(pilot, "override a check")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OverrideDialog))
