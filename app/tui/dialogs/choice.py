"""A question with a few answers, each on a button with its key; escape answers ``None``."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from stampside.app.tui.dialogs.confirm import key_label


class ChoiceDialog(ModalScreen[str | None]):
    """Ask ``question``; ``choices`` are ``(key, label)``: the key (a letter) or the button answers with it.

    ``default`` is the key of the usual, safe answer: its button has the focus, so enter takes it.
    Without one, Cancel has the focus.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "answer(None)", "Cancel")]

    def __init__(
        self, question: str, choices: list[tuple[str, str]], *, title: str = "", default: str | None = None
    ) -> None:
        super().__init__(classes="dialog-screen")
        if default is not None and default not in {key for key, _ in choices}:
            raise ValueError(f"the default answer {default!r} is not one of the choices")
        self._default = default
        self._question = question
        self._choices = choices
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog choice-dialog"):
            if self._title:
                yield Label(self._title, classes="dialog-title")
            yield Label(self._question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                for key, label in self._choices:
                    focused = key == self._default
                    yield Button(
                        key_label(label, key, focused=focused),
                        id=f"choice-{key}",
                        variant="primary" if focused else "default",
                    )
                yield Button(key_label("Cancel", "esc", focused=self._default is None), id="choice-cancel")

    def on_mount(self) -> None:
        self.query_one(f"#choice-{self._default or 'cancel'}", Button).focus()
        for key, label in self._choices:
            self._bindings.bind(key, f"answer('{key}')", label)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        key = (event.button.id or "").removeprefix("choice-")
        self.dismiss(None if key == "cancel" else key)

    def action_answer(self, key: str | None) -> None:
        self.dismiss(key)
