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

    The host machine's own states (:class:`firmware_protocol.host_events.HostState`) are
    finer; this is what a person is told.
    """

    #: First attempt: opening the transport and handshaking.
    CONNECTING = "connecting"
    #: Handshake done: heartbeats flow, stamps are received and acknowledged.
    CONNECTED = "connected"
    #: The link went away (no valid frame within the link timeout, or the transport
    #: closed) and nothing answers yet: HELLO is repeated on the open transport, or the
    #: transport is reopened after a backoff.
    LOST = "lost"
    #: The device answers again (or announced a new boot): handshaking with it.
    RECONNECTING = "reconnecting"
    #: Stopped for good: :meth:`~devicelink.session.LinkSession.close` was called or a
    #: fatal error ended the session (see ``LinkSession.error``).
    CLOSED = "closed"
