"""The states of a link session."""

from __future__ import annotations

import enum


class LinkState(enum.Enum):
    """Where a :class:`~devicelink.session.LinkSession` stands.

    ::

        CONNECTING ──► CONNECTED ──► LOST ──► RECONNECTING ──► CONNECTED ...
             │              │                      ▲
             │              └── device rebooted ───┘ (handshake again on the same transport)
             └──────────── any state ──► CLOSED (close(), or a fatal error such as
                                          an incompatible protocol version)
    """

    #: First attempt: opening the transport and handshaking.
    CONNECTING = "connecting"
    #: Handshake done: heartbeats flow, stamps are received and acknowledged.
    CONNECTED = "connected"
    #: The link went away (no valid frame within the link timeout, or the transport
    #: closed); waiting out the backoff before the next attempt.
    LOST = "lost"
    #: A later attempt: reopening and handshaking again, or handshaking again after the
    #: device announced a new boot.
    RECONNECTING = "reconnecting"
    #: Stopped for good: :meth:`~devicelink.session.LinkSession.close` was called or a
    #: fatal error ended the session (see ``LinkSession.error``).
    CLOSED = "closed"
