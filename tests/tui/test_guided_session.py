"""A whole guided session in the app against the in-process simulator, from patient selection to summary.

The app runs on a tmp SQLite file with a clock the test moves on, so the disinfection and
rub-in timers run without waiting. Assertions read the stored records: every step with who
confirmed it, volumes, the lot and expiry, timer durations, an override with its reason, who
and when, signed with the PIN (overridden), the stamps credited to the session and zones, the
finished session signed with the PIN (approved), the aftercare card on disk.

The same test runs twice: over a pty, and over BLE with the simulator as a bumble GATT
peripheral on the virtual link and the app connecting with ``ble:NAME`` and the HCI spec the
simulator serves, through its ordinary bleak code. Over BLE the link is cut in the middle of
a frame during stamping (with the next connections refused, so the loss lasts); the banner
shows and every stamp is still stored once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from stampside.app.domain.gates import Gate
from stampside.app.domain.signatures import SignatureMeaning
from stampside.app.storage.database import Database
from stampside.app.storage.sessions import find_open_session
from stampside.app.storage.signatures import signatures_of_patient
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.override import OverrideDialog
from stampside.app.tui.dialogs.sign import SignDialog
from stampside.app.tui.screens.stamping import LINK_LOST_TEXT, StampingScreen
from stampside.app.tui.screens.start import StartScreen
from stampside.app.tui.screens.steps import (
    AftercareScreen,
    ApplicationScreen,
    DisinfectionScreen,
    PreChecksScreen,
    SummaryScreen,
)
from stampside.simulator.config import BleConfig, PauseEvent, SimConfig
from stampside.simulator.runner import Simulator
from tests.tui.session_helpers import (
    NOW,
    PATIENCE,
    PRACTITIONER,
    SIZE,
    STAMPS,
    MovableClock,
    current,
    make_app,
    next_enabled,
    seed,
    session_stamps,
    sim_config,
    start_session_for,
    stored_session,
    stored_steps,
    wait_for,
)
from tests.tui.sign_in_helpers import sign_with_pin

REASON = "patient could not keep still, rubbed in by hand"
#: Over BLE: stamping pauses after this many stamps, so the cut falls in the middle of it.
CUT_AT = 20


def ble_sim_config() -> SimConfig:
    """:func:`sim_config` as a BLE peripheral on the virtual link, pausing after :data:`CUT_AT` stamps."""
    return sim_config().model_copy(
        update={
            "ble": BleConfig.virtual(),
            "timeline": [PauseEvent(action="pause", at_stamp=CUT_AT, seconds=1.5)],
        }
    )


@pytest.fixture(params=["pty", "ble"])
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    simulator = Simulator(sim_config() if request.param == "pty" else ble_sim_config())
    await simulator.start()
    yield simulator
    await simulator.stop()


def assert_banner(pilot: Pilot[None]) -> None:
    banner = str(current(pilot).query_one("#session-banner", Static).render())
    assert "P-0042" in banner and "session 1 of 6" in banner and "in session" in banner, banner


async def test_a_whole_session_is_guided_stored_and_finished(
    db_path: Path, db: Database, sim: Simulator, tmp_path: Path
) -> None:
    _, patient = seed(db)
    clock = MovableClock()
    cards = tmp_path / "cards"
    ble = sim.config.ble.enabled
    if ble:
        assert sim.url.startswith("ble:") and sim.ble_hci is not None
    app = make_app(db_path, sim.url, clock, cards, ble_hci=sim.ble_hci)
    async with app.run_test(size=SIZE) as pilot:
        await start_session_for(pilot, "P-0042")

        # 1. pre-session checks: the link is open, not armed; every gate passes
        await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen))
        assert_banner(pilot)  # who is in the chair, on every step
        opened = app.open_session
        assert opened is not None
        await wait_for(pilot, lambda: next_enabled(current(pilot)))
        controller = app.session_controller
        assert controller.bridge is not None and controller.bridge.session is not None
        assert controller.bridge.session.armed is not True, "the checks do not arm the stamp"
        await pilot.press("ctrl+n")

        # 2. disinfection: confirm, the timer runs on the app clock
        await wait_for(pilot, lambda: isinstance(current(pilot), DisinfectionScreen))
        assert_banner(pilot)  # who is in the chair, on every step
        disinfection = current(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert disinfection.query_one("#next", Button).disabled, "the contact time has not run"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "not over" in str(disinfection.query_one("#step-error", Static).content)
        clock.advance(61)
        await wait_for(pilot, lambda: next_enabled(current(pilot)))
        await pilot.press("ctrl+n")

        # 3. first application: lot, expiry and volume typed
        await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen))
        first = current(pilot)
        assert first.query_one("#volume", Input).value == "2.5", "the protocol's volume by default"
        first.query_one("#lot", Input).value = "LX-2291"
        first.query_one("#expiry", Input).value = "2027-03"
        first.query_one("#volume", Input).value = "2.4"
        clock.advance(30)
        await pilot.press("ctrl+n")

        # 4. stamping: armed here, every stamp counted and credited, then finished
        await wait_for(pilot, lambda: isinstance(current(pilot), StampingScreen))
        assert_banner(pilot)  # who is in the chair, on every step
        stamping = current(pilot)
        assert isinstance(stamping, StampingScreen)
        banners: list[str] = []
        if ble:
            banner = stamping.query_one("#link-banner", Static)
            show_link = stamping._show_link

            def watch_banner(status: object) -> None:  # every state the banner went through, none missed
                show_link(status)  # type: ignore[arg-type]
                if banner.has_class("-shown"):
                    banners.append(str(banner.content))

            stamping._show_link = watch_banner  # type: ignore[method-assign]
            await sim.wait_until(lambda: len(sim.truth) >= CUT_AT, timeout=PATIENCE)
            sim.ble_refuse(3)  # the stamp comes back only after a few refused connections
            sim.ble_cut()  # in the middle of the next frame out
            await wait_for(pilot, lambda: bool(banners))
            assert LINK_LOST_TEXT in banners[0]
        await wait_for(pilot, lambda: stamping.stats.count >= STAMPS)

        def truth_now() -> dict[tuple[int, int], int | None]:
            return {(stamp.boot, stamp.seq): stamp.zone for stamp in sim.truth}

        await wait_for(pilot, lambda: len(sim.truth) == STAMPS and session_stamps(db, opened.id) == truth_now())
        truth = truth_now()
        if ble:
            ble_stats = sim.transport.ble_stats  # type: ignore[attr-defined]
            assert ble_stats.cuts == 1 and ble_stats.refused >= 1, ble_stats
            assert not stamping.query_one("#link-banner", Static).has_class("-shown"), "the link is back"
        assert stamping.stats.count == STAMPS, "no stamp counted twice on the screen"
        clock.advance(300)
        await pilot.press("ctrl+d")
        await pilot.pause()
        if isinstance(current(pilot), ConfirmDialog):  # zones under target: finish anyway
            await pilot.press("y")

        # 5. second application: its rub-in timer is overridden with a reason
        await wait_for(pilot, lambda: isinstance(current(pilot), ApplicationScreen) and current(pilot) is not first)
        assert controller.bridge is None, "the link is closed once stamping is over"
        clock.advance(20)
        await wait_for(pilot, lambda: not current(pilot).query_one("#override", Button).disabled)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(current(pilot), OverrideDialog))
        current(pilot).query_one("#override-reason", Input).value = REASON
        await pilot.press("enter")
        signing = await sign_with_pin(pilot)  # the override is signed with the PIN (overridden)
        assert REASON in signing.what and signing.meaning is SignatureMeaning.OVERRIDDEN
        await wait_for(pilot, lambda: next_enabled(current(pilot)))
        await pilot.press("ctrl+n")

        # 6. aftercare: clock times, and the card written
        await wait_for(pilot, lambda: isinstance(current(pilot), AftercareScreen))
        assert_banner(pilot)  # who is in the chair, on every step
        aftercare = current(pilot)
        assert isinstance(aftercare, AftercareScreen)
        ended = NOW + timedelta(seconds=61 + 30 + 300 + 20)  # the second application ended then
        wash = f"not before Fri 27 Nov 2026, {ended:%H:%M}; ideally Sat 28 Nov 2026, {ended:%H:%M}"
        assert wash in str(aftercare.query_one("#wash-window", Static).content)
        assert len(aftercare.card_paths) == 2
        assert all(path.parent == cards for path in aftercare.card_paths)
        assert str(aftercare.card_paths[0]) in str(aftercare.query_one("#card-path", Static).content)
        await pilot.press("ctrl+n")

        # 7. summary, then the session is closed and the course moves on
        await wait_for(pilot, lambda: isinstance(current(pilot), SummaryScreen))
        assert_banner(pilot)  # who is in the chair, on every step
        summary = current(pilot)
        await wait_for(pilot, lambda: f"{STAMPS} stamps" in str(summary.query_one("#summary-stamps", Static).content))
        overrides_shown = str(summary.query_one("#summary-overrides", Static).content)
        assert REASON in overrides_shown
        assert f"✍ signed {PRACTITIONER} · overridden · {ended:%Y-%m-%d %H:%M}" in overrides_shown
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(current(pilot), SignDialog) and current(pilot).focused is not None)
        await pilot.press("escape")  # not signed: the session stays open, on its summary
        await wait_for(pilot, lambda: any("closing it needs your signature" in n.message for n in app._notifications))
        assert current(pilot) is summary and app.open_session is not None
        await pilot.press("ctrl+n")
        closing = await sign_with_pin(pilot)  # closing the session is signed with the PIN (approved)
        assert closing.meaning is SignatureMeaning.APPROVED and closing.who == PRACTITIONER
        await wait_for(pilot, lambda: isinstance(current(pilot), StartScreen))
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        start = current(pilot)
        assert isinstance(start, StartScreen)
        assert "Session 2 of 6" in str(start.query_one("#course-label", Static).content)
        dates = str(start.query_one("#course-dates", Static).content)
        assert f"Closed:       signed {PRACTITIONER} · approved" in dates
        assert app.open_session is None

    # --- what was stored ---
    finished = stored_session(db, opened.id)
    assert finished.status == "finished" and finished.ended_at is not None
    assert finished.device_serial == sim.config.device.serial and finished.head_id == sim.config.device.head_id
    with db.Session.begin() as s:
        assert find_open_session(s, patient_id=patient.id) is None
    assert session_stamps(db, opened.id) == truth, "every stamp in the session, credited to the device's zone"

    steps = {record.step_id: record for record in stored_steps(db, opened.id)}
    assert list(steps) == [
        "pre_checks",
        "disinfection",
        "first_application",
        "stamping",
        "second_application",
        "aftercare",
        "summary",
    ]
    assert all(r.completed and r.confirmed_by == PRACTITIONER for r in steps.values())
    checks = steps["pre_checks"].checks
    assert {c.gate for c in checks} == {
        Gate.DEVICE_IDENTIFIED,
        Gate.NEEDLE_LENGTH,
        Gate.HEAD_UNUSED,
        Gate.BATTERY,
        Gate.CLOCK_SYNCED,
    }
    assert all(c.passed for c in checks)
    disinfection_record = steps["disinfection"]
    assert disinfection_record.timer_seconds == 60 and disinfection_record.timer_ran_seconds == 61
    first_record = steps["first_application"]
    assert (first_record.lot, first_record.lot_expiry, first_record.volume_ml) == ("LX-2291", date(2027, 3, 31), 2.4)
    stamping_record = steps["stamping"]
    assert [(c.gate, c.passed) for c in stamping_record.checks] == [(Gate.DEVICE_ARMED, True)]
    assert stamping_record.volume_ml is None, "stamping needles in what the first application applied"
    second = steps["second_application"]
    assert second.timer_seconds == 120 and second.timer_ran_seconds == 20 and second.volume_ml == 2.5
    [override] = second.overrides
    assert (override.gate, override.reason, override.by) == (Gate.TIMER_ELAPSED, REASON, PRACTITIONER)
    assert override.at == ended and "not over" in override.failure
    with db.Session.begin() as s:
        signatures = [(v.record_type, v.meaning, v.signer) for v in signatures_of_patient(s, patient.id)]
    assert signatures == [
        ("step_overrides", SignatureMeaning.OVERRIDDEN, PRACTITIONER),
        ("treatment_sessions", SignatureMeaning.APPROVED, PRACTITIONER),
    ]

    text, page = sorted(cards.iterdir(), key=lambda p: p.suffix, reverse=True)
    assert text.suffix == ".txt" and page.suffix == ".html"
    assert wash in text.read_text(encoding="utf-8")
    assert wash in page.read_text(encoding="utf-8")
    assert "P-0042" in text.name
