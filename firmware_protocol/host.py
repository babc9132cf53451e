"""The host's side of the conversation as a sans-I/O state machine, in the style of h11.

:class:`HostConnection` holds every rule the host follows (docs/protocol.md 3): the
handshake with its retries, version negotiation, time sync, RESUME from the stored cursor,
the numbering checks that keep a reset device's stamps from being dropped, ACKs after
commits, gaps, heartbeats, probes and the link-loss deadline. It does no I/O and reads no
clock: every call takes ``now`` (seconds, any monotonic scale) and the caller carries out
the :mod:`actions <firmware_protocol.host_events>` it returns::

    host = HostConnection(arm=True, unix_ms=lambda: int(time.time() * 1000))
    host.connection_made(now)
    for action in host.take_actions(): ...          # Send(b"\\x00" + HELLO)
    host.receive_data(transport.read(), now)
    for action in host.take_actions(): ...          # OpenLedger(info) → storage → host.ledger_opened(...)
    host.tick(now)                                  # at host.next_deadline() at the latest

The states and the inputs that move between them are the table
:data:`~stampside.firmware_protocol.host_events.TRANSITIONS`; every transition goes through it.

Durable delivery: each new stamp comes out as :class:`Deliver`. The caller commits stamps
with the cursor :meth:`plan_commit` gives, in one transaction, then calls :meth:`committed`,
which sends the cumulative ACK. Nothing is acknowledged that was not committed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stampside.firmware_protocol.connection import (
    SUPPORTED_VERSIONS,
    Connection,
    Event,
    Frame,
    UnknownMessage,
    negotiate,
)
from stampside.firmware_protocol.delivery import DeliveryStats, DeliveryTracker
from stampside.firmware_protocol.errors import HandshakeError, IncompatibleVersion, ProtocolError
from stampside.firmware_protocol.framing import BadFrame
from stampside.firmware_protocol.host_events import (
    TRANSITIONS,
    Action,
    BindEpoch,
    Deliver,
    HostState,
    Input,
    Ledger,
    Note,
    OpenLedger,
    Reopen,
    Reply,
    ReplyError,
    Send,
    StartLife,
    StateChanged,
)
from stampside.firmware_protocol.messages import (
    Ack,
    Arm,
    ArmReason,
    ArmState,
    Battery,
    DeviceInfo,
    Disarm,
    Fault,
    FaultCode,
    Flag,
    HeadChanged,
    Heartbeat,
    HeartbeatState,
    Hello,
    Message,
    MessageType,
    Nack,
    NackCode,
    Ping,
    Pong,
    Resume,
    ResumeReply,
    Role,
    Stamp,
    TimeSync,
    TimeSyncReply,
)
from stampside.firmware_protocol.rtt import RetransmitTimer
from stampside.firmware_protocol.timing import HEARTBEAT_INTERVAL_S, LINK_TIMEOUT_S

#: States in which a version is negotiated and commands may flow.
NEGOTIATED = frozenset({HostState.LEDGER, HostState.SYNC, HostState.READY})
#: The REPLAY flag as a plain int: the stamp path tests it once per stamp (IntFlag arithmetic is slow).
_REPLAY = int(Flag.REPLAY)
#: A boot counter this high that comes back this low wrapped around (u16), it did not go back.
_WRAP_HIGH, _WRAP_LOW = 0xFF00, 0x00FF


@dataclass(frozen=True, slots=True)
class HostTiming:
    """The host's deadlines and retries, in seconds (docs/protocol.md 3.4 has the table)."""

    heartbeat_interval: float = HEARTBEAT_INTERVAL_S
    #: No valid frame for this long: the link is lost; handshake again on the open transport.
    link_timeout: float = LINK_TIMEOUT_S
    #: The reply timeout before any round trip was measured; then it follows the link's RTT ...
    reply_timeout: float = 0.3
    #: ... but never below this ...
    min_reply_timeout: float = 0.05
    #: ... nor above this.
    max_reply_timeout: float = 1.0
    #: Sends of a command (HELLO excepted) before it is given up.
    attempts: int = 5
    #: HELLO is repeated until answered, backing off up to this interval.
    hello_interval_max: float = 1.0
    #: In HELLO, with no byte at all from the device for this long, ask the driver to reopen the transport.
    reopen_after: float = 10.0
    #: A PING for round-trip figures this often while connected (0: none).
    ping_interval: float = 5.0
    #: A RESUME whose replay makes no progress for this long is over (another may follow).
    resume_timeout: float = 0.5
    #: A device that should count but whose heartbeat says it does not is armed again after this.
    arm_retry: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.link_timeout <= 0 or self.heartbeat_interval <= 0:
            raise ValueError("link_timeout and heartbeat_interval must be positive")


@dataclass(slots=True)
class HostCounters:
    connects: int = 0
    losses: int = 0
    reboots: int = 0
    acks_sent: int = 0
    #: ACKs sent again because the device's heartbeat showed the last one was lost.
    ack_retransmits: int = 0
    #: Commands sent again because no reply came in time (HELLO included).
    command_retries: int = 0
    command_timeouts: int = 0
    #: HELLOs sent again at once because a frame came back damaged (the reply, most likely).
    early_retries: int = 0
    probes: int = 0
    #: Times the device restarted its numbering (a new ledger was opened).
    new_numberings: int = 0


@dataclass(slots=True)
class _Request:
    id: int
    make: Callable[[], Message]
    accepts: Callable[[Frame], bool]
    #: "user" for :meth:`HostConnection.request`; "time", "resume", "arm" for the handshake's own.
    kind: str
    msg_type: MessageType
    tries: int = 0
    sent_at: float = 0.0
    deadline: float = math.inf
    lseq: int = -1
    #: A replayed stamp came after this RESUME was sent (v1: proof that it arrived).
    replay_seen: bool = False
    #: ACKs sent before it was (last) sent: an ARM refused for a full buffer before an ACK freed room is worth again.
    acks_before: int = 0


def _is(kind: type[Message]) -> Callable[[Frame], bool]:
    return lambda frame: type(frame.message) is kind


def _answers_resume(frame: Frame) -> bool:
    return type(frame.message) is ResumeReply


class HostConnection:
    """The host's side of one link to one device at a time. See the module documentation.

    ``ledger``: the host stores stamps (it sends RESUME and ACKs); without, it only watches
    (``link monitor``): RESUME(boot, seq) acknowledges up to ``seq``, so a host that stores
    nothing must never send it. ``arm``: True — the device must count stamps (armed after
    every handshake, again whenever its heartbeat says it is not); False — it must not (a
    DISARM in every handshake, again whenever its heartbeat says it counts); None — leave it
    as it is. ``unix_ms``: the wall clock for TIME_SYNC (None: no time sync).
    """

    def __init__(
        self,
        *,
        versions: tuple[int, int] = SUPPORTED_VERSIONS,
        timing: HostTiming | None = None,
        ledger: bool = True,
        arm: bool | None = None,
        unix_ms: Callable[[], int] | None = None,
    ) -> None:
        self.timing = timing = timing or HostTiming()
        self.versions = versions
        self.conn = Connection(Role.HOST, versions)
        self.uses_ledger = ledger
        self.want_armed = arm
        self._unix_ms = unix_ms
        self.state = HostState.IDLE
        #: The fatal error that closed the connection (incompatible versions, a bad handshake).
        self.error: ProtocolError | None = None
        self.counters = HostCounters()
        self.rto = RetransmitTimer(timing.reply_timeout, timing.min_reply_timeout, timing.max_reply_timeout)
        # What the device said last.
        self.device: DeviceInfo | None = None
        self.armed: bool | None = None
        self.battery: Battery | None = None
        self.head: HeadChanged | None = None
        self.last_fault: Fault | None = None
        self.last_time_sync: TimeSyncReply | None = None
        self.device_heartbeat: Heartbeat | None = None
        self.device_heartbeat_at = -math.inf
        self.last_stamp_at: float | None = None
        # Storage.
        self.ledger: Ledger | None = None
        self.tracker: DeliveryTracker | None = None
        self.last_ack = (0, 0)
        self.last_ack_at = -math.inf
        self._verified = False
        self._retired = DeliveryStats()
        self._newest_seen: dict[str, int] = {}
        #: New stamps seen without a ledger (a monitor).
        self.seen_new = 0
        # Timers.
        self._actions: list[Action] = []
        self._requests: dict[int, _Request] = {}
        self._next_id = 0
        self._handshake: set[int] = set()
        self._hello_sent_at = -math.inf
        #: When a damaged frame last brought HELLO early: one early retry per HELLO sent on time.
        self._early_hello_at = -math.inf
        self._hello_deadline = math.inf
        self._hello_interval = 0.0
        self._hello_tries = 0
        self._last_rx = -math.inf
        self._last_bytes = -math.inf
        self._last_probe = -math.inf
        #: The usual time between valid frames (smoothed): a quiet line is judged against it.
        self._rx_gap = self.timing.heartbeat_interval
        self._next_heartbeat = math.inf
        self._next_ping = math.inf
        self._arm_blocked: str | None = None
        self._last_arm_sent = -math.inf
        self._acks_at_last_arm = 0
        self._nonce = 0
        self._probe_nonces: dict[int, float] = {}
        self._logged_resyncs = 0
        self._ever_ready = False

    # == the caller's side ===================================================================

    def take_actions(self) -> list[Action]:
        """What to do now, in order (and forget it)."""
        actions, self._actions = self._actions, []
        return actions

    @property
    def negotiated(self) -> bool:
        return self.state in NEGOTIATED

    @property
    def ready(self) -> bool:
        return self.state is HostState.READY

    @property
    def ever_ready(self) -> bool:
        """The handshake completed at least once (later handshakes are reconnects)."""
        return self._ever_ready

    def connection_made(self, now: float) -> None:
        """The transport is open: start the handshake (a lone 0x00, then HELLO)."""
        if self.state is not HostState.IDLE:
            raise ProtocolError(f"connection_made in state {self.state.value}")
        self.conn.reset()
        self._last_bytes = now
        self._last_rx = now
        self._transition(Input.OPENED, "transport opened")
        self._start_hello(now)

    def connection_lost(self, now: float, reason: str) -> None:
        """The transport closed (or the driver closed it after :class:`Reopen`)."""
        if self.state in (HostState.IDLE, HostState.CLOSED):
            return
        if self.state in (HostState.SYNC, HostState.READY):
            self.counters.losses += 1
        self._fail_requests(ReplyError.INTERRUPTED, reason)
        self._transition(Input.TRANSPORT_LOST, reason)

    def close(self, now: float) -> None:
        """Stop for good."""
        if self.state is HostState.CLOSED:
            return
        self._fail_requests(ReplyError.INTERRUPTED, "closed")
        self._transition(Input.CLOSE, "closed")

    def set_want_armed(self, armed: bool | None) -> None:
        """Whether the device should count (True), must not (False), or is left alone (None)."""
        self.want_armed = armed
        if armed:
            self._arm_blocked = None

    def request(
        self,
        message: Message | Callable[[], Message],
        now: float,
        *,
        accepts: Callable[[Frame], bool] | None = None,
    ) -> int:
        """Send a command (again after each timeout); its outcome comes as a :class:`Reply`.

        ``accepts`` picks the reply frame (default: the command's usual reply type). Every
        command the host sends is idempotent, so sending it again is safe.
        """
        make: Callable[[], Message] = message if callable(message) else (lambda: message)
        first = make()
        if isinstance(first, Arm):
            self.set_want_armed(True)
        elif isinstance(first, Disarm):
            self.set_want_armed(False)
        self._next_id += 1
        request = _Request(self._next_id, make, accepts or _is(_REPLY_TO[first.TYPE]), "user", first.TYPE)
        if not self.negotiated:
            self._actions.append(
                Reply(request.id, None, ReplyError.INTERRUPTED, detail=f"not connected ({self.state.value})")
            )
            return request.id
        self._requests[request.id] = request
        self._send_request(request, now, first)
        return request.id

    def next_nonce(self) -> int:
        self._nonce = (self._nonce + 1) & 0xFFFFFFFF
        return self._nonce

    # -- storage ----------------------------------------------------------------------------

    def ledger_opened(self, ledger: Ledger, now: float) -> None:
        """Storage's answer to :class:`OpenLedger` or :class:`StartLife`."""
        if self.state is not HostState.LEDGER or self.device is None:
            return  # a late answer: the handshake started over meanwhile and asks again
        info = self.device
        current = self.ledger
        if current is None or (current.serial, current.life) != (ledger.serial, ledger.life) or self.tracker is None:
            if self.tracker is not None:
                self._retired.add(self.tracker.stats)
            self.tracker = DeliveryTracker(ledger.boot, ledger.seq, self.timing.resume_timeout)
        self.ledger = ledger
        tracker = self.tracker
        went_back = _numbering_went_back(info.boot, info.last_seq, tracker.acked_boot, tracker.acked_seq)
        if went_back:
            self._new_numbering(epoch=0, reason=went_back)
            return
        tracker.handshake_head(info.last_seq)
        self._transition(
            Input.LEDGER_OPENED, f"ledger {ledger.serial} life {ledger.life} at {ledger.boot}:{ledger.seq}"
        )
        self._start_sync(now)

    def plan_commit(self, ledger: Ledger | None, stamps: Iterable[Stamp]) -> tuple[int, int] | None:
        """The cursor to store with ``stamps`` in ``ledger`` (None: store none, it is not current)."""
        if not self._is_current(ledger) or self.tracker is None:
            return None
        return self.tracker.plan_commit(stamps)

    def committed(self, ledger: Ledger | None, stamps: Iterable[Stamp], now: float) -> None:
        """``stamps`` of ``ledger`` are durably stored: acknowledge them (one cumulative ACK)."""
        tracker = self.tracker
        if tracker is None or not self._is_current(ledger):
            return
        if tracker.committed(stamps) and self.negotiated and self.state is not HostState.LEDGER:
            self._send_ack(now)

    def abandon_inflight(self) -> None:
        """Stamps handed out for storage will not be committed (the driver stopped): forget them."""
        if self.tracker is not None:
            self.tracker.abandon_inflight()

    def delivery_stats(self) -> DeliveryStats:
        """Delivery counters over every ledger this connection served."""
        total = DeliveryStats(**self._retired.as_dict())
        if self.tracker is not None:
            total.add(self.tracker.stats)
        return total

    @property
    def complete(self) -> bool:
        """Every stamp the device reported is stored and acknowledged."""
        return self.tracker is not None and self.tracker.complete

    @property
    def settled(self) -> bool:
        """Ready, everything stored and acknowledged, and the device's heartbeat after our last
        ACK shows nothing pending."""
        tracker, hb, device = self.tracker, self.device_heartbeat, self.device
        if self.state is not HostState.READY or tracker is None or hb is None or device is None:
            return False
        if not tracker.complete or self.device_heartbeat_at <= self.last_ack_at or hb.boot != device.boot:
            return False
        return hb.pending == 0 and hb.seq <= tracker.acked_seq

    # -- time -------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must be called next at the latest (None: nothing is timed)."""
        if self.state in (HostState.IDLE, HostState.CLOSED):
            return None
        times = [request.deadline for request in self._requests.values()]
        if self.state is HostState.HELLO:
            times.append(self._hello_deadline)
            times.append(self._last_bytes + self.timing.reopen_after)
        else:
            timing = self.timing
            probe_after = self._probe_after
            times.append(self._next_heartbeat)
            times.append(self._last_rx + timing.link_timeout)
            times.append(max(self._last_rx, self._last_probe) + probe_after)
            times.append(self._next_ping)
            tracker = self.tracker
            if tracker is not None and tracker.resume_since is not None:
                times.append(tracker.resume_since + tracker.resume_timeout)
        return min(times)

    def tick(self, now: float) -> None:
        """Let time pass: retries, heartbeats, probes, the link-loss deadline, gap checks."""
        if self.state in (HostState.IDLE, HostState.CLOSED):
            return
        for request in [r for r in self._requests.values() if r.deadline <= now]:
            self._on_request_timeout(request, now)
        if self.state is HostState.HELLO:
            if now - self._last_bytes >= self.timing.reopen_after:
                reason = f"no answer to HELLO for {self.timing.reopen_after:g} s"
                self._transition(Input.SILENCE, reason)
                self._actions.append(Reopen(reason))
            elif now >= self._hello_deadline:
                self.counters.command_retries += 1
                if self._last_bytes < self._hello_sent_at:
                    # Nothing at all came back: back off, the device may be away.
                    self._hello_interval = min(self._hello_interval * 2, self.timing.hello_interval_max)
                else:
                    # The line is alive but the answer was lost: ask again at the pace of the line.
                    self._hello_interval = self.rto.timeout
                self._send_hello(now)
            return
        timing = self.timing
        quiet = now - self._last_rx
        if quiet >= timing.link_timeout:
            self._rehandshake(Input.SILENCE, f"no valid frame for {timing.link_timeout:g} s", now)
            return
        if now >= self._next_heartbeat:
            self._send(Heartbeat(self.last_ack[0], self.last_ack[1], 0, 0))
            self._next_heartbeat = now + timing.heartbeat_interval
            self._note_resyncs()
        probe_after = self._probe_after
        if quiet >= probe_after and now - self._last_probe >= probe_after:
            self._probe(now)
        if self.state is HostState.READY:
            if now >= self._next_ping:
                self._next_ping = now + timing.ping_interval
                self._probe(now, counted=False)
            self._resume_if_due(now)
        self._check_synced(now)

    # -- bytes in ------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Bytes from the device; the frames they completed, for a monitor (bad ones too)."""
        if self.state in (HostState.IDLE, HostState.CLOSED) or not data:
            return []
        self._last_bytes = now
        events = self.conn.receive_data(data)
        for event in events:
            if self.state in (HostState.IDLE, HostState.CLOSED):
                break
            if type(event) is Frame:
                gap = now - self._last_rx
                if 0 <= gap < self.timing.link_timeout:
                    self._rx_gap += (gap - self._rx_gap) / 8
                self._last_rx = now
                self._on_frame(event, now)
            elif type(event) is UnknownMessage:
                self._last_rx = now
            elif type(event) is BadFrame:
                self._on_bad_frame(now)
        if self.state is HostState.READY:
            self._resume_if_due(now)
        self._check_synced(now)
        return events

    # == handshake =============================================================================

    def _start_hello(self, now: float) -> None:
        self._verified = False
        self._hello_tries = 0
        self._hello_interval = self.rto.timeout
        self._send_hello(now)

    def _send_hello(self, now: float) -> None:
        """A lone 0x00 and HELLO; from the second try on, HELLO twice: each is answered with its
        own DEVICE_INFO, the longest reply there is, and on a damaged line two copies in flight
        get one through about twice as fast."""
        self._hello_tries += 1
        lo, hi = self.versions
        hello = Hello(lo, hi)
        data = b"\x00" + self.conn.send(hello)
        if self._hello_tries > 1:
            data += self.conn.send(hello)
        self._actions.append(Send(data, hello))
        self._hello_sent_at = now
        self._hello_deadline = now + self._hello_interval

    @property
    def _probe_after(self) -> float:
        """A line this quiet gets a PING (and another as often while it stays quiet).

        Quiet means four times longer than the usual gap between valid frames (while stamps
        flow, a tenth of a second is unusual: the device may have rebooted, its ANNOUNCE lost,
        and it answers a PING with NOT_READY), never less than three reply timeouts, and never
        more than a little over the device's heartbeat interval or a third of the link
        timeout, so a healthy link answers before the deadline.
        """
        timing = self.timing
        ceiling = min(timing.link_timeout / 3, timing.heartbeat_interval * 1.25)
        floor = min(max(3 * self.rto.timeout, 0.1), ceiling)
        return min(max(4 * self._rx_gap, floor), ceiling)

    def _on_bad_frame(self, now: float) -> None:
        if self.state is HostState.HELLO:
            # Most likely the DEVICE_INFO we wait for, damaged on the line: ask again now
            # instead of waiting out the timeout (the device answers every HELLO). The first
            # damaged bytes after a HELLO also time the line's round trip — the only measure
            # a noisy line offers before a handshake succeeds.
            self._hello_interval = self.rto.timeout  # the line is alive: no backing off
            # Once per HELLO sent on time: both answers to a pair of HELLOs may come damaged,
            # and each damaged frame bringing two more HELLOs would multiply them on a bad
            # enough line. The early pair's answers, if damaged too, wait for the timeout.
            if self._early_hello_at < self._hello_sent_at:
                self.rto.sample(now - self._hello_sent_at)
                self._hello_interval = self.rto.timeout
                self.counters.early_retries += 1
                self._early_hello_at = now
                self._send_hello(now)
        elif (
            self.state is HostState.READY
            and now - self._last_rx >= self.timing.heartbeat_interval
            and now - self._last_probe >= self.timing.heartbeat_interval / 2
        ):
            # The device's heartbeat is overdue and a damaged frame came instead: it may have
            # rebooted (its ANNOUNCE damaged). A PING finds out now (NOT_READY if so).
            self._probe(now)
        elif self.state is HostState.SYNC:
            # A reply of the handshake may be what came damaged: ask again now. Not RESUME once
            # its replay is arriving (asking again would start the replay over).
            gap = max(2 * (self.rto.srtt or 0.0), 0.01)
            for request_id in list(self._handshake):
                request = self._requests.get(request_id)
                if request is None or now - request.sent_at < gap or request.replay_seen:
                    continue
                if request.tries >= self.timing.attempts:
                    continue
                self.counters.early_retries += 1
                self._send_request(request, now)
                if request.kind == "resume" and self.tracker is not None:
                    self.tracker.resume_sent(now)

    def _on_device_info(self, frame: Frame, info: DeviceInfo, now: float) -> None:
        if frame.flags & Flag.ANNOUNCE:
            if self.state is HostState.HELLO:
                # It booted after our HELLO left: say it again.
                self._transition(Input.NEW_BOOT, f"device announced boot {info.boot} during the handshake")
                self._send_hello(now)
            elif self.device is None or info.boot != self.device.boot or info.serial != self.device.serial:
                self._rehandshake(Input.NEW_BOOT, f"device announced boot {info.boot}", now)
            return
        if self.state is not HostState.HELLO:
            return  # a late answer to an earlier HELLO
        if self._hello_tries == 1:
            self.rto.sample(now - self._hello_sent_at)
        try:
            version = negotiate(self.versions, info.version_range)
        except IncompatibleVersion as exc:
            self._fatal(exc, "incompatible")
            return
        if info.selected_version != version:
            lo, hi = self.versions
            self._fatal(
                HandshakeError(
                    f"the device selected protocol v{info.selected_version}, but the highest version both "
                    f"speak is v{version} (device v{info.min_version}–v{info.max_version}, host v{lo}–v{hi}); "
                    "its firmware negotiates wrongly"
                ),
                "handshake",
            )
            return
        self.conn.version = version
        self.device = info
        self.armed = None
        self._arm_blocked = None
        self._hello_deadline = math.inf
        self._next_heartbeat = now + self.timing.heartbeat_interval
        self._transition(Input.DEVICE_INFO, f"{info.serial} boot {info.boot} last seq {info.last_seq}, v{version}")
        if self.uses_ledger:
            self._actions.append(OpenLedger(info))
        else:
            self._transition(Input.LEDGER_OPENED, "no storage: watching only")
            self._start_sync(now)

    def _start_sync(self, now: float) -> None:
        self._handshake.clear()
        # A v1 device has no epoch to check; a v2 device's stamps are stored once RESUME_REPLY
        # has shown that its epoch is the ledger's.
        self._verified = self.conn.version < 2
        if self._unix_ms is not None:
            unix_ms = self._unix_ms
            self._handshake_request("time", lambda: TimeSync(unix_ms()), _is(TimeSyncReply), now)
        tracker, ledger = self.tracker, self.ledger
        if self.uses_ledger and tracker is not None and ledger is not None:
            epoch = ledger.epoch
            tracker.resume_sent(now)
            self._handshake_request(
                "resume", lambda: Resume(tracker.acked_boot, tracker.acked_seq, epoch), _answers_resume, now
            )
            self.last_ack = (tracker.acked_boot, tracker.acked_seq)
            self.last_ack_at = now
        if self.want_armed is not None:
            self._last_arm_sent = now
            self._handshake_request("arm", Arm if self.want_armed else Disarm, _is(ArmState), now)
        self._check_synced(now)

    def _handshake_request(
        self, kind: str, make: Callable[[], Message], accepts: Callable[[Frame], bool], now: float
    ) -> _Request:
        self._next_id += 1
        first = make()
        request = _Request(self._next_id, make, accepts, kind, first.TYPE)
        self._requests[request.id] = request
        self._handshake.add(request.id)
        self._send_request(request, now, first)
        return request

    def _check_synced(self, now: float) -> None:
        if self.state is not HostState.SYNC or self._handshake:
            return
        info = self.device
        assert info is not None
        summary = f"{info.serial} fw {info.firmware} boot {info.boot}, protocol v{self.conn.version}"
        self.counters.connects += 1
        self._ever_ready = True
        self._next_ping = now + self.timing.ping_interval if self.timing.ping_interval else math.inf
        self._note("connected", summary)
        self._transition(Input.SYNCED, summary)

    def _new_numbering(self, epoch: int, reason: str) -> None:
        info, ledger = self.device, self.ledger
        assert info is not None and ledger is not None
        self.counters.new_numberings += 1
        text = (
            f"{info.serial} restarted its numbering ({reason}); its stamps are stored apart from the "
            f"{ledger.seq} before, as numbering {ledger.life + 1}, and none is dropped"
        )
        self._note("new-numbering", text)
        for request_id in [i for i, r in self._requests.items() if r.kind == "resume"]:
            self._finish(self._requests[request_id], None, ReplyError.INTERRUPTED, detail="numbering restarted")
        self._verified = False
        self._transition(Input.NEW_NUMBERING, text)
        self._actions.append(StartLife(info, ledger, epoch, reason))

    def _rehandshake(self, why: Input, reason: str, now: float) -> None:
        if why is Input.NEW_BOOT:
            self.counters.reboots += 1
            self._note("reboot", reason)
        else:
            if self.state in (HostState.SYNC, HostState.READY):
                self.counters.losses += 1
            self._note("lost", reason)
        self._fail_requests(ReplyError.INTERRUPTED, reason)
        self._transition(why, reason)
        self._start_hello(now)

    def _fatal(self, error: ProtocolError, kind: str) -> None:
        self.error = error
        self._note(kind, str(error))
        self._fail_requests(ReplyError.INTERRUPTED, str(error))
        self._transition(Input.INCOMPATIBLE, str(error))

    # == frames ==================================================================================

    def _on_frame(self, frame: Frame, now: float) -> None:
        message = frame.message
        kind = type(message)
        if kind is Stamp:
            self._on_stamp(frame, message, now)  # type: ignore[arg-type]
            return
        if kind is Heartbeat:
            self._on_heartbeat(message, now)  # type: ignore[arg-type]
            return
        if kind is DeviceInfo:
            self._on_device_info(frame, message, now)  # type: ignore[arg-type]
            return
        if self.state is HostState.HELLO:
            return  # replies to another session's commands
        if kind is Nack:
            self._on_nack(message, now)  # type: ignore[arg-type]
            return
        if kind is ResumeReply:
            self._resolve(frame, now)
            self._on_resume_reply(message, now)  # type: ignore[arg-type]
            return
        if kind is ArmState:
            assert isinstance(message, ArmState)
            self.armed = bool(message.armed)
            if not message.armed and message.reason == ArmReason.BUFFER_FULL:
                self._arm_blocked = "buffer"
            elif not message.armed and message.reason == ArmReason.BATTERY_EMPTY:
                self._arm_blocked = "battery"
        elif kind is Fault:
            assert isinstance(message, Fault)
            self.last_fault = message
            try:
                code = FaultCode(message.code).name
            except ValueError:
                code = str(message.code)
            self._note("fault", f"{code} detail={message.detail}")
        elif kind is Battery:
            assert isinstance(message, Battery)
            self.battery = message
            if self._arm_blocked == "battery" and message.pct > 0:
                self._arm_blocked = None  # charged or swapped: the heartbeat check arms again
        elif kind is HeadChanged:
            self.head = message  # type: ignore[assignment]
        elif kind is TimeSyncReply:
            self.last_time_sync = message  # type: ignore[assignment]
        elif kind is Pong:
            assert isinstance(message, Pong)
            sent = self._probe_nonces.pop(message.nonce, None)
            if sent is not None:
                self.rto.sample(now - sent)
        self._resolve(frame, now)

    def _on_stamp(self, frame: Frame, stamp: Stamp, now: float) -> None:
        replay = bool(frame.flags & _REPLAY)
        info = self.device
        serial = info.serial if info is not None else ""
        if not self.uses_ledger:
            if stamp.seq <= self._newest_seen.get(serial, 0):
                return
            self._newest_seen[serial] = stamp.seq
            self.seen_new += 1
            self.last_stamp_at = now
            self._actions.append(Deliver(stamp, replay, None, serial))
            return
        tracker = self.tracker
        if tracker is None:
            return
        if self.state not in (HostState.SYNC, HostState.READY) or not self._verified:
            # Not yet known to be this ledger's numbering: the device keeps it, a RESUME fetches it.
            tracker.note_device_head(stamp.seq)
            if replay:
                for request in self._requests.values():
                    if request.kind == "resume" and not request.replay_seen:
                        request.replay_seen = True
                        if self.conn.version >= 2 and now - request.sent_at >= max(2 * (self.rto.srtt or 0.0), 0.01):
                            # Its replay is here, so its reply was lost: ask again now (the
                            # replay starts over; nothing of it could be stored without the epoch).
                            self.counters.early_retries += 1
                            self._send_request(request, now)
                            tracker.resume_sent(now)
            return
        if tracker.accept(stamp, now, replay):
            self.last_stamp_at = now
            self._actions.append(Deliver(stamp, replay, self.ledger, serial))

    def _on_heartbeat(self, hb: Heartbeat, now: float) -> None:
        self.device_heartbeat = hb
        self.device_heartbeat_at = now
        if self.state not in (HostState.SYNC, HostState.READY):
            return
        device = self.device
        if device is not None and hb.boot != device.boot:
            self._rehandshake(Input.NEW_BOOT, f"device heartbeat shows boot {hb.boot}", now)
            return
        armed = bool(hb.state & HeartbeatState.ARMED)
        self.armed = armed
        tracker = self.tracker
        if tracker is not None and self._verified:
            tracker.note_device_head(hb.seq)
            if (
                hb.pending > 0
                and tracker.acked_seq > 0
                and hb.seq <= tracker.acked_seq
                and tracker.complete
                and now - self.last_ack_at >= self.timing.heartbeat_interval
            ):
                # We hold everything it counted, yet it still keeps some: our ACK was lost.
                self.counters.ack_retransmits += 1
                self._send_ack(now)
        if self._arm_blocked == "buffer" and not hb.state & HeartbeatState.BUFFER_FULL:
            self._arm_blocked = None  # the buffer has room again
        if self.state is not HostState.READY or now - self._last_arm_sent < self.timing.arm_retry:
            return
        if self.want_armed and not armed and not self._arm_blocked and not hb.state & HeartbeatState.BUFFER_FULL:
            # The device is not counting though it should be (a lost ARM or ARM_STATE).
            self._send_arm(now)
        elif self.want_armed is False and armed:
            # It counts though it must not (a lost DISARM): stamps now would belong to no step.
            self._last_arm_sent = now
            self._send(Disarm())

    def _on_resume_reply(self, reply: ResumeReply, now: float) -> None:
        tracker, ledger, info = self.tracker, self.ledger, self.device
        if tracker is None or ledger is None or info is None or self.state not in (HostState.SYNC, HostState.READY):
            return
        if reply.epoch:
            if ledger.epoch and reply.epoch != ledger.epoch:
                self._new_numbering(
                    reply.epoch, f"its numbering epoch is {reply.epoch:08x}, the stored one {ledger.epoch:08x}"
                )
                return
            if not ledger.epoch:
                ledger = dataclasses.replace(ledger, epoch=reply.epoch)
                self.ledger = ledger
                self._actions.append(BindEpoch(ledger, reply.epoch))
        next_seq = reply.first_seq + reply.count
        if next_seq <= tracker.acked_seq:
            # Its newest event is below our cursor: its numbering restarted (the check of
            # DEVICE_INFO missed it, so a v1 device may already have dropped some of them).
            self._new_numbering(reply.epoch, f"its next seq {next_seq} is not above the stored {tracker.acked_seq}")
            return
        self._verified = True
        acked_before = tracker.acked_seq
        tracker.on_resume_reply(reply, now)
        if tracker.acked_seq > acked_before:
            self._note("jump", f"events up to {tracker.acked_seq} were acknowledged elsewhere")

    def _on_nack(self, nack: Nack, now: float) -> None:
        for request in self._requests.values():
            if request.msg_type == nack.refused_type and (request.lseq == nack.refused_lseq or request.lseq < 0):
                if request.msg_type == MessageType.ARM:
                    self._on_arm_refused(nack, request.acks_before, now)
                self._finish(request, None, ReplyError.REFUSED, nack_code=nack.code)
                if nack.code == NackCode.NOT_READY:
                    self._rehandshake(Input.NEW_BOOT, "device answered NOT_READY (it lost our session)", now)
                return
        if nack.refused_type == MessageType.ARM and nack.code == NackCode.REFUSED:
            self._on_arm_refused(nack, self._acks_at_last_arm, now)
        if nack.code == NackCode.NOT_READY:
            self._rehandshake(Input.NEW_BOOT, "device answered NOT_READY (it lost our session)", now)

    def _on_arm_refused(self, nack: Nack, acks_before: int, now: float) -> None:
        if nack.code != NackCode.REFUSED:
            return
        if self.counters.acks_sent > acks_before:
            # An ACK freed room after that ARM left: it may be accepted now.
            if self.want_armed and self.negotiated:
                self._send_arm(now)
            return
        if self._arm_blocked:
            return
        hb = self.device_heartbeat
        battery = self.battery.pct if self.battery is not None else (self.device.battery_pct if self.device else 100)
        if hb is not None and hb.state & HeartbeatState.BUFFER_FULL:
            self._arm_blocked, why = "buffer", "its buffer is full"
        elif battery == 0:
            self._arm_blocked, why = "battery", "its battery is empty"
        else:
            self._arm_blocked, why = "refused", "battery empty or buffer full"
        self._note("arm-refused", f"the device refused ARM ({why})")

    # == requests ===============================================================================

    def _send_request(self, request: _Request, now: float, message: Message | None = None) -> None:
        message = message if message is not None else request.make()
        if request.tries:
            self.counters.command_retries += 1
        request.tries += 1
        request.sent_at = now
        request.replay_seen = False
        request.acks_before = self.counters.acks_sent
        request.lseq = self._send(message)
        request.deadline = now + self.rto.timeout * (2 ** min(request.tries - 1, 3))
        if isinstance(message, Ping) and request.kind != "user":
            self._probe_nonces[message.nonce] = now

    def _on_request_timeout(self, request: _Request, now: float) -> None:
        if request.kind == "resume" and request.replay_seen and self.conn.version < 2:
            # v1: the replay proves the RESUME arrived, only its reply was lost.
            self._finish(request, None, None)
            return
        # v2: nothing is stored before RESUME_REPLY shows the epoch, so it is asked for until
        # it comes (the link-loss deadline ends a dead line's handshake anyway).
        if request.tries < self.timing.attempts or (request.kind == "resume" and self.conn.version >= 2):
            self._send_request(request, now)
            if request.kind == "resume" and self.tracker is not None:
                self.tracker.resume_sent(now)
            return
        self.counters.command_timeouts += 1
        self._finish(request, None, ReplyError.TIMEOUT, detail=f"no reply after {request.tries} tries")

    def _resolve(self, frame: Frame, now: float) -> None:
        for request in self._requests.values():
            if request.accepts(frame):
                if request.tries == 1:
                    self.rto.sample(now - request.sent_at)
                self._finish(request, frame, None)
                return

    def _finish(
        self, request: _Request, frame: Frame | None, error: ReplyError | None, *, nack_code: int = 0, detail: str = ""
    ) -> None:
        self._requests.pop(request.id, None)
        if request.id in self._handshake:
            self._handshake.discard(request.id)
            if request.kind == "resume" and error is ReplyError.TIMEOUT:
                self._note("handshake", "RESUME unanswered; the gap check will ask again")
        else:
            self._actions.append(Reply(request.id, frame, error, nack_code, detail))

    def _fail_requests(self, error: ReplyError, detail: str) -> None:
        for request in list(self._requests.values()):
            self._finish(request, None, error, detail=detail)
        self._handshake.clear()

    # == sending =================================================================================

    def _send(self, message: Message, flags: int = 0) -> int:
        lseq = self.conn._tx_lseq
        self._actions.append(Send(self.conn.send(message, flags), message))
        return lseq

    def _send_ack(self, now: float) -> None:
        tracker = self.tracker
        assert tracker is not None
        self._send(Ack(tracker.acked_boot, tracker.acked_seq))
        self.last_ack = (tracker.acked_boot, tracker.acked_seq)
        self.last_ack_at = now
        self.counters.acks_sent += 1
        if self._arm_blocked in ("buffer", "refused"):
            # The device disarmed itself with a full buffer; this ACK frees room.
            self._arm_blocked = None
            if self.want_armed and self.state is HostState.READY:
                self._send_arm(now)

    def _send_arm(self, now: float) -> None:
        self._last_arm_sent = now
        self._acks_at_last_arm = self.counters.acks_sent
        self._send(Arm())

    def _probe(self, now: float, *, counted: bool = True) -> None:
        self._last_probe = now
        if counted:
            self.counters.probes += 1
        nonce = self.next_nonce()
        self._probe_nonces[nonce] = now
        if len(self._probe_nonces) > 64:
            self._probe_nonces.pop(next(iter(self._probe_nonces)))
        self._send(Ping(nonce))

    def _resume_if_due(self, now: float) -> None:
        tracker, ledger = self.tracker, self.ledger
        if tracker is None or ledger is None or not self.uses_ledger:
            return
        if any(request.kind == "resume" for request in self._requests.values()):
            return
        if tracker.resume_due(now):
            tracker.resume_sent(now)
            self._send(Resume(tracker.acked_boot, tracker.acked_seq, ledger.epoch))

    # == bookkeeping ==============================================================================

    def _transition(self, event: Input, reason: str) -> None:
        previous = self.state
        try:
            state = TRANSITIONS[(previous, event)]
        except KeyError:
            raise ProtocolError(f"no transition from {previous.value} on {event.value}") from None
        self.state = state
        self._actions.append(StateChanged(state, previous, event, reason))

    def _note(self, kind: str, detail: str) -> None:
        self._actions.append(Note(kind, detail))

    def _note_resyncs(self) -> None:
        rx = self.conn.counters.rx
        if rx.resyncs > self._logged_resyncs:
            self._note("resync", f"{rx.resyncs - self._logged_resyncs} resyncs (bad frames so far: {rx.bad_total})")
            self._logged_resyncs = rx.resyncs

    def _is_current(self, ledger: Ledger | None) -> bool:
        current = self.ledger
        return (
            ledger is not None
            and current is not None
            and (ledger.serial, ledger.life) == (current.serial, current.life)
        )


def _numbering_went_back(boot: int, last_seq: int, cursor_boot: int, cursor_seq: int) -> str:
    """Why a device reporting (``boot``, ``last_seq``) cannot be the numbering the cursor is in; "" if it can be."""
    if cursor_seq <= 0:
        return ""
    if last_seq < cursor_seq:
        return f"its newest seq {last_seq} is below the stored {cursor_seq}"
    if boot < cursor_boot and not (cursor_boot >= _WRAP_HIGH and boot <= _WRAP_LOW):
        return f"its boot counter {boot} is below the stored {cursor_boot}"
    return ""


_REPLY_TO: dict[MessageType, type[Message]] = {
    MessageType.HELLO: DeviceInfo,
    MessageType.TIME_SYNC: TimeSyncReply,
    MessageType.ARM: ArmState,
    MessageType.DISARM: ArmState,
    MessageType.RESUME: ResumeReply,
    MessageType.PING: Pong,
    MessageType.ACK: Heartbeat,
    MessageType.HEARTBEAT: Heartbeat,
}
