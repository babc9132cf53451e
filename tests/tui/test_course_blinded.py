"""Blinded rating with the Pilot: pairs shown unlabeled in the seeded order, each call stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets import Static

from stampside.app.domain.outcomes import BlindedCall
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.courses import start_course
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.outcomes import blinded_round, list_blinded_ratings
from stampside.app.storage.photos import register_photo
from stampside.app.tui.screens.blinded import BlindedRatingScreen
from stampside.app.tui.widgets.photo_panel import PhotoPanel

from .course_helpers import NOW, SIZE, WHO, Clock, Host, context, make_jpeg, seed, settle, wait_for

SEED = 20261126


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(str(tmp_path / "stampside.db"))
    yield database
    database.close()


def text(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


async def test_each_call_is_stored_and_the_round_ends(db: Database, tmp_path: Path) -> None:
    _, patient = seed(db)
    photos = tmp_path / "photos"
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW - timedelta(days=60))
        for point, shade in (("baseline", 60), ("after_session_6", 120)):
            for view in ("vertex", "frontal"):
                source = make_jpeg(tmp_path / f"{point}-{view}.jpg", (shade, shade, shade))
                register_photo(
                    s,
                    source,
                    root=photos,
                    patient_id=patient.id,
                    course_id=course_id,
                    time_point=point,
                    view=view,
                    protocol=default_protocol(),
                    now=NOW - timedelta(days=1),
                )
        expected = blinded_round(s, seed=SEED)
    assert len(expected) == 2
    app = Host(lambda: BlindedRatingScreen(context(db, Clock(), photos=photos), SEED))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BlindedRatingScreen)
        left = screen.query_one("#left-photo", PhotoPanel)
        right = screen.query_one("#right-photo", PhotoPanel)
        await wait_for(pilot, lambda: left.has_image and right.has_image)
        progress = text(screen, "#blinded-progress")
        assert progress.startswith("Pair 1 of 2")
        shown = pilot.app.export_screenshot()
        assert "Baseline" not in shown and "After session" not in shown, "nothing says which is which"
        await pilot.press("left")
        await settle(pilot)
        await wait_for(pilot, lambda: text(screen, "#blinded-progress").startswith("Pair 2 of 2"))
        await pilot.press("0")
        await settle(pilot)
        await wait_for(pilot, lambda: "Round done: 2 calls stored" in text(screen, "#blinded-progress"))
        await pilot.press("right")  # nothing left to rate: ignored
        await settle(pilot)
    with db.Session.begin() as s:
        ratings = list_blinded_ratings(s, course_id=course_id)
    assert [(r.round_seed, r.pair, r.call, r.rater) for r in ratings] == [
        (SEED, expected[0], BlindedCall.LEFT, WHO),
        (SEED, expected[1], BlindedCall.SAME, WHO),
    ]
    assert ratings[0].improved is (expected[0].after_side.value == "left")


async def test_no_pairs_is_said_plainly(db: Database, tmp_path: Path) -> None:
    seed(db)
    app = Host(lambda: BlindedRatingScreen(context(db, Clock(), photos=tmp_path), SEED))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "No pairs to rate" in text(app.screen, "#blinded-progress")
