"""The timing and sizing of a link session (:class:`~stampside.devicelink.session.LinkSession`)."""

from __future__ import annotations

from dataclasses import dataclass

from stampside.devicelink.broadcast import DEFAULT_QUEUE_SIZE
from stampside.firmware_protocol import SUPPORTED_VERSIONS
from stampside.firmware_protocol.host import HostTiming
from stampside.firmware_protocol.timing import HEARTBEAT_INTERVAL_S, LINK_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """Timing and sizing of a :class:`LinkSession`. The defaults follow docs/protocol.md."""

    #: The link is lost after this long without a valid frame from the device (seconds).
    link_timeout: float = LINK_TIMEOUT_S
    #: The host sends HEARTBEAT this often (seconds).
    heartbeat_interval: float = HEARTBEAT_INTERVAL_S
    #: How long to wait for a reply before sending the command again, until round trips
    #: have been measured; then the wait follows them, between the two bounds below.
    reply_timeout: float = 0.3
    min_reply_timeout: float = 0.05
    max_reply_timeout: float = 1.0
    #: How many times a command (TIME_SYNC, RESUME, ARM, PING, ...) is sent before giving up.
    #: HELLO is repeated until answered.
    attempts: int = 5
    #: Reopen the transport after this long without a byte from the device during a handshake.
    reopen_after: float = 10.0
    #: First wait before reopening a transport that went away (seconds); doubles on every failed attempt ...
    backoff_initial: float = 0.1
    #: ... up to this.
    backoff_max: float = 2.0
    #: A PING for round-trip statistics this often while connected (0 turns it off).
    ping_interval: float = 5.0
    #: Protocol versions this host offers.
    versions: tuple[int, int] = SUPPORTED_VERSIONS
    #: The most stamps in one commit.
    max_batch: int = 4096
    #: On close, how long to wait for uncommitted stamps to be stored and acknowledged.
    drain_timeout: float = 5.0
    #: How far a subscriber may fall behind before its oldest items are dropped.
    subscriber_queue: int = DEFAULT_QUEUE_SIZE

    def timing(self) -> HostTiming:
        """The host machine's deadlines and retries."""
        return HostTiming(
            heartbeat_interval=self.heartbeat_interval,
            link_timeout=self.link_timeout,
            reply_timeout=self.reply_timeout,
            min_reply_timeout=min(self.min_reply_timeout, self.reply_timeout),
            max_reply_timeout=max(self.max_reply_timeout, self.reply_timeout),
            attempts=self.attempts,
            reopen_after=self.reopen_after,
            ping_interval=self.ping_interval,
        )
