"""The stamping step: live count, force, coverage map, whether the stamp counts, with zone keys and "finish step".

The screen holds no link and credits nothing. Whoever owns the
:class:`~stampside.devicelink.session.LinkSession` (the app shell) posts :class:`StampsStored` with the
stamps the database has just stored for the session — each with the zone it was stored in —
and :class:`LinkStatusChanged` on every state change. The screen counts them through the
domain models it was given (:class:`~stampside.app.domain.coverage.CoverageModel`,
:class:`~stampside.app.domain.stamping_stats.StampingStats`), so its count, rate and coverage are the
stored ones: it cannot show a stamp that is not stored. It posts upward
:class:`StampingScreen.ActiveZoneChanged` (stamps arriving from now on are stored in that
zone), :class:`StampingScreen.ArmRequested` and :class:`StampingScreen.Finished`.

Whether the stamp counts is always on screen, large: ARMED, NOT ARMED or LINK LOST, with how
long. If the device says it is not counting while this step wants stamps, a banner says so
and ``s`` asks for it to be armed. When another chair's open session holds the stamp or its head,
a banner says who has it (:meth:`StampingScreen.show_claim_problem`): its stamps are not this
session's, and ``s`` asks for it again.

Counting happens as each message arrives; the widgets are redrawn at most every
``redraw_interval`` seconds (the first stamp after a pause is drawn at once), so a replay
burst of a thousand stamps costs a handful of redraws, not a thousand.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from stampside.app.domain.coverage import CoverageModel, CreditedStamp, ZoneCoverage
from stampside.app.domain.stamping_stats import StampingStats
from stampside.app.domain.treatment_protocol import ForceThresholds, TreatmentProtocol
from stampside.app.domain.zones import DEFAULT_AREA_CM2, Zone, next_zone
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.zone_area import ZoneAreaDialog
from stampside.app.tui.widgets.coverage_map import CoverageMap, ZoneTile, format_percent, format_stamps
from stampside.app.tui.widgets.force_meter import ForceMeter
from stampside.app.tui.widgets.header import AppHeader
from stampside.app.tui.widgets.live_text import LiveText
from stampside.app.tui.widgets.session_banner import BannerInfo, SessionBanner
from stampside.app.tui.widgets.stamp_counter import StampCounter
from stampside.app.tui.widgets.status_bar import LinkStatus, LinkStatusBar, describe_counting, format_duration
from stampside.app.tui.widgets.text_update import set_text
from stampside.devicelink.state import LinkState

LINK_LOST_TEXT = "⚠ Link lost — the stamp keeps counting; stamps will arrive when it reconnects"


NOT_COUNTING_TEXT = "⚠ The stamp is not counting — press s to arm it"


class StampsStored(Message):
    """Stamps the database just stored for this session (each once), and how many it stored outside any session."""

    def __init__(self, stamps: tuple[StampInput, ...], unassigned: int = 0) -> None:
        super().__init__()
        self.stamps = stamps
        #: Stamps that arrived while no session was open: stored, not counted here.
        self.unassigned = unassigned


class LinkStatusChanged(Message):
    """The link's state or device details changed; a newer one replaces one still queued."""

    def __init__(self, status: LinkStatus) -> None:
        super().__init__()
        self.status = status

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LinkStatusChanged)


@dataclass(frozen=True, slots=True)
class StampInput:
    """A stored stamp as :meth:`StampingScreen.record_stamps` takes it.

    ``zone`` is the device's zone id; ``credited`` the zone it was stored in for the session
    (None: unassigned); ``received_at`` the host time it arrived, on the screen's clock
    (None: now); ``life`` the device numbering it came in.
    """

    boot: int
    seq: int
    device_time_ms: int
    force_dn: int
    zone: int = 0
    received_at: float | None = None
    credited: Zone | None = None
    life: int = 1


def _looks_alike(shown: ZoneCoverage, now: ZoneCoverage, was_active: bool, is_active: bool) -> bool:
    """Whether a zone's tile looks the same at a glance: same level, target, treatment and activity."""
    return (
        was_active == is_active
        and shown.treated == now.treated
        and shown.reached == now.reached
        and shown.level == now.level
        and shown.area_cm2 == now.area_cm2
    )


#: Seconds the once-a-second figures may wait for the next stamp (stamps at 3 a second come
#: every 0.33 s); with no stamp that soon they are drawn on their own.
SECOND_RIDES_S = 0.4
#: How long after a stamp's frame the once-a-second figures waiting for it are drawn: in a frame
#: of their own, so they never delay a count (drawn with it, they made every third stamp's frame
#: three times as slow), and long before the next stamp can come.
SECOND_AFTER_STAMP_S = 0.03


class StampingScreen(Screen[None]):
    """The stamping step of a treatment session."""

    CSS_PATH = ["../styles/widgets.tcss", "../styles/stamping.tcss"]  # noqa: RUF012 - Textual reads it as a class variable
    TITLE = "Stampside"
    SUB_TITLE = "Stamping"

    #: Width and height classes for the compact layout (80×24 and up; the map shrinks first).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (96, "-wide")]  # noqa: RUF012 - Textual reads it per class
    VERTICAL_BREAKPOINTS = [(0, "-short"), (28, "-tall")]  # noqa: RUF012 - Textual reads it per class

    BINDINGS: ClassVar[list[BindingType]] = [
        # Finish first: the footer cuts from the right on a narrow terminal, and this one must stay.
        Binding("ctrl+d", "finish", "Finish step"),
        Binding("f", "zone(1)", "Frontal"),
        Binding("m", "zone(2)", "Mid-scalp"),
        Binding("v", "zone(3)", "Vertex"),
        Binding("l", "zone(4)", "Left"),
        Binding("r", "zone(5)", "Right"),
        *(Binding(str(zone.value), f"zone({zone.value})", zone.label, show=False) for zone in Zone),
        Binding("t", "toggle_treated", "Treat on/off"),
        Binding("s", "arm", "Arm", show=False),
        Binding("a", "edit_area", "Zone area", show=False),
        Binding("ctrl+n", "finish", "Finish step", show=False),
        Binding("enter", "advance", "Finish step", show=False),
        Binding("space", "advance", "Finish step", show=False),
        Binding("n", "next_zone", "Next zone", show=False),
    ]

    class ActiveZoneChanged(Message):
        """The practitioner moved to another zone: stamps arriving from now on count there."""

        def __init__(self, zone: Zone) -> None:
            super().__init__()
            self.zone = zone

    class ArmRequested(Message):
        """The practitioner asked the stamp to count (it said it was not)."""

    class DisarmRequested(Message):
        """The practitioner asked the stamp to stop counting (a pause); ``s`` arms it again."""

    class TreatedZonesChanged(Message):
        """The practitioner added or removed a treated zone, or changed a zone's area (stamps counted stay)."""

        def __init__(self, zones: frozenset[Zone]) -> None:
            super().__init__()
            self.zones = zones

    class ZoneReached(Message):
        """A treated zone reached its target (posted once per zone, as the prompt shows)."""

        def __init__(self, zone: Zone) -> None:
            super().__init__()
            self.zone = zone

    class Finished(Message):
        """The practitioner finished the step; ``under_target`` lists the treated zones left under target."""

        def __init__(self, under_target: tuple[ZoneCoverage, ...]) -> None:
            super().__init__()
            self.under_target = under_target

    def __init__(
        self,
        coverage: CoverageModel,
        stats: StampingStats,
        *,
        link: LinkStatus | None = None,
        elapsed_before_s: float = 0.0,
        redraw_interval: float = 0.08,
        clock: Callable[[], float] = time.monotonic,
        banner: BannerInfo | None = None,
        wall_clock: Callable[[], datetime] | None = None,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self._banner = banner
        self._wall_clock = wall_clock or (lambda: datetime.now(UTC))
        self.coverage = coverage
        self.stats = stats
        self.link = link or LinkStatus(LinkState.CONNECTING)
        self.redraw_interval = redraw_interval
        self._clock = clock
        self._elapsed_before_s = elapsed_before_s
        #: Stamps the database stored outside any session while this screen was up.
        self.unassigned = 0
        #: Why the stamp does not feed this session: another chair holds it (None: it does).
        self.claim_problem: str | None = None
        self._composed = False
        self._dirty = False
        self._last_redraw = float("-inf")
        self._redraw_timer: Timer | None = None
        #: How many redraws happened (for tests and the bench).
        self.redraws = 0
        #: What each zone's tile shows: its figures and the active zone then.
        self._shown_zones: dict[Zone, tuple[ZoneCoverage, Zone]] = {}
        #: The once-a-second figures are due and wait for the next stamp's frame (see :meth:`_tick`).
        self._second_due = False
        #: The once-a-second figures are to be drawn just after a stamp's frame (timer set).
        self._second_soon = False
        self._second_timer: Timer | None = None

    @classmethod
    def for_protocol(
        cls,
        protocol: TreatmentProtocol,
        treated: Iterable[Zone],
        footprint_mm2: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        link: LinkStatus | None = None,
        active: Zone | None = None,
        elapsed_before_s: float = 0.0,
        areas_cm2: Mapping[Zone, float] | None = None,
        banner: BannerInfo | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> StampingScreen:
        """A screen for a stamping step with the protocol's targets and force bands.

        A resumed step passes the time it had already run (``elapsed_before_s``), the zone
        areas stored with the session (``areas_cm2``), and then its stored stamps to
        :meth:`restore_stamps` and ``coverage.load``.
        """
        coverage = CoverageModel(
            treated, protocol.coverage.densities(), footprint_mm2, areas_cm2=areas_cm2, active=active
        )
        stats = StampingStats(protocol.force, clock)
        return cls(
            coverage,
            stats,
            link=link,
            clock=clock,
            elapsed_before_s=elapsed_before_s,
            banner=banner,
            wall_clock=wall_clock,
        )

    def restore_stamps(self, stamps: Iterable[StampInput]) -> None:
        """Count the session's stamps stored before this screen (a resumed step), with no "zone at
        target" prompt for them. ``received_at`` must be on the screen's clock."""
        stamps = list(stamps)
        self.coverage.load(self._credited(stamp) for stamp in stamps)
        for stamp in stamps:
            self.stats.add(
                stamp.boot, stamp.seq, stamp.device_time_ms, stamp.force_dn, stamp.received_at, life=stamp.life
            )
        self._dirty = True
        self._schedule_redraw()

    def _credited(self, stamp: StampInput) -> CreditedStamp:
        return CreditedStamp(stamp.boot, stamp.seq, stamp.credited, 0, stamp.life)

    @property
    def thresholds(self) -> ForceThresholds:
        thresholds = self.stats.thresholds
        if not isinstance(thresholds, ForceThresholds):  # pragma: no cover - always the protocol's
            raise TypeError("the stamping screen needs the protocol's ForceThresholds")
        return thresholds

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield AppHeader()
        if self._banner is not None:
            yield SessionBanner(self._banner, self._wall_clock, ticking=False)
        yield LinkStatusBar(self.link, clock=self._clock, id="link-status")
        yield Static(LINK_LOST_TEXT, id="link-banner", markup=False)
        yield Static(NOT_COUNTING_TEXT, id="arm-banner", markup=False)
        yield Static("", id="storage-banner", markup=False)
        shown = "-shown" if self.claim_problem else ""
        yield Static(self._claim_text(), id="claim-banner", markup=False, classes=shown)
        with Horizontal(id="stamping-body"):
            yield CoverageMap(id="coverage-map")
            with Vertical(id="stamping-side"):
                yield Static(id="arm-state", markup=False)
                yield StampCounter(id="stamp-counter")
                yield ForceMeter(self.thresholds, id="force-meter")
                yield LiveText(id="active-zone")
        yield Footer()

    def on_mount(self) -> None:
        self._composed = True  # ``is_mounted`` only turns true after the mount handlers
        self.stats.start(self._elapsed_before_s)
        self._show_link(self.link)
        self.set_interval(1.0, self._tick)
        self._redraw()
        # The screen's long-lived objects join start-up's out of the garbage collector's
        # reach (see StampsideApp), so a full collection never stalls a stamp's redraw.
        self.call_after_refresh(gc.freeze)

    # -- input: stamps and link ---------------------------------------------------------

    @on(StampsStored)
    def _on_stored(self, message: StampsStored) -> None:
        message.stop()
        if message.unassigned:
            self.unassigned += message.unassigned
            self._dirty = True
        self.record_stamps(message.stamps)

    @on(LinkStatusChanged)
    def _on_link_status(self, message: LinkStatusChanged) -> None:
        message.stop()
        self.set_link_status(message.status)

    @on(ZoneTile.Selected)
    def _on_tile_selected(self, message: ZoneTile.Selected) -> None:
        message.stop()
        self.action_zone(int(message.zone))

    def record_stamps(self, stamps: Iterable[StampInput]) -> None:
        """Count stored stamps now, each in the zone it was stored in; the widgets catch up at the
        next redraw. A stamp counted already changes nothing."""
        for stamp in stamps:
            credit = self.coverage.add_credited(self._credited(stamp), stamp.zone)
            if credit.duplicate:
                continue
            self.stats.add(
                stamp.boot, stamp.seq, stamp.device_time_ms, stamp.force_dn, stamp.received_at, life=stamp.life
            )
            if credit.just_reached is not None:
                self._announce_reached(credit.just_reached)
            self._dirty = True
        self._schedule_redraw()

    def set_link_status(self, status: LinkStatus) -> None:
        self.link = status
        self._show_link(status)

    def _show_link(self, status: LinkStatus) -> None:
        if not self._composed:
            return
        self.query_one(LinkStatusBar).status = status
        banner = self.query_one("#link-banner", Static)
        banner.set_class(status.down, "-shown")
        if status.down:
            banner.update(self._banner_text(status))
        storage = self.query_one("#storage-banner", Static)
        storage.set_class(status.storage_problem is not None, "-shown")
        if status.storage_problem is not None:
            storage.update(self._storage_text(status))
        not_counting = status.state is LinkState.CONNECTED and status.armed is False and self.stats.running
        self.query_one("#arm-banner", Static).set_class(not_counting, "-shown")
        arm = self.query_one("#arm-state", Static)
        set_text(arm, describe_counting(status, self._clock()))
        for name, shown in (("-armed", status.counting), ("-lost", status.down), ("-idle", not status.counting)):
            arm.set_class(shown, name)

    def show_claim_problem(self, text: str | None) -> None:
        """Say (``None``: no longer) that the stamp or its head is another chair's session's: not counted here."""
        self.claim_problem = text
        if not self._composed:
            return
        banner = self.query_one("#claim-banner", Static)
        banner.update(self._claim_text())
        banner.set_class(text is not None, "-shown")

    def _claim_text(self) -> str:
        if self.claim_problem is None:
            return ""
        return f"⚠ Not counted here. {self.claim_problem} (s asks again)"

    def _storage_text(self, status: LinkStatus) -> str:
        """The database is away: what it means for the stamps, and for how long."""
        since = status.storage_away_since
        away = f" for {format_duration(self._clock() - since)}" if since is not None else ""
        return (
            f"⚠ DATABASE AWAY{away}: stamps wait on the device, unacknowledged, and are counted here once "
            f"stored; nothing is lost, carry on. ({status.storage_problem})"
        )

    def _banner_text(self, status: LinkStatus) -> str:
        if status.down_since is None:
            return LINK_LOST_TEXT
        return f"{LINK_LOST_TEXT}  (down {format_duration(self._clock() - status.down_since)})"

    def _announce_reached(self, zone: Zone) -> None:
        self.notify(f"{zone.label} is at its target: move on to the next zone.", title="Zone at target")
        self.post_message(self.ZoneReached(zone))

    # -- redraws ------------------------------------------------------------------------

    def _schedule_redraw(self) -> None:
        if not self._dirty or self._redraw_timer is not None:
            return
        wait = self._last_redraw + self.redraw_interval - time.monotonic()
        if wait <= 0:
            self._redraw()
        else:
            self._redraw_timer = self.set_timer(wait, self._timed_redraw)

    def _timed_redraw(self) -> None:
        self._redraw_timer = None
        self._redraw()

    def _tick(self) -> None:
        """Once a second the figures that move on their own are due: elapsed time, rate, durations,
        the session banner, and the map tiles' figures for the stamps counted since.

        While stamps come (one drawn within :data:`SECOND_RIDES_S`), they wait for the next stamp,
        at most that long, and are drawn :data:`SECOND_AFTER_STAMP_S` after its frame: the count
        is on the screen first, and the second's frame falls between two stamps instead of at a
        random moment a stamp may have to wait behind. Otherwise they are drawn now.
        """
        self._second_due = True
        if time.monotonic() - self._last_redraw < SECOND_RIDES_S:
            if self._second_timer is None:
                self._second_timer = self.set_timer(SECOND_RIDES_S, self._second)
            return
        self._second()

    def _second(self) -> None:
        """Draw the once-a-second figures."""
        if self._second_timer is not None:
            self._second_timer.stop()
            self._second_timer = None
        self._second_due = self._second_soon = False
        stats = self.stats
        self.query_one(StampCounter).show(stats.count, stats.rate_per_min(), stats.elapsed_s)
        self._show_link(self.link)
        self._show_map(every_change=True)
        if self._banner is not None:
            self.query_one(SessionBanner).tick()

    def _redraw(self) -> None:
        if not self._composed:
            return
        self._last_redraw = time.monotonic()
        self._dirty = False
        self.redraws += 1
        stats = self.stats
        self.query_one(StampCounter).show(stats.count, stats.rate_per_min(), stats.elapsed_s)
        self.query_one(ForceMeter).show(stats.last_quality, stats.last_force_n, stats.recent_forces())
        self._show_map(every_change=False)
        set_text(self.query_one("#active-zone", LiveText), self._active_zone_text())
        if self._second_due and not self._second_soon:
            # Not again for each stamp of a burst: the figures would wait for its end.
            if self._second_timer is not None:
                self._second_timer.stop()
            self._second_timer = self.set_timer(SECOND_AFTER_STAMP_S, self._second)
            self._second_soon = True

    def _show_map(self, *, every_change: bool) -> None:
        """Redraw the tiles whose zone changed. For a stamp (``every_change`` false) only a change
        the eye reads at a glance is drawn at once (the colour level, the target reached, treated
        or not, the active zone); a tile's new percentage and stamp count wait for the next
        once-a-second tick, so a stamp's frame redraws the side panel alone (the active zone's
        figures are there, to the stamp)."""
        active = self.coverage.active
        changed = []
        for zone in self.coverage.zones():
            shown = self._shown_zones.get(zone.zone)
            if shown == (zone, active):
                continue
            if (
                not every_change
                and shown is not None
                and _looks_alike(shown[0], zone, shown[1] == zone.zone, zone.zone == active)
            ):
                continue
            changed.append(zone)
        if changed:  # a stamp changes one zone: the other tiles are not redrawn
            self.query_one(CoverageMap).show(changed, active)
            self._shown_zones.update((zone.zone, (zone, active)) for zone in changed)

    def _active_zone_text(self) -> str:
        zone = self.coverage.zone(self.coverage.active)
        lines = [f"Active zone: {zone.zone.label} ({zone.zone.key})"]
        if not zone.treated:
            lines.append("not treated in this session")
        elif zone.reached:
            lines.append(f"{format_percent(zone.percent, True)} at target")
        else:
            lines.append(f"{format_percent(zone.percent, False)} · {zone.stamps_to_target} stamps to target")
        totals = self.coverage.totals()
        lines.append(f"Area {zone.area_cm2:g} cm² (a to edit)")
        lines.append(f"Treated zones overall: {totals.percent:.0f}%")
        if totals.unassigned_stamps:
            lines.append(f"{totals.unassigned_stamps} stamps with no zone")
        if self.unassigned:
            lines.append(f"{self.unassigned} stamps outside any session (stored, not counted here)")
        return "\n".join(lines)

    # -- actions ------------------------------------------------------------------------

    def action_zone(self, zone_id: int) -> None:
        """Make a zone the active one: stamps without a device zone count into it."""
        zone = Zone(zone_id)
        if zone == self.coverage.active:
            return
        self.coverage.set_active(zone)
        self.post_message(self.ActiveZoneChanged(zone))
        if not self.coverage.zone(zone).treated:
            self.notify(f"{zone.label} is not treated in this session.", severity="warning")
        self._redraw()

    def action_advance(self) -> None:
        """Enter, space or the foot switch: finish stamping (asked first while a treated zone is under target)."""
        self.action_finish()

    def action_next_zone(self) -> None:
        """The next treated zone becomes the active one (``n``, or the foot switch's next-zone key)."""
        self.action_zone(next_zone(self.coverage.active, self.coverage.treated).value)

    def action_arm(self) -> None:
        """Ask for the stamp to count (when it says it does not)."""
        if self.link.counting:
            self.notify("The stamp is counting already.")
            return
        self.post_message(self.ArmRequested())

    def action_disarm(self) -> None:
        """Stop the stamp counting for a pause (the command palette's "Disarm"); ``s`` arms it again."""
        if not self.link.counting:
            self.notify("The stamp is not counting.")
            return
        self.post_message(self.DisarmRequested())
        self.notify("Disarming: the stamp stops counting until you press s.", title="Paused")

    def action_toggle_treated(self) -> None:
        """Add the active zone to the treated zones, or take it out."""
        zone = self.coverage.active
        if zone in self.coverage.treated:
            self.coverage.remove_zone(zone)
            self.notify(f"{zone.label} is no longer treated; its stamps stay counted.")
        else:
            try:
                self.coverage.add_zone(zone)
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"{zone.label} is now treated.")
        self.post_message(self.TreatedZonesChanged(self.coverage.treated))
        self._redraw()

    def action_edit_area(self) -> None:
        """Edit the active zone's area in cm²; its coverage target scales with it."""
        zone = self.coverage.active

        def answered(area: float | None) -> None:
            if area is None or area == self.coverage.area_cm2(zone):
                return
            self.coverage.set_area(zone, area)
            self.notify(f"{zone.label}: {area:g} cm².")
            self.post_message(self.TreatedZonesChanged(self.coverage.treated))
            self._redraw()

        self.app.push_screen(ZoneAreaDialog(zone.label, self.coverage.area_cm2(zone), DEFAULT_AREA_CM2[zone]), answered)

    def action_finish(self) -> None:
        """End the step; with treated zones under target, ask first."""
        under = tuple(self.coverage.under_target())
        if not under:
            self._finish(under)
            return
        lines = [
            f"  • {zone.zone.label}: {format_percent(zone.percent, zone.reached)}, "
            f"{format_stamps(zone.stamps_to_target or 0)} to target"
            for zone in under
        ]
        question = "These treated zones are still under target:\n" + "\n".join(lines) + "\n\nFinish stamping anyway?"

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._finish(under)

        self.app.push_screen(
            ConfirmDialog(question, confirm_label="Finish anyway", cancel_label="Keep stamping"),
            answered,
        )

    def _finish(self, under: tuple[ZoneCoverage, ...]) -> None:
        self._redraw()
        self.stats.stop()
        self.post_message(self.Finished(under))
