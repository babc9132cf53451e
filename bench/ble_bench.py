"""BLE link benchmarks over bumble's virtual controllers: round trip, ingest rate, resync.

Usage:
  python bench/ble_bench.py rtt     [--pings N]
  python bench/ble_bench.py ingest  [--stamps N] [--rate HZ]
  python bench/ble_bench.py resync  [--stamps N]
  python bench/ble_bench.py all

The simulator runs in its own process (bench/sim_child.py) as a BLE peripheral on the
virtual link, serving the app's controller on a local TCP port; the host is the real
LinkSession over devicelink's BleTransport, whose bleak runs on the bumble backend, with the
real SQLite sink (WAL, synchronous=FULL) as `stampside link record --hci` uses them. Figures
are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HERE, percentile, temp_database

from stampside.app.storage.database import open_database
from stampside.app.storage.sink import DatabaseSink
from stampside.devicelink.ble_transport import BleTransport
from stampside.devicelink.session import LinkSession

BLE = {"hci": "virtual", "hci_serve": "tcp-server:127.0.0.1:0"}
FLOOD = {"battery_per_stamp": 0, "battery_per_minute": 0}
#: The largest ATT MTU the simulated stamp accepts (--mtu).
MTU = 247


@contextlib.contextmanager
def ble_simulator(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """bench/sim_child.py on the virtual BLE link; yield (url, hci spec for the host)."""
    ble = {**BLE, "mtu": MTU}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "sim_child.py"), json.dumps({"seed": 7, "ble": ble, **config})],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator did not start")
        info = json.loads(line)
        yield info["url"], info["hci"]
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _wait_for(predicate: Any, timeout: float, poll: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish in time")
        await asyncio.sleep(poll)


async def rtt(pings: int) -> None:
    with ble_simulator({}) as (url, hci):
        transport = BleTransport(url, hci=hci)
        started = time.monotonic()
        await transport.open()
        opened = time.monotonic() - started
        await transport.close()
        async with LinkSession(BleTransport(url, hci=hci)) as session:
            await session.wait_connected(10)
            times = [await session.ping() for _ in range(pings)]
    ms = sorted(t * 1000 for t in times)
    print(f"BLE scan + connect + discovery + subscribe: {opened * 1000:.1f} ms")
    print(f"BLE round trip (PING/PONG through bleak, bumble and the virtual link), {pings} pings:")
    print(f"  p50 {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms, max {ms[-1]:.2f} ms")


async def ingest(stamps: int, rate: float) -> None:
    config = {
        "device": {**FLOOD, "buffer_size": max(4096, stamps)},
        "stamping": {"rate": rate, "stamps": stamps},
    }
    with ble_simulator(config) as (url, hci), temp_database() as db_url:
        database = open_database(db_url)
        session = LinkSession(BleTransport(url, hci=hci), sink=DatabaseSink(database), arm=True)
        async with session:
            await session.wait_connected(10)
            await _wait_for(lambda: session.stats().stored >= 1, timeout=30)
            start, first = time.monotonic(), session.stats().stored
            await _wait_for(lambda: session.acked[1] >= stamps, timeout=600)
            done = time.monotonic()
            mtu = session.transport.mtu  # type: ignore[attr-defined]
        database.close()
    per_s = (stamps - first) / (done - start)
    print(f"BLE ingest: {stamps:,} stamps offered at {rate:g}/s, MTU {mtu}")
    print(f"  {per_s:,.0f} stamps/s stored durably and acknowledged")


async def resync(stamps: int) -> None:
    config = {
        "device": {**FLOOD, "armed": True, "buffer_size": max(4096, stamps)},
        "stamping": {"rate": 50_000, "stamps": stamps},
    }
    with ble_simulator(config) as (url, hci), temp_database() as db_url:
        await asyncio.sleep(stamps / 50_000 + 1.0)  # every stamp counted, none sent: all buffered
        database = open_database(db_url)
        session = LinkSession(BleTransport(url, hci=hci), sink=DatabaseSink(database))
        start = time.monotonic()
        async with session:
            await session.wait_connected(10)
            connected = time.monotonic()
            await _wait_for(lambda: session.acked[1] >= stamps, timeout=120)
            done = time.monotonic()
        database.close()
    took = done - start
    print(f"BLE resync: {stamps:,} buffered stamps replayed, stored durably and acknowledged (MTU {MTU})")
    print(f"  {took:.3f} s from scanning ({done - connected:.3f} s after the handshake)")
    print(f"  target <= 3 s -> {'MET' if took <= 3.0 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["rtt", "ingest", "resync", "all"])
    parser.add_argument("--stamps", type=int, default=None)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--pings", type=int, default=200)
    parser.add_argument("--mtu", type=int, default=247, help="largest ATT MTU the stamp accepts (23–517)")
    args = parser.parse_args()
    global MTU
    MTU = args.mtu
    if args.which in ("rtt", "all"):
        asyncio.run(rtt(args.pings))
    if args.which in ("ingest", "all"):
        asyncio.run(ingest(args.stamps or 20_000, args.rate or 20_000))
    if args.which in ("resync", "all"):
        asyncio.run(resync(args.stamps or 10_000))


if __name__ == "__main__":
    main()
