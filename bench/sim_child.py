"""A simulator in its own process, for the benchmarks.

Reads a SimConfig as JSON from argv[1] (and, as argv[2], a file to write the device's events
to: one JSON line per power-up and per start of counting, on the device's clock), starts it,
prints one JSON line
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

from stampside.simulator.config import SimConfig
from stampside.simulator.runner import Simulator


async def main() -> None:
    config = SimConfig.model_validate(json.loads(sys.argv[1]))
    sim = Simulator(config, keep_truth=False)
    if len(sys.argv) > 2:
        _log_events(sim, sys.argv[2])
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


def _log_events(sim: Simulator, path: str) -> None:
    """Note each power-up and each start of counting, with the device's time (a bench may wrap internals)."""
    out = open(path, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    device = sim.device
    power_up, start_counting = device._power_up, device._start_counting

    def logged_power_up(t: float) -> None:
        power_up(t)
        out.write(json.dumps({"event": "power_up", "t": t, "boot": device.boot}) + "\n")
        out.flush()

    def logged_start_counting(now: float) -> None:
        start_counting(now)
        out.write(json.dumps({"event": "armed", "t": now, "boot": device.boot}) + "\n")
        out.flush()

    device._power_up = logged_power_up  # type: ignore[method-assign]
    device._start_counting = logged_start_counting  # type: ignore[method-assign]


async def _report(sim: Simulator) -> None:
    while True:
        await asyncio.sleep(0.5)
        print(json.dumps(sim.stats().as_dict()), file=sys.stderr, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
