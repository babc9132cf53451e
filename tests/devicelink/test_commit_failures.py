"""Storage that fails, then recovers: nothing lost, nothing twice, the cursor moves on.

A simulated stamp (in-process, on a real pty) floods a link session whose sink is the real
SQLite sink behind a gate that refuses the first commits with a :class:`SinkError` (a locked
database, a full disk). The checks count what the device counted against what the sink
*inserted* — each stamp reported new by exactly one successful commit — not only the rows,
which the unique key keeps single anyway.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from stampside.app.storage import Database, DatabaseSink
from stampside.devicelink.errors import SinkError
from stampside.devicelink.serial_transport import SerialTransport
from stampside.devicelink.session import LinkSession
from stampside.devicelink.sink import CommitBatch, StoredStamp
from stampside.firmware_protocol import DeviceInfo
from stampside.firmware_protocol.host_events import Ledger
from stampside.simulator.config import DeviceConfig, SimConfig, StampingConfig
from stampside.simulator.runner import Simulator
from tests.devicelink.conftest import FAST, cursor, stored
from tests.devicelink.scripted_device import wait_until

STAMPS = 300


class FailingSink:
    """The real sink, refusing the first ``failures`` commits that carry stamps; counts what it inserted."""

    def __init__(self, inner: DatabaseSink, failures: int) -> None:
        self.inner = inner
        self.failures_left = failures
        self.refused = 0
        #: (life, boot, seq) of every stamp a successful commit reported as newly inserted.
        self.inserted: Counter[tuple[int, int, int]] = Counter()

    def open_device(self, info: DeviceInfo) -> Ledger:
        return self.inner.open_device(info)

    def start_life(self, info: DeviceInfo, previous: Ledger, epoch: int, reason: str) -> Ledger:
        return self.inner.start_life(info, previous, epoch, reason)

    def bind_epoch(self, ledger: Ledger, epoch: int) -> None:
        self.inner.bind_epoch(ledger, epoch)

    def commit(self, batch: CommitBatch) -> Sequence[StoredStamp]:
        if batch.stamps and self.failures_left > 0:
            self.failures_left -= 1
            self.refused += 1
            raise SinkError("database is locked (refused by the test)")
        new = self.inner.commit(batch)
        for item in new:
            self.inserted[(item.ledger.life, item.stamp.boot, item.stamp.seq)] += 1
        return new


@pytest.mark.parametrize("failures", [1, 6])
async def test_commits_that_fail_then_recover_lose_nothing_and_store_nothing_twice(
    failures: int, database: Database, tmp_path: Path
) -> None:
    sim = Simulator(
        SimConfig(device=DeviceConfig(serial="SS-FAIL"), stamping=StampingConfig(rate=300, stamps=STAMPS), seed=4)
    )
    await sim.start()
    sink = FailingSink(DatabaseSink(database), failures)
    try:
        async with LinkSession(SerialTransport(sim.url), sink=sink, options=FAST, arm=True) as session:
            await session.wait_connected(10)
            await wait_until(lambda: sink.refused == failures, timeout=20, what="the refused commits")
            assert session.storage_error is not None or sink.refused == failures
            await wait_until(
                lambda: len(sim.truth) == STAMPS and session.settled, timeout=60, what="everything stored and acked"
            )
            stats = session.stats()
    finally:
        await sim.stop()
    truth = {(1, stamp.boot, stamp.seq) for stamp in sim.truth}
    assert len(truth) == STAMPS
    assert set(sink.inserted) == truth, "every stamp the device counted was inserted"
    assert max(sink.inserted.values()) == 1, "no stamp was inserted by two commits"
    assert sum(sink.inserted.values()) == STAMPS == stats.stored
    assert stats.commit_failures == failures
    assert sorted(stored(database)) == sorted((boot, seq) for _, boot, seq in truth)
    assert cursor(database, "SS-FAIL") == (1, STAMPS), "the cursor moved on past the failures"
    assert sim.device.pending == 0, "the device holds nothing unacknowledged"
