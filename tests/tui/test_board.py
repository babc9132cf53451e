"""The clinic board on screen: two chairs stamping show both, live; warnings stand out; it fits 80×24;
the chairside app's palette opens it over the app, read only.

The live test runs on a SQLite file (polled) and on the suite's PostgreSQL server, where the board
reads again only when it is notified: its heartbeat is an hour, so a count that moves came by
LISTEN/NOTIFY. Stamps are stored from a thread through the link's own sink while the board runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from stampside.app.chairside.board import BoardRow, StepPlace
from stampside.app.chairside.board_live import BoardSource, open_board
from stampside.app.domain.chair_warnings import ChairWarning, WarningKind
from stampside.app.domain.treatment_protocol import StepKind
from stampside.app.storage import Database, open_database
from stampside.app.storage.change_feed import NotifyFeed
from stampside.app.tui.board import BoardApp
from stampside.app.tui.screens.board import BoardScreen, column_widths, status_text
from tests.chairs import PROTOCOL, Chair, open_chair, steps_up_to
from tests.tui.session_helpers import wait_for

SIZE = (80, 24)
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
AN_HOUR = 3600.0


@pytest.fixture
def clinic(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


def live_source(url: str) -> BoardSource:
    """The board on ``url`` that reads again only when told of a change (SQLite: polled every 20 ms)."""
    return open_board(url, protocols=[PROTOCOL], poll_s=0.02, heartbeat_s=AN_HOUR)


def stamps_shown(screen: BoardScreen) -> dict[str, int]:
    """Each chair's stamp count as the board shows it."""
    snapshot = screen.snapshot
    shown = {row.chair or "": row.stamps for row in snapshot.rows} if snapshot is not None else {}
    # What is drawn is what was read: every chair's count is in the table's text.
    for chair, count in shown.items():
        assert any(line.startswith(chair) and f"| {count:,} " in line for line in screen.text.splitlines())
    return shown


async def test_two_chairs_stamping_show_both_live(clinic: Database, db_url: str) -> None:
    started = datetime.now(UTC) - timedelta(minutes=10)
    one = open_chair(clinic, chair="Chair 1", practitioner="Dr Ada", patient_code="P-0001", started_at=started)
    two = open_chair(clinic, chair="Chair 2", practitioner="Dr Bea", patient_code="P-0002", started_at=started)
    stamping = [step.kind for step in PROTOCOL.steps].index(StepKind.STAMPING)
    for chair in (one, two):
        chair.save_steps(steps_up_to(stamping, started))
        chair.link_event("connected", started + timedelta(minutes=4))
    source = live_source(db_url)
    app = BoardApp(source, clinic_name="Harley Street Clinic", tz=UTC)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.board
            await wait_for(pilot, lambda: stamps_shown(screen) == {"Chair 1": 0, "Chair 2": 0})
            assert "Stamping" in screen.text and "link connected" in screen.text
            reads = source.reads

            def stamp_both(rounds: int) -> None:
                for _ in range(rounds):
                    one.stamp(datetime.now(UTC))
                    two.stamp(datetime.now(UTC), count=2)

            for done in (1, 3):  # the chairs stamp while the board runs; it follows each change
                await asyncio.to_thread(stamp_both, 1 if done == 1 else 2)
                await wait_for(pilot, lambda done=done: stamps_shown(screen) == {"Chair 1": done, "Chair 2": 2 * done})

            assert source.reads > reads
            status = str(screen.query_one("#board-status").render())
            if isinstance(source.feed, NotifyFeed):
                # An hour's heartbeat: every read after the first came from a notification.
                assert source.feed.received >= 1
                assert "live via LISTEN/NOTIFY" in status
            else:
                assert "polling every 0.02 s" in status
            await pilot.press("q")
    finally:
        source.close()
    assert app.return_code == 0


def row(**changes: Any) -> BoardRow:
    values: dict[str, Any] = {
        "session_id": 1,
        "chair": "Chair 1",
        "practitioner": "Dr Ada",
        "patient_code": "P-0001",
        "session_number": 2,
        "planned_sessions": 6,
        "step": StepPlace("Stamping", 4, 7),
        "stamps": 1234,
        "rate_per_min": 58.0,
        "link": "connected",
        "link_since": NOW - timedelta(minutes=3),
        "started_at": NOW - timedelta(minutes=20),
    }
    values.update(changes)
    return BoardRow(**values)


def test_warnings_are_coloured_and_the_link_says_its_state() -> None:
    calm = status_text(row(), NOW, 24)
    assert calm.plain == "● link connected" and "red" not in str(calm.spans)
    lost = row(
        link="lost",
        link_since=NOW - timedelta(seconds=42),
        warnings=(
            ChairWarning(WarningKind.LINK_LOST, NOW - timedelta(seconds=42)),
            ChairWarning(WarningKind.HEAD_USED),
            ChairWarning(WarningKind.TIMER_OVERDUE, NOW - timedelta(seconds=65)),
        ),
    )
    shown = status_text(lost, NOW, 24)
    assert shown.plain.splitlines() == ["✖ link lost 0:42", "⚠ head used before", "⚠ timer overdue 1:05"]
    assert all("red" in str(span.style) for span in shown.spans) and len(shown.spans) == 3
    assert status_text(row(link=None, link_since=None), NOW, 24).plain == "○ no link yet"


def test_the_columns_fit_80_columns_and_grow_with_the_terminal() -> None:
    narrow = column_widths(80)
    assert sum(narrow) + 2 * len(narrow) + 1 == 80 and narrow[-1] >= len("⚠ timer overdue 12:34")
    wide = column_widths(160)
    assert sum(wide) + 2 * len(wide) + 1 == 160
    assert all(w >= n for w, n in zip(wide, narrow, strict=True)) and wide[2] > narrow[2]


def snapshot_clinic(tmp_path: Path) -> str:
    """Two chairs at NOW: one stamping with a lost link, one waiting past its disinfection timer."""
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    database = open_database(url)
    try:
        started = NOW - timedelta(minutes=20)
        one = open_chair(
            database, chair="Chair 1", practitioner="Dr Ana Ruiz", patient_code="P-0042", started_at=started
        )
        stamping = [step.kind for step in PROTOCOL.steps].index(StepKind.STAMPING)
        one.save_steps(steps_up_to(stamping, started))
        one.link_event("connected", started + timedelta(minutes=4))
        one.stamp(NOW - timedelta(seconds=50), count=40, spacing_s=1.0)
        one.link_event("lost", NOW - timedelta(seconds=42), "no answer")
        two: Chair = open_chair(
            database, chair="Chair 2", practitioner="Dr Ben Okafor", patient_code="P-0107", started_at=started
        )
        disinfection = [step.kind for step in PROTOCOL.steps].index(StepKind.DISINFECTION)
        two.save_steps(steps_up_to(disinfection, NOW - timedelta(minutes=4)))
        two.link_event("connected", started + timedelta(minutes=1))
    finally:
        database.close()
    return url


def test_the_board_at_80x24(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.delenv("NO_COLOR", raising=False)
    source = open_board(snapshot_clinic(tmp_path), protocols=[PROTOCOL], heartbeat_s=AN_HOUR, clock=lambda: NOW)

    async def first_read(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, BoardApp)
        await wait_for(pilot, lambda: app.board.updates >= 1)
        await pilot.pause()

    try:
        app = BoardApp(source, clinic_name="Harley Street Clinic", tz=UTC)
        assert snap_compare(app, terminal_size=SIZE, run_before=first_read)
    finally:
        source.close()


async def test_the_palette_opens_the_clinic_board_over_the_app_and_q_goes_back(tmp_path: Path) -> None:
    from stampside.app.tui.screens.start import StartScreen
    from tests.tui.session_helpers import PRACTITIONER
    from tests.tui.test_palette_and_help import make, palette_entries, ready

    db_path = tmp_path / "clinic" / "stampside.db"
    db_path.parent.mkdir()
    database = open_database(str(db_path))
    try:
        from stampside.app.storage.practitioners import add_practitioner

        with database.Session.begin() as s:
            add_practitioner(s, PRACTITIONER)
        open_chair(database, chair="Chair 3", practitioner="Dr Cy", patient_code="P-0003", started_at=NOW)
    finally:
        database.close()
    app = make(db_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await palette_entries(pilot, "clinic board")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BoardScreen))
        board = app.screen
        assert isinstance(board, BoardScreen)
        await wait_for(pilot, lambda: board.snapshot is not None and len(board.snapshot.rows) == 1)
        assert "Chair 3" in board.text and "P-0003" in board.text
        assert board.source.database is not app.database  # its own connection, read-only
        await pilot.press("question_mark")
        from stampside.app.tui.dialogs.help import HelpDialog

        await wait_for(pilot, lambda: isinstance(app.screen, HelpDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is board)
        follower = board._follower
        assert follower is not None and follower.running
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        await wait_for(pilot, lambda: not follower.running)  # the board's thread ends with it
