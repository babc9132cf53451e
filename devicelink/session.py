"""The link session: one host's conversation with one derma stamp, over any transport.

The conversation's rules — handshake, negotiation, time sync, RESUME, the numbering checks,
ACKs after commits, heartbeats, probes, link loss — live in the sans-I/O
:class:`~firmware_protocol.host.HostConnection`. :class:`LinkSession` drives it: it opens the
transport (and reopens it with backoff when it goes away), feeds it the bytes and the time,
and carries out what it asks for — writing bytes, asking storage for a device's ledger,
committing stamps (:mod:`devicelink.commit_pipeline`) — and tells its observers.

**With a sink** every stamp is stored exactly once, with the :attr:`LinkSession.tags` the app
set (session, zone), and acknowledged after the commit. **Without a sink** (``link monitor``,
``link send``) the session never sends ACK or RESUME: RESUME(boot, seq) acknowledges every
event up to ``seq``, so the device would drop stamps that nobody stored.

Observers subscribe to async iterators: :meth:`~LinkSession.subscribe_stamps` (new stamps as
they arrive), :meth:`~LinkSession.subscribe_stored` (stamps as committed, with their session
and zone), :meth:`~LinkSession.subscribe_frames` (every frame both ways, bad frames too),
:meth:`~LinkSession.subscribe_states` and :meth:`~LinkSession.subscribe_notes` (what goes into
the link log: faults, reboots, a restarted numbering …). Nothing an observer does can slow
the link down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, TypeVar

from devicelink.broadcast import Broadcast, Subscription
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
from devicelink.options import LinkOptions
from devicelink.sink import NO_TAGS, LinkLogEntry, ReceivedStamp, StampSink, StampTags, StoredStamp
from devicelink.state import LinkState
from devicelink.stats import LinkStats, build_stats
from devicelink.transport import Transport, TransportDisconnected, TransportOpenError
from firmware_protocol import (
    Arm,
    ArmState,
    BadFrame,
    Battery,
    DeviceInfo,
    Disarm,
    Event,
    Fault,
    Frame,
    HeadChanged,
    Heartbeat,
    Message,
    Ping,
    Pong,
    Resume,
    ResumeReply,
    Role,
    TimeSync,
    TimeSyncReply,
    encode_frame,
)
from firmware_protocol.connection import Connection
from firmware_protocol.errors import HandshakeError
from firmware_protocol.host import HostConnection
from firmware_protocol.host_events import (
    Action,
    BindEpoch,
    Deliver,
    HostState,
    Input,
    Note,
    OpenLedger,
    Reopen,
    Reply,
    ReplyError,
    Send,
    StartLife,
    StateChanged,
)

__all__ = ["LinkOptions", "LinkSession"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Message)


class LinkSession:
    """The host side of a Stampside link. See the module documentation.

    Typical use::

        async with LinkSession(SerialTransport(url), sink=DatabaseSink(db), arm=True) as session:
            await session.wait_connected()
            with session.subscribe_stored() as stored:
                async for batch in stored:
                    ...
    """

    def __init__(
        self,
        transport: Transport,
        *,
        sink: StampSink | None = None,
        arm: bool | None = None,
        options: LinkOptions | None = None,
    ) -> None:
        self.transport = transport
        self.options = options = options or LinkOptions()
        self.host = HostConnection(
            versions=options.versions, timing=options.timing(), ledger=sink is not None, arm=arm, unix_ms=_unix_ms
        )
        self._pipeline = (
            CommitPipeline(
                sink,
                plan=self.host.plan_commit,
                on_committed=self._on_committed,
                on_stored=self._on_stored,
                max_batch=options.max_batch,
            )
            if sink is not None
            else None
        )
        self._tags = NO_TAGS
        self._state = LinkState.CONNECTING
        self._state_since = time.monotonic()
        self._state_reason = ""
        self._states: Broadcast[StateChange] = Broadcast()
        self._frames: Broadcast[FrameRecord] = Broadcast()
        self._stamps: Broadcast[StampEvent] = Broadcast()
        self._stored: Broadcast[tuple[StoredStamp, ...]] = Broadcast()
        self._notes: Broadcast[LinkLogEntry] = Broadcast()
        self._replies: dict[int, asyncio.Future[Reply]] = {}
        self._outbox: asyncio.Queue[bytes] | None = None
        self._ended: asyncio.Future[str] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()
        self._tx_decoder: Connection | None = None
        #: The error that ended the session (an incompatible device, ...), or None.
        self.error: BaseException | None = None

    # == what the host knows ================================================================

    @property
    def device(self) -> DeviceInfo | None:
        """DEVICE_INFO from the last handshake."""
        return self.host.device

    @property
    def armed(self) -> bool | None:
        """Whether the device counts stamps, as it last said (None: not known yet)."""
        return self.host.armed

    @property
    def battery(self) -> Battery | None:
        return self.host.battery

    @property
    def head(self) -> HeadChanged | None:
        return self.host.head

    @property
    def last_fault(self) -> Fault | None:
        return self.host.last_fault

    @property
    def last_time_sync(self) -> TimeSyncReply | None:
        return self.host.last_time_sync

    @property
    def device_heartbeat(self) -> Heartbeat | None:
        return self.host.device_heartbeat

    @property
    def last_stamp_at(self) -> float | None:
        """When the last new stamp arrived (``time.monotonic()``), or None."""
        return self.host.last_stamp_at

    @property
    def want_armed(self) -> bool | None:
        """True: the device must count (armed after every handshake); False: it must not
        (disarmed after every handshake); None: left as it is (a monitor)."""
        return self.host.want_armed

    @property
    def tags(self) -> StampTags:
        """Where arriving stamps belong (session, zone); stored with each in its own transaction."""
        return self._tags

    @tags.setter
    def tags(self, tags: StampTags) -> None:
        self._tags = tags

    # == lifecycle ==========================================================================

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
        if self._pipeline is not None and not await self._pipeline.drain(self.options.drain_timeout):
            log.warning("closing with stamps not yet stored; the device keeps them until the next session")
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        if self._pipeline is not None:
            await self._pipeline.stop(drain_timeout=1.0)
            self.host.abandon_inflight()
        self.host.close(time.monotonic())
        self.host.take_actions()
        self._set_state(LinkState.CLOSED, self._state_reason if self.error else "closed")
        self._end_observers()

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

    # == state ===============================================================================

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
        """(boot, seq) of the last ACK sent (or the cursor of the last RESUME)."""
        return self.host.last_ack

    @property
    def storage_error(self) -> SinkError | None:
        """The last commit error while it persists (commits are being retried)."""
        return self._pipeline.last_error if self._pipeline is not None else None

    @property
    def settled(self) -> bool:
        """Connected, every stamp the device reported is stored and acknowledged, and the
        device's latest heartbeat (sent after our last ACK) shows nothing pending."""
        pipeline = self._pipeline
        return pipeline is not None and pipeline.idle and self.host.settled

    def stats(self) -> LinkStats:
        return build_stats(self.host, self._pipeline)

    # == subscriptions =======================================================================

    def subscribe_stamps(self, maxsize: int | None = None) -> Subscription[StampEvent]:
        """New stamps as they arrive (before they are committed; duplicates are left out)."""
        return self._stamps.subscribe(maxsize or self.options.subscriber_queue)

    def subscribe_stored(self, maxsize: int | None = None) -> Subscription[tuple[StoredStamp, ...]]:
        """Stamps as committed (a batch at a time), with the session and zone they were stored in."""
        return self._stored.subscribe(maxsize or self.options.subscriber_queue)

    def subscribe_frames(self, maxsize: int | None = None) -> Subscription[FrameRecord]:
        """Every frame both ways, with bad frames, for monitors."""
        return self._frames.subscribe(maxsize or self.options.subscriber_queue)

    def subscribe_states(self, maxsize: int | None = None) -> Subscription[StateChange]:
        return self._states.subscribe(maxsize or self.options.subscriber_queue)

    def subscribe_notes(self, maxsize: int | None = None) -> Subscription[LinkLogEntry]:
        """What goes into the link log as it happens: faults, reboots, losses, a restarted numbering."""
        return self._notes.subscribe(maxsize or self.options.subscriber_queue)

    # == commands ============================================================================

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
            raise NotConnected(f"not connected ({self._state.value})")
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

    # == the supervisor: open, run, reopen =====================================================

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
                was_ready = self.host.counters.connects
                reason = await self._run_transport()
                if self.host.state is HostState.CLOSED:
                    break
                if self.host.counters.connects > was_ready:
                    attempt = 0
                if self._closing:
                    break
                self._log_link("lost", reason)
                await self._retry_later(reason, attempt)
                attempt += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
            log.exception("the link session failed")
            self._set_state(LinkState.CLOSED, f"internal error: {exc!r}")
        finally:
            self._connected.clear()
            if self.host.error is not None and self.error is None:
                error = self.host.error
                self.error = HandshakeFailed(str(error)) if isinstance(error, HandshakeError) else error
                log.info("session ended: %s", self.error)  # the caller reports it
                self._set_state(LinkState.CLOSED, str(error))
            if self.error is not None or not self._closing:
                self._end_observers()

    async def _retry_later(self, reason: str, attempt: int) -> None:
        self._set_state(LinkState.LOST, reason)
        delay = min(self.options.backoff_max, self.options.backoff_initial * (2**attempt))
        await asyncio.sleep(delay)
        self._set_state(LinkState.RECONNECTING, f"attempt {attempt + 2}")

    async def _run_transport(self) -> str:
        """One open transport, from the first HELLO until it goes away; why it ended."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[str] = loop.create_future()
        self._ended = ended
        outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._outbox = outbox
        self._tx_decoder = None
        self.host.connection_made(time.monotonic())
        self._process()
        tasks = [
            asyncio.create_task(self._read_loop(), name="stampside link reader"),
            asyncio.create_task(self._write_loop(outbox), name="stampside link writer"),
        ]
        try:
            reason = await ended
        finally:
            self._ended = None
            self._cancel_timer()
            for task in [*tasks, *self._side_tasks]:
                task.cancel()
            for task in [*tasks, *self._side_tasks]:
                with contextlib.suppress(asyncio.CancelledError, TransportDisconnected):
                    await task
            self._side_tasks.clear()
            self._connected.clear()
            self.host.connection_lost(time.monotonic(), "transport closed")
            self._process()
            self._outbox = None
            await self.transport.close()
        return reason

    def _end_link(self, reason: str) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(reason)

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.transport.read()
                now = time.monotonic()
                events = self.host.receive_data(data, now)
                if self._frames:
                    self._publish_rx(events, now)
                self._process()
                # A flood keeps read() ready: let the writer, the committer and observers run.
                await asyncio.sleep(0)
        except TransportDisconnected as exc:
            self._end_link(f"transport closed ({exc})")
        except Exception as exc:
            self._end_link(f"internal error: {exc!r}")
            raise

    async def _write_loop(self, outbox: asyncio.Queue[bytes]) -> None:
        try:
            while True:
                data = await outbox.get()
                chunks = [data]
                while not outbox.empty():
                    chunks.append(outbox.get_nowait())
                await self.transport.write(b"".join(chunks) if len(chunks) > 1 else data)
        except TransportDisconnected as exc:
            self._end_link(f"transport closed ({exc})")

    def _on_timer(self) -> None:
        self._timer = None
        self.host.tick(time.monotonic())
        self._process()

    def _schedule_timer(self) -> None:
        """Wake the machine at its next deadline (one timer handle, moved as deadlines change)."""
        deadline = self.host.next_deadline()
        timer = self._timer
        if deadline is None or self._ended is None:
            self._cancel_timer()
            return
        if timer is not None and timer.when() == self._loop_time(deadline):
            return
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_at(self._loop_time(deadline), self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @staticmethod
    def _loop_time(deadline: float) -> float:
        """A ``time.monotonic()`` instant on the event loop's clock."""
        loop = asyncio.get_running_loop()
        return loop.time() + (deadline - time.monotonic())

    # == carrying out the machine's actions ======================================================

    def _process(self) -> None:
        host = self.host
        for action in host.take_actions():
            self._do(action)
        self._schedule_timer()

    def _do(self, action: Action) -> None:
        kind = type(action)
        if kind is Send:
            assert isinstance(action, Send)
            if self._outbox is not None:
                self._outbox.put_nowait(action.data)
                if self._frames:
                    self._publish_tx(action.data)
        elif kind is Deliver:
            assert isinstance(action, Deliver)
            self._deliver(action)
        elif kind is StateChanged:
            assert isinstance(action, StateChanged)
            self._on_host_state(action)
        elif kind is Note:
            assert isinstance(action, Note)
            self._log_link(action.kind, action.detail)
        elif kind is Reply:
            assert isinstance(action, Reply)
            future = self._replies.get(action.request)
            if future is not None and not future.done():
                future.set_result(action)
        elif kind is Reopen:
            assert isinstance(action, Reopen)
            self._end_link(action.reason)
        elif isinstance(action, OpenLedger | StartLife | BindEpoch):
            self._spawn(self._ledger(action))

    def _deliver(self, action: Deliver) -> None:
        wall = time.time()
        if self._pipeline is not None and action.ledger is not None:
            self._pipeline.offer(action.ledger, ReceivedStamp(action.stamp, wall, action.replay, self._tags))
        if self._stamps:
            self._stamps.publish(StampEvent(action.serial, action.stamp, action.replay, wall, time.monotonic()))

    async def _ledger(self, action: OpenLedger | StartLife | BindEpoch) -> None:
        pipeline = self._pipeline
        assert pipeline is not None
        try:
            if isinstance(action, BindEpoch):
                await pipeline.bind_epoch(action.ledger, action.epoch)
                return
            if isinstance(action, StartLife):
                ledger = await pipeline.start_life(action.info, action.previous, action.epoch, action.reason)
            else:
                ledger = await pipeline.open_ledger(action.info)
        except SinkError as exc:
            # Storage is away: the device keeps its stamps; try again with a new handshake.
            log.error("storage could not open the device's ledger: %s", exc)
            self._end_link(f"storage: {exc}")
            return
        self.host.ledger_opened(ledger, time.monotonic())
        self._process()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _on_committed(self, ledger: object, stamps: Sequence[object]) -> None:
        self.host.committed(ledger, stamps, time.monotonic())  # type: ignore[arg-type]
        self._process()

    def _on_stored(self, stored: Sequence[StoredStamp]) -> None:
        if self._stored:
            self._stored.publish(tuple(stored))

    def _on_host_state(self, change: StateChanged) -> None:
        """The machine's states as people see them: CONNECTED, LOST while nothing answers,
        RECONNECTING while a device that answers is handshaken with again."""
        state = change.state
        if state is HostState.READY:
            self._set_state(LinkState.CONNECTED, change.reason)
            self._connected.set()
            return
        self._connected.clear()
        if state is HostState.CLOSED:
            if self.host.error is not None:
                self._end_link(change.reason)
            return
        if state is HostState.HELLO:
            if change.input is Input.SILENCE:
                self._set_state(LinkState.LOST, change.reason)
            elif change.input is Input.NEW_BOOT and change.previous is not HostState.HELLO:
                self._set_state(LinkState.RECONNECTING, change.reason)
        elif state is HostState.LEDGER and change.previous is HostState.HELLO and self.host.ever_ready:
            self._set_state(LinkState.RECONNECTING, f"the device answers: {change.reason}")
        elif (state in (HostState.LEDGER, HostState.SYNC) and change.input is Input.SILENCE) or (
            state is HostState.IDLE and change.input is Input.SILENCE
        ):
            self._set_state(LinkState.LOST, change.reason)

    def _on_writer_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        log.error("the commit writer failed: %r", exc)
        self.error = exc
        if self._supervisor is not None:
            self._supervisor.cancel()
            self._closed.set()

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
        entry = LinkLogEntry(time.time(), kind, detail, self._tags, self.host.ledger)
        if kind in ("fault", "new-numbering", "arm-refused", "incompatible", "handshake"):
            log.warning("%s: %s", kind, detail)
        if self._pipeline is not None:
            self._pipeline.log(entry)
        if self._notes:
            self._notes.publish(entry)

    def _publish_rx(self, events: list[Event], now: float) -> None:
        wall = time.time()
        for event in events:
            wire = event.wire if isinstance(event, BadFrame) else encode_frame(event.raw)
            self._frames.publish(FrameRecord(Direction.RX, now, wall, event, wire))

    def _publish_tx(self, data: bytes) -> None:
        if self._tx_decoder is None:
            self._tx_decoder = Connection(Role.DEVICE, self.options.versions)
        now = time.monotonic()
        wall = time.time()
        for event in self._tx_decoder.receive_data(data):
            self._frames.publish(FrameRecord(Direction.TX, now, wall, event, data))

    def _end_observers(self) -> None:
        self._closed.set()
        self._connected.clear()
        for hub in (self._states, self._frames, self._stamps, self._stored, self._notes):
            hub.close()


def _unix_ms() -> int:
    return int(time.time() * 1000)
