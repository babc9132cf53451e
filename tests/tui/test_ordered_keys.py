"""Keys typed ahead land in the field they were meant for (``stampside.app.tui.ordered_keys``).

Each test posts its keys to the app in one burst, the way a terminal delivers keys typed
faster than the app handles them (a fast typist on a busy machine, a foot switch, a barcode
scanner, tmux ``send-keys``), and only then lets the app run. Handed on as they arrive,
the keys after ``tab`` or ``enter`` would all go to the field that had the focus before
them (Textual routes a key when it is read; the focus moves only when the key that moves
it has travelled through the queues). The app holds them until each has settled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from textual import events, on
from textual.app import ComposeResult
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, Select

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.screening import latest_screening
from stampside.app.tui.app import AppConfig, create_app
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.ordered_keys import OrderedKeys
from stampside.app.tui.screens.screening import ScreeningScreen
from stampside.app.tui.screens.start import StartScreen

from .course_helpers import TODAY, Clock, seed, wait_for
from .sign_in_helpers import past_sign_in, sign_with_pin


def burst(pilot: Pilot[None], *keys: str) -> None:
    """Post ``keys`` to the app at once, without letting it handle any of them in between."""
    for key in keys:
        character = key if len(key) == 1 else None
        pilot.app.post_message(events.Key(key, character))


async def settled(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, OrderedKeys)
    await wait_for(pilot, lambda: app.keys_waiting == 0 and app._key_in_flight is None)
    await pilot.pause()


class Form(OrderedKeys):
    """Two fields, a list, a field: enter in the second field moves on to the list."""

    def compose(self) -> ComposeResult:
        yield Input(id="first")
        yield Input(id="second")
        yield Select([("one", 1), ("two", 2), ("three", 3)], prompt="choose", id="choice")
        yield Input(id="last")

    @on(Input.Submitted, "#second")
    def _next(self) -> None:
        self.query_one("#choice", Select).focus()


async def test_keys_typed_ahead_of_tab_enter_and_an_opening_list_land_where_they_were_meant() -> None:
    app = Form()
    async with app.run_test() as pilot:
        await pilot.pause()
        burst(pilot, "1", "2", "tab", "3", "4", "enter", "enter", "down", "down", "enter", "tab", "x", "y")
        await settled(pilot)
        assert app.query_one("#first", Input).value == "12"
        assert app.query_one("#second", Input).value == "34"
        assert app.query_one("#choice", Select).value == 2
        assert app.query_one("#last", Input).value == "xy"


class Stuck(Widget, can_focus=True):
    """A widget whose handler of ``w`` waits until it is released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.seen: list[str] = []

    async def on_key(self, event: events.Key) -> None:
        self.seen.append(event.key)
        if event.key == "w":
            await self.release.wait()


class StuckApp(OrderedKeys):
    KEY_SETTLE_S = 0.05

    def compose(self) -> ComposeResult:
        yield Stuck()


async def test_a_key_whose_handler_waits_does_not_hold_the_keys_after_it_for_ever() -> None:
    app = StuckApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        stuck = app.query_one(Stuck)
        burst(pilot, "w", "a", "b")
        # The pilot's own waits wait for every queue, the stuck one too: plain sleeps here.
        async with asyncio.timeout(10):
            while not (stuck.seen == ["w"] and app.keys_waiting == 0):  # handed on while "w" is being handled
                await asyncio.sleep(0.01)
        stuck.release.set()
        await wait_for(pilot, lambda: stuck.seen == ["w", "a", "b"])


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.delenv("STAMPSIDE_PHOTOS", raising=False)
    database = open_database(str(tmp_path / "stampside.db"))
    yield database
    database.close()


async def test_the_screening_form_typed_ahead_in_one_burst_keeps_every_value_in_its_field(db: Database) -> None:
    """The values a loaded machine once put one field off (a date in a value field, "taken" in a date field)."""
    _, patient = seed(db)
    url = db.engine.url.render_as_string(hide_password=False)
    app = create_app(AppConfig(database=url, protocol=default_protocol(), clock=Clock(), tz=UTC))
    labs = default_protocol().screening.labs
    taken = (TODAY - timedelta(days=10)).isoformat()
    async with app.run_test(size=(110, 40)) as pilot:
        await past_sign_in(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and bool(app.screen.query("#patients")))
        await app.workers.wait_for_complete()
        start = app.screen
        assert isinstance(start, StartScreen)
        start.select_patient(patient.id)
        await pilot.pause()
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("enter")  # open the screening form
        await wait_for(pilot, lambda: isinstance(app.screen, ScreeningScreen) and app.screen.focused is not None)
        form = app.screen
        await wait_for(pilot, lambda: "P-0042" in str(form.query_one("#screening-title").render()))  # loaded
        keys: list[str] = ["tab", "enter", "down", "enter"]  # sex: male
        keys += ["tab", "enter", "down", "enter"]  # smoker: no
        keys += ["tab", "enter", "down", "down", "down", "down", "enter"]  # Norwood: 3
        for index in range(len(labs)):
            keys += ["tab", *taken, "tab", "enter", "down", "enter", "tab", *f"{10 + index}"]
        burst(pilot, *keys, "ctrl+s")
        await settled(pilot)
        await sign_with_pin(pilot)  # the verdict is signed before it is stored
        await wait_for(pilot, lambda: "Eligible" in str(form.query_one("#verdict").render()))
        for index, lab in enumerate(labs):
            assert form.query_one(f"#lab-{lab.id}-date", Input).value == taken
            assert form.query_one(f"#lab-{lab.id}-flag", Select).value == "normal"
            assert form.query_one(f"#lab-{lab.id}-value", Input).value == f"{10 + index}"
        assert (form.query_one("#sex", Select).value, form.query_one("#smoker", Select).value) == ("male", "no")
    with db.Session.begin() as s:
        stored = latest_screening(s, patient.id, protocol=default_protocol())
    assert stored is not None and stored.result.eligible
