"""The link session: one host's conversation with one derma stamp, over any transport.

The conversation's rules — handshake, negotiation, time sync, RESUME, the numbering checks,
ACKs after commits, heartbeats, probes, link loss — live in the sans-I/O
:class:`~stampside.firmware_protocol.host.HostConnection`. :class:`LinkSession` drives it: it opens the
transport (and reopens it with backoff when it goes away), feeds it the bytes and the time,
and carries out what it asks for — writing bytes, asking storage for a device's ledger,
committing stamps (:mod:`stampside.devicelink.commit_pipeline`) — and tells its observers.

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
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, TypeVar

from stampside.devicelink.commands import SessionCommands
from stampside.devicelink.commit_pipeline import CommitPipeline
from stampside.devicelink.errors import (
    HandshakeFailed,
    SessionClosed,
    SinkError,
)
from stampside.devicelink.events import StampEvent, StateChange
from stampside.devicelink.host_facts import HostFacts
from stampside.devicelink.observers import SessionObservers, Subscriptions
from stampside.devicelink.options import LinkOptions
from stampside.devicelink.sink import NO_TAGS, LinkLogEntry, ReceivedStamp, StampSink, StampTags, StoredStamp
from stampside.devicelink.state import LinkState, shown_state
from stampside.devicelink.stats import LinkStats, build_stats
from stampside.devicelink.timer import DeadlineTimer
from stampside.devicelink.transport import Transport, TransportDisconnected, TransportOpenError
from stampside.firmware_protocol import (
    DeviceInfo,
    Message,
)
from stampside.firmware_protocol.errors import HandshakeError
from stampside.firmware_protocol.host import HostConnection
from stampside.firmware_protocol.host_events import (
    Action,
    BindEpoch,
    Deliver,
    HostState,
    Note,
    OpenLedger,
    Reopen,
    Reply,
    Send,
    StartLife,
    StateChanged,
)

__all__ = ["LinkOptions", "LinkSession"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Message)


class LinkSession(HostFacts, SessionCommands, Subscriptions):
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
        self._observers = SessionObservers(options.versions, options.subscriber_queue)
        self._replies: dict[int, asyncio.Future[Reply]] = {}
        self._outbox: asyncio.Queue[bytes] | None = None
        self._ended: asyncio.Future[str] | None = None
        self._timer = DeadlineTimer(self._on_timer)
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()
        #: The error that ended the session (an incompatible device, ...), or None.
        self.error: BaseException | None = None

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

        Raises :class:`~stampside.devicelink.transport.TransportOpenError` at once when the first
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
        self._observers.new_transport()
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
            self._timer.cancel()
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
                self._observers.frames_in(self.host.receive_data(data, now), now)
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
        self.host.tick(time.monotonic())
        self._process()

    # == carrying out the machine's actions ======================================================

    def _process(self) -> None:
        host = self.host
        for action in host.take_actions():
            self._do(action)
        self._timer.at(host.next_deadline() if self._ended is not None else None)

    def _do(self, action: Action) -> None:
        kind = type(action)
        if kind is Send:
            assert isinstance(action, Send)
            if self._outbox is not None:
                self._outbox.put_nowait(action.data)
                self._observers.frames_out(action.data)
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
        stamps = self._observers.stamps
        if stamps:
            stamps.publish(StampEvent(action.serial, action.stamp, action.replay, wall, time.monotonic()))

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
        if self._observers.stored:
            self._observers.stored.publish(tuple(stored))

    def _on_host_state(self, change: StateChanged) -> None:
        if change.state is HostState.READY:
            self._connected.set()
        else:
            self._connected.clear()
        if change.state is HostState.CLOSED and self.host.error is not None:
            self._end_link(change.reason)
        shown = shown_state(change, self.host.ever_ready)
        if shown is not None:
            self._set_state(*shown)

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
        if self._observers.states:
            self._observers.states.publish(StateChange(state, previous, now, time.time(), reason))

    def _log_link(self, kind: str, detail: str) -> None:
        entry = LinkLogEntry(time.time(), kind, detail, self._tags, self.host.ledger)
        if kind in ("fault", "new-numbering", "arm-refused", "incompatible", "handshake"):
            log.warning("%s: %s", kind, detail)
        if self._pipeline is not None:
            self._pipeline.log(entry)
        if self._observers.notes:
            self._observers.notes.publish(entry)

    def _end_observers(self) -> None:
        self._closed.set()
        self._connected.clear()
        self._observers.close()


def _unix_ms() -> int:
    return int(time.time() * 1000)
