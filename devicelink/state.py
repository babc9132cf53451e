"""The states of a link session."""

from __future__ import annotations

import enum

from stampside.firmware_protocol.host_events import HostState, Input, StateChanged


class LinkState(enum.Enum):
    """Where a :class:`~stampside.devicelink.session.LinkSession` stands.

    ::

        CONNECTING ──► CONNECTED ──► LOST ──► RECONNECTING ──► CONNECTED ...
             │              │                      ▲
             │              └── device rebooted ───┘ (handshake again on the same transport)
             └──────────── any state ──► CLOSED (close(), or a fatal error such as
                                          an incompatible protocol version)

    The host machine's own states (:class:`stampside.firmware_protocol.host_events.HostState`) are
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
    #: Stopped for good: :meth:`~stampside.devicelink.session.LinkSession.close` was called or a
    #: fatal error ended the session (see ``LinkSession.error``).
    CLOSED = "closed"


def shown_state(change: StateChanged, ever_ready: bool) -> tuple[LinkState, str] | None:
    """The host machine's state change as people see it, or None if they see no change.

    CONNECTED when ready; LOST while nothing answers (a silence, the transport gone);
    RECONNECTING while a device that answers is handshaken with again (it rebooted, or it
    answered after a loss).
    """
    state, event = change.state, change.input
    if state is HostState.READY:
        return LinkState.CONNECTED, change.reason
    if state is HostState.HELLO:
        if event is Input.SILENCE:
            return LinkState.LOST, change.reason
        if event is Input.NEW_BOOT and change.previous is not HostState.HELLO:
            return LinkState.RECONNECTING, change.reason
        return None
    if state is HostState.LEDGER and change.previous is HostState.HELLO and ever_ready:
        return LinkState.RECONNECTING, f"the device answers: {change.reason}"
    if state in (HostState.LEDGER, HostState.SYNC, HostState.IDLE) and event is Input.SILENCE:
        return LinkState.LOST, change.reason
    return None
