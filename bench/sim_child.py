"""A simulator in its own process, for the benchmarks.

Reads a SimConfig as JSON from argv[1], starts it, prints one JSON line
``{"url": ..., "t0": ..., "hci": ...}`` where ``t0`` is the ``time.monotonic()`` of the
device's power-up (a stamp with ``device_time_ms`` = d was due at ``t0 + d / 1000`` on this
machine's monotonic clock, shared by every process) and ``hci`` the HCI spec a BLE host
opens (null unless the config serves BLE on the virtual link), then runs until stdin closes
or SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from simulator.config import SimConfig
from simulator.runner import Simulator


async def main() -> None:
    config = SimConfig.model_validate(json.loads(sys.argv[1]))
    sim = Simulator(config, keep_truth=False)
    await sim.start()
    t0 = asyncio.get_running_loop().time() - sim.now
    print(json.dumps({"url": sim.url, "t0": t0, "hci": sim.ble_hci}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(1) else None)
    status = asyncio.create_task(_report(sim))
    await stop.wait()
    status.cancel()
    await sim.stop()


async def _report(sim: Simulator) -> None:
    while True:
        await asyncio.sleep(0.5)
        print(json.dumps(sim.stats().as_dict()), file=sys.stderr, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
