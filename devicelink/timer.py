"""One event-loop timer that follows a moving deadline (the host machine's ``next_deadline()``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class DeadlineTimer:
    """Calls ``callback`` at the deadline last given to :meth:`at` (``time.monotonic()`` seconds).

    Moving the deadline moves the one timer handle; ``None`` cancels it.
    """

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None

    def at(self, deadline: float | None) -> None:
        if deadline is None:
            self.cancel()
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + (deadline - time.monotonic())
        handle = self._handle
        if handle is not None and not handle.cancelled() and abs(handle.when() - when) < 1e-4:
            return
        self.cancel()
        self._handle = loop.call_at(when, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._callback()
