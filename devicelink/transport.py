"""The byte-stream transport interface every link runs over.

A transport moves bytes and nothing else: no framing, no retries, no timeouts of its own.
The link session (:mod:`stampside.devicelink.session`) does all of that on top of it. Serial ports,
TCP sockets and (in a later issue) BLE implement the same small interface, and each maps
its library's errors onto the two exceptions below:

* :class:`TransportOpenError` when the link cannot be opened at all. Its message says
  what to do (wrong URL, no such port, busy port, missing permission).
* :class:`TransportDisconnected` when an open link goes away (cable pulled, peer closed
  the socket, port closed under us). The session reacts by reconnecting.
"""

from __future__ import annotations

from typing import Protocol


class TransportError(Exception):
    """Base class of the transport errors."""


class TransportOpenError(TransportError):
    """The transport could not be opened. The message is meant for a person, as is."""


class TransportDisconnected(TransportError):
    """The open transport went away. Every backend maps its own errors onto this one."""


class Transport(Protocol):
    """A reopenable byte stream.

    ``open`` may be called again after ``close``: the session closes and reopens its
    transport when it reconnects.
    """

    @property
    def description(self) -> str:
        """What the transport connects to, for messages (a URL, a path)."""
        ...

    async def open(self) -> None:
        """Open the link. Raises :class:`TransportOpenError` with an actionable message."""
        ...

    async def read(self) -> bytes:
        """The next bytes received: at least one byte, as many as are available.

        Raises :class:`TransportDisconnected` when the link goes away or is closed.
        """
        ...

    async def write(self, data: bytes) -> None:
        """Send ``data``, all of it. Raises :class:`TransportDisconnected`."""
        ...

    async def close(self) -> None:
        """Close the link. Idempotent; a pending :meth:`read` ends with TransportDisconnected."""
        ...
