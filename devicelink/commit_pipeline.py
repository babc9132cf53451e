"""Durable delivery: delivered stamps → batched commits → one cumulative ACK per batch.

The link session hands every stamp the host machine delivers to :meth:`CommitPipeline.offer`,
with the tags the app set (session, zone). A writer task commits them in batches, each in ONE
sink transaction together with the ledger's cursor, off the event loop. Only when that commit
has returned does the pipeline call ``on_committed`` so the session sends the cumulative ACK,
and publish what was stored to ``on_stored`` (the screen counts from there: it never shows a
stamp that is not stored).

While a commit is in progress more stamps pile up, so batches grow with the load by
themselves: one stamp per commit at a human stamping rate, thousands during a replay. A
batch never mixes two ledgers (a device that restarted its numbering).

A commit that fails (a locked database, a full disk) is retried with backoff, keeping the
stamps in memory: the device keeps them too (they are not acknowledged), nothing is asked
for twice, and the error is reported through :attr:`CommitPipeline.last_error`.

Every sink call — ledgers as well as commits — goes through one lock, one at a time, in a
worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from stampside.devicelink.errors import SinkError
from stampside.devicelink.sink import CommitBatch, Cursor, LinkLogEntry, ReceivedStamp, StampSink, StoredStamp
from stampside.firmware_protocol import DeviceInfo, Stamp
from stampside.firmware_protocol.host_events import Ledger

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Waits between attempts after a failed commit, in seconds (the last one repeats).
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
#: Link log entries kept while the sink is failing; older ones are dropped.
MAX_PENDING_LOG = 1000

PlanCommit = Callable[[Ledger | None, Sequence[Stamp]], Cursor | None]
OnCommitted = Callable[[Ledger | None, Sequence[Stamp]], None]
OnStored = Callable[[Sequence[StoredStamp]], None]


class CommitPipeline:
    """Batches stamps into durable commits."""

    def __init__(
        self,
        sink: StampSink,
        *,
        plan: PlanCommit,
        on_committed: OnCommitted,
        on_stored: OnStored | None = None,
        max_batch: int = 4096,
    ) -> None:
        self.sink = sink
        self.max_batch = max_batch
        self._plan = plan
        self._on_committed = on_committed
        self._on_stored = on_stored
        self._pending: list[tuple[Ledger, ReceivedStamp]] = []
        self._log: list[LinkLogEntry] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._committing = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
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

    # -- ledgers (the sink's other calls, in the same order as the commits) -------------

    async def open_ledger(self, info: DeviceInfo) -> Ledger:
        return await self._call(self.sink.open_device, info)

    async def start_life(self, info: DeviceInfo, previous: Ledger, epoch: int, reason: str) -> Ledger:
        return await self._call(self.sink.start_life, info, previous, epoch, reason)

    async def bind_epoch(self, ledger: Ledger, epoch: int) -> None:
        await self._call(self.sink.bind_epoch, ledger, epoch)

    async def _call(self, func: Callable[..., T], *args: object) -> T:
        async with self._lock:
            return await asyncio.to_thread(func, *args)

    # -- input --------------------------------------------------------------------------

    def offer(self, ledger: Ledger, received: ReceivedStamp) -> None:
        """A new stamp of ``ledger``: it will be committed, then acknowledged."""
        self._pending.append((ledger, received))
        self._idle.clear()
        self._wakeup.set()

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

    def _next_batch(self) -> tuple[Ledger | None, list[ReceivedStamp]]:
        """The oldest pending stamps of one ledger, at most ``max_batch``."""
        pending = self._pending
        if not pending:
            return None, []
        ledger = pending[0][0]
        key = (ledger.serial, ledger.life)
        batch: list[ReceivedStamp] = []
        for item_ledger, received in pending:
            if len(batch) >= self.max_batch or (item_ledger.serial, item_ledger.life) != key:
                break
            batch.append(received)
        return ledger, batch

    async def _commit_once(self) -> bool:
        ledger, batch = self._next_batch()
        entries = self._log
        self._log = []
        stamps = [item.stamp for item in batch]
        cursor = self._plan(ledger, stamps) if batch else None
        self._committing = True
        try:
            stored = await self._call(self.sink.commit, CommitBatch(ledger, batch, cursor, entries))
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
        self.stored += len(stored)
        self.last_error = None
        if batch:
            self._on_committed(ledger, stamps)
        if stored and self._on_stored is not None:
            self._on_stored(stored)
        return True
