"""End-to-end link benchmarks over a real pty: durable ingest, latency, resync.

Usage:
  python bench/link_bench.py ingest  [--stamps N] [--rate HZ] [--db sqlite|postgresql|both]
  python bench/link_bench.py latency [--stamps N] [--rate HZ]
  python bench/link_bench.py resync  [--stamps N]
  python bench/link_bench.py all

The simulator runs in its own process (bench/sim_child.py); the host is the real
LinkSession with the real SQLite sink (WAL, synchronous=FULL), as `stampside link record`
uses them. `ingest` runs on SQLite and then, in the same run, on a PostgreSQL server
(scripts/postgres starts a throw-away one unless $STAMPSIDE_BENCH_POSTGRES_URL names one;
fsync and synchronous_commit on). Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import percentile, postgres_database, raw_pty_rate, simulator_process, temp_database

from stampside.app.storage.database import open_database
from stampside.app.storage.sink import DatabaseSink
from stampside.devicelink.serial_transport import SerialTransport
from stampside.devicelink.session import LinkSession

FLOOD = {"device": {"battery_per_stamp": 0, "battery_per_minute": 0}}


def _config(**sections: dict[str, object]) -> dict[str, object]:
    config: dict[str, object] = {"seed": 7}
    for name, values in {**FLOOD, **sections}.items():
        merged = dict(FLOOD.get(name, {}))
        merged.update(values)
        config[name] = merged
    return config


async def _wait_for(predicate, timeout: float, poll: float = 0.002) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish in time")
        await asyncio.sleep(poll)


async def ingest(stamps: int, rate: float, backends: list[str]) -> None:
    ceiling = raw_pty_rate(64)
    print(f"  raw pty ceiling in this run: {ceiling / 1e6:,.1f} MB/s = {ceiling / 20:,.0f} STAMP frames/s (20 B each)")
    figures = {}
    for backend in backends:
        with temp_database() if backend == "sqlite" else postgres_database() as db_url:
            figures[backend] = await _ingest_into(db_url, stamps, rate)
        stored = figures[backend]
        print(f"ingest into {backend}: {stamps:,} stamps stored durably and acknowledged at {stored:,.0f} stamps/s")
        print(f"  simulator asked for {rate:,.0f} stamps/s; stored/ceiling = {stored / (ceiling / 20):.1%}")
        print(f"  target >= 20,000 stamps/s -> {'MET' if stored >= 20_000 else 'MISSED'}")
    if len(figures) > 1:
        print("ingest summary: " + ", ".join(f"{name} {value:,.0f}/s" for name, value in figures.items()))


async def _ingest_into(db_url: str, stamps: int, rate: float) -> float:
    """Stamps per second a flooding simulator's stamps are stored and acknowledged into ``db_url``."""
    config = _config(
        device={"buffer_size": min(1_000_000, stamps)},
        stamping={"rate": rate, "stamps": stamps},
    )
    with simulator_process(config) as (url, _t0):
        database = open_database(db_url)
        session = LinkSession(SerialTransport(url), sink=DatabaseSink(database), arm=True)
        first: float | None = None
        async with session:
            await session.wait_connected(10)
            with session.subscribe_stamps(maxsize=stamps + 16) as sub:
                event = await sub.__anext__()
                first = event.monotonic
            await _wait_for(lambda: session.acked[1] >= stamps, timeout=stamps / 1000 + 60)
            done = time.monotonic()
        database.close()
    return (stamps - 1) / (done - first)


async def latency(stamps: int, rate: float) -> None:
    config = _config(stamping={"rate": rate, "stamps": stamps})
    delays: list[float] = []
    with simulator_process(config) as (url, t0), temp_database() as db_url:
        database = open_database(db_url)
        session = LinkSession(SerialTransport(url), sink=DatabaseSink(database), arm=True)
        async with session:
            await session.wait_connected(10)
            with session.subscribe_stamps(maxsize=stamps + 16) as sub:
                async for event in sub:
                    if not event.replay:
                        due = t0 + event.stamp.device_time_ms / 1000
                        delays.append(event.monotonic - due)
                    if event.stamp.seq >= stamps:
                        break
        database.close()
    ms = [d * 1000 for d in delays]
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    print(f"latency over {len(ms):,} live stamps at {rate:,.0f}/s (stamp due in the simulator -> host session):")
    print(f"  p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(ms):.2f} ms")
    print(f"  target p99 <= 17 ms -> {'MET' if p99 <= 17 else 'MISSED'}")


async def resync(stamps: int) -> None:
    config = _config(
        device={"armed": True, "buffer_size": max(4096, stamps)},
        stamping={"rate": 50_000, "stamps": stamps},
    )
    with simulator_process(config) as (url, _t0), temp_database() as db_url:
        # Let the device count every stamp with no host attached: they wait in its buffer.
        await asyncio.sleep(stamps / 50_000 + 1.0)
        database = open_database(db_url)
        session = LinkSession(SerialTransport(url), sink=DatabaseSink(database))
        start = time.monotonic()
        async with session:
            await session.wait_connected(10)
            connected = time.monotonic()
            await _wait_for(lambda: session.acked[1] >= stamps, timeout=60)
            done = time.monotonic()
        database.close()
    print(f"resync: {stamps:,} buffered stamps replayed, stored durably and acknowledged")
    print(f"  {done - start:.3f} s from opening the port ({done - connected:.3f} s after the handshake)")
    print(f"  target <= 1 s -> {'MET' if done - start <= 1.0 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["ingest", "latency", "resync", "all"])
    parser.add_argument("--stamps", type=int, default=None)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument(
        "--db", choices=["sqlite", "postgresql", "both"], default="both", help="where ingest stores (default: both)"
    )
    args = parser.parse_args()
    if args.which in ("ingest", "all"):
        backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
        asyncio.run(ingest(args.stamps or 200_000, args.rate or 60_000, backends))
    if args.which in ("latency", "all"):
        asyncio.run(latency(args.stamps or 2_000, args.rate or 100))
    if args.which in ("resync", "all"):
        asyncio.run(resync(args.stamps or 10_000))


if __name__ == "__main__":
    main()
