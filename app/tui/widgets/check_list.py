"""A list of tick boxes that reads ``[ ]`` / ``[x]`` in any terminal.

Textual's ``SelectionList`` draws each box as a little button, ``▐X▌``, whose ``X`` is there
whether the box is ticked or not: only its colour says which (dark grey on grey, or green).
In 256 or 16 colours, or without colour, an unticked box reads as ticked. :class:`CheckList`
is the same list (same keys, mouse, messages and ``selected``), drawing ``[ ]`` for an
unticked box and ``[x]`` for a ticked one, so the words say it and the colour only repeats it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widgets import OptionList, SelectionList
from textual.widgets.option_list import OptionDoesNotExist
from textual.widgets.selection_list import SelectionType

UNTICKED = "[ ]"
TICKED = "[x]"


class CheckList(SelectionList[SelectionType]):
    """A :class:`~textual.widgets.SelectionList` whose boxes read ``[ ]`` and ``[x]``."""

    COMPONENT_CLASSES: ClassVar[set[str]] = SelectionList.COMPONENT_CLASSES | {
        "check-list--box",
        "check-list--box-ticked",
    }

    DEFAULT_CSS = """
    CheckList > .check-list--box {
        color: $text;
    }
    CheckList > .check-list--box-ticked {
        color: $text-success;
        text-style: bold;
    }
    """

    def _get_left_gutter_width(self) -> int:
        return len(UNTICKED) + 1

    def box(self, index: int) -> str:
        """What the box of the option at ``index`` shows: ``[x]`` when ticked, else ``[ ]``."""
        return TICKED if self.get_option_at_index(index).value in self.selected else UNTICKED

    def render_line(self, y: int) -> Strip:
        # The option's prompt as OptionList draws it (not SelectionList's, which adds the button).
        line = OptionList.render_line(self, y)
        index = self.scroll_offset.y + y
        try:
            box = self.box(index)
        except OptionDoesNotExist:
            return line
        underlying = next(iter(line)).style or self.rich_style
        component = "check-list--box-ticked" if box == TICKED else "check-list--box"
        # The box clicks like the prompt: it carries the option's index.
        style = underlying + self.get_component_rich_style(component, partial=True) + Style(meta={"option": index})
        return Strip([Segment(box, style), Segment(" ", underlying), *line])
