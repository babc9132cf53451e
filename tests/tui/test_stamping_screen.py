"""The stamping screen, driven with the Pilot in a tiny app: stored stamps and link changes arrive as messages.

The stamps the tests post are what storage would report: each already stored in its zone
(the device's, else the zone active when it arrived, as ``credited_zone`` decides).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.message import Message
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Digits, Label, Static

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.domain.zones import Zone, credited_zone
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.screens.stamping import (
    LINK_LOST_TEXT,
    NOT_COUNTING_TEXT,
    SECOND_AFTER_STAMP_S,
    LinkStatusChanged,
    StampingScreen,
    StampInput,
    StampsStored,
)
from stampside.app.tui.widgets.coverage_map import CoverageMap
from stampside.app.tui.widgets.force_meter import ForceMeter
from stampside.app.tui.widgets.stamp_counter import StampCounter
from stampside.app.tui.widgets.status_bar import LinkStatus, LinkStatusBar
from stampside.devicelink.state import LinkState

SIZE = (100, 30)
#: Footprint 100 mm² (1 cm²) and the default density 2: frontal (60 cm²) needs 120 stamps, a temporal zone 50.
FOOTPRINT = 100
CONNECTED = LinkStatus(LinkState.CONNECTED, serial="SS-000421", battery_pct=78, head_id="H-7F3A21", armed=True)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class StampingTestApp(App[None]):
    """Pushes the stamping screen; keeps the screen's messages and the notifications for the asserts."""

    def __init__(self, screen: StampingScreen) -> None:
        super().__init__()
        self.stamping = screen
        self.messages: list[Message] = []
        self.notices: list[str] = []

    def on_mount(self) -> None:
        self.push_screen(self.stamping)

    def notify(self, message: str, **kwargs: Any) -> None:
        self.notices.append(message)
        super().notify(message, **kwargs)

    def on_stamping_screen_arm_requested(self, message: StampingScreen.ArmRequested) -> None:
        self.messages.append(message)

    def on_stamping_screen_zone_reached(self, message: StampingScreen.ZoneReached) -> None:
        self.messages.append(message)

    def on_stamping_screen_active_zone_changed(self, message: StampingScreen.ActiveZoneChanged) -> None:
        self.messages.append(message)

    def on_stamping_screen_treated_zones_changed(self, message: StampingScreen.TreatedZonesChanged) -> None:
        self.messages.append(message)

    def on_stamping_screen_finished(self, message: StampingScreen.Finished) -> None:
        self.messages.append(message)

    def of_type(self, kind: type[Message]) -> list[Any]:
        return [message for message in self.messages if isinstance(message, kind)]


def make_app(
    zones: Iterable[Zone] = (Zone.FRONTAL, Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL),
    clock: FakeClock | None = None,
    link: LinkStatus = CONNECTED,
) -> StampingTestApp:
    screen = StampingScreen.for_protocol(
        default_protocol(), zones, FOOTPRINT, clock=clock or FakeClock(), link=link, active=Zone.FRONTAL
    )
    return StampingTestApp(screen)


def active_zone(screen: StampingScreen) -> Zone:
    return screen.coverage.active


def top_screen(app: App[None]) -> object:
    return app.screen


def text_of(widget: Widget) -> str:
    return str(widget.render())


def post_stamps(
    screen: StampingScreen, count: int, *, start: int = 1, zone: int = 0, boot: int = 1, life: int = 1
) -> None:
    """As storage reports them: one commit per stamp, each in the zone it was stored in."""
    for seq in range(start, start + count):
        credited = credited_zone(zone, screen.coverage.active)
        screen.post_message(StampsStored((StampInput(boot, seq, seq * 333, 65, zone, None, credited, life),)))


async def settle(pilot: Pilot[None]) -> None:
    """Let queued messages through and the throttled redraw happen."""
    await pilot.pause()
    await pilot.pause(0.15)


async def test_stamps_count_into_the_active_zone_and_the_map_shows_the_percentage() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        post_stamps(screen, 76)  # 76 cm² of 120 cm²: 63 %
        await settle(pilot)
        assert screen.coverage.stamps_in(Zone.FRONTAL) == 76
        tile = screen.query_one(CoverageMap).tile(Zone.FRONTAL)
        assert "63%" in text_of(tile)
        assert "76 stamps" in text_of(tile)
        assert "ACTIVE" in text_of(tile)
        assert "76 stamps" in screen.query_one(StampCounter).text
        assert "GOOD" in screen.query_one(ForceMeter).text


async def test_a_stamp_redraws_the_side_panel_and_the_map_catches_up_on_the_second() -> None:
    """A stamp that leaves its tile's look alone (same colour level) is drawn in the side panel at
    once; the tile's figures follow at the once-a-second tick, so a stamp's frame stays small."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        post_stamps(screen, 70)  # 70 of 120 cm²: 58 %, level 2
        await settle(pilot)
        tile = screen.query_one(CoverageMap).tile(Zone.FRONTAL)
        assert "70 stamps" in text_of(tile)
        post_stamps(screen, 1, start=71)  # 59 %: the same level
        await settle(pilot)
        assert "71 stamps" in screen.query_one(StampCounter).text
        assert "59%" in text_of(screen.query_one("#active-zone", Widget))
        assert "70 stamps" in text_of(tile)
        screen._second()
        await pilot.pause()
        assert "71 stamps" in text_of(tile) and "59%" in text_of(tile)
        post_stamps(screen, 1, start=72)  # 60 %: the next level, drawn at once
        await settle(pilot)
        assert "72 stamps" in text_of(tile) and tile.level == 3


async def test_the_seconds_figures_are_drawn_after_a_stamps_count_not_with_it() -> None:
    """The once-a-second figures that wait for a stamp are drawn in a frame of their own just
    after it: drawn in the stamp's frame they made every third count three times as slow to
    appear. A burst does not keep pushing them back."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        post_stamps(screen, 70)
        await settle(pilot)
        tile = screen.query_one(CoverageMap).tile(Zone.FRONTAL)
        # A stamp was drawn moments ago (longer than the redraw interval, within SECOND_RIDES_S):
        # the second's figures wait for the next stamp.
        screen._last_redraw = time.monotonic() - screen.redraw_interval - 0.01
        screen._tick()
        assert screen._second_due and not screen._second_soon
        screen.record_stamps([StampInput(1, 71, 71 * 333, 65, 0, None, Zone.FRONTAL, 1)])
        # The count is drawn now; the second's figures (the tile's count) only after this frame.
        assert screen.query_one("#stamp-count", Digits).value == "71"
        assert screen._second_due and screen._second_soon
        assert "70 stamps" in text_of(tile)
        waiting = screen._second_timer
        screen._last_redraw = 0.0  # the next stamp is drawn at once too
        screen.record_stamps([StampInput(1, 72, 72 * 333, 65, 0, None, Zone.FRONTAL, 1)])
        assert screen._second_timer is waiting  # not moved back by the burst
        await pilot.pause(SECOND_AFTER_STAMP_S + 0.1)
        assert not screen._second_due and not screen._second_soon
        assert "72 stamps" in text_of(tile)


async def test_zone_keys_switch_the_active_zone_and_stamps_count_where_they_were_stored() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        await pilot.press("l")
        post_stamps(screen, 5)
        post_stamps(screen, 2, start=100, zone=int(Zone.VERTEX))
        await settle(pilot)
        assert active_zone(screen) is Zone.LEFT_TEMPORAL
        assert screen.coverage.stamps_in(Zone.LEFT_TEMPORAL) == 5
        assert screen.coverage.stamps_in(Zone.VERTEX) == 2
        assert screen.coverage.stamps_in(Zone.FRONTAL) == 0
        the_map = screen.query_one(CoverageMap)
        assert "ACTIVE" in text_of(the_map.tile(Zone.LEFT_TEMPORAL))
        assert "ACTIVE" not in text_of(the_map.tile(Zone.FRONTAL))
        assert "not treated" in text_of(the_map.tile(Zone.VERTEX))
        assert "Left temporal" in text_of(screen.query_one("#active-zone", Static))
        await pilot.press("r", "f")
        assert active_zone(screen) is Zone.FRONTAL
        changes = [message.zone for message in app.of_type(StampingScreen.ActiveZoneChanged)]
        assert changes == [Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL, Zone.FRONTAL]


async def test_clicking_a_zone_on_the_map_makes_it_active() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.click("#zone-right-temporal")
        await pilot.pause()
        assert active_zone(app.stamping) is Zone.RIGHT_TEMPORAL
        assert "ACTIVE" in text_of(app.stamping.query_one(CoverageMap).tile(Zone.RIGHT_TEMPORAL))


async def test_t_adds_the_active_zone_to_the_treatment_and_takes_it_out() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        await pilot.press("v")
        post_stamps(screen, 10)
        await settle(pilot)
        assert "not treated" in text_of(screen.query_one(CoverageMap).tile(Zone.VERTEX))
        await pilot.press("t")
        assert Zone.VERTEX in screen.coverage.treated
        assert "10%" in text_of(screen.query_one(CoverageMap).tile(Zone.VERTEX))  # 10 of 100 stamps
        await pilot.press("t")
        assert Zone.VERTEX not in screen.coverage.treated
        assert screen.coverage.stamps_in(Zone.VERTEX) == 10
        changes = [message.zones for message in app.of_type(StampingScreen.TreatedZonesChanged)]
        assert Zone.VERTEX in changes[0] and Zone.VERTEX not in changes[1]


async def test_footer_shows_the_zone_keys_and_finish() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = {key: active.binding.description for key, active in app.active_bindings.items() if active.binding.show}
        assert shown["f"] == "Frontal"
        assert shown["r"] == "Right"
        assert shown["ctrl+d"] == "Finish step"
        assert shown["t"] == "Treat on/off"


async def test_duplicate_stamps_count_once() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        post_stamps(screen, 10)
        post_stamps(screen, 10)  # the same (boot, seq) again: read back on resume and reported by a commit
        post_stamps(screen, 3, start=1, boot=2)  # a new boot: new stamps
        post_stamps(screen, 2, start=1, life=2)  # the device restarted its numbering: new stamps too
        await settle(pilot)
        assert screen.coverage.totals().stamps == 15
        assert screen.stats.count == 15
        assert "15 stamps" in screen.query_one(StampCounter).text


async def test_link_lost_banner_appears_and_goes_when_the_link_is_back() -> None:
    clock = FakeClock()
    app = make_app(clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        banner = screen.query_one("#link-banner", Static)
        assert not banner.display
        screen.post_message(LinkStatusChanged(LinkStatus(LinkState.LOST, "SS-000421", 78, "H-7F3A21", clock.now)))
        clock.now += 3
        screen.post_message(
            LinkStatusChanged(LinkStatus(LinkState.RECONNECTING, "SS-000421", 78, "H-7F3A21", clock.now - 3))
        )
        await settle(pilot)
        assert banner.display
        assert LINK_LOST_TEXT in text_of(banner)
        bar = screen.query_one(LinkStatusBar)
        assert "reconnecting 3 s" in text_of(bar)
        assert bar.has_class("-reconnecting")
        # stamps buffered by the device arrive when the link is back, and count
        screen.post_message(LinkStatusChanged(CONNECTED))
        post_stamps(screen, 4)
        await settle(pilot)
        assert not banner.display
        assert "connected" in text_of(bar)
        assert bar.has_class("-connected")
        assert screen.coverage.totals().stamps == 4


async def test_a_zone_reaching_its_target_prompts_once() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        await pilot.press("l")
        post_stamps(screen, 55)  # left temporal: 25 cm² × 2 = 50 stamps
        await settle(pilot)
        assert [message.zone for message in app.of_type(StampingScreen.ZoneReached)] == [Zone.LEFT_TEMPORAL]
        assert sum("Left temporal is at its target" in notice for notice in app.notices) == 1
        assert "100% ✓" in text_of(screen.query_one(CoverageMap).tile(Zone.LEFT_TEMPORAL))


async def test_finishing_with_zones_under_target_warns_and_can_go_on() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        post_stamps(screen, 120)  # frontal at target; both temporal zones untouched
        await settle(pilot)
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        question = " ".join(text_of(label) for label in app.screen.query(Label))
        assert "Left temporal: 0%, 50 stamps to target" in question
        assert "Right temporal" in question
        assert "Frontal" not in question
        await pilot.press("escape")  # keep stamping
        await pilot.pause()
        assert top_screen(app) is screen
        assert app.of_type(StampingScreen.Finished) == []
        await pilot.press("ctrl+d")
        await pilot.pause()
        await pilot.press("y")  # finish anyway
        await pilot.pause()
        finished = app.of_type(StampingScreen.Finished)
        assert len(finished) == 1
        assert [zone.zone for zone in finished[0].under_target] == [Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL]


async def test_finishing_with_every_zone_at_target_does_not_ask() -> None:
    app = make_app(zones=[Zone.LEFT_TEMPORAL])
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        await pilot.press("l")
        post_stamps(screen, 50)
        await settle(pilot)
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert top_screen(app) is screen
        finished = app.of_type(StampingScreen.Finished)
        assert len(finished) == 1
        assert finished[0].under_target == ()


async def test_a_burst_of_a_thousand_stamps_is_drawn_in_a_few_redraws() -> None:
    app = make_app(zones=list(Zone))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        await settle(pilot)
        before = screen.redraws
        post_stamps(screen, 1000)
        await settle(pilot)
        assert screen.coverage.totals().stamps == 1000
        assert "1000 stamps" in screen.query_one(StampCounter).text
        assert 0 < screen.redraws - before < 50, screen.redraws - before


async def test_a_stamp_after_a_pause_is_drawn_at_once() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        await pilot.pause(0.15)  # longer than the redraw interval since the last redraw
        before = screen.redraws
        post_stamps(screen, 1)
        await pilot.pause()  # no waiting for a timer
        assert screen.redraws == before + 1
        assert "1 stamps" in screen.query_one(StampCounter).text


async def test_screenshot_at_100_by_30_shows_map_count_force_and_keys(tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        post_stamps(app.stamping, 76)
        await settle(pilot)
        app.clear_notifications()
        await pilot.pause()
        app.save_screenshot(filename="stamping.svg", path=str(tmp_path))
    svg = html.unescape((tmp_path / "stamping.svg").read_text(encoding="utf-8")).replace("\xa0", " ")
    for text in ("Frontal", "63%", "76 stamps", "ACTIVE", "Left", "temporal", "connected", "SS-000421", "Finish step"):
        assert text in svg, text


async def test_the_active_zones_area_is_edited_with_a_and_a_bad_value_is_explained() -> None:
    from textual.widgets import Input

    from stampside.app.tui.dialogs.zone_area import ZoneAreaDialog

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        post_stamps(screen, 1)
        await settle(pilot)
        assert "Area 60 cm² (a to edit)" in str(screen.query_one("#active-zone", Static).content)
        await pilot.press("a")
        await pilot.pause()
        dialog = top_screen(app)
        assert isinstance(dialog, ZoneAreaDialog)
        field = dialog.query_one("#zone-area", Input)
        assert field.value == "60"
        field.value = "lots"
        await pilot.press("enter")
        await pilot.pause()
        assert top_screen(app) is dialog, "a bad value keeps the dialog open"
        assert "is not a number" in str(dialog.query_one("#zone-area-error", Static).content)
        field.value = "75"
        await pilot.press("enter")
        await settle(pilot)
        assert top_screen(app) is screen
        assert screen.coverage.area_cm2(Zone.FRONTAL) == 75
        assert screen.coverage.zone(Zone.FRONTAL).target_cm2 == 150  # 75 cm² × density 2
        assert "Area 75 cm²" in str(screen.query_one("#active-zone", Static).content)
        changed = app.of_type(StampingScreen.TreatedZonesChanged)
        assert changed, "the controller is told, so it stores the area with the session"


async def test_whether_the_stamp_counts_is_always_shown_large() -> None:
    clock = FakeClock()
    app = make_app(clock=clock, link=CONNECTED)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        state = screen.query_one("#arm-state", Static)
        screen.post_message(LinkStatusChanged(LinkStatus(LinkState.CONNECTED, armed=True, armed_since=clock.now - 65)))
        await settle(pilot)
        assert text_of(state) == "ARMED · 1 min 05 s" and state.has_class("-armed")
        screen.post_message(LinkStatusChanged(LinkStatus(LinkState.LOST, down_since=clock.now - 4)))
        await settle(pilot)
        assert text_of(state) == "LINK LOST · 4 s" and state.has_class("-lost")
        screen.post_message(LinkStatusChanged(LinkStatus(LinkState.CONNECTED, armed=False, armed_since=clock.now)))
        await settle(pilot)
        assert text_of(state) == "NOT ARMED · 0 s" and state.has_class("-idle")


async def test_a_disarmed_device_while_stamping_gets_a_banner_and_s_asks_to_arm() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        banner = screen.query_one("#arm-banner", Static)
        await settle(pilot)
        assert not banner.display
        screen.post_message(LinkStatusChanged(LinkStatus(LinkState.CONNECTED, armed=False)))
        await settle(pilot)
        assert banner.display and NOT_COUNTING_TEXT in text_of(banner)
        await pilot.press("s")
        await pilot.pause()
        assert len(app.of_type(StampingScreen.ArmRequested)) == 1
        screen.post_message(LinkStatusChanged(CONNECTED))
        await settle(pilot)
        assert not banner.display
        await pilot.press("s")  # counting already: nothing to ask
        await pilot.pause()
        assert len(app.of_type(StampingScreen.ArmRequested)) == 1


async def test_stamps_stored_outside_any_session_are_shown_apart_not_counted() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.stamping
        screen.post_message(StampsStored((), unassigned=3))
        post_stamps(screen, 2)
        await settle(pilot)
        assert screen.stats.count == 2
        assert "3 stamps outside any session" in text_of(screen.query_one("#active-zone", Static))


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45)], ids=["80x24", "100x30", "160x45"])
async def test_what_matters_while_stamping_stays_on_screen_down_to_80_by_24(size: tuple[int, int]) -> None:
    """The count, whether the stamp counts, the force, the active zone and the finish key: the map shrinks first."""
    app = make_app()
    async with app.run_test(size=size) as pilot:
        screen = app.stamping
        post_stamps(screen, 12)
        await settle(pilot)
        width, height = size
        for selector in ("#stamp-counter", "#arm-state", "#force-quality", "#active-zone", "#coverage-map"):
            region = screen.query_one(selector).region
            assert region.width > 0 and region.height > 0, selector
            assert region.right <= width and region.bottom <= height, (selector, region)
        assert "ARMED" in text_of(screen.query_one("#arm-state", Static))
        footer = [key for key, active in app.active_bindings.items() if active.binding.show]
        assert footer[0] == "ctrl+d", "finish comes first in the footer, so a narrow one keeps it"
