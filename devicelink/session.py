"""The link session: one host's conversation with one derma stamp, over any transport.

A :class:`LinkSession` follows ``docs/protocol.md`` section 3 on the host side:

* **Handshake**: a lone 0x00 then HELLO (retried on timeout), version negotiation
  (an incompatible device ends the session with an error naming both ranges, no retry
  loop), TIME_SYNC, RESUME from the stored cursor (only with a sink, see below), and ARM
  when counting is wanted.
* **Liveness**: a HEARTBEAT every 0.5 s; the link is lost after ``link_timeout`` (2 s)
  without a valid frame. When the line is quiet for a third of that, the session sends a
  PING so the answer keeps a healthy link alive even with a short timeout.
* **Reconnects** with exponential backoff; a device that announces a new boot (DEVICE_INFO
  with ANNOUNCE, or a HEARTBEAT with another boot counter) gets a new handshake at once.
* **Durable delivery** with a sink (:class:`~devicelink.sink.StampSink`): new stamps are
  committed in batches, each batch in one transaction with the device's cursor, and ONE
  cumulative ACK follows each commit (:mod:`devicelink.commit_pipeline`). Gaps are
  filled with RESUME as :class:`~firmware_protocol.DeliveryTracker` decides.

**Without a sink** (``link monitor``, ``link send``) the session never sends ACK and never
sends RESUME: RESUME(boot, seq) acknowledges every event up to ``seq``, so the device
would drop stamps that nobody stored. The only RESUME that acknowledges nothing is
RESUME(0, 0) (sequence numbers start at 1), which makes the device replay its whole
buffer every time; a monitor has no use for that, so it shows live stamps only. Its
heartbeats carry (0, 0), as the host's heartbeat reports its last ACK.

Observers subscribe to async iterators: :meth:`LinkSession.subscribe_stamps` (new stamps),
:meth:`LinkSession.subscribe_frames` (every frame both ways, bad frames too) and
:meth:`LinkSession.subscribe_states`. Nothing an observer does can slow the link down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from cobs import cobs

from devicelink.broadcast import DEFAULT_QUEUE_SIZE, Broadcast, Subscription
from devicelink.commit_pipeline import CommitPipeline
from devicelink.errors import (
    CommandRefused,
    CommandTimeout,
    HandshakeFailed,
    LinkError,
    NotConnected,
    SessionClosed,
    SinkError,
)
from devicelink.events import Direction, FrameRecord, StampEvent, StateChange
from devicelink.replies import PendingReplies
from devicelink.sink import LinkLogEntry, StampSink
from devicelink.state import LinkState
from devicelink.stats import LinkStats, RoundTrips
from devicelink.transport import Transport, TransportDisconnected, TransportOpenError
from firmware_protocol import (
    SUPPORTED_VERSIONS,
    Ack,
    Arm,
    ArmReason,
    ArmState,
    BadFrame,
    Battery,
    DeviceInfo,
    Disarm,
    Event,
    Fault,
    FaultCode,
    Flag,
    Frame,
    HeadChanged,
    Heartbeat,
    HeartbeatState,
    Hello,
    IncompatibleVersion,
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
    UnknownMessage,
    encode_frame,
    negotiate,
)
from firmware_protocol.connection import Connection
from firmware_protocol.timing import HEARTBEAT_INTERVAL_S, LINK_TIMEOUT_S

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Message)


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """Timing and sizing of a :class:`LinkSession`. The defaults follow docs/protocol.md."""

    #: The link is lost after this long without a valid frame from the device (seconds).
    link_timeout: float = LINK_TIMEOUT_S
    #: The host sends HEARTBEAT this often (seconds).
    heartbeat_interval: float = HEARTBEAT_INTERVAL_S
    #: How long to wait for the reply to a command before sending it again (seconds).
    reply_timeout: float = 0.3
    #: How many times a command (HELLO, TIME_SYNC, RESUME, ARM, ...) is sent before giving up.
    attempts: int = 5
    #: First wait before reconnecting (seconds); doubles on every failed attempt ...
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


class _Link:
    """One open transport: its tasks, its outgoing queue and the signal that ends it."""

    def __init__(self, number: int) -> None:
        self.number = number
        loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[str] = loop.create_future()
        #: Set when the link needs a new handshake on the same transport: the device
        #: rebooted (``interrupt_lost`` False) or went quiet (``interrupt_lost`` True).
        self.interrupted = asyncio.Event()
        self.interrupt_reason = ""
        self.interrupt_lost = False
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()
        #: Version negotiated in the current handshake: commands may flow.
        self.negotiated = False
        #: The handshake completed at least once on this link.
        self.was_connected = False
        self.tasks: list[asyncio.Task[None]] = []
        self.last_rx = time.monotonic()
        self.last_probe = 0.0

    def end(self, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)


class LinkSession:
    """The host side of a Stampside link. See the module documentation.

    Typical use::

        async with LinkSession(SerialTransport(url), sink=DatabaseSink(db), arm=True) as session:
            await session.wait_connected()
            with session.subscribe_stamps() as stamps:
                async for event in stamps:
                    ...
    """

    def __init__(
        self,
        transport: Transport,
        *,
        sink: StampSink | None = None,
        arm: bool = False,
        options: LinkOptions | None = None,
    ) -> None:
        self.transport = transport
        self.options = options or LinkOptions()
        #: Whether counting is wanted: the session arms the device after every handshake.
        self.want_armed = arm
        self._conn = Connection(Role.HOST, self.options.versions)
        self._pipeline = (
            CommitPipeline(sink, self._send_ack, max_batch=self.options.max_batch) if sink is not None else None
        )
        self._state = LinkState.CONNECTING
        self._state_since = time.monotonic()
        self._state_reason = ""
        self._states: Broadcast[StateChange] = Broadcast()
        self._frames: Broadcast[FrameRecord] = Broadcast()
        self._stamps: Broadcast[StampEvent] = Broadcast()
        self._replies = PendingReplies()
        self._link: _Link | None = None
        self._links = 0
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()
        #: The error that ended the session (an incompatible device, ...), or None.
        self.error: BaseException | None = None
        #: DEVICE_INFO from the last handshake.
        self.device: DeviceInfo | None = None
        #: Whether the device counts stamps, as it last said (None: not known yet).
        self.armed: bool | None = None
        self.battery: Battery | None = None
        self.head: HeadChanged | None = None
        self.last_fault: Fault | None = None
        self.last_time_sync: TimeSyncReply | None = None
        #: The device's last HEARTBEAT and when it came (monotonic).
        self.device_heartbeat: Heartbeat | None = None
        self._device_heartbeat_at = -math.inf
        self._device_boot: int | None = None
        self._last_ack = (0, 0)
        self._last_ack_at = -math.inf
        self._accepting = self._pipeline is None
        self._newest_seen: dict[str, int] = {}
        self._new_stamps = 0
        self._arm_blocked = False
        self._last_arm_sent = -math.inf
        self._tx_decoder: Connection | None = None
        self._logged_resyncs = 0
        self._nonce = 0
        self._pings_sent: dict[int, float] = {}
        #: When the last new stamp arrived (monotonic), or None.
        self.last_stamp_at: float | None = None
        # counters
        self._rtt = RoundTrips()
        self._connects = 0
        self._losses = 0
        self._reboots = 0
        self._acks_sent = 0
        self._ack_retransmits = 0
        self._command_retries = 0
        self._command_timeouts = 0
        self._probes = 0

    # == lifecycle =======================================================================

    async def start(self) -> None:
        """Open the transport and start the session in the background.

        Raises :class:`~devicelink.transport.TransportOpenError` at once when the first
        open fails (a wrong URL, a busy port): that needs a person, not a retry loop.
        Later failures to reopen are retried with backoff.
        """
        if self._supervisor is not None:
            return
        await self.transport.open()
        if self._pipeline is not None:
            self._pipeline.start().add_done_callback(self._on_writer_done)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"stampside link {self.transport.description}")

    async def close(self) -> None:
        """Store and acknowledge what is pending (up to ``drain_timeout``), then disconnect."""
        if self._closed.is_set() and self._supervisor is None:
            return
        self._closing = True
        if self._pipeline is not None:
            drained = await self._pipeline.drain(self.options.drain_timeout)
            if not drained:
                log.warning("closing with stamps not yet stored; the device keeps them until the next session")
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        if self._pipeline is not None:
            await self._pipeline.stop(drain_timeout=1.0)
        self._set_state(LinkState.CLOSED, self._state_reason if self.error else "closed")
        self._closed.set()
        self._connected.clear()
        for hub in (self._states, self._frames, self._stamps):
            hub.close()

    async def __aenter__(self) -> LinkSession:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def wait_connected(self, timeout: float | None = None) -> DeviceInfo:
        """Wait until the handshake is done; the device's DEVICE_INFO.

        Raises the session's fatal error (e.g. IncompatibleVersion) if it ended with one,
        :class:`SessionClosed` if it was closed, TimeoutError after ``timeout``.
        """

        async def wait() -> None:
            waits = [asyncio.ensure_future(self._connected.wait()), asyncio.ensure_future(self._closed.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

        await asyncio.wait_for(wait(), timeout)
        if self._connected.is_set() and self.device is not None:
            return self.device
        if self.error is not None:
            raise self.error
        raise SessionClosed("the session is closed")

    async def wait_closed(self) -> None:
        """Wait until the session ends; re-raise the error that ended it, if any."""
        await self._closed.wait()
        if self.error is not None:
            raise self.error

    # == state ===========================================================================

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def state_since(self) -> float:
        """When the current state began (``time.monotonic()``)."""
        return self._state_since

    @property
    def state_age(self) -> float:
        """How long the session has been in its current state, in seconds."""
        return time.monotonic() - self._state_since

    @property
    def state_reason(self) -> str:
        return self._state_reason

    @property
    def connected(self) -> bool:
        return self._state is LinkState.CONNECTED

    @property
    def has_sink(self) -> bool:
        return self._pipeline is not None

    @property
    def acked(self) -> tuple[int, int]:
        """(boot, seq) of the last ACK sent."""
        return self._last_ack

    @property
    def storage_error(self) -> SinkError | None:
        """The last commit error while it persists (commits are being retried)."""
        return self._pipeline.last_error if self._pipeline is not None else None

    @property
    def settled(self) -> bool:
        """Connected, every stamp the device reported is stored and acknowledged, and the
        device's latest heartbeat (sent after our last ACK) shows nothing pending."""
        pipeline = self._pipeline
        if self._state is not LinkState.CONNECTED or pipeline is None or pipeline.tracker is None:
            return False
        tracker = pipeline.tracker
        hb = self.device_heartbeat
        if not pipeline.idle or not tracker.complete or hb is None:
            return False
        if self._device_heartbeat_at <= self._last_ack_at or hb.boot != self._device_boot:
            return False
        return hb.pending == 0 and hb.seq <= tracker.acked_seq

    def stats(self) -> LinkStats:
        counters = self._conn.counters
        rx = counters.rx
        pipeline = self._pipeline
        delivery = pipeline.delivery_stats() if pipeline is not None else None
        tracker = pipeline.tracker if pipeline is not None else None
        return LinkStats(
            frames_rx=rx.frames,
            frames_tx=counters.tx_frames,
            bytes_rx=rx.bytes,
            bytes_tx=counters.tx_bytes,
            bad_frames=dict(rx.bad),
            resyncs=rx.resyncs,
            lseq_gaps=counters.rx_lseq_gaps,
            unknown=counters.unknown,
            stamps_received=delivery.received if delivery else counters.by_type_rx.get("STAMP", 0),
            stamps_new=(delivery.received - delivery.duplicates) if delivery else self._new_stamps,
            duplicates=delivery.duplicates if delivery else 0,
            replayed=delivery.replayed if delivery else 0,
            gaps=delivery.gaps if delivery else 0,
            resumes=delivery.resumes if delivery else 0,
            jumps=delivery.jumps if delivery else 0,
            regressions=delivery.regressions if delivery else 0,
            commits=pipeline.commits if pipeline else 0,
            commit_failures=pipeline.failures if pipeline else 0,
            stored=pipeline.stored if pipeline else 0,
            acked_boot=tracker.acked_boot if tracker else 0,
            acked_seq=tracker.acked_seq if tracker else 0,
            connects=self._connects,
            losses=self._losses,
            reboots=self._reboots,
            acks_sent=self._acks_sent,
            ack_retransmits=self._ack_retransmits,
            command_retries=self._command_retries,
            command_timeouts=self._command_timeouts,
            probes=self._probes,
            rtt=RoundTrips(self._rtt.samples, self._rtt.last, self._rtt.low, self._rtt.high, self._rtt.total),
        )

    # == subscriptions ===================================================================

    def subscribe_stamps(self, maxsize: int | None = None) -> Subscription[StampEvent]:
        """New stamps as they arrive (before they are committed; duplicates are left out)."""
        return self._stamps.subscribe(maxsize or self.options.subscriber_queue)

    def subscribe_frames(self, maxsize: int | None = None) -> Subscription[FrameRecord]:
        """Every frame both ways, with bad frames, for monitors."""
        return self._frames.subscribe(maxsize or self.options.subscriber_queue)

    def subscribe_states(self, maxsize: int | None = None) -> Subscription[StateChange]:
        return self._states.subscribe(maxsize or self.options.subscriber_queue)

    # == commands ========================================================================

    async def arm(self) -> ArmState | None:
        """Turn counting on, now and after every reconnect.

        Returns the device's ARM_STATE, or None when not connected (it is armed at the
        next handshake). Raises :class:`CommandRefused` if the device refuses (an empty
        battery, a full buffer).
        """
        self.want_armed = True
        self._arm_blocked = False
        if not self.connected:
            return None
        self._last_arm_sent = time.monotonic()
        return await self._command(Arm(), ArmState)

    async def disarm(self) -> ArmState | None:
        """Turn counting off (and keep it off after reconnects)."""
        self.want_armed = False
        if not self.connected:
            return None
        return await self._command(Disarm(), ArmState)

    async def ping(self) -> float:
        """Round-trip time of a PING, in seconds."""
        nonce = self._next_nonce()
        started = time.monotonic()
        await self._command(
            Ping(nonce), Pong, accepts=lambda f: isinstance(f.message, Pong) and f.message.nonce == nonce
        )
        return time.monotonic() - started

    async def time_sync(self) -> TimeSyncReply:
        """Send the host's clock; the device's reply."""
        reply = await self._command(lambda: TimeSync(_unix_ms()), TimeSyncReply)
        self.last_time_sync = reply
        return reply

    async def resume(self, boot: int, seq: int) -> ResumeReply:
        """Send RESUME(boot, seq) by hand. It ACKNOWLEDGES every event up to ``seq``:
        the device drops them from its buffer. The replayed stamps follow the reply."""
        return await self._command(Resume(boot, seq), ResumeReply)

    # == the supervisor: connect, run, reconnect ===========================================

    async def _supervise(self) -> None:
        attempt = 0
        opened = True  # start() opened the transport
        try:
            while not self._closing:
                if not opened:
                    try:
                        await self.transport.open()
                    except TransportOpenError as exc:
                        # The port vanished (cable pulled, simulator restarting): keep trying.
                        await self._retry_later(str(exc), attempt)
                        attempt += 1
                        continue
                opened = False
                self._links += 1
                link = _Link(self._links)
                self._link = link
                was_up = False
                try:
                    reason = await self._run_link(link)
                except (TransportDisconnected, CommandTimeout, CommandRefused, NotConnected, SinkError) as exc:
                    reason = str(exc)
                finally:
                    was_up = self._state is LinkState.CONNECTED
                    await self._teardown(link)
                if link.was_connected:
                    attempt = 0
                if was_up and not self._closing:
                    self._losses += 1
                if self._closing:
                    break
                self._log_link("lost", reason)
                await self._retry_later(reason, attempt)
                attempt += 1
        except (IncompatibleVersion, HandshakeFailed) as exc:
            self.error = exc
            self._log_link("incompatible" if isinstance(exc, IncompatibleVersion) else "handshake", str(exc))
            log.info("session ended: %s", exc)  # the caller reports it (wait_connected/wait_closed/error)
            self._set_state(LinkState.CLOSED, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
            log.exception("the link session failed")
            self._set_state(LinkState.CLOSED, f"internal error: {exc!r}")
        finally:
            self._connected.clear()
            if self.error is not None or not self._closing:
                self._closed.set()
                for hub in (self._states, self._frames, self._stamps):
                    hub.close()

    async def _retry_later(self, reason: str, attempt: int) -> None:
        self._set_state(LinkState.LOST, reason)
        delay = min(self.options.backoff_max, self.options.backoff_initial * (2**attempt))
        await asyncio.sleep(delay)
        self._set_state(LinkState.RECONNECTING, f"attempt {attempt + 2}")

    async def _run_link(self, link: _Link) -> str:
        self._conn.reset()
        self._tx_decoder = None
        link.tasks.append(asyncio.create_task(self._read_loop(link), name="stampside link reader"))
        link.tasks.append(asyncio.create_task(self._write_loop(link), name="stampside link writer"))
        while True:
            await self._handshake(link)
            if not link.was_connected:
                link.was_connected = True
                link.tasks.append(asyncio.create_task(self._heartbeat_loop(link), name="stampside heartbeat"))
                link.tasks.append(asyncio.create_task(self._watchdog(link), name="stampside watchdog"))
            self._connects += 1
            info = self.device
            assert info is not None
            summary = f"{info.serial} fw {info.firmware} boot {info.boot}, protocol v{self._conn.version}"
            self._log_link("connected", summary)
            self._set_state(LinkState.CONNECTED, summary)
            self._connected.set()
            interrupted: asyncio.Future[object] = asyncio.ensure_future(link.interrupted.wait())
            ended: asyncio.Future[object] = link.ended  # type: ignore[assignment]
            try:
                await asyncio.wait([ended, interrupted], return_when=asyncio.FIRST_COMPLETED)
            finally:
                interrupted.cancel()
            if link.ended.done():
                return link.ended.result()
            link.interrupted.clear()
            self._connected.clear()
            reason = link.interrupt_reason
            if link.interrupt_lost:
                # A quiet line, but the transport is still open: handshake again on it
                # first. Only if that fails is the transport closed and reopened.
                self._losses += 1
                self._log_link("lost", reason)
                self._set_state(LinkState.LOST, reason)
                self._set_state(LinkState.RECONNECTING, "handshaking again on the open transport")
            else:
                self._reboots += 1
                self._log_link("reboot", reason)
                self._set_state(LinkState.RECONNECTING, reason)

    async def _teardown(self, link: _Link) -> None:
        link.end("closed")
        link.negotiated = False
        self._connected.clear()
        self._accepting = self._pipeline is None
        for task in link.tasks:
            task.cancel()
        for task in link.tasks:
            with contextlib.suppress(asyncio.CancelledError, TransportDisconnected):
                await task
        self._replies.fail_all(NotConnected("the link is down"))
        if self._link is link:
            self._link = None
        await self.transport.close()

    def _on_writer_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        log.error("the commit writer failed: %r", exc)
        self.error = exc
        if self._supervisor is not None:
            self._supervisor.cancel()
            self._closed.set()

    # == handshake =========================================================================

    async def _handshake(self, link: _Link) -> None:
        """HELLO, version, TIME_SYNC, RESUME (with a sink), ARM (when wanted)."""
        for _ in range(self.options.attempts):
            try:
                await self._handshake_once(link)
                return
            except CommandRefused as exc:
                if exc.code != NackCode.NOT_READY:
                    raise
                log.info("device not ready (it rebooted during the handshake); starting over")
        raise CommandTimeout("the device kept answering NOT_READY during the handshake")

    async def _handshake_once(self, link: _Link) -> None:
        link.negotiated = False
        if self._pipeline is not None:
            self._accepting = False
        info = await self._hello(link)
        self.device = info
        self._device_boot = info.boot
        self._arm_blocked = False
        link.negotiated = True
        if self._pipeline is not None:
            opened = await self._pipeline.open_device(info)
            if opened.regression:
                self._log_link(
                    "regression",
                    f"device numbering went backwards (last seq {info.last_seq} < stored cursor "
                    f"{opened.stored_cursor[1]}); following the device",
                )
            self._accepting = True
        # Only HELLO is mandatory. The rest is best effort: on a noisy line a lost reply
        # must not cost a reconnect, and the running session repairs each step anyway
        # (the tracker re-sends RESUME on a gap, heartbeats re-arm, ACKs are re-sent).
        try:
            self.last_time_sync = await self._command(lambda: TimeSync(_unix_ms()), TimeSyncReply, link=link)
        except CommandTimeout as exc:
            log.info("time sync skipped: %s", exc)
        pipeline = self._pipeline
        if pipeline is not None and pipeline.tracker is not None:
            tracker = pipeline.tracker
            try:
                await self._command(
                    lambda: Resume(tracker.acked_boot, tracker.acked_seq),
                    Message,
                    link=link,
                    # A replayed stamp proves the RESUME arrived even if its reply was lost:
                    # asking again would only start a second replay of the whole buffer.
                    accepts=_answers_resume,
                    on_sent=lambda: tracker.resume_sent(time.monotonic()),
                )
            except CommandTimeout as exc:
                log.info("RESUME unanswered, the gap check will ask again: %s", exc)
        if self.want_armed:
            self._last_arm_sent = time.monotonic()
            try:
                await self._command(Arm(), ArmState, link=link)
            except CommandRefused as exc:
                if exc.code == NackCode.NOT_READY:
                    raise
                self._arm_blocked = True
                log.warning("%s", exc)
            except CommandTimeout as exc:
                log.info("ARM unanswered, the heartbeat check will arm again: %s", exc)

    async def _hello(self, link: _Link) -> DeviceInfo:
        versions = self.options.versions
        for attempt in range(self.options.attempts):
            if attempt:
                self._command_retries += 1
            waiter = self._replies.add(MessageType.HELLO, lambda f: isinstance(f.message, DeviceInfo))
            try:
                started = time.monotonic()
                link.outbox.put_nowait(b"\x00")
                waiter.lseq = self._post(link, Hello(*versions))
                try:
                    frame = await asyncio.wait_for(waiter.future, self.options.reply_timeout)
                except TimeoutError:
                    continue
            finally:
                self._replies.remove(waiter)
            info = frame.message
            assert isinstance(info, DeviceInfo)
            if frame.flags & Flag.ANNOUNCE:
                continue  # the device booted after our HELLO left: say it again
            self._rtt.add(time.monotonic() - started)
            version = negotiate(versions, info.version_range)  # IncompatibleVersion: fatal
            if info.selected_version != version:
                raise HandshakeFailed(
                    f"the device selected protocol v{info.selected_version}, but the highest version both "
                    f"speak is v{version} (device v{info.min_version}–v{info.max_version}, "
                    f"host v{versions[0]}–v{versions[1]}); its firmware negotiates wrongly"
                )
            self._conn.version = version
            return info
        self._command_timeouts += 1
        raise CommandTimeout(
            f"no answer to HELLO from {self.transport.description} after {self.options.attempts} tries"
        )

    # == commands: send, wait for the reply, retry ===========================================

    async def _command(
        self,
        message: Message | Callable[[], Message],
        reply: type[R],
        *,
        link: _Link | None = None,
        accepts: Callable[[Frame], bool] | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> R:
        """Send a command and return the reply, retrying on timeout.

        Every command the host sends is idempotent, so sending it again is safe.
        """
        target = link or self._link
        if target is None or (link is None and not self.connected):
            raise NotConnected(f"not connected ({self._state.value})")
        make: Callable[[], Message] = message if callable(message) else (lambda: message)
        test = accepts or (lambda f: isinstance(f.message, reply))
        name = ""
        for attempt in range(self.options.attempts):
            msg = make()
            name = msg.TYPE.name
            if attempt:
                self._command_retries += 1
            waiter = self._replies.add(msg.TYPE, test)
            try:
                started = time.monotonic()
                waiter.lseq = self._post(target, msg)
                if on_sent is not None:
                    on_sent()
                try:
                    frame = await asyncio.wait_for(waiter.future, self.options.reply_timeout)
                except TimeoutError:
                    continue
            finally:
                self._replies.remove(waiter)
            self._rtt.add(time.monotonic() - started)
            if isinstance(frame.message, reply):
                return frame.message
            raise LinkError(f"{name} got {frame.message.TYPE.name} instead of {reply.__name__}")
        self._command_timeouts += 1
        raise CommandTimeout(f"no reply to {name} after {self.options.attempts} tries")

    # == sending ============================================================================

    def _post(self, link: _Link, message: Message, flags: int = 0) -> int:
        """Encode ``message`` now (so link sequence numbers follow the order of calls) and
        queue it for the link's writer. Returns its link sequence number."""
        data = self._conn.send(message, flags)
        link.outbox.put_nowait(data)
        if self._frames:
            self._publish_tx(data)
        if isinstance(message, Ping):
            self._pings_sent[message.nonce] = time.monotonic()
            if len(self._pings_sent) > 64:
                self._pings_sent.pop(next(iter(self._pings_sent)))
        return int(cobs.decode(data[:-1])[2])

    async def _write_loop(self, link: _Link) -> None:
        outbox = link.outbox
        try:
            while True:
                data = await outbox.get()
                chunks = [data]
                while not outbox.empty():
                    chunks.append(outbox.get_nowait())
                await self.transport.write(b"".join(chunks) if len(chunks) > 1 else data)
        except TransportDisconnected as exc:
            link.end(f"transport closed ({exc})")
            self._replies.fail_all(exc)

    def _send_ack(self, boot: int, seq: int) -> None:
        """Called by the commit pipeline after a durable commit moved the cursor."""
        link = self._link
        if link is None or not link.negotiated:
            return  # the RESUME of the next handshake carries it
        self._post(link, Ack(boot, seq))
        self._last_ack = (boot, seq)
        self._last_ack_at = time.monotonic()
        self._acks_sent += 1
        if self._arm_blocked and self.want_armed and self.connected:
            # The device disarmed itself with a full buffer; this ACK frees room.
            self._arm_blocked = False
            self._last_arm_sent = time.monotonic()
            self._post(link, Arm())

    def _next_nonce(self) -> int:
        self._nonce = (self._nonce + 1) & 0xFFFFFFFF
        return self._nonce

    # == receiving ==========================================================================

    async def _read_loop(self, link: _Link) -> None:
        try:
            while True:
                data = await self.transport.read()
                self._on_data(link, data)
        except TransportDisconnected as exc:
            link.end(f"transport closed ({exc})")
            self._replies.fail_all(exc)
        except Exception as exc:
            link.end(f"internal error: {exc!r}")
            self._replies.fail_all(exc)
            raise

    def _on_data(self, link: _Link, data: bytes) -> None:
        now = time.monotonic()
        wall = time.time()
        tap = bool(self._frames)
        for event in self._conn.receive_data(data):
            if tap:
                self._publish_rx(event, now, wall)
            if type(event) is Frame:
                link.last_rx = now
                self._on_frame(link, event, now, wall)
            elif type(event) is UnknownMessage:
                link.last_rx = now
        if self._pipeline is not None and link.negotiated and self._state is LinkState.CONNECTED:
            self._resume_if_due(link, now)

    def _on_frame(self, link: _Link, frame: Frame, now: float, wall: float) -> None:
        message = frame.message
        kind = type(message)
        if kind is Stamp:
            assert isinstance(message, Stamp)
            self._on_stamp(frame, message, now, wall)
            return
        if kind is Heartbeat:
            assert isinstance(message, Heartbeat)
            self._on_heartbeat(link, message, now)
            return
        if kind is ResumeReply and self._pipeline is not None and self._pipeline.tracker is not None:
            assert isinstance(message, ResumeReply)
            tracker = self._pipeline.tracker
            acked_before = tracker.acked_seq
            tracker.on_resume_reply(message, now)
            if tracker.acked_seq > acked_before:
                self._log_link("jump", f"events up to {tracker.acked_seq} were acknowledged elsewhere")
        elif kind is DeviceInfo:
            assert isinstance(message, DeviceInfo)
            if frame.flags & Flag.ANNOUNCE and self.connected and self._is_new_boot(message):
                self._rehandshake(link, f"device announced boot {message.boot}")
                return
        elif kind is ArmState:
            assert isinstance(message, ArmState)
            self.armed = bool(message.armed)
            if not message.armed and message.reason in (ArmReason.BUFFER_FULL, ArmReason.BATTERY_EMPTY):
                self._arm_blocked = True
        elif kind is Fault:
            assert isinstance(message, Fault)
            self.last_fault = message
            try:
                code = FaultCode(message.code).name
            except ValueError:
                code = str(message.code)
            self._log_link("fault", f"{code} detail={message.detail}")
        elif kind is Battery:
            assert isinstance(message, Battery)
            self.battery = message
        elif kind is HeadChanged:
            assert isinstance(message, HeadChanged)
            self.head = message
        elif kind is Pong:
            assert isinstance(message, Pong)
            sent = self._pings_sent.pop(message.nonce, None)
            if sent is not None:
                self._rtt.add(now - sent)
        elif kind is Nack:
            assert isinstance(message, Nack)
            if self._on_nack(link, message):
                return
        self._replies.resolve(frame)

    def _on_nack(self, link: _Link, nack: Nack) -> bool:
        """Route a NACK to the command it refuses; True if it was handled."""
        if self._replies.refuse(nack):
            return True
        if nack.refused_type == MessageType.ARM and nack.code == NackCode.REFUSED:
            self._arm_blocked = True
        if nack.code == NackCode.NOT_READY and self.connected:
            self._rehandshake(link, "device answered NOT_READY (it lost our session)")
        return True

    def _on_stamp(self, frame: Frame, stamp: Stamp, now: float, wall: float) -> None:
        if not self._accepting:
            return  # before the cursor is known: the device keeps it and RESUME replays it
        replay = bool(frame.flags & Flag.REPLAY)
        info = self.device
        serial = info.serial if info is not None else ""
        if self._pipeline is not None:
            if not self._pipeline.offer(stamp, replay, wall, now):
                return
        else:
            if stamp.seq <= self._newest_seen.get(serial, 0):
                return
            self._newest_seen[serial] = stamp.seq
            self._new_stamps += 1
        self.last_stamp_at = now
        if self._stamps:
            self._stamps.publish(StampEvent(serial, stamp, replay, wall, now))

    def _on_heartbeat(self, link: _Link, hb: Heartbeat, now: float) -> None:
        self.device_heartbeat = hb
        self._device_heartbeat_at = now
        if not self.connected:
            return
        if hb.boot != self._device_boot:
            self._rehandshake(link, f"device heartbeat shows boot {hb.boot}")
            return
        armed = bool(hb.state & HeartbeatState.ARMED)
        self.armed = armed
        pipeline = self._pipeline
        if pipeline is not None and pipeline.tracker is not None:
            tracker = pipeline.tracker
            tracker.note_device_head(hb.seq)
            if (
                hb.pending > 0
                and tracker.acked_seq > 0
                and hb.seq <= tracker.acked_seq
                and tracker.complete
                and pipeline.idle
                and now - self._last_ack_at >= self.options.heartbeat_interval
            ):
                # We hold everything it counted, yet it still keeps some: our ACK was lost.
                self._ack_retransmits += 1
                self._send_ack(tracker.acked_boot, tracker.acked_seq)
        if (
            self.want_armed
            and not armed
            and not self._arm_blocked
            and not hb.state & HeartbeatState.BUFFER_FULL
            and now - self._last_arm_sent >= 1.0
        ):
            # The device is not counting though it should be (a lost ARM or ARM_STATE).
            self._last_arm_sent = now
            self._post(link, Arm())

    def _is_new_boot(self, info: DeviceInfo) -> bool:
        current = self.device
        return current is None or info.boot != self._device_boot or info.serial != current.serial

    def _rehandshake(self, link: _Link, reason: str, *, lost: bool = False) -> None:
        if not link.interrupted.is_set():
            link.interrupt_reason = reason
            link.interrupt_lost = lost
            link.negotiated = False
            link.interrupted.set()

    def _resume_if_due(self, link: _Link, now: float) -> None:
        pipeline = self._pipeline
        if pipeline is None or pipeline.tracker is None:
            return
        tracker = pipeline.tracker
        if tracker.resume_due(now):
            tracker.resume_sent(now)
            self._post(link, Resume(tracker.acked_boot, tracker.acked_seq))

    # == periodic work ========================================================================

    async def _heartbeat_loop(self, link: _Link) -> None:
        interval = self.options.heartbeat_interval
        ping_interval = self.options.ping_interval
        next_ping = time.monotonic() + (ping_interval or math.inf)
        while True:
            now = time.monotonic()
            if link.negotiated:
                boot, seq = self._last_ack
                self._post(link, Heartbeat(boot, seq, 0, 0))
                if self._state is LinkState.CONNECTED:
                    if self._pipeline is not None:
                        self._resume_if_due(link, now)
                    if ping_interval and now >= next_ping:
                        next_ping = now + ping_interval
                        self._post(link, Ping(self._next_nonce()))
            self._log_resyncs()
            await asyncio.sleep(interval)

    async def _watchdog(self, link: _Link) -> None:
        timeout = self.options.link_timeout
        probe_after = timeout / 3
        while True:
            if self._state is not LinkState.CONNECTED or link.interrupted.is_set():
                await asyncio.sleep(probe_after)  # a handshake is on: it has its own timeouts
                continue
            now = time.monotonic()
            quiet = now - link.last_rx
            if quiet >= timeout:
                self._rehandshake(link, f"no valid frame for {timeout:g} s", lost=True)
                continue
            if quiet >= probe_after and link.negotiated and now - link.last_probe >= probe_after:
                # A quiet line: ask for a PONG, so a healthy link answers before the deadline.
                link.last_probe = now
                self._probes += 1
                self._post(link, Ping(self._next_nonce()))
            wait = probe_after - quiet if quiet < probe_after else min(probe_after, timeout - quiet)
            await asyncio.sleep(max(wait, 0.005))

    def _log_resyncs(self) -> None:
        resyncs = self._conn.counters.rx.resyncs
        if resyncs > self._logged_resyncs:
            bad = self._conn.counters.rx.bad_total
            self._log_link("resync", f"{resyncs - self._logged_resyncs} resyncs (bad frames so far: {bad})")
            self._logged_resyncs = resyncs

    # == observers ============================================================================

    def _set_state(self, state: LinkState, reason: str = "") -> None:
        previous = self._state
        if state is previous and reason == self._state_reason:
            return
        self._state = state
        self._state_reason = reason
        now = time.monotonic()
        if state is not previous:
            self._state_since = now
        log.info("link %s: %s", state.value, reason)
        if self._states:
            self._states.publish(StateChange(state, previous, now, time.time(), reason))

    def _log_link(self, kind: str, detail: str) -> None:
        if self._pipeline is not None:
            self._pipeline.log(LinkLogEntry(time.time(), kind, detail))

    def _publish_rx(self, event: Event, now: float, wall: float) -> None:
        wire = event.wire if isinstance(event, BadFrame) else encode_frame(event.raw)
        self._frames.publish(FrameRecord(Direction.RX, now, wall, event, wire))

    def _publish_tx(self, data: bytes) -> None:
        if self._tx_decoder is None:
            self._tx_decoder = Connection(Role.DEVICE, self.options.versions)
        now = time.monotonic()
        wall = time.time()
        for event in self._tx_decoder.receive_data(data):
            self._frames.publish(FrameRecord(Direction.TX, now, wall, event, data))


def _answers_resume(frame: Frame) -> bool:
    message = frame.message
    return isinstance(message, ResumeReply) or (isinstance(message, Stamp) and frame.replay)


def _unix_ms() -> int:
    return int(time.time() * 1000)
