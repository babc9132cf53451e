"""What each step screen refuses, with the domain's message on screen and nothing wrong stored.

Against the in-process simulator: a needle of the wrong length blocks Continue until it is
overridden; an override needs a real reason; an expired lot or a bad date is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from textual.widgets import Button, Input, OptionList, Static

from stampside.app.domain.gates import Gate
from stampside.app.storage.database import Database, open_database
from stampside.app.tui.dialogs.override import OverrideDialog
from stampside.app.tui.dialogs.sign import SignDialog
from stampside.app.tui.screens.steps import ApplicationScreen, DisinfectionScreen, PreChecksScreen
from stampside.simulator.runner import Simulator
from tests.tui.session_helpers import (
    PRACTITIONER,
    SIZE,
    MovableClock,
    current,
    make_app,
    seed,
    sim_config,
    start_session_for,
    stored_steps,
    through_checks_and_disinfection,
    wait_for,
)
from tests.tui.sign_in_helpers import sign_with_pin


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stampside.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(str(db_path))
    yield database
    database.close()


@pytest.fixture
async def short_needle() -> AsyncIterator[Simulator]:
    simulator = Simulator(sim_config(needle_um=1500))
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(sim_config())
    await simulator.start()
    yield simulator
    await simulator.stop()


def error_text(screen: object) -> str:
    assert isinstance(screen, (PreChecksScreen, ApplicationScreen, DisinfectionScreen))
    return str(screen.query_one("#step-error", Static).content)


def gate_text(gates: OptionList, index: int) -> str:
    """The check at ``index`` as listed; empty while the screen has not listed it yet (a wait
    polls from the moment the screen is up, before its first checks are in)."""
    return str(gates.get_option_at_index(index).prompt) if index < gates.option_count else ""


async def test_a_failing_gate_blocks_continue_until_overridden_with_a_real_reason(
    db_path: Path, db: Database, short_needle: Simulator
) -> None:
    seed(db)
    clock = MovableClock()
    app = make_app(db_path, short_needle.url, clock)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen))
        checks = current(pilot)
        gates = checks.query_one("#gates", OptionList)
        await wait_for(pilot, lambda: "✗ Needle length: needle is 1.5 mm" in gate_text(gates, 1))
        await wait_for(pilot, lambda: "✓ Device identified" in gate_text(gates, 0))
        assert checks.query_one("#next", Button).disabled
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(current(pilot), PreChecksScreen)
        assert "needle is 1.5 mm; the protocol needs 2.0 mm" in error_text(checks)

        gates.focus()
        gates.highlighted = 1
        checks.clear_error()  # type: ignore[attr-defined]
        await pilot.press("enter")  # enter stays the step's main action, even on the list: no override
        await wait_for(pilot, lambda: "the protocol needs 2.0 mm" in error_text(checks))
        assert isinstance(current(pilot), PreChecksScreen)
        await pilot.press("ctrl+o")  # overrides the highlighted failing check
        await wait_for(pilot, lambda: isinstance(current(pilot), OverrideDialog))
        dialog = current(pilot)
        error = dialog.query_one("#override-error", Static)
        await pilot.press("enter")  # empty reason
        await pilot.pause()
        assert "needs a reason" in str(error.content)
        dialog.query_one("#override-reason", Input).value = "fine"
        await pilot.press("enter")
        await pilot.pause()
        assert "too short" in str(error.content)
        assert isinstance(current(pilot), OverrideDialog)
        dialog.query_one("#override-reason", Input).value = "only 1.5 mm heads in stock, agreed with the patient"
        await pilot.press("enter")
        # Then the PIN: cancelled, nothing is overridden (an override is stored signed, or not at all).
        await wait_for(pilot, lambda: isinstance(current(pilot), SignDialog) and current(pilot).focused is not None)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen))
        await pilot.pause()
        assert "✗ Needle length" in gate_text(gates, 1)
        assert checks.query_one("#next", Button).disabled
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(current(pilot), OverrideDialog))
        await pilot.press(*"only 1.5 mm heads in stock, agreed with the patient", "enter")
        signed = await sign_with_pin(pilot)
        assert "Needle length" in signed.what and "needle is 1.5 mm" in signed.what
        await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen))
        await wait_for(pilot, lambda: "⚑ Needle length: overridden by" in gate_text(gates, 1))
        await wait_for(pilot, lambda: not checks.query_one("#next", Button).disabled)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(current(pilot), DisinfectionScreen))
        opened = app.open_session
        assert opened is not None
        await app.session_controller.saved()

    first = stored_steps(db, opened.id)[0]
    assert first.completed and first.confirmed_by == PRACTITIONER
    [override] = first.overrides
    assert override.gate is Gate.NEEDLE_LENGTH and override.by == PRACTITIONER and override.at == clock.now
    assert override.reason == "only 1.5 mm heads in stock, agreed with the patient"
    assert "1.5 mm" in override.failure


async def test_an_expired_lot_or_a_bad_date_is_refused_and_the_step_does_not_complete(
    db_path: Path, db: Database, sim: Simulator
) -> None:
    seed(db)
    clock = MovableClock()
    app = make_app(db_path, sim.url, clock)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")
        await through_checks_and_disinfection(pilot, clock)
        screen = current(pilot)
        assert isinstance(screen, ApplicationScreen)
        lot, expiry = screen.query_one("#lot", Input), screen.query_one("#expiry", Input)

        await pilot.press("ctrl+n")  # nothing typed: the lot is required
        await pilot.pause()
        assert "type the product lot" in error_text(screen)

        lot.value = "LX-9"
        expiry.value = "next year"
        expiry.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "is not a date" in error_text(screen)

        expiry.value = "2026-01-31"  # before the clock's date: expired
        await pilot.press("enter")
        await pilot.pause()
        assert "lot LX-9 expired on 2026-01-31; use an unexpired lot" in error_text(screen)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(current(pilot), ApplicationScreen)
        assert lot.value == "LX-9", "what was typed is kept"

        screen.query_one("#volume", Input).value = "250"
        expiry.value = "2027-06-30"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "at most 100 ml" in error_text(screen)
        assert isinstance(current(pilot), ApplicationScreen)
        opened = app.open_session
        assert opened is not None
        await app.session_controller.saved()

    record = stored_steps(db, opened.id)[-1]
    assert record.step_id == "first_application" and not record.completed
    assert (record.lot, str(record.lot_expiry)) == ("LX-9", "2027-06-30"), "only the unexpired lot was recorded"
