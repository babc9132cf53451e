"""Export the stamping screen, driven by simulated stamps, as an SVG at 100×30 (the README's screenshot).

    .venv/bin/python scripts/screenshot_stamping.py [OUT.svg]

Writes ``docs/img/stamping.svg`` by default.
"""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

from textual.app import App

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.domain.zones import Zone
from stampside.app.tui.screens.stamping import StampingScreen, StampInput
from stampside.app.tui.widgets.status_bar import LinkStatus
from stampside.devicelink.state import LinkState

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "img" / "stamping.svg"

#: Stamps per zone for the picture (footprint 100 mm², density 2): frontal at target, the rest on the way.
PLAN = ((Zone.FRONTAL, 120), (Zone.LEFT_TEMPORAL, 32), (Zone.RIGHT_TEMPORAL, 12), (Zone.VERTEX, 45))


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class ScreenshotApp(App[None]):
    """The chairside app's stylesheet and title around the stamping screen."""

    CSS_PATH = str(ROOT / "app" / "tui" / "styles" / "app.tcss")
    TITLE = "Stampside"

    def __init__(self, screen: StampingScreen) -> None:
        super().__init__()
        self._stamping = screen

    def on_mount(self) -> None:
        self.push_screen(self._stamping)


async def render(out: Path) -> None:
    clock = FakeClock()
    link = LinkStatus(LinkState.CONNECTED, serial="SS-000421", battery_pct=78, head_id="1001", armed=True)
    zones = (Zone.FRONTAL, Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL, Zone.VERTEX)
    screen = StampingScreen.for_protocol(default_protocol(), zones, 100, clock=clock, link=link)
    screen.sub_title = "Step 4 of 7 · Stamping"  # as the session controller titles it
    app = ScreenshotApp(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        seq = 0
        for zone, count in PLAN:
            await pilot.press(zone.key)
            stamps = []
            for _ in range(count):
                seq += 1
                clock.now += 1 / 3
                force_dn = int(62 + 18 * math.sin(seq / 4) + 9 * math.sin(seq * 1.7))
                stamps.append(StampInput(1, seq, int(seq * 1000 / 3), force_dn, 0, clock.now, zone))
            screen.record_stamps(stamps)
            await pilot.pause()
        await pilot.pause(0.2)
        app.clear_notifications()
        await pilot.pause()
        out.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main(argv: list[str]) -> None:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    asyncio.run(render(out))
    print(out)


if __name__ == "__main__":
    main(sys.argv)
