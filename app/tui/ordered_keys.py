"""Keys typed ahead land where the practitioner meant them: one key at a time, each after the last has settled.

Textual hands a key from the terminal to whichever widget has the focus *when the key is
read*. But what a key does to the focus happens later: ``tab`` travels through the focused
widget's queue back up to the app, whose binding then moves the focus; ``enter`` in a field
posts ``Submitted``, whose handler focuses the next field; ``enter`` on a ``Select`` opens
its list and focuses it on a later callback. Keys that arrive in one burst — typed fast on a
busy machine, sent by a foot switch or a barcode scanner, or by tmux ``send-keys`` — are all
handed to the old widget before the first one has moved the focus: a date typed after
``tab`` ends up in the field it was meant to leave.

:class:`OrderedKeys` (mixed into the app) keeps the order a person expects: while a key is
being handled, the keys after it wait in the app, and the next one goes out only once the
app is idle again: no message waiting in the app's queue (where focus
changes are scheduled) or any screen's widgets', and no callback waiting for a screen's next
refresh (where ``call_after_refresh`` puts its work). A key that takes longer than :attr:`OrderedKeys.KEY_SETTLE_S`
to settle (a handler waiting on something) lets the next one go anyway, so keys are never
stuck. Keys typed one by one, slower than the app handles them, never wait.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import App

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

__all__ = ["OrderedKeys"]


class OrderedKeys(App[None]):
    """An :class:`App` that hands terminal keys to its screens one at a time, each after the previous has settled."""

    #: The longest a key holds back the keys typed after it.
    KEY_SETTLE_S: ClassVar[float] = 0.5
    #: How often a key still being handled is looked at again.
    KEY_POLL_S: ClassVar[float] = 0.001

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._key_in_flight: events.Key | None = None
        self._key_deadline = 0.0
        self._keys_waiting: deque[events.Key] = deque()

    @property
    def keys_waiting(self) -> int:
        """Keys read from the terminal and not yet handed on (the one being handled not counted)."""
        return len(self._keys_waiting)

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, events.Key) or event.is_forwarded:
            await super().on_event(event)
            return
        if self._key_in_flight is not None and event is not self._key_in_flight:
            self._keys_waiting.append(event)
            return
        self._key_in_flight = event
        self._key_deadline = time.monotonic() + self.KEY_SETTLE_S
        await super().on_event(event)  # a priority binding, or handed to the focused widget's queue
        self._check_settled(event)

    def _pumps(self) -> list[MessagePump]:
        pumps: list[MessagePump] = [self]
        for screen in self.screen_stack:
            pumps.append(screen)
            pumps.extend(screen.walk_children(with_self=False))
        return pumps

    def _check_settled(self, event: events.Key) -> None:
        if event is not self._key_in_flight:
            return
        queued = any(not pump._message_queue.empty() for pump in self._pumps())
        busy = queued or any(screen._callbacks for screen in self.screen_stack)
        if busy and time.monotonic() < self._key_deadline and not self._closing:
            asyncio.get_running_loop().call_later(self.KEY_POLL_S, self._check_settled, event)
            return
        self._key_in_flight = None
        if self._keys_waiting:
            following = self._keys_waiting.popleft()
            self._key_in_flight = following  # reserved: a key read meanwhile waits behind it
            if not self.post_message(following):
                self._key_in_flight = None
                self._keys_waiting.clear()
