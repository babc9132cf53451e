"""Errors of the link session, beyond the transport's own (:mod:`stampside.devicelink.transport`)."""

from __future__ import annotations

from stampside.firmware_protocol import NackCode


class LinkError(Exception):
    """Base class of the link session's errors."""


class NotConnected(LinkError):
    """A command needs a connected device and there is none right now."""


class CommandTimeout(LinkError):
    """The device did not answer a command, even after the retries."""


class CommandRefused(LinkError):
    """The device answered a command with NACK."""

    def __init__(self, command: str, code: int) -> None:
        self.command = command
        self.code = code
        try:
            reason = NackCode(code).name
        except ValueError:
            reason = f"code {code}"
        super().__init__(f"the device refused {command}: {reason}")


class HandshakeFailed(LinkError):
    """The device answered the handshake in a way no retry can fix (a fatal error)."""


class SessionClosed(LinkError):
    """The session was closed while waiting."""


class SinkError(Exception):
    """The storage sink could not commit a batch. The message is meant for a person."""
