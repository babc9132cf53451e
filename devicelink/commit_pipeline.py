"""Durable delivery: accepted stamps → batched commits → one cumulative ACK per batch.

The link session offers every received stamp to :meth:`CommitPipeline.offer`. The
:class:`~firmware_protocol.DeliveryTracker` says whether it is new; new stamps wait in
memory for the writer task, which commits them in batches, each in ONE sink transaction
together with the device's cursor, off the event loop. Only when that commit has returned
does the pipeline call ``on_ack(boot, seq)`` so the session sends the cumulative ACK.

While a commit is in progress more stamps pile up, so batches grow with the load by
themselves: one stamp per commit at a human stamping rate, thousands during a replay.

A commit that fails (a locked database, a full disk) is retried with backoff, keeping
the stamps in memory and in the tracker's in-flight set: the device keeps them too (they
are not acknowledged), nothing is asked for twice, and the error is reported through
:attr:`CommitPipeline.last_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from devicelink.errors import SinkError
from devicelink.sink import CommitBatch, LinkLogEntry, ReceivedStamp, StampSink
from firmware_protocol import DeliveryTracker, DeviceInfo, Stamp
from firmware_protocol.delivery import DeliveryStats

log = logging.getLogger(__name__)

#: Waits between attempts after a failed commit, in seconds (the last one repeats).
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
#: Link log entries kept while the sink is failing; older ones are dropped.
MAX_PENDING_LOG = 1000


@dataclass(frozen=True, slots=True)
class DeviceOpened:
    """What :meth:`CommitPipeline.open_device` found."""

    tracker: DeliveryTracker
    #: The cursor stored for the device (from the sink).
    stored_cursor: tuple[int, int]
    #: The device's numbering went below the stored cursor (a reset device); the cursor
    #: was rewound to follow it.
    regression: bool


class CommitPipeline:
    """Batches stamps into durable commits for one device at a time."""

    def __init__(
        self,
        sink: StampSink,
        on_ack: Callable[[int, int], None],
        *,
        max_batch: int = 4096,
    ) -> None:
        self.sink = sink
        self.max_batch = max_batch
        self._on_ack = on_ack
        self.serial: str | None = None
        self.tracker: DeliveryTracker | None = None
        self._pending: list[ReceivedStamp] = []
        self._log: list[LinkLogEntry] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._committing = False
        self._task: asyncio.Task[None] | None = None
        self._retired = DeliveryStats()
        self.commits = 0
        self.failures = 0
        #: Stamps the sink reported as new (not already stored).
        self.stored = 0
        #: The last commit error, None once a commit succeeds again.
        self.last_error: SinkError | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start the writer task (once) and return it."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stampside commit writer")
        return self._task

    async def stop(self, drain_timeout: float) -> bool:
        """Commit what is pending (up to ``drain_timeout`` s), then stop. True if all was committed."""
        drained = await self.drain(drain_timeout)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.tracker is not None:
            # Whatever is left was never acknowledged: the device still holds it.
            self.tracker.abandon_inflight()
        self._pending.clear()
        return drained

    async def drain(self, timeout: float) -> bool:
        """Wait until everything offered so far is committed. False on timeout."""
        if self._task is None:
            return self.idle
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def idle(self) -> bool:
        """Nothing waits to be committed and no commit is in progress."""
        return not self._pending and not self._log and not self._committing

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- devices ------------------------------------------------------------------------

    async def open_device(self, info: DeviceInfo, drain_timeout: float = 5.0) -> DeviceOpened:
        """Register the device with the sink and get its tracker ready (off the event loop).

        The same device keeps its tracker across reconnects (it knows what is in flight).
        Another device first gets everything of the previous one committed.
        """
        if self.serial is not None and self.serial != info.serial:
            await self.drain(drain_timeout)
            self._retire_tracker()
        stored = await asyncio.to_thread(self.sink.open_device, info)
        if self.tracker is None:
            self.tracker = DeliveryTracker(*stored)
            self.serial = info.serial
        regression = self.tracker.on_device_info(info.boot, info.last_seq)
        return DeviceOpened(self.tracker, stored, regression)

    def _retire_tracker(self) -> None:
        if self.tracker is not None:
            if self._pending:
                dropped = len(self._pending)
                log.warning("dropping %d uncommitted stamps of %s (still on the device)", dropped, self.serial)
                self._pending.clear()
            old = self.tracker.stats
            for name, value in old.as_dict().items():
                setattr(self._retired, name, getattr(self._retired, name) + value)
        self.tracker = None
        self.serial = None

    def delivery_stats(self) -> DeliveryStats:
        """Delivery counters over every device this pipeline served."""
        total = DeliveryStats(**self._retired.as_dict())
        if self.tracker is not None:
            for name, value in self.tracker.stats.as_dict().items():
                setattr(total, name, getattr(total, name) + value)
        return total

    # -- input --------------------------------------------------------------------------

    def offer(self, stamp: Stamp, replay: bool, received_at: float, now: float) -> bool:
        """A stamp arrived; True if it is new (it will be committed, then acknowledged)."""
        tracker = self.tracker
        if tracker is None or not tracker.accept(stamp, now, replay):
            return False
        self._pending.append(ReceivedStamp(stamp, received_at, replay))
        self._idle.clear()
        self._wakeup.set()
        return True

    def log(self, entry: LinkLogEntry) -> None:
        """Keep a link event; it is written with the next commit."""
        self._log.append(entry)
        if len(self._log) > MAX_PENDING_LOG:
            del self._log[: len(self._log) - MAX_PENDING_LOG]
        self._idle.clear()
        self._wakeup.set()

    # -- the writer ---------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending or self._log:
                if await self._commit_once():
                    failures = 0
                else:
                    delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                    failures += 1
                    await asyncio.sleep(delay)
            if self.idle:
                self._idle.set()

    async def _commit_once(self) -> bool:
        tracker, serial = self.tracker, self.serial
        batch = self._pending[: self.max_batch]
        entries = self._log
        self._log = []
        stamps = [item.stamp for item in batch]
        cursor = tracker.plan_commit(stamps) if tracker is not None and batch else None
        self._committing = True
        try:
            new = await asyncio.to_thread(self.sink.commit, CommitBatch(serial, batch, cursor, entries))
        except SinkError as exc:
            self.failures += 1
            if self.last_error is None or str(self.last_error) != str(exc):
                log.error("storing stamps failed, will retry: %s", exc)
            self.last_error = exc
            self._log = entries + self._log
            return False
        finally:
            self._committing = False
        # Only now are they durable.
        del self._pending[: len(batch)]
        self.commits += 1
        self.stored += new
        self.last_error = None
        if tracker is not None and tracker is self.tracker and batch and tracker.committed(stamps):
            self._on_ack(tracker.acked_boot, tracker.acked_seq)
        return True
