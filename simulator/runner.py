"""The simulator as an asyncio service: a device, its faults and a transport, wired together.

This is the in-process API. ``stampside sim``, ``stampside demo`` and the end-to-end tests
all use it::

    sim = Simulator(SimConfig(stamping=StampingConfig(rate=200), seed=1))
    path = await sim.start()          # the pty path, or HOST:PORT with link.listen
    ...                               # a host opens sim.url
    await sim.wait_stamps(100)
    sim.reboot()
    sim.drop(1.5)
    print(sim.stats().stamps_counted, len(sim.truth))
    await sim.stop()

With ``state_file=PATH`` the device keeps its boot counter, seq, epoch and unacknowledged
stamps in that file between runs (``simulator/state.py``); without it (the default here,
unlike ``stampside sim``) every run is a new device and nothing is saved.

One timer drives everything. It fires when the device next has something to do (a stamp,
a heartbeat, the end of a reboot), when the timeline or a drop is due, and at least every
:data:`MAX_IDLE` seconds; bytes from the host are handled as they arrive. At high rates a
timer tick counts every stamp that came due since the last one and writes them in one go.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stampside.firmware_protocol import Stamp
from stampside.simulator.config import (
    BatteryEvent,
    BleCutEvent,
    BleRefuseEvent,
    CorruptEvent,
    DropEvent,
    HeadEvent,
    PauseEvent,
    RateEvent,
    RebootEvent,
    SensorFaultEvent,
    SimConfig,
    TimelineEntry,
)
from stampside.simulator.device import Device
from stampside.simulator.errors import SimulatorError
from stampside.simulator.faults import LinkFaults
from stampside.simulator.state import DeviceMemory
from stampside.simulator.timeline import Timeline
from stampside.simulator.transports import PtyTransport, TcpTransport, Transport
from stampside.simulator.truth import TruthLog

log = logging.getLogger("stampside.sim")

#: Shortest gap between two timer ticks, seconds: stamps due within it go out together.
MIN_TICK = 0.001
#: Longest gap between two timer ticks, seconds.
MAX_IDLE = 0.05
#: Replayed frames handed to the transport at a time.
REPLAY_CHUNK = 64
#: A STAMP frame on the wire (protocol.md section 1).
STAMP_FRAME_BYTES = 20


@dataclass(frozen=True, slots=True)
class SimStats:
    """A snapshot of the simulator's counters."""

    seed: int
    uptime_s: float
    boot: int
    epoch: int
    last_seq: int
    stamps_counted: int
    stamps_refused: int
    buffered: int
    replay_pending: int
    armed: bool
    online: bool
    ready: bool
    host_present: bool
    battery_pct: int
    reboots: int
    hellos: int
    #: Frames the device produced (before faults and transport).
    frames_sent: int
    replayed: int
    nacks: int
    rx_bad_frames: int
    drops: int
    dropping: bool
    bytes_read: int
    bytes_written: int
    #: Bytes the transport dropped because the peer did not read (or was not connected).
    bytes_dropped_full: int
    bytes_discarded_stale: int
    bytes_dropped_out: int
    bytes_dropped_in: int
    bytes_corrupted_out: int
    bytes_corrupted_in: int
    frames_truncated: int
    frames_duplicated: int
    connections: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_transport(config: SimConfig, seed: int = 0) -> Transport:
    if config.ble.enabled:
        try:
            from stampside.simulator.ble import BleTransport  # bumble is imported only for BLE
        except ImportError as exc:
            if (exc.name or "").split(".")[0] in ("bumble", "bleak"):
                needs = "a BLE stamp needs Stampside's 'ble' extra: pip install 'stampside[ble]'"
                raise SimulatorError(needs) from None
            raise

        return BleTransport(config.ble, config.device, seed)
    link = config.link
    address = link.listen_address
    if address is not None:
        return TcpTransport(address[0], address[1], link.baud)
    return PtyTransport(link.pty, link.baud)


class Simulator:
    """A simulated derma stamp served over a pty or TCP."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        keep_truth: bool = True,
        status_interval: float | None = None,
        state_file: Path | None = None,
    ) -> None:
        """``keep_truth``: keep every counted stamp in :attr:`truth` (turn off for long floods).
        ``status_interval``: log a status line every so many seconds.
        ``state_file``: power up from the device's saved state in this file and keep it there
        (None: a new device, nothing saved). Raises :class:`~stampside.simulator.state.StateError` if the
        file cannot be read or is not valid, or another simulator is this serial on it."""
        self.config = config = config or SimConfig()
        #: The seed in use (drawn at random when the config has none; logged at start).
        self.seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**32)
        #: The device's non-volatile memory between runs (None: no state file).
        self.memory = DeviceMemory(state_file, config.device) if state_file is not None else None
        try:
            device_config = self.memory.power_up.config if self.memory is not None else config.device
            self.device = Device(device_config, config.stamping, seed=self.seed, now=0.0, on_stamp=self._on_stamp)
            if self.memory is not None and self.memory.power_up.restore is not None:
                self.device.restore_state(self.memory.power_up.restore)
            self.faults = LinkFaults(config.faults, seed=self.seed)
            self.timeline = Timeline(config.timeline)
            self.transport = make_transport(config, self.seed)
        except BaseException:
            if self.memory is not None:
                self.memory.release()  # the serial is free again
            raise
        if config.ble.enabled:
            self.transport.battery = self.device.battery_pct  # type: ignore[attr-defined]
        self._truth = TruthLog(config.truth, keep=keep_truth)
        self._status_interval = status_interval
        self._events = _LinkEvents(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._next_status = status_interval or 0.0
        self._dropping = False
        self._started = False
        self._stopped = False
        self._finished: asyncio.Event | None = None
        #: Why the run ended on its own (duration, all stamps acknowledged, an internal error).
        self.finish_reason = ""
        #: An unexpected exception inside the simulator, if one ended the run.
        self.error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> str:
        """Open the transport and start the device; return the pty path or HOST:PORT.

        Raises :class:`~stampside.simulator.errors.SimulatorError` for problems a person can fix
        (the pty link cannot be created, the port is in use, the truth log cannot be written).
        """
        if self._started:
            raise RuntimeError("the simulator is already started")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._finished = asyncio.Event()
        memory = self.memory
        try:
            self._truth.open()
            try:
                endpoint = await self.transport.open(self._events)
            except BaseException:
                self._truth.close()
                raise
            if memory is not None:
                try:
                    memory.start(self.device)  # the new boot is saved before anything goes out
                except BaseException:
                    self._truth.close()
                    await self.transport.close()
                    raise
        except BaseException:
            if memory is not None:
                memory.release()
            raise
        self._t0 = self._loop.time()
        config = self.config
        if config.description:
            log.info("scenario: %s", config.description)
        log.info(
            "serial %s, boot %d, epoch %#010x, seed %d, %s on %s",
            config.device.serial,
            self.device.boot,
            self.device.epoch,
            self.seed,
            "armed" if self.device.armed else "disarmed",
            self.transport.ready_line,
        )
        if memory is not None:
            log.info("state file %s: %s", memory.path, memory.power_up.note)
        else:
            log.info("no state file: a new device, nothing saved")
        if config.faults.drop_mode == "close" and isinstance(self.transport, PtyTransport):
            log.info("drop mode 'close' acts as 'silent' on a pty (a pty has no connection to close)")
        self._guarded(self._tick)
        return endpoint

    async def stop(self) -> None:
        """Stop serving: close the transport (removing the pty link) and flush the truth log."""
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.memory is not None:
            self._save_on_stop(self.memory)
        if self._started:
            await self.transport.close()
        self._truth.close()
        if self._finished is not None:
            self._finished.set()
        if self._started:
            self._log_status("stopped:")

    def _save_on_stop(self, memory: DeviceMemory) -> None:
        if not self._started:
            memory.release()
            return
        try:
            memory.stop(self.device)
        except SimulatorError as exc:
            if self.error is None:  # else the run already ended on it, and said so
                log.error("%s", exc)
                self.error = exc

    @property
    def state_file(self) -> Path | None:
        """The state file the device's memory is kept in (None: none)."""
        return self.memory.path if self.memory is not None else None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_finished(self) -> None:
        """Until the run ends on its own (``duration``, ``exit_when_acked``, an error) or :meth:`stop`."""
        if self._finished is None:
            raise RuntimeError("the simulator is not started")
        await self._finished.wait()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll ``predicate`` until it holds; TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate():
                if self.error is not None:
                    raise RuntimeError("the simulator failed") from self.error
                await asyncio.sleep(0.002)

    async def wait_stamps(self, count: int, timeout: float = 10.0) -> None:
        """Until the device has counted at least ``count`` stamps."""
        await self.wait_until(lambda: self.device.counters.stamps_counted >= count, timeout)

    # -- where to find it ------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The pty path, or HOST:PORT."""
        return self.transport.endpoint

    @property
    def url(self) -> str:
        """What a host passes to ``serial.serial_for_url``: the pty path or ``socket://HOST:PORT``."""
        return self.transport.url

    @property
    def ready_line(self) -> str:
        """``pty /dev/pts/N -> LINK``, ``pty /dev/pts/N``, ``listen HOST:PORT`` or
        ``ble NAME ADDRESS [hci SPEC]``."""
        return self.transport.ready_line

    @property
    def ble_hci(self) -> str | None:
        """BLE on the virtual link with ``hci_serve``: the HCI spec the app's bleak backend
        opens (``tcp-client:HOST:PORT`` or ``unix:PATH``); None otherwise."""
        return getattr(self.transport, "host_hci", None)

    @property
    def now(self) -> float:
        """Seconds since :meth:`start` (the device's clock)."""
        return self._loop.time() - self._t0 if self._loop is not None else 0.0

    # -- what happened ---------------------------------------------------------------

    @property
    def truth(self) -> list[Stamp]:
        """Every stamp counted so far, in order (empty with ``keep_truth=False``)."""
        return self._truth.records

    def stats(self) -> SimStats:
        device = self.device
        counters = device.counters
        faults = self.faults.stats
        link = self.transport.stats
        now = self.now
        return SimStats(
            seed=self.seed,
            uptime_s=round(now, 3),
            boot=device.boot,
            epoch=device.epoch,
            last_seq=device.last_seq,
            stamps_counted=counters.stamps_counted,
            stamps_refused=counters.stamps_refused,
            buffered=device.pending,
            replay_pending=device.replay_pending,
            armed=device.armed,
            online=device.online,
            ready=device.ready,
            host_present=device.host_present,
            battery_pct=device.battery_pct(),
            reboots=counters.reboots,
            hellos=counters.hellos,
            frames_sent=counters.frames_sent,
            replayed=counters.replayed,
            nacks=counters.nacks,
            rx_bad_frames=device.rx_bad_frames,
            drops=faults.drops,
            dropping=self.faults.dropping(now),
            bytes_read=link.bytes_read,
            bytes_written=link.bytes_written,
            bytes_dropped_full=link.bytes_dropped,
            bytes_discarded_stale=link.bytes_discarded,
            bytes_dropped_out=faults.bytes_dropped_out,
            bytes_dropped_in=faults.bytes_dropped_in,
            bytes_corrupted_out=faults.bytes_corrupted_out,
            bytes_corrupted_in=faults.bytes_corrupted_in,
            frames_truncated=faults.frames_truncated,
            frames_duplicated=faults.frames_duplicated,
            connections=link.connections,
        )

    # -- faults and events on demand -------------------------------------------------

    def drop(self, seconds: float, mode: str | None = None) -> None:
        """Discard every byte, both ways, for ``seconds`` (``mode="close"`` also closes a TCP client)."""
        self._act(lambda now: self.faults.drop(seconds, now, mode))

    def end_drop(self) -> None:
        """End the current drop now."""
        self._act(lambda now: self.faults.end_drop())

    def reboot(self) -> None:
        """Reboot the device now."""
        self._act(self.device.reboot)

    def arm(self) -> bool:
        """Press the arm button; False if the device refuses (empty battery, full buffer)."""
        result: list[bool] = []
        self._act(lambda now: result.append(self.device.arm(now)))
        return bool(result and result[0])

    def disarm(self) -> None:
        self._act(self.device.disarm)

    def set_battery(self, pct: float) -> None:
        self._act(lambda now: self.device.set_battery(pct, now))

    def change_head(self, head_id: int, head_uses: int = 0, footprint_mm2: int | None = None) -> None:
        self._act(lambda now: self.device.change_head(head_id, head_uses, footprint_mm2, now))

    def corrupt_burst(self, rate: float, seconds: float) -> None:
        self._act(lambda now: self.faults.corrupt_burst(rate, seconds, now))

    def pause(self, seconds: float) -> None:
        self._act(lambda now: self.device.pause(seconds, now))

    def set_rate(self, hz: float | None) -> None:
        """Stamps per second from now on (None: the human rate)."""
        self._act(lambda now: self.device.set_rate(hz, now))

    def ble_cut(self) -> None:
        """BLE only: disconnect in the middle of the next frame that goes out."""
        self._ble().cut()

    def ble_refuse(self, count: int) -> None:
        """BLE only: refuse the next ``count`` connections."""
        self._ble().refuse_connections(count)

    def _ble(self) -> Any:
        if not self.config.ble.enabled:
            raise RuntimeError("the simulator is not serving BLE")
        return self.transport

    def _act(self, action: Callable[[float], object]) -> None:
        if not self._started or self._stopped:
            raise RuntimeError("the simulator is not running")

        def run() -> None:
            now = self.now
            self.device.advance(now)
            action(now)
            self._update_drops(now)
            self._pump(now)

        self._guarded(run)

    # -- the engine ------------------------------------------------------------------

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run one step, then re-arm the timer. An exception ends the run instead of vanishing."""
        if self._stopped or self.error is not None:
            return
        try:
            step()
        except SimulatorError as exc:  # a problem a person can fix (the state file cannot be written)
            log.error("%s", exc)
            self.error = exc
            self._finish(f"stopped: {exc}")
            return
        except Exception as exc:
            log.exception("simulator failed")
            self.error = exc
            self._finish(f"internal error: {exc}")
            return
        self._schedule()

    def _on_timer(self) -> None:
        self._timer = None
        self._guarded(self._tick)

    def _schedule(self) -> None:
        if self._stopped or self._loop is None:
            return
        now = self.now
        due = [
            t
            for t in (self.device.next_due(), self.timeline.next_time(), self.faults.next_change(now))
            if t is not None
        ]
        if self._status_interval:
            due.append(self._next_status)
        at = min(max(min(due, default=now + MAX_IDLE), now + MIN_TICK), now + MAX_IDLE)
        if self._timer is not None:
            if abs(self._timer.when() - (self._t0 + at)) < MIN_TICK / 2:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(self._t0 + at, self._on_timer)

    def _tick(self) -> None:
        now = self.now
        self._update_drops(now)
        for entry in self.timeline.due_by_time(now):
            at = entry.at_seconds if entry.at_seconds is not None else now
            self.device.advance(at)
            self._apply(entry, at)
            self._update_drops(now)
        self.device.advance(now)
        self._pump(now)
        if self.memory is not None:
            self.memory.tick(self.device)
        self._check_finished(now)
        if self._status_interval and now >= self._next_status:
            self._next_status = now + self._status_interval
            self._log_status("status:")

    def _pump(self, now: float) -> None:
        """Hand the device's output to the link: truth first, then replies and live frames, then replay."""
        if self.memory is not None:
            self.memory.before_output(self.device)  # no seq leaves the device unless saved or reserved
        self._truth.flush()
        device = self.device
        transport = self.transport
        if device.take_link_restart():
            transport.discard_backlog()
        frames = device.take_frames()
        if frames:
            transport.write(self.faults.outgoing(frames, now))
        while device.replay_pending and transport.backlog == 0:
            # Whole chunks that fit what the transport may queue: a throttled line queues little.
            count = min(REPLAY_CHUNK, max(1, transport.room // STAMP_FRAME_BYTES))
            transport.write(self.faults.outgoing(device.take_replay(count), now))

    def _on_stamp(self, stamp: Stamp, t: float) -> None:
        self._truth.add(stamp)
        count = self.device.counters.stamps_counted
        for entry in self.timeline.due_at_stamp(count):
            self._apply(entry, t)
        every = self.config.faults.reboot_every
        if every is not None and count % every == 0:
            self.device.reboot(t)

    def _apply(self, entry: TimelineEntry, at: float) -> None:
        device = self.device
        log.info("timeline: %s", _describe(entry))
        if isinstance(entry, DropEvent):
            self.faults.drop(entry.seconds, at, entry.mode)
        elif isinstance(entry, RebootEvent):
            device.reboot(at)
        elif isinstance(entry, BatteryEvent):
            device.set_battery(entry.pct, at)
        elif isinstance(entry, HeadEvent):
            device.change_head(entry.head_id, entry.head_uses, entry.footprint_mm2, at)
        elif isinstance(entry, CorruptEvent):
            self.faults.corrupt_burst(entry.rate, entry.seconds, at)
        elif isinstance(entry, PauseEvent):
            device.pause(entry.seconds, at)
        elif isinstance(entry, RateEvent):
            device.set_rate(None if entry.hz == "human" else float(entry.hz), at)
        elif isinstance(entry, SensorFaultEvent):
            device.sensor_fault(entry.raw, at)
        elif isinstance(entry, BleCutEvent | BleRefuseEvent):
            if not self.config.ble.enabled:
                log.info("timeline: %s ignored: the simulator is not serving BLE", entry.action)
            elif isinstance(entry, BleCutEvent):
                self._ble().cut()
            else:
                self._ble().refuse_connections(entry.count)

    def _update_drops(self, now: float) -> None:
        self.faults.update(now)
        dropping = self.faults.dropping(now)
        if dropping == self._dropping:
            return
        self._dropping = dropping
        if dropping:
            close = self.faults.drop_mode == "close"
            log.info("link drop starts%s", " (closing the connection)" if close else "")
            if close:
                self.transport.accepting = False
                self.transport.disconnect()
        else:
            log.info("link drop ends")
            self.transport.accepting = True

    def _check_finished(self, now: float) -> None:
        config = self.config
        if config.duration is not None and now >= config.duration:
            self._finish(f"ran for {config.duration:g} s")
        device = self.device
        if config.exit_when_acked and device.stamping_done and device.pending == 0 and device.online:
            self._finish(f"all {device.counters.stamps_counted} stamps acknowledged")

    def _finish(self, reason: str) -> None:
        if self._finished is not None and not self._finished.is_set():
            self.finish_reason = reason
            log.info("%s", reason)
            self._finished.set()

    def _log_status(self, prefix: str) -> None:
        s = self.stats()
        log.info(
            "%s t=%.1fs boot %d seq %d stamps %d buffered %d %s host %s battery %d%% "
            "frames %d bytes out %d dropped %d corrupted %d/%d reboots %d",
            prefix,
            s.uptime_s,
            s.boot,
            s.last_seq,
            s.stamps_counted,
            s.buffered,
            "armed" if s.armed else "disarmed",
            "present" if s.host_present else "absent",
            s.battery_pct,
            s.frames_sent,
            s.bytes_written,
            s.bytes_dropped_full + s.bytes_dropped_out,
            s.bytes_corrupted_out,
            s.bytes_corrupted_in,
            s.reboots,
        )
        ble = getattr(self.transport, "ble_stats", None)
        if ble is not None:
            log.info(
                "%s BLE connections %d mtu %d notifications %d lost %d cuts %d refused %d",
                prefix,
                s.connections,
                ble.mtu,
                ble.notifications,
                ble.notifications_dropped,
                ble.cuts,
                ble.refused,
            )


def _describe(entry: TimelineEntry) -> str:
    fields = entry.model_dump(exclude_none=True, exclude={"at_stamp", "at_seconds"})
    action = fields.pop("action", "?")
    when = f"stamp {entry.at_stamp}" if entry.at_stamp is not None else f"{entry.at_seconds:g} s"
    details = " ".join(f"{k}={v}" for k, v in fields.items())
    return f"{action} at {when}" + (f" ({details})" if details else "")


class _LinkEvents:
    """Receives the transport's callbacks on behalf of a :class:`Simulator`."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def data_received(self, data: bytes) -> None:
        sim = self._sim

        def step() -> None:
            now = sim.now
            sim._tick()
            incoming = sim.faults.incoming(data, now)
            if incoming:
                sim.device.receive(incoming, now)
                sim._pump(now)

        sim._guarded(step)

    def writable(self) -> None:
        sim = self._sim
        sim._guarded(lambda: sim._pump(sim.now))

    def connected(self, peer: str) -> None:
        sim = self._sim
        log.info("host connected from %s", peer)
        sim.device.link_reset(sim.now)

    def disconnected(self, reason: str) -> None:
        sim = self._sim
        log.info("host disconnected: %s", reason)
        sim.device.link_reset(sim.now)

