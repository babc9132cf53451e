"""The app's header: Textual's, with a title update that cannot crash the app while a screen goes away.

Textual's ``Header`` watches the app's and its screen's title and sub-title and, on a change,
looks up its ``HeaderTitle`` child. When that happens while the header's screen is being
removed (its children are taken away before the header itself, and its watchers still run),
the lookup raises ``NoMatches`` and the whole app stops with a traceback: a full test run on
a loaded machine once saw it at the end of a stamping step. Here a header whose title is gone
simply has nothing to update.
"""

from __future__ import annotations

import contextlib

from textual import events
from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.widgets import Header
from textual.widgets._header import HeaderTitle

__all__ = ["AppHeader"]


class AppHeader(Header):
    """:class:`~textual.widgets.Header` whose title updates tolerate the header being torn down."""

    def _on_mount(self, event: events.Mount) -> None:
        event.prevent_default()  # instead of Header's own, which does the same without the guard

        async def set_title() -> None:
            # A header leaving with its screen has nothing left to show the title in.
            with contextlib.suppress(NoScreen, NoMatches):
                self.query_one(HeaderTitle).update(self.format_title())

        self.watch(self.app, "title", set_title)
        self.watch(self.app, "sub_title", set_title)
        self.watch(self.screen, "title", set_title)
        self.watch(self.screen, "sub_title", set_title)
