"""The command palette's app actions (ctrl+p): what the practitioner can do on the screen they are on.

:class:`StampsideCommands` is a Textual command provider. Its commands are the screen's own
actions (the same methods its keys run), so the palette never does something the keys do
not, plus the app-wide ones: a screenshot saved as SVG into the data folder, the stamps
exported as CSV, the clinic board (every chair's open session, read only), this screen's help,
locking the app, quitting. Each command names its key, if it has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

if TYPE_CHECKING:
    from stampside.app.tui.app import StampsideApp

__all__ = ["AppCommand", "StampsideCommands", "commands_for"]


@dataclass(frozen=True, slots=True)
class AppCommand:
    """One palette entry: its name, a line of help, what it runs."""

    name: str
    help: str
    run: Callable[[], Any]


def _screen_commands(app: StampsideApp, screen: Screen[Any]) -> Iterator[AppCommand]:
    """The commands of the screen the palette was opened on (imports are local: the palette opens late)."""
    from stampside.app.tui.screens.stamping import StampingScreen
    from stampside.app.tui.screens.start import StartScreen
    from stampside.app.tui.screens.step_base import StepScreen

    if isinstance(screen, StartScreen):
        yield AppCommand(
            "New patient", "Create a patient: pseudonymous code, name, Norwood grade (n)", screen.action_new_patient
        )
        yield AppCommand("Add practitioner", "Add a practitioner by name (a)", screen.action_add_practitioner)
        yield AppCommand(
            "Switch practitioner", "Another practitioner signs in with their PIN (w)", app.action_switch_practitioner
        )
        yield AppCommand(
            "Start or resume session", "For the chosen practitioner and patient (s)", screen.action_start_session
        )
        yield AppCommand(
            "Take over session",
            "The chosen patient's session open at another chair goes on here, with a reason and your PIN (t)",
            screen.action_take_over,
        )
        yield AppCommand(
            "Resume open session", "Offer the session left open again (patient, step, last stamp)", screen.action_resume
        )
        yield AppCommand("Screening", "The chosen patient's screening form (c)", screen.action_screening)
        yield AppCommand("Photos", "Register and compare the chosen patient's photos (p)", screen.action_photos)
        yield AppCommand("Outcomes", "Assessment, questionnaire, adverse events (o)", screen.action_outcomes)
        yield AppCommand("Blinded rating", "Rate before/after photo pairs unlabelled (b)", screen.action_blinded)
        yield AppCommand(
            "Course report",
            "The chosen patient's course as printable HTML, into the data folder",
            screen.action_course_report,
        )
        yield AppCommand("Due list", "Sessions and follow-ups due, open sessions first (d)", screen.action_due)
        yield AppCommand(
            "Correct patient details",
            "The chosen patient's name, year of birth, Norwood grade, with a reason (e)",
            screen.action_correct_patient,
        )
    elif isinstance(screen, StampingScreen):
        from stampside.app.domain.zones import Zone

        for zone in Zone:
            yield AppCommand(
                f"Change zone: {zone.label}",
                f"Stamps count in {zone.label} from now on ({zone.key}, {zone.value})",
                partial(screen.action_zone, zone.value),
            )
        yield AppCommand("Next zone", "The next treated zone becomes the active one (n)", screen.action_next_zone)
        yield AppCommand("Arm", "The stamp counts stamps again (s)", screen.action_arm)
        yield AppCommand("Disarm", "A pause: the stamp stops counting until armed again", screen.action_disarm)
        yield AppCommand(
            "Treat on/off", "Add the active zone to the treated zones, or take it out (t)", screen.action_toggle_treated
        )
        yield AppCommand("Zone area", "Edit the active zone's area in cm² (a)", screen.action_edit_area)
        yield AppCommand(
            "Finish stamping", "End the step; asked first while a zone is under target (ctrl+d)", screen.action_finish
        )
    elif isinstance(screen, StepScreen):
        yield AppCommand("Next step", "The step's main action, then on (enter)", screen.action_advance)
        if screen.has_gates:
            yield AppCommand(
                "Override a check",
                "The highlighted (else first) failing check, with a reason (ctrl+o)",
                screen.action_override,
            )
        if screen.step.timer is not None:
            yield AppCommand(
                "Restart timer", "Run the step's timer again from now (ctrl+r)", screen.action_restart_timer
            )


async def _show_clinic_board(app: StampsideApp) -> None:
    from stampside.app.tui.board import show_clinic_board

    await show_clinic_board(app)


def commands_for(app: StampsideApp, screen: Screen[Any]) -> list[AppCommand]:
    """Every palette command for ``screen``: its own, then the app-wide ones."""
    commands = list(_screen_commands(app, screen))
    commands.append(AppCommand("Help", "This screen's keys and what the step requires (?)", app.action_help))
    commands.append(
        AppCommand("Lock", "Lock the app now; your PIN unlocks it (stamping goes on behind the lock)", app.action_lock)
    )
    commands.append(
        AppCommand(
            "Screenshot", "Save this screen as SVG into the data folder's screenshots/", app.action_save_screenshot
        )
    )
    commands.append(
        AppCommand(
            "Export stamps", "Every stored stamp as CSV into the data folder's exports/", app.action_export_stamps
        )
    )
    commands.append(
        AppCommand(
            "Clinic board",
            "Every chair's open session, live: step, stamps, link, warnings (read only; q goes back)",
            partial(_show_clinic_board, app),
        )
    )
    commands.append(
        AppCommand("Quit", "Quit; an open session stays open and is offered next time (q)", app.action_request_quit)
    )
    return commands


class StampsideCommands(Provider):
    """The app's actions for the screen the palette was opened on."""

    def _commands(self) -> list[AppCommand]:
        from stampside.app.tui.app import StampsideApp

        app = self.app
        if not isinstance(app, StampsideApp):  # pragma: no cover - only installed on the app
            return []
        return commands_for(app, self.screen)

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.name, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = max(matcher.match(command.name), matcher.match(command.help) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)
