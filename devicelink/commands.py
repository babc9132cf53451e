"""The commands a person (or a CLI) can send over a link session: ARM, DISARM, PING, TIME_SYNC, RESUME.

A mixin of :class:`~stampside.devicelink.session.LinkSession`: each command goes through the host
machine (:meth:`~stampside.firmware_protocol.host.HostConnection.request`), which sends it again after
each reply timeout; the outcome comes back as a :class:`~stampside.firmware_protocol.host_events.Reply`
and becomes the reply message or one of :mod:`stampside.devicelink.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

from stampside.devicelink.errors import CommandRefused, CommandTimeout, LinkError, NotConnected
from stampside.devicelink.options import LinkOptions
from stampside.devicelink.state import LinkState
from stampside.firmware_protocol import (
    Arm,
    ArmState,
    DeviceInfo,
    Disarm,
    Frame,
    Message,
    Ping,
    Pong,
    Resume,
    ResumeReply,
    TimeSync,
    TimeSyncReply,
)
from stampside.firmware_protocol.host import HostConnection
from stampside.firmware_protocol.host_events import Reply, ReplyError

R = TypeVar("R", bound=Message)


class SessionCommands:
    """Commands over the link; needs the session's host machine, state and action pump."""

    host: HostConnection
    options: LinkOptions
    _replies: dict[int, asyncio.Future[Reply]]

    @property
    def connected(self) -> bool:
        return self.state is LinkState.CONNECTED

    @property
    def state(self) -> LinkState:
        raise NotImplementedError

    async def wait_connected(self, timeout: float | None = None) -> DeviceInfo:
        raise NotImplementedError

    def _process(self) -> None:
        raise NotImplementedError

    async def arm(self) -> ArmState | None:
        """Turn counting on, now and after every reconnect.

        Returns the device's ARM_STATE, or None when not connected (it is armed at the
        next handshake). Raises :class:`CommandRefused` if the device refuses (an empty
        battery, a full buffer).
        """
        self.host.set_want_armed(True)
        if not self.connected:
            return None
        return await self._command(Arm(), ArmState)

    async def disarm(self, wait: float = 0.0) -> ArmState | None:
        """Turn counting off (and keep it off after reconnects).

        Not connected, it waits up to ``wait`` seconds for the link to come back — every
        handshake disarms the device now — and returns None if it did not.
        """
        self.host.set_want_armed(False)
        if not self.connected and wait > 0:
            with contextlib.suppress(TimeoutError, LinkError):
                await self.wait_connected(wait)
        if not self.connected:
            return None
        return await self._command(Disarm(), ArmState)

    async def ping(self) -> float:
        """Round-trip time of a PING, in seconds."""
        nonce = self.host.next_nonce()
        started = time.monotonic()
        await self._command(
            Ping(nonce), Pong, accepts=lambda f: isinstance(f.message, Pong) and f.message.nonce == nonce
        )
        return time.monotonic() - started

    async def time_sync(self) -> TimeSyncReply:
        """Send the host's clock; the device's reply."""
        return await self._command(lambda: TimeSync(_unix_ms()), TimeSyncReply)

    async def resume(self, boot: int, seq: int) -> ResumeReply:
        """Send RESUME(boot, seq) by hand. It ACKNOWLEDGES every event up to ``seq``:
        the device drops them from its buffer. The replayed stamps follow the reply."""
        return await self._command(Resume(boot, seq), ResumeReply)

    async def _command(
        self,
        message: Message | Callable[[], Message],
        reply: type[R],
        *,
        accepts: Callable[[Frame], bool] | None = None,
    ) -> R:
        """Send a command and return its reply (the host machine retries it on timeouts)."""
        if not self.connected:
            raise NotConnected(f"not connected ({self.state.value})")
        request = self.host.request(message, time.monotonic(), accepts=accepts)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._replies[request] = future
        self._process()
        try:
            outcome = await future
        finally:
            self._replies.pop(request, None)
        name = (message() if callable(message) else message).TYPE.name
        if outcome.error is ReplyError.REFUSED:
            raise CommandRefused(name, outcome.nack_code)
        if outcome.error is ReplyError.TIMEOUT:
            raise CommandTimeout(f"no reply to {name} after {self.options.attempts} tries")
        if outcome.error is not None or outcome.frame is None:
            raise NotConnected(f"{name}: {outcome.detail or 'the link went down'}")
        if not isinstance(outcome.frame.message, reply):
            raise LinkError(f"{name} got {outcome.frame.message.TYPE.name} instead of {reply.__name__}")
        return outcome.frame.message


def _unix_ms() -> int:
    return int(time.time() * 1000)
