"""What every guided step screen shares: title, instructions, the live checks, the timer, Next and Override.

A step screen renders the session's :class:`~stampside.app.domain.steps.SessionFlow` and forwards what
the practitioner does to its :class:`StepHost` (the app's session controller), which changes
the flow, stores the change off the UI thread and moves to the next screen. Every rule (may
the step complete? is this reason enough?) is the domain's: the screen shows its message.

Keys (also in the footer): ``enter`` or ``space`` the step's main action and on to the next
(``ctrl+n`` too), ``ctrl+o`` override the highlighted (or first) failing check, ``ctrl+r``
restart the step's timer. Every key has a button too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Digits, Footer, Label, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from stampside.app.domain.gates import (
    Gate,
    GateResult,
    Override,
    OverrideRefused,
    checked_reason,
    clock_text,
    format_duration,
)
from stampside.app.domain.signatures import SignedAct, Signer
from stampside.app.domain.steps import KnownLot, SessionFlow, StepBlocked, StepError
from stampside.app.domain.treatment_protocol import Step
from stampside.app.tui.dialogs.override import OverrideDialog, gate_title
from stampside.app.tui.screens.stamping import LinkStatusChanged, StampsStored
from stampside.app.tui.widgets.header import AppHeader
from stampside.app.tui.widgets.session_banner import BannerInfo, SessionBanner
from stampside.app.tui.widgets.status_bar import LinkStatus, LinkStatusBar
from stampside.devicelink.state import LinkState

T = TypeVar("T")

#: How often a screen with a timer redraws it (app-clock time, so tests can move it on).
TIMER_TICK_S = 0.25


class StepHost(Protocol):
    """What a step screen needs from whoever runs the session (the session controller)."""

    @property
    def flow(self) -> SessionFlow: ...

    @property
    def practitioner(self) -> str:
        """Who confirms: the practitioner chosen on the start screen."""
        ...

    def change(self, action: Callable[[SessionFlow], T]) -> T:
        """Run ``action`` on the flow and store the changed record (in a worker); domain errors propagate."""
        ...

    def complete_step(self) -> None:
        """Complete the current step (raises the domain's StepError) and move on."""
        ...

    def local(self, moment: datetime) -> datetime:
        """A stored (aware) time in the clinic's time zone."""
        ...

    @property
    def banner(self) -> BannerInfo | None:
        """Who is in the chair, for the banner under the header (None: no banner)."""
        ...

    @property
    def offered_lot(self) -> KnownLot | None:
        """The lot an application step is offered, to be confirmed against the vial (None: nothing known)."""
        ...

    def clock(self) -> datetime:
        """The app's clock (aware)."""
        ...

    def ask_signature(self, what: str, act: SignedAct, done: Callable[[Signer | None], None]) -> None:
        """Have ``what`` signed with the signed-in practitioner's PIN; ``done`` gets the signer (None: not signed)."""
        ...


def gate_line(result: GateResult, timer_label: str | None = None) -> str:
    """``✓ Needle length: needle is 2.0 mm``; an override says who let it through and why.

    A running timer's row points at the timer instead of counting down a second time: the
    screen has one readout of it.
    """
    title = gate_title(result, timer_label)
    if result.gate is Gate.TIMER_ELAPSED and not result.ok and "not over" in result.message:
        return f"⏱ {title}: running, see the timer above"
    if result.passed:
        return f"✓ {title}: {result.message}"
    if result.override is not None:
        return f"⚑ {title}: overridden by {result.override.by} ({result.override.reason}); {result.message}"
    return f"✗ {title}: {result.message}"


class ChecksList(OptionList, inherit_bindings=False):
    """The step's checks. Enter is not taken here: it stays the step's main action, whatever has the focus;
    ``ctrl+o`` (or a click) overrides the highlighted failing check."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, action, show=False)
        for key, action in (
            ("up", "cursor_up"),
            ("down", "cursor_down"),
            ("home", "first"),
            ("end", "last"),
            ("pageup", "page_up"),
            ("pagedown", "page_down"),
        )
    ]


class StepScreen(Screen[None]):
    """A protocol step. Subclasses add their body with :meth:`compose_body` and :meth:`refresh_body`."""

    CSS_PATH = ["../styles/widgets.tcss", "../styles/steps.tcss"]  # noqa: RUF012 - Textual reads it as a class variable
    TITLE = "Stampside"

    #: Nothing else has the focus at first, so enter and space reach the step's main action.
    AUTO_FOCUS = "#next"

    #: A height class for the compact layout (80×24 and other short terminals; see ``steps.tcss``).
    VERTICAL_BREAKPOINTS = [(0, "-short"), (28, "-tall")]  # noqa: RUF012 - Textual reads it per class

    BINDINGS: ClassVar[list[BindingType]] = [
        # The main action first: the footer cuts from the right on a narrow terminal. Enter is the
        # step's whatever has the focus (a priority binding): in a field it records the field and
        # moves on (see ApplicationScreen.action_advance), on a button or the checks it is still Next.
        Binding("enter", "advance", "Next", key_display="enter", priority=True),
        Binding("space", "advance", "Next", show=False),
        Binding("ctrl+n", "next_step", "Next step", show=False),
        Binding("ctrl+o", "override", "Override"),
        Binding("ctrl+r", "restart_timer", "Restart timer"),
    ]

    #: The Next button's label.
    NEXT_LABEL = "Next step"

    def __init__(self, host: StepHost, step: Step, number: int, *, link: LinkStatus | None = None) -> None:
        super().__init__()
        self.host = host
        self.step = step
        #: 1-based position of the step in the protocol.
        self.number = number
        self.link = link or LinkStatus(LinkState.CLOSED)
        self._gate_lines: list[str] = []
        self._gate_results: list[GateResult] = []
        self._timer_over_said = False
        self._ready = False
        self.title_text = f"Step {number} of {len(host.flow.protocol.steps)} · {step.title}"
        self.sub_title = self.title_text

    @property
    def has_gates(self) -> bool:
        return bool(self.step.gates) or self.step.timer is not None

    @property
    def started(self) -> bool:
        record = self.host.flow.current_record
        return record is not None and record.step_id == self.step.id

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield AppHeader()
        banner = self.host.banner
        if banner is not None:
            yield SessionBanner(banner, self.host.clock)
        yield LinkStatusBar(self.link, id="link-status")
        yield Static(self.title_text, id="step-title", markup=False)
        if self.step.instructions:
            yield Static(self.step.instructions, id="step-instructions", markup=False)
        with VerticalScroll(id="step-body"):
            yield from self.compose_body()
            if self.step.timer is not None:
                with Horizontal(id="timer-row"):
                    yield Digits(clock_text(self.step.timer.seconds), id="timer-digits")
                    with Vertical(id="timer-side"):
                        yield Static("", id="step-timer", markup=False)
                        yield ProgressBar(
                            total=self.step.timer.seconds, show_eta=False, show_percentage=False, id="timer-bar"
                        )
            if self.has_gates:
                yield Label("Checks  (ctrl+o overrides the highlighted failing one)", classes="section-title")
                yield ChecksList(id="gates")
        yield Static("", id="step-error", classes="field-error", markup=False)
        with Horizontal(id="step-buttons"):
            yield from self.compose_buttons()
            if self.has_gates:
                yield Button("Override  ctrl+o", id="override", variant="warning")
            yield Button(f"{self.NEXT_LABEL}  enter", id="next", variant="primary")
        yield Footer()

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def compose_buttons(self) -> Iterable[Widget]:
        return ()

    def on_mount(self) -> None:
        self._ready = True  # composed (``is_mounted`` only turns true after the mount handlers)
        if self.step.timer is not None:
            self.set_interval(TIMER_TICK_S, self.refresh_step)
        self.refresh_step()

    # -- showing the flow -----------------------------------------------------------------

    def refresh_step(self) -> None:
        """Redraw from the flow: checks, timer, body, whether Next can be pressed."""
        if not self._ready:
            return
        flow = self.host.flow
        results = flow.gates() if self.started else []
        self._gate_results = results
        if self.has_gates:
            self._show_gates(results)
        if self.step.timer is not None:
            self._show_timer()
        self.refresh_body()
        blocked = not self.started or any(not result.ok for result in results)
        self.query_one("#next", Button).disabled = blocked
        if self.has_gates:
            self.query_one("#override", Button).disabled = not any(not result.ok for result in results)

    def refresh_body(self) -> None:
        """Subclasses redraw their own part here."""

    def _show_gates(self, results: list[GateResult]) -> None:
        label = self.step.timer.label if self.step.timer else None
        lines = [gate_line(result, label) for result in results] or [self.waiting_text()]
        if lines == self._gate_lines:
            return
        self._gate_lines = lines
        widget = self.query_one("#gates", OptionList)
        highlighted = widget.highlighted
        if results:
            widget.set_options(Option(Content(line), id=r.gate.value) for line, r in zip(lines, results, strict=True))
        else:
            widget.set_options([Option(Content(lines[0]), disabled=True)])
        if highlighted is not None and highlighted < widget.option_count:
            widget.highlighted = highlighted
        elif results and widget.highlighted is None:
            widget.highlighted = 0

    def waiting_text(self) -> str:
        return "Not started yet."

    def _show_timer(self) -> None:
        """The one readout of the step's timer: large digits, what it is, a bar; a flash and the bell when over."""
        timer = self.step.timer
        assert timer is not None
        label = timer.label[:1].upper() + timer.label[1:]
        bar = self.query_one("#timer-bar", ProgressBar)
        text = self.query_one("#step-timer", Static)
        digits = self.query_one("#timer-digits", Digits)
        row = self.query_one("#timer-row")
        if not self.started:
            text.update(f"{label} ({format_duration(timer.seconds)}): {self.timer_not_started_text()}")
            digits.update(clock_text(timer.seconds))
            bar.update(progress=0)
            row.set_class(False, "-running", "-over")
            return
        remaining = self.host.flow.timer_remaining()
        if remaining is None:
            return
        digits.update(clock_text(remaining))
        bar.update(progress=timer.seconds - remaining)
        row.set_class(remaining > 0, "-running")
        row.set_class(remaining <= 0, "-over")
        if remaining <= 0:
            text.update(f"{label}: over ✓  ({format_duration(timer.seconds)}); the next step is unlocked")
            if not self._timer_over_said:
                self._timer_over_said = True
                self._flash_timer()
        else:
            self._timer_over_said = False
            text.update(f"{label}: running, {format_duration(timer.seconds)} in all")

    #: How many times the readout flashes when its timer is over (on, off, on, …).
    TIMER_FLASHES = 6

    def _flash_timer(self) -> None:
        """The timer is over: the terminal bell, a notification, and the readout flashing a few times."""
        label = self.step.timer.label if self.step.timer else "timer"
        self.app.bell()
        self.notify(f"{label[:1].upper()}{label[1:]} is over: the next step is unlocked.", title=self.step.title)
        row = self.query_one("#timer-row")
        row.add_class("-flash")
        flashes = iter(range(self.TIMER_FLASHES - 1))

        def toggle() -> None:
            if next(flashes, None) is None:
                row.remove_class("-flash")
                flashing.stop()
                return
            row.toggle_class("-flash")

        flashing = self.set_interval(0.3, toggle)

    def timer_not_started_text(self) -> str:
        return "starts when the step starts"

    def focus_next_if_ready(self) -> None:
        """The focus onto Next when it can be pressed."""
        button = self.query_one("#next", Button)
        if not button.disabled:
            button.focus()

    def show_error(self, text: str) -> None:
        error = self.query_one("#step-error", Static)
        error.update(text)
        error.add_class("shown")

    def clear_error(self) -> None:
        error = self.query_one("#step-error", Static)
        error.update("")
        error.remove_class("shown")

    # -- the link and stamps --------------------------------------------------------------

    @on(LinkStatusChanged)
    def _on_link_status(self, message: LinkStatusChanged) -> None:
        message.stop()
        self.link = message.status
        if self._ready:
            self.query_one(LinkStatusBar).status = message.status

    @on(StampsStored)
    def _on_stamps(self, message: StampsStored) -> None:
        message.stop()  # stored by the link's sink; only the stamping step counts them on screen

    # -- actions --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restart_timer":
            return self.step.timer is not None
        if action == "override":
            return self.has_gates
        return True

    def before_next(self) -> bool:
        """Record what was typed before completing (subclasses); False stops, its message already shown."""
        return True

    async def action_advance(self) -> None:
        """Enter, space or the foot switch: the step's safe main action, then on to the next step.

        By default that is completing the step; a step that must be started first (the
        disinfection) starts instead. A step that is not done says what it is waiting for.
        """
        self.action_next_step()

    def action_next_step(self) -> None:
        self.clear_error()
        if not self.before_next():
            return
        try:
            self.host.complete_step()
        except StepBlocked as exc:
            self.show_error(f"{exc}.  Fix it, or press ctrl+o to override with a reason.")
            self.refresh_step()
        except StepError as exc:
            self.show_error(str(exc))
            self.refresh_step()

    def action_restart_timer(self) -> None:
        if not self.started:
            self.show_error("The step has not started; there is no timer to restart.")
            return
        self.host.change(lambda flow: flow.restart_timer())
        self._timer_over_said = False
        self.notify("Timer restarted.", title=self.step.title)
        self.refresh_step()

    def action_override(self) -> None:
        self.refresh_step()
        failing = [result for result in self._gate_results if not result.ok]
        if not failing:
            self.notify("Nothing to override: every check passes.", title=self.step.title)
            return
        widget = self.query_one("#gates", OptionList) if self.has_gates else None
        chosen = None
        if widget is not None and widget.highlighted is not None:
            option_id = widget.get_option_at_index(widget.highlighted).id
            chosen = next((result for result in failing if result.gate.value == option_id), None)
        self.open_override(chosen or failing[0])

    def open_override(self, result: GateResult) -> None:
        """The reason (checked by the domain), then the PIN: the override is stored signed, or not at all."""
        gate: Gate = result.gate
        title = gate_title(result, self.step.timer.label if self.step.timer else None)

        def check(reason: str) -> object:
            return checked_reason(gate.label, reason, self.host.practitioner)

        def reasoned(reason: str | None) -> None:
            if reason is None:
                return
            text, _ = checked_reason(gate.label, reason, self.host.practitioner)
            what = f"Override of {title} ({self.title_text}): {text}\nIt failed: {result.message}"
            self.host.ask_signature(what, SignedAct.STEP_OVERRIDE, lambda signer: signed(reason, signer))

        def signed(reason: str, signer: Signer | None) -> None:
            if signer is None:
                self.notify(f"{title} is not overridden: the override was not signed.", title="Override")
                return
            try:
                override = self.host.change(
                    lambda flow: flow.override(gate, reason, signer.name, signer_id=signer.practitioner_id)
                )
            except (OverrideRefused, StepError) as exc:
                self.show_error(str(exc))
                return
            self.done_override(title, override)

        self.app.push_screen(OverrideDialog(result, check, who=self.host.practitioner, title=title), reasoned)

    def done_override(self, title: str, override: Override) -> None:
        self.clear_error()
        self.notify(f"{title} overridden by {override.by} (signed).", title="Override stored")
        self.refresh_step()
        # Once the dialog has handed the focus back: onto Next if the step may now complete,
        # so the next enter goes on (not back through the fields it came from).
        self.call_after_refresh(self.focus_next_if_ready)

    @on(OptionList.OptionSelected, "#gates")
    def _gate_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        result = next((r for r in self._gate_results if r.gate.value == event.option.id), None)
        if result is None:
            return
        if result.ok:
            self.notify(f"{gate_title(result)} {'passes' if result.passed else 'is overridden'}.")
        else:
            self.open_override(result)

    @on(Button.Pressed, "#next")
    def _next_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_next_step()

    @on(Button.Pressed, "#override")
    def _override_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_override()
