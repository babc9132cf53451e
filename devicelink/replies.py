"""Matching the device's replies to the commands waiting for them.

A command waits for a reply of its own kind (PONG for PING, ARM_STATE for ARM, ...), or
for a NACK that names the command's type and link sequence number. Replies that nobody
waits for are not an error: the session handles them as unsolicited reports.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from stampside.devicelink.errors import CommandRefused
from stampside.firmware_protocol import Frame, MessageType, Nack


class Waiter:
    """One command waiting for its reply."""

    __slots__ = ("accepts", "command", "future", "lseq")

    def __init__(self, command: MessageType, accepts: Callable[[Frame], bool], future: asyncio.Future[Frame]) -> None:
        self.command = command
        self.accepts = accepts
        self.future = future
        #: Link sequence number of the frame that carried the command (set once sent).
        self.lseq = -1


class PendingReplies:
    """The commands waiting for a reply, oldest first."""

    def __init__(self) -> None:
        self._waiters: list[Waiter] = []

    def add(self, command: MessageType, accepts: Callable[[Frame], bool]) -> Waiter:
        waiter = Waiter(command, accepts, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        return waiter

    def remove(self, waiter: Waiter) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        if waiter.future.done() and not waiter.future.cancelled():
            waiter.future.exception()  # mark it retrieved: nobody else will look

    def fail_all(self, exc: BaseException) -> None:
        """The link went down: every waiting command gets ``exc``."""
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)

    def resolve(self, frame: Frame) -> bool:
        """Hand ``frame`` to the oldest command waiting for one like it; True if one was."""
        for waiter in self._waiters:
            if not waiter.future.done() and waiter.accepts(frame):
                waiter.future.set_result(frame)
                return True
        return False

    def refuse(self, nack: Nack) -> bool:
        """Fail the command ``nack`` refers to with :class:`CommandRefused`; True if one waited."""
        for waiter in self._waiters:
            if waiter.lseq == nack.refused_lseq and waiter.command == nack.refused_type and not waiter.future.done():
                waiter.future.set_exception(CommandRefused(waiter.command.name, nack.code))
                return True
        return False
