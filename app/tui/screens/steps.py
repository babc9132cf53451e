"""The guided steps before and after stamping: checks, disinfection, applications, aftercare, summary.

Each screen is a :class:`~stampside.app.tui.screens.step_base.StepScreen`; the stamping step is the
:class:`~stampside.app.tui.screens.stamping.StampingScreen`. The session controller builds the screen
for the current step (:func:`screen_for_step`) and refreshes it when the flow changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, Static

from stampside.app.domain.aftercare import AftercareCard, clock_time
from stampside.app.domain.coverage import ZoneCoverage
from stampside.app.domain.entry import EXPIRY_HINT, parse_expiry, parse_volume
from stampside.app.domain.gates import format_duration
from stampside.app.domain.signatures import SignatureMark, manifestation
from stampside.app.domain.steps import KnownLot, StepError, StepRecord
from stampside.app.domain.treatment_protocol import Step, StepKind
from stampside.app.tui.screens.step_base import StepHost, StepScreen
from stampside.app.tui.widgets.coverage_map import format_percent
from stampside.app.tui.widgets.status_bar import LinkStatus


class PreChecksScreen(StepScreen):
    """Step 1: the device is identified, needle 2.0 mm, head unused, battery, clock: live, re-checked."""

    NEXT_LABEL = "Continue"

    def compose_body(self) -> Iterable[Widget]:
        yield Static(
            "The stamp is connected but not armed. The checks run again whenever its details change "
            "(a new head, the battery, a reconnect).",
            id="checks-hint",
            classes="step-hint",
            markup=False,
        )

    def waiting_text(self) -> str:
        return "Waiting for the stamp…"


class DisinfectionScreen(StepScreen):
    """Step 2: the practitioner confirms the disinfection (c); the contact/dry timer runs from then."""

    AUTO_FOCUS = "#confirm"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("c", "confirm", "Disinfected")]

    def compose_body(self) -> Iterable[Widget]:
        if self.step.agent:
            yield Static(f"Agent: {self.step.agent}", id="agent", classes="step-fact", markup=False)
        yield Static("", id="disinfection-state", classes="step-fact", markup=False)

    def compose_buttons(self) -> Iterable[Widget]:
        yield Button("Disinfected  c", id="confirm", variant="success")

    def refresh_body(self) -> None:
        state = self.query_one("#disinfection-state", Static)
        button = self.query_one("#confirm", Button)
        record = self.host.flow.current_record if self.started else None
        if record is None:
            timer = self.step.timer
            after = f" The {timer.label} ({format_duration(timer.seconds)}) starts then." if timer else ""
            state.update(f"Press c once the treatment area is disinfected.{after}")
            button.disabled = False
        else:
            at = clock_time(self.host.local(record.started_at))
            state.update(f"Disinfected: confirmed by {record.started_by} at {at}.")
            button.disabled = True

    def timer_not_started_text(self) -> str:
        return "starts when you confirm the disinfection (c)"

    def waiting_text(self) -> str:
        return "Confirm the disinfection first (c)."

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm" and self.started:
            return None  # shown greyed out: already confirmed
        return super().check_action(action, parameters)

    async def action_advance(self) -> None:
        """The first press confirms the disinfection (its timer starts); once the timer is over, on to the next step."""
        if not self.started:
            self.action_confirm()
        else:
            self.action_next_step()

    def action_confirm(self) -> None:
        if self.started:
            return
        self.clear_error()
        try:
            self.host.change(lambda flow: flow.start(self.host.practitioner))
        except StepError as exc:
            self.show_error(str(exc))
            return
        self.refresh_step()
        self.refresh_bindings()
        self.query_one("#next", Button).focus()

    def before_next(self) -> bool:
        if not self.started:
            self.show_error("Confirm the disinfection first (press c); its timer starts then.")
            return False
        return True

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_confirm()


class ApplicationScreen(StepScreen):
    """An application step: product lot and expiry (an expired lot is refused), volume, its timer if any.

    A lot recorded before (the first application's, or the patient's previous session's) is
    filled in and said to be carried over; it is recorded only once confirmed (enter through
    the fields, or Next), never silently.
    """

    AUTO_FOCUS = "#lot"
    #: The lot filled in from before, until it is confirmed or replaced.
    offered: KnownLot | None = None

    def compose_body(self) -> Iterable[Widget]:
        required = " (required)" if self.step.requires_lot else " (optional)"
        with Horizontal(classes="field-row"):
            with Vertical(classes="field-cell lot-cell"):
                yield Label(f"Product lot{required}", classes="field-label")
                yield Input(placeholder="e.g. LX-2291", id="lot")
            with Vertical(classes="field-cell"):
                yield Label("Expiry", classes="field-label")
                yield Input(placeholder="YYYY-MM-DD", id="expiry")
            with Vertical(classes="field-cell"):
                yield Label("Volume (ml)", classes="field-label")
                yield Input(id="volume")
        yield Static("", id="lot-status", classes="step-fact", markup=False)
        yield Static(
            f"Expiry as {EXPIRY_HINT}. Enter records a field and goes to the next; on the last one it goes on.",
            classes="step-hint",
            markup=False,
        )

    def on_mount(self) -> None:
        record = self.host.flow.current_record if self.started else None
        lot = self.query_one("#lot", Input)
        expiry = self.query_one("#expiry", Input)
        volume = self.query_one("#volume", Input)
        if record is not None and record.lot is not None:
            lot.value = record.lot
            expiry.value = record.lot_expiry.isoformat() if record.lot_expiry else ""
        elif (offered := self.host.offered_lot) is not None:
            # Shown, not recorded: enter through the fields (or Next) confirms it.
            lot.value = offered.lot
            expiry.value = offered.expiry.isoformat()
            self.offered = offered
        shown = record.volume_ml if record is not None and record.volume_ml is not None else self.step.volume_ml
        volume.value = _ml(shown) if shown is not None else ""
        # StepScreen.on_mount runs after this one (Textual calls every class's handler): it refreshes.

    def refresh_body(self) -> None:
        record = self.host.flow.current_record if self.started else None
        status = self.query_one("#lot-status", Static)
        if record is not None and record.lot is not None and record.lot_expiry is not None:
            status.update(f"✓ Lot {record.lot} recorded, expires {record.lot_expiry.isoformat()}.")
        elif self.offered is not None:
            offered = self.offered
            status.update(
                f"Lot {offered.lot}, expiring {offered.expiry.isoformat()}, as in {offered.source}: check it against "
                "the vial, then enter to confirm it (or type the new one). Not recorded until confirmed."
            )
        elif self.step.requires_lot:
            status.update("No lot recorded yet: type the lot and its expiry from the vial.")
        else:
            status.update("No lot recorded (optional for this step).")

    # -- recording --------------------------------------------------------------------------

    def _record(self) -> StepRecord | None:
        return self.host.flow.current_record if self.started else None

    def record_lot(self, *, quiet: bool = False) -> bool:
        """Record the typed lot and expiry; False (with the message shown) if refused."""
        lot = self.query_one("#lot", Input).value.strip()
        expiry_text = self.query_one("#expiry", Input).value
        record = self._record()
        try:
            if not lot and not expiry_text.strip():
                if self.step.requires_lot:
                    raise _FieldError("#lot", "type the product lot number from the vial")
                return True
            if not lot:
                raise _FieldError("#lot", "type the lot number that goes with this expiry date")
            try:
                expiry = parse_expiry(expiry_text)
            except StepError as exc:
                raise _FieldError("#expiry", str(exc)) from None
            if record is not None and record.lot == lot and record.lot_expiry == expiry:
                return True
            try:
                self.host.change(lambda flow: flow.record_lot(lot, expiry))
            except StepError as exc:
                raise _FieldError("#expiry", str(exc)) from None
        except _FieldError as exc:
            self.show_error(exc.message)
            self.query_one(exc.field, Input).focus()
            return False
        if not quiet:
            self.clear_error()
            self.notify(f"Lot {lot} recorded.", title=self.step.title)
        self.refresh_step()
        return True

    def record_volume(self, *, quiet: bool = False) -> bool:
        record = self._record()
        try:
            volume = parse_volume(self.query_one("#volume", Input).value)
            if record is None or record.volume_ml != volume:
                self.host.change(lambda flow: flow.record_volume(volume))
        except StepError as exc:
            self.show_error(str(exc))
            self.query_one("#volume", Input).focus()
            return False
        if not quiet:
            self.clear_error()
            self.notify(f"Volume {_ml(volume)} ml recorded.", title=self.step.title)
        self.refresh_step()
        return True

    def before_next(self) -> bool:
        return self.record_lot(quiet=True) and self.record_volume(quiet=True)

    async def action_advance(self) -> None:
        """In a field (a foot switch pressed there): what enter does in it; else record what is typed and go on."""
        focused = self.focused
        if isinstance(focused, Input):
            await focused.action_submit()
        else:
            self.action_next_step()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.clear_error()
        if event.input.id == "lot":
            self.query_one("#expiry", Input).focus()
        elif event.input.id == "expiry":
            if self.record_lot():
                self.query_one("#volume", Input).focus()
        elif event.input.id == "volume" and self.record_volume():
            self.leave_fields()

    def leave_fields(self) -> None:
        """Out of the fields once they are recorded: onto Next, or (a timer still running) onto nothing,
        so the next enter is the step's again and says what it waits for."""
        next_button = self.query_one("#next", Button)
        if next_button.disabled:
            self.set_focus(None)
        else:
            next_button.focus()


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _ml(volume: float) -> str:
    return f"{volume:g}"


class AftercareScreen(StepScreen):
    """Aftercare: the hair-wash times with their dates, the instructions, the next appointment, the
    clinic's phone and address, and where the card was written.

    Every line comes from the card itself (:class:`~stampside.app.domain.aftercare.AftercareCard`), so the
    screen tells the patient what the card says.
    """

    AUTO_FOCUS = "#next"

    def __init__(
        self,
        host: StepHost,
        step: Step,
        number: int,
        card: AftercareCard,
        *,
        card_paths: Sequence[Path] = (),
        card_error: str | None = None,
        link: LinkStatus | None = None,
    ) -> None:
        super().__init__(host, step, number, link=link)
        self.card = card
        self.window = card.window
        self.instructions = card.instruction_lines
        #: The card files written (text, HTML), or why they could not be.
        self.card_paths = tuple(card_paths)
        self.card_error = card_error

    def compose_body(self) -> Iterable[Widget]:
        card = self.card
        yield Static(f"No hair wash: {self.window.describe()}", id="wash-window", markup=False)
        yield Static(f"Treatment ended {card.ended_text}.", classes="step-fact", markup=False)
        if self.instructions:
            yield Static("\n".join(f"• {line}" for line in self.instructions), id="aftercare-rules", markup=False)
        if card.next_lines:
            text = f"{card.next_title}: " + "; ".join(card.next_lines)
        else:
            text = "Next appointment: not known."
        yield Static(text, id="next-appointment", classes="step-fact", markup=False)
        contact = "\n".join(line for line in (card.contact_line, card.address_line) if line)
        yield Static(contact, id="clinic-contact", classes="step-fact", markup=False)
        if self.card_error is not None:
            text = f"The aftercare card could not be written: {self.card_error}"
        elif self.card_paths:
            text = "Aftercare card written:\n" + "\n".join(f"  {path}" for path in self.card_paths)
        else:
            text = "No aftercare card was written."
        yield Static(text, id="card-path", classes="step-fact -error" if self.card_error else "step-fact", markup=False)


@dataclass(frozen=True, slots=True)
class SessionFigures:
    """What the summary shows about the stamps: read from storage, so it is what was stored."""

    stamps: int
    zones: tuple[ZoneCoverage, ...]
    unassigned: int = 0


class SummaryScreen(StepScreen):
    """The last step: every step with its times and who confirmed, lots, volumes, overrides (with their
    signatures), stamps, coverage. Closing the session is signed with the PIN (approved)."""

    AUTO_FOCUS = "#next"
    NEXT_LABEL = "Close session"

    def __init__(
        self,
        host: StepHost,
        step: Step,
        number: int,
        *,
        figures: SessionFigures | None = None,
        link: LinkStatus | None = None,
        signatures: Mapping[tuple[int, int], SignatureMark] | None = None,
    ) -> None:
        super().__init__(host, step, number, link=link)
        self.figures = figures
        #: The overrides' signatures as stored, by (step position, the override's place in its step).
        self.signatures = dict(signatures or {})

    def compose_body(self) -> Iterable[Widget]:
        yield Label("Steps", classes="section-title")
        yield DataTable(id="summary-steps", cursor_type="row", zebra_stripes=True)
        yield Label("Overrides", classes="section-title")
        yield Static("", id="summary-overrides", markup=False)
        yield Label("Stamps and coverage", classes="section-title")
        yield Static("Reading the stored stamps…", id="summary-stamps", markup=False)
        yield DataTable(id="summary-zones", cursor_type="row")

    def on_mount(self) -> None:
        steps = self.query_one("#summary-steps", DataTable)
        steps.add_columns("Step", "Started", "Ended", "Confirmed by", "Volume", "Lot (expiry)", "Timer ran/set")
        zones = self.query_one("#summary-zones", DataTable)
        zones.add_columns("Zone", "Treated", "Stamps", "Coverage")
        self._fill_steps()
        if self.figures is not None:
            self._show_figures(self.figures)

    def _time(self, moment: datetime | None) -> str:
        return self.host.local(moment).strftime("%H:%M:%S") if moment is not None else "—"

    def _fill_steps(self) -> None:
        table = self.query_one("#summary-steps", DataTable)
        table.clear()
        flow = self.host.flow
        overrides: list[str] = []
        for record in flow.records:
            step = flow.protocol.steps[record.position]
            lot = f"{record.lot} ({record.lot_expiry.isoformat()})" if record.lot and record.lot_expiry else "—"
            timer = "—"
            if record.timer_seconds is not None:
                ran = f"{record.timer_ran_seconds:.0f}" if record.timer_ran_seconds is not None else "…"
                timer = f"{ran}/{record.timer_seconds} s"
            table.add_row(
                step.title,
                self._time(record.started_at),
                self._time(record.ended_at) if record.completed else "now",
                record.confirmed_by or "—",
                f"{_ml(record.volume_ml)} ml" if record.volume_ml is not None else "—",
                lot,
                timer,
            )
            for place, override in enumerate(record.overrides):
                at = self.host.local(override.at).strftime("%H:%M:%S")
                mark = self.signatures.get((record.position, place))
                zone = self.host.local(mark.signed_at).tzinfo if mark else None  # the clinic's time zone
                signed = f"\n   ✍ {manifestation(mark, zone)}" if mark else ""
                overrides.append(
                    f"⚑ {step.title}: {override.gate.label} by {override.by} at {at}: "
                    f"{override.reason}  (was: {override.failure}){signed}"
                )
        self.query_one("#summary-overrides", Static).update("\n".join(overrides) or "None.")

    def show_figures(self, figures: SessionFigures) -> None:
        """Show the stored stamps and coverage (read after the screen was built)."""
        self.figures = figures
        if self._ready:
            self._show_figures(figures)

    def _show_figures(self, figures: SessionFigures) -> None:
        extra = f", {figures.unassigned} without a zone" if figures.unassigned else ""
        self.query_one("#summary-stamps", Static).update(f"{figures.stamps} stamps stored in this session{extra}.")
        table = self.query_one("#summary-zones", DataTable)
        table.clear()
        for zone in figures.zones:
            if not zone.treated and not zone.stamps:
                continue
            table.add_row(
                zone.zone.label,
                "yes" if zone.treated else "no",
                str(zone.stamps),
                format_percent(zone.percent, zone.reached) if zone.treated else "—",
            )


def screen_for_step(host: StepHost, step: Step, number: int, *, link: LinkStatus | None = None) -> StepScreen:
    """The screen of a step that needs nothing more than the flow (stamping, aftercare and summary are
    built by the controller with their data); a kind without a screen of its own gets the plain one."""
    kinds: dict[StepKind, type[StepScreen]] = {
        StepKind.PRE_CHECKS: PreChecksScreen,
        StepKind.DISINFECTION: DisinfectionScreen,
        StepKind.APPLICATION: ApplicationScreen,
    }
    return kinds.get(step.kind, StepScreen)(host, step, number, link=link)
