"""Redraw a ``Static`` only when its text changed, and without a layout pass when its size cannot change.

``Static.update`` reflows the whole screen by default. The live panels are redrawn for every
stamp; their size only changes when the number of lines changes or a line no longer fits the
width, so :func:`set_text` asks for a layout pass only then.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.widgets import Static


def _widest(text: str) -> int:
    return max((cell_len(line) for line in text.split("\n")), default=0)


def set_text(static: Static, text: str) -> bool:
    """Show ``text`` in ``static``; ``False`` (and nothing redrawn) when it already shows it."""
    old = static.content
    if isinstance(old, str) and old == text:
        return False
    same_shape = (
        isinstance(old, str)
        and old.count("\n") == text.count("\n")
        and (static.styles.width is None or not static.styles.width.is_auto)
        and _widest(text) <= static.content_size.width
        and _widest(old) <= static.content_size.width
    )
    static.update(text, layout=not same_shape)
    return True
