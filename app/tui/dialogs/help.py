"""``?`` (or F1) on any screen: that screen's keys, and on a step what the step requires.

The keys are read from the bindings active on the screen when ``?`` is pressed (the focused
widget's, the screen's, the app's), so the help cannot list a key that does nothing there
or miss one that works; what a step requires comes from the protocol
(:func:`~stampside.app.domain.steps.step_requirements`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label, Static

__all__ = ["HelpContent", "HelpDialog", "help_for"]

#: Keys as a person reads them.
_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "space": "space",
    "enter": "enter",
    "escape": "escape",
}


#: Keys every screen has that say nothing about this one (moving the focus, copying).
_GENERIC_KEYS = frozenset({"tab", "shift+tab", "ctrl+c", "super+c"})


@dataclass(frozen=True, slots=True)
class HelpContent:
    title: str
    requires: list[str] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)


def _key_text(key: str, binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    return _KEY_NAMES.get(key, key)


def _screen_requires(screen: Screen[Any]) -> tuple[str, list[str]]:
    from stampside.app.domain.steps import step_requirements
    from stampside.app.tui.screens.stamping import StampingScreen
    from stampside.app.tui.screens.start import StartScreen
    from stampside.app.tui.screens.step_base import StepScreen

    if isinstance(screen, StepScreen):
        return screen.title_text, [*step_requirements(screen.step), "enter (or space) does the step's main action."]
    if isinstance(screen, StampingScreen):
        return "Stamping", [
            "The stamp armed (s when the banner says it is not counting).",
            "Stamps count in the active zone: f m v l r (or 1–5), n for the next treated zone.",
            "Each treated zone stamped to its target; t adds or removes the active zone, a edits its area.",
            "ctrl+d (or enter) finishes; under target it asks first.",
        ]
    if isinstance(screen, StartScreen):
        return "Start", [
            "Choose the practitioner (a adds one) and the patient (n creates one, / searches).",
            "s starts the patient's next session, or resumes the one left open.",
            "t takes over a session open at another chair that cannot go on with it (a reason, your PIN).",
            "c screening, p photos, o outcomes, b blinded rating, d the due list; ctrl+p lists every action.",
            "e corrects the chosen patient's details (with a reason, signed with the PIN).",
        ]
    from stampside.app.tui.screens.board import BoardScreen

    if isinstance(screen, BoardScreen):
        return "Clinic board", [
            "Every chair's open session, one row each; it only reads, nothing here changes a record.",
            "Chair and practitioner · patient and session k of n · step · stamps and their rate per minute · "
            "time in session and when it began · the link, then the warnings.",
            "Warnings in red: link lost (for how long), head used before (a single-use head from an earlier "
            "session), timer overdue (a timed step still open a minute or more after its timer ran out).",
            f"It follows the database {screen.source.how}; the status line says when it last read it.",
            "↑/↓ (page up/down) scroll a board longer than the screen.",
        ]
    return (screen.sub_title or screen.title or "This screen"), []


def help_for(screen: Screen[Any], active: Mapping[str, ActiveBinding]) -> HelpContent:
    """What ``?`` shows for ``screen``, given the bindings active on it."""
    title, requires = _screen_requires(screen)
    keys: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for key, active_binding in active.items():
        binding = active_binding.binding
        if not binding.description or not active_binding.enabled or key in _GENERIC_KEYS:
            continue
        entry = (_key_text(key, binding), binding.description)
        if entry not in seen:
            seen.add(entry)
            keys.append(entry)
    keys.append(("ctrl+p", "Every action of this screen, by name"))
    return HelpContent(title, requires, keys)


class HelpDialog(ModalScreen[None]):
    """The help for the screen underneath; any of escape, enter, ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
    ]

    def __init__(self, content: HelpContent) -> None:
        super().__init__(classes="dialog-screen")
        self.content = content

    def compose(self) -> ComposeResult:
        content = self.content
        with Vertical(classes="dialog help-dialog"):
            yield Label(f"Help · {content.title}", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                if content.requires:
                    yield Label("What this needs", classes="help-section")
                    yield Static("\n".join(f"• {line}" for line in content.requires), id="help-requires", markup=False)
                yield Label("Keys", classes="help-section")
                width = max((len(key) for key, _ in content.keys), default=0)
                lines = [f"{key.rjust(width)}  {description}" for key, description in content.keys]
                yield Static("\n".join(lines), id="help-keys", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (escape, enter)", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
