"""The always-visible link status bar: link state (with how long it has been down), serial, battery, head."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from textual.reactive import reactive
from textual.widgets import Static

from stampside.app.tui.widgets.text_update import set_text
from stampside.devicelink.state import LinkState

#: What the bar says for each state; the colour (from ``widgets.tcss``) only repeats it.
_STATE_TEXT = {
    LinkState.CONNECTING: "connecting",
    LinkState.CONNECTED: "● connected",
    LinkState.LOST: "✖ link lost",
    LinkState.RECONNECTING: "↻ reconnecting",
    LinkState.CLOSED: "■ closed",
}

#: States in which the bar counts how long the link has been down.
_DOWN = frozenset({LinkState.LOST, LinkState.RECONNECTING})


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """The link as the screens show it: plain values, so a test needs no device.

    ``down_since`` is when the link stopped being connected (the clock of the bar, by
    default ``time.monotonic``); it stays the same while the link goes LOST → RECONNECTING
    → LOST, so the bar says how long stamps have not been arriving.
    """

    state: LinkState
    serial: str | None = None
    battery_pct: int | None = None
    head_id: str | None = None
    down_since: float | None = None
    #: Whether the device counts stamps, as it last said (None: not known yet).
    armed: bool | None = None
    #: When ``armed`` last changed (the bar's clock), for "armed for 3 min".
    armed_since: float | None = None
    #: Why the stamps cannot be stored right now (the database is away; the link retries), or None.
    storage_problem: str | None = None
    #: Since when (the bar's clock) they cannot: the stamps wait on the device meanwhile.
    storage_away_since: float | None = None

    @property
    def down(self) -> bool:
        """The link dropped and the session is trying to get it back."""
        return self.state in _DOWN

    @property
    def counting(self) -> bool:
        """Connected and the device says it counts stamps."""
        return self.state is LinkState.CONNECTED and self.armed is True


def format_duration(seconds: float) -> str:
    """``"3 s"``, ``"2 min 05 s"``, ``"1 h 02 min"``."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def describe_state(status: LinkStatus, now: float) -> str:
    """The state as the bar words it: ``"↻ reconnecting 3 s"``."""
    text = _STATE_TEXT[status.state]
    if status.down and status.down_since is not None:
        text += f" {format_duration(now - status.down_since)}"
    return text


def describe_counting(status: LinkStatus, now: float) -> str:
    """Whether stamps are counted, large and plain: ``ARMED · 3 min 05 s``, ``NOT ARMED``, ``LINK LOST · 12 s``."""
    if status.down:
        since = status.down_since
        return "LINK LOST" + (f" · {format_duration(now - since)}" if since is not None else "")
    if status.state is not LinkState.CONNECTED:
        return "NOT CONNECTED" if status.state is LinkState.CLOSED else "CONNECTING"
    if status.armed is None:
        return "CHECKING"
    since = status.armed_since
    text = "ARMED" if status.armed else "NOT ARMED"
    return text + (f" · {format_duration(now - since)}" if since is not None else "")


def describe_link(status: LinkStatus, now: float) -> str:
    """The whole bar's text, fields separated by ``│``."""
    serial = status.serial or "—"
    battery = "—" if status.battery_pct is None else f"{status.battery_pct}%"
    head = status.head_id or "—"
    return f" Link: {describe_state(status, now)}  │  Device {serial}  │  Battery {battery}  │  Head {head}"


class LinkStatusBar(Static):
    """One line: link state, device serial, battery % and head id.

    Set :attr:`status`; the bar re-renders, takes the class of the state (``-connected``,
    ``-lost``, ``-reconnecting``, ``-connecting``, ``-closed``) for its colour, and ticks
    every second while the link is down so the duration stays true.
    """

    #: Set again every second by the stamping screen; :meth:`_show` redraws only what changed.
    status: reactive[LinkStatus] = reactive(LinkStatus(LinkState.CONNECTING), always_update=True, repaint=False)

    def __init__(
        self,
        status: LinkStatus | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._clock = clock
        if status is not None:
            self.set_reactive(LinkStatusBar.status, status)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._show(self.status)

    def watch_status(self, status: LinkStatus) -> None:
        self._show(status)

    def _tick(self) -> None:
        if self.status.down:
            self._show(self.status)

    def _show(self, status: LinkStatus) -> None:
        for state in LinkState:
            self.set_class(state is status.state, f"-{state.value}")
        # Set every second by the stamping screen: redrawn only when the words change, and
        # without a layout pass of the whole screen when they still fit.
        set_text(self, describe_link(status, self._clock()))
