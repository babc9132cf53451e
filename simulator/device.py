"""The simulated derma stamp: the device side of protocol v1, as plain Python.

:class:`Device` does no I/O and keeps no clock: every call takes ``now``, seconds on any
monotonic scale. The caller feeds it the host's bytes (:meth:`Device.receive`), lets time
pass (:meth:`Device.advance`) and writes out what it produced (:meth:`Device.take_frames`,
then :meth:`Device.take_replay` as the link has room).

It follows ``docs/protocol.md`` section 3:

* Every counted stamp gets the next ``seq`` and goes into the :class:`EventBuffer` before it
  is sent. The buffer and ``seq`` survive reboots; the boot counter grows at each one.
* A stamp is sent live once, when counted, and only while the host is present (a valid
  host frame within ``host_timeout``) and the link is handshaken. Nothing is retransmitted
  unless the host asks with RESUME.
* A full buffer stops counting: the device disarms (reason BUFFER_FULL) and reports FAULT
  BUFFER_FULL. It never overwrites an event.
* Unsolicited reports (BATTERY, FAULT, HEAD_CHANGED, ARM_STATE) that happen while nobody
  listens wait in a short queue and go out once the host is back.

Stamps happen on a schedule, not when :meth:`advance` happens to be called: each stamp's
``device_time_ms`` is its scheduled time, so a seeded run is repeatable however the
caller's timer jitters.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from stampside.firmware_protocol import (
    BASE_VERSION,
    Ack,
    Arm,
    ArmReason,
    ArmState,
    BadFrame,
    Battery,
    Connection,
    DeviceInfo,
    Disarm,
    EventBuffer,
    Fault,
    FaultCode,
    Flag,
    Frame,
    HeadChanged,
    Heartbeat,
    HeartbeatState,
    Hello,
    IncompatibleVersion,
    Message,
    Nack,
    NackCode,
    Ping,
    Pong,
    Resume,
    ResumeReply,
    Role,
    Stamp,
    TimeSync,
    TimeSyncReply,
    negotiate,
)
from stampside.firmware_protocol.framing import BAD_LENGTH
from stampside.simulator import power
from stampside.simulator.config import U16_MAX, U32_MAX, DeviceConfig, StampingConfig, new_epoch
from stampside.simulator.stamping import StampGenerator
from stampside.simulator.state import PersistentState

log = logging.getLogger("stampside.sim")

#: Most stamps one :meth:`Device.advance` counts; beyond that the schedule catches up on the next call.
MAX_STAMPS_PER_ADVANCE = 5000
#: Unsolicited reports kept while the host is away (oldest dropped first).
NOTICE_QUEUE_SIZE = 32
#: Reports of which only the newest matters.
_LATEST_ONLY = (Battery, HeadChanged, ArmState)
#: A lone delimiter: ends any partial frame the receiver holds (idle fill, protocol.md 1).
FLUSH = b"\x00"

StampHook = Callable[[Stamp, float], None]


@dataclass(slots=True)
class DeviceCounters:
    """What the device did, across reboots."""

    stamps_counted: int = 0
    #: Stamps not counted because the buffer was full.
    stamps_refused: int = 0
    reboots: int = 0
    hellos: int = 0
    frames_sent: int = 0
    replayed: int = 0
    nacks: int = 0
    #: Host bytes that arrived while the device was rebooting.
    rx_bytes_while_off: int = 0
    commands: dict[str, int] = field(default_factory=dict)


class Device:
    """One simulated derma stamp."""

    def __init__(
        self,
        config: DeviceConfig | None = None,
        stamping: StampingConfig | None = None,
        *,
        seed: int = 0,
        now: float = 0.0,
        on_stamp: StampHook | None = None,
    ) -> None:
        self.config = config = config or DeviceConfig()
        stamping = stamping or StampingConfig()
        self.generator = StampGenerator(stamping, seed)
        #: Stop stamping after this many counted stamps (None: never).
        self.stamp_limit = stamping.stamps
        #: Called with every counted stamp and its scheduled time, right after it is buffered.
        self.on_stamp = on_stamp
        self.buffer = EventBuffer(config.buffer_size)
        self.boot = config.boot
        self.last_seq = config.last_seq
        #: The numbering epoch: drawn when boot and seq start afresh, kept with them (protocol.md 3.5).
        self.epoch = config.epoch if config.epoch is not None else new_epoch()
        self.battery = power.Battery(config.battery, config.battery_per_stamp, config.battery_per_minute, now)
        self.head_id = config.head_id
        self.head_uses = config.head_uses
        self.footprint_mm2 = config.footprint_mm2
        self.counters = DeviceCounters()
        self.armed = False
        self.time_synced = False

        self._now = now
        self._boot_time = now
        self._offline_until: float | None = None
        self._next_stamp: float | None = None
        # Fixed rate: stamps fall at anchor + k / rate, so float errors do not add up.
        self._anchor: tuple[float, int] | None = None
        self._paused_until = -math.inf
        self._conn = self._new_connection()
        self._rx_bad_before = 0
        self._ready = False
        self._refused_version = False
        self._last_host_frame = -math.inf
        self._next_heartbeat = now
        self._out: list[bytes] = []
        self._notices: list[Message] = []
        self._replay: deque[Stamp] = deque()
        self._link_restart = False
        self._reported_pct = self.battery.pct(now)
        self._low_reported = False
        self._empty_reported = False

        self._announce()
        if config.armed:
            self._start_counting(now)
        self._check_battery(now)

    # -- state -----------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """False while the device is rebooting."""
        return self._offline_until is None

    @property
    def ready(self) -> bool:
        """A HELLO has been answered with a common version since boot (or since the link changed)."""
        return self._ready

    @property
    def host_present(self) -> bool:
        return self._now - self._last_host_frame < self.config.host_timeout

    @property
    def talking(self) -> bool:
        """Unsolicited frames (live stamps, heartbeats, reports) go out now."""
        return self._ready and self._offline_until is None and self.host_present

    @property
    def stamping_done(self) -> bool:
        return self.stamp_limit is not None and self.counters.stamps_counted >= self.stamp_limit

    @property
    def pending(self) -> int:
        """Events waiting for an ACK."""
        return len(self.buffer)

    @property
    def replay_pending(self) -> int:
        return len(self._replay)

    @property
    def version(self) -> int:
        """The protocol version frames are sent with."""
        return self._conn.version

    @property
    def rx_bad_frames(self) -> int:
        """Host frames that failed a check, across reboots and reconnects."""
        return self._rx_bad_before + self._conn.rx_stats.bad_total

    def battery_pct(self) -> int:
        return self.battery.pct(self._now)

    def device_time_ms(self, now: float) -> int:
        """Milliseconds since this boot, as the device's clock reads at ``now``."""
        # The epsilon keeps float rounding (0.1 + 0.2 …) from reading a millisecond early.
        return int((now - self._boot_time) * 1000 + 1e-6) & U32_MAX

    def next_due(self) -> float | None:
        """When :meth:`advance` next has something to do (None: nothing scheduled)."""
        times = [t for t in (self._next_stamp, self._offline_until) if t is not None]
        if self.talking:
            times.append(self._next_heartbeat)
        return min(times) if times else None

    def export_state(self) -> PersistentState:
        """What the device keeps in non-volatile memory: boot, newest seq, epoch, unacknowledged stamps."""
        return PersistentState(self.boot, self.last_seq, self.epoch, tuple(self.buffer))

    def restore_state(self, state: PersistentState) -> None:
        """Power up with this non-volatile memory (right after construction, before any traffic).

        The boot announcement is already queued with the config's boot and seq: build the
        device from a config that holds the same ``boot``, ``last_seq`` and ``epoch``.
        """
        self.boot, self.last_seq, self.epoch = state.boot, state.last_seq, state.epoch
        self.buffer = EventBuffer(self.config.buffer_size, state.buffer)

    # -- time ------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Let time pass up to ``now``: count the stamps due, finish a reboot, send heartbeats."""
        now = max(now, self._now)
        self._now = now
        counted = 0
        while self._next_stamp is not None and self._next_stamp <= now and counted < MAX_STAMPS_PER_ADVANCE:
            self._stamp(self._next_stamp)
            counted += 1
        if self._offline_until is not None and self._offline_until <= now:
            self._power_up(self._offline_until)
        if counted < MAX_STAMPS_PER_ADVANCE:
            self._check_battery(now)
        if self.talking and now >= self._next_heartbeat:
            self._send_heartbeat()

    # -- bytes in, frames out --------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the host. Replies are queued for :meth:`take_frames`."""
        self._now = max(now, self._now)
        if self._offline_until is not None:
            self.counters.rx_bytes_while_off += len(data)
            return
        was_talking = self.talking
        for event in self._conn.receive_data(data):
            if isinstance(event, BadFrame):
                if event.msg_type >= 0:  # the CRC passed: the host sent it, it is wrong above framing
                    self._last_host_frame = self._now
                    code = NackCode.BAD_LENGTH if event.reason == BAD_LENGTH else NackCode.VERSION_UNSUPPORTED
                    self._nack(event.msg_type, event.lseq, code)
                continue
            self._last_host_frame = self._now
            if not isinstance(event, Frame):
                self._nack(event.msg_type, event.lseq, NackCode.UNKNOWN_TYPE)
                continue
            self._on_frame(event)
        if not was_talking and self.talking:
            self._flush_notices()

    def take_frames(self) -> list[bytes]:
        """Encoded frames to write, oldest first (replies, live stamps, reports)."""
        out = self._out
        self._out = []
        return out

    def take_replay(self, max_frames: int) -> list[bytes]:
        """Up to ``max_frames`` more replayed STAMP frames. Call once :meth:`take_frames` is written."""
        frames = []
        replay = self._replay
        send = self._conn.send
        for _ in range(min(max_frames, len(replay))):
            frames.append(send(replay.popleft(), Flag.REPLAY))
        self.counters.replayed += len(frames)
        self.counters.frames_sent += len(frames)
        return frames

    def take_link_restart(self) -> bool:
        """True once after a HELLO or a reboot: bytes still queued for the old session are stale."""
        restart = self._link_restart
        self._link_restart = False
        return restart

    def link_reset(self, now: float) -> None:
        """The transport connection changed (a TCP client came or went): a new link session."""
        self._now = max(now, self._now)
        self._rx_bad_before += self._conn.rx_stats.bad_total
        self._conn = self._new_connection()
        self._ready = False
        self._refused_version = False
        self._last_host_frame = -math.inf
        self._replay.clear()
        self._out.clear()

    # -- things that happen to the device (API and timeline) -------------------------

    def reboot(self, now: float) -> None:
        """Crash and restart: silent for ``reboot_silence`` seconds, then boot + 1, disarmed."""
        if self._offline_until is not None:
            return
        self._now = max(now, self._now)
        self.counters.reboots += 1
        self.armed = False
        self._next_stamp = None
        self._ready = False
        self._replay.clear()
        self._notices.clear()
        self._offline_until = now + self.config.reboot_silence
        log.info("device rebooting at seq %d (%d buffered)", self.last_seq, len(self.buffer))

    def arm(self, now: float) -> bool:
        """The arm button: start counting. False if refused (empty battery or full buffer)."""
        self._now = max(now, self._now)
        if not self._can_arm():
            return False
        if not self.armed:
            self._start_counting(now)
            self._notify(ArmState(1, ArmReason.COMMAND))
        return True

    def disarm(self, now: float) -> None:
        """The disarm button."""
        self._now = max(now, self._now)
        if self.armed:
            self._stop_counting()
            self._notify(ArmState(0, ArmReason.COMMAND))

    def set_battery(self, pct: float, now: float) -> None:
        self._now = max(now, self._now)
        self.battery.set(pct, now)
        self._check_battery(now)

    def change_head(self, head_id: int, head_uses: int, footprint_mm2: int | None, now: float) -> None:
        self._now = max(now, self._now)
        self.head_id = head_id
        self.head_uses = head_uses
        if footprint_mm2 is not None:
            self.footprint_mm2 = footprint_mm2
        self._notify(HeadChanged(self.head_id, self.head_uses, self.footprint_mm2))

    def pause(self, seconds: float, now: float) -> None:
        """The practitioner stops for ``seconds`` (the device stays armed)."""
        self._paused_until = now + seconds
        if self._next_stamp is not None and self._next_stamp < self._paused_until:
            self._next_stamp = self._paused_until
            self._anchor = (self._paused_until, 0)

    def set_rate(self, hz: float | None, now: float) -> None:
        """Stamps per second from the next stamp on (None: the human rate)."""
        self.generator.rate = hz
        self._anchor = None
        if self._next_stamp is not None:
            self._next_stamp = self._after(now)

    def sensor_fault(self, raw: int, now: float) -> None:
        self._now = max(now, self._now)
        self._notify(Fault(FaultCode.SENSOR, raw & U32_MAX))

    # -- commands --------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        msg = frame.message
        name = msg.TYPE.name
        commands = self.counters.commands
        commands[name] = commands.get(name, 0) + 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("host → %s %s", name, msg.to_dict() or "")
        if isinstance(msg, Hello):
            self._on_hello(frame, msg)
            return
        if not self._ready:
            log.debug("%s before a successful HELLO: NACK", name)
            code = NackCode.VERSION_UNSUPPORTED if self._refused_version else NackCode.NOT_READY
            self._nack(msg.TYPE, frame.lseq, code)
            return
        now = self._now
        if isinstance(msg, Ack):
            self.buffer.ack(msg.seq)
        elif isinstance(msg, Heartbeat):
            pass  # presence only
        elif isinstance(msg, Resume):
            self._on_resume(msg)
        elif isinstance(msg, Arm):
            if not self._can_arm():
                log.info("ARM refused: %s", "battery empty" if self.battery.pct(now) == 0 else "buffer full")
                self._nack(msg.TYPE, frame.lseq, NackCode.REFUSED)
                return
            if not self.armed:
                self._start_counting(now)
                log.info("armed by the host")
            self._emit(ArmState(1, ArmReason.COMMAND))
        elif isinstance(msg, Disarm):
            if self.armed:
                self._stop_counting()
                log.info("disarmed by the host")
            self._emit(ArmState(0, ArmReason.COMMAND))
        elif isinstance(msg, TimeSync):
            self.time_synced = True
            self._emit(TimeSyncReply(msg.host_unix_ms, self.device_time_ms(now)))
        elif isinstance(msg, Ping):
            self._emit(Pong(msg.nonce, self.device_time_ms(now)))
        else:  # a host message this model does not handle: say so rather than ignore it
            self._nack(msg.TYPE, frame.lseq, NackCode.UNKNOWN_TYPE)

    def _on_hello(self, frame: Frame, hello: Hello) -> None:
        self.counters.hellos += 1
        host_range = (hello.min_version, hello.max_version)
        try:
            selected = negotiate(host_range, self.config.versions)
        except IncompatibleVersion:
            selected = 0
        # A new link session: drop what was queued for the old one, and any replay in progress.
        self._replay.clear()
        self._link_restart = True
        self._conn.version = selected or BASE_VERSION
        self._out.append(FLUSH)
        self._emit(self._device_info(selected))
        if not selected:
            self._ready = False
            self._refused_version = True
            self._nack(hello.TYPE, frame.lseq, NackCode.VERSION_UNSUPPORTED)
            log.info(
                "HELLO v%d–v%d refused: the device speaks v%d–v%d", *host_range, *self.config.versions
            )
            return
        self._ready = True
        self._refused_version = False
        self._next_heartbeat = self._now + self.config.heartbeat_interval
        log.info("HELLO v%d–v%d: speaking v%d", *host_range, selected)
        self._flush_notices()

    def _on_resume(self, msg: Resume) -> None:
        # v2: a cursor of another numbering acknowledges nothing (a v1 RESUME carries epoch 0).
        if msg.epoch in (0, self.epoch):
            self.buffer.ack(msg.seq)
        else:
            log.info("RESUME names epoch %08x, this numbering is %08x: nothing acknowledged", msg.epoch, self.epoch)
        events = list(self.buffer)
        if events:
            reply = ResumeReply(events[0].boot, events[0].seq, len(events), self.epoch)
        else:
            reply = ResumeReply(self.boot, self.last_seq + 1, 0, self.epoch)
        self._emit(reply)
        self._replay = deque(events)
        log.debug("RESUME after seq %d: replaying %d", msg.seq, len(events))

    # -- stamping --------------------------------------------------------------------

    def _can_arm(self) -> bool:
        return self._offline_until is None and self.battery.pct(self._now) > 0 and not self.buffer.full

    def _start_counting(self, now: float) -> None:
        self.armed = True
        self._anchor = None
        if not self.stamping_done:
            self._next_stamp = self._after(now)

    def _stop_counting(self) -> None:
        self.armed = False
        self._next_stamp = None

    def _after(self, t: float) -> float:
        """When the stamp after one at ``t`` falls."""
        rate = self.generator.rate
        if rate is None:
            nxt = t + self.generator.gap()
        else:
            start, k = self._anchor if self._anchor is not None else (t, 0)
            self._anchor = (start, k + 1)
            nxt = start + (k + 1) / rate
        if nxt < self._paused_until:
            nxt = self._paused_until
            self._anchor = (nxt, 0)
        return nxt

    def _stamp(self, t: float) -> None:
        """The practitioner stamps at time ``t`` (the device is armed)."""
        self._check_battery(t)
        if not self.armed:  # the battery just ran out
            return
        counters = self.counters
        if self.buffer.full:
            counters.stamps_refused += 1
            self._stop_counting()
            log.warning("buffer full (%d events): stopped counting, disarmed", len(self.buffer))
            self._notify(ArmState(0, ArmReason.BUFFER_FULL))
            self._notify(Fault(FaultCode.BUFFER_FULL, min(counters.stamps_refused, U32_MAX)))
            return
        index = counters.stamps_counted
        values = self.generator.values(index)
        seq = self.last_seq + 1
        stamp = Stamp(self.boot, seq, self.device_time_ms(t), values.force_dn, values.contact_ms, values.zone)
        self.last_seq = seq
        self.buffer.push(stamp)
        counters.stamps_counted = index + 1
        self.battery.use_stamp()
        if self.talking:
            self._emit(stamp)
        if self.stamping_done:
            self._next_stamp = None
            log.info("stamped %d times: stamping stops (the device stays on the link)", index + 1)
        else:
            self._next_stamp = self._after(t)
        if self.on_stamp is not None:
            self.on_stamp(stamp, t)

    # -- power -----------------------------------------------------------------------

    def _check_battery(self, now: float) -> None:
        pct = self.battery.pct(now)
        if pct != self._reported_pct:
            self._reported_pct = pct
            self._notify(Battery(pct, self.battery.millivolts(pct)))
        low = self.config.low_battery
        if pct <= low and not self._low_reported:
            self._low_reported = True
            log.warning("battery low: %d %%", pct)
            self._notify(Fault(FaultCode.LOW_BATTERY, pct))
        elif pct > low:
            self._low_reported = False
        if pct == 0 and not self._empty_reported:
            self._empty_reported = True
            log.warning("battery empty")
            if self.armed:
                self._stop_counting()
                self._notify(ArmState(0, ArmReason.BATTERY_EMPTY))
            self._notify(Fault(FaultCode.BATTERY_EMPTY, 0))
        elif pct > 0:
            self._empty_reported = False

    def _power_up(self, t: float) -> None:
        self._offline_until = None
        self.boot = self.boot + 1 if self.boot < U16_MAX else 1
        self._boot_time = t
        self._rx_bad_before += self._conn.rx_stats.bad_total
        self._conn = self._new_connection()
        self._ready = False
        self._refused_version = False
        self.time_synced = False
        self._last_host_frame = -math.inf
        # RAM is gone: standing conditions are reported afresh.
        self._low_reported = False
        self._empty_reported = False
        self._announce()
        self._notices = [ArmState(0, ArmReason.BOOT), Fault(FaultCode.UNEXPECTED_REBOOT, self.boot)]
        self._check_battery(t)
        log.info("device booted: boot %d, seq %d, %d buffered", self.boot, self.last_seq, len(self.buffer))

    # -- output helpers --------------------------------------------------------------

    def _new_connection(self) -> Connection:
        return Connection(Role.DEVICE, self.config.versions)

    def _device_info(self, selected: int) -> DeviceInfo:
        config = self.config
        major, minor, patch = config.firmware_parts
        return DeviceInfo(
            serial=config.serial,
            hw_revision=config.hw_revision,
            fw_major=major,
            fw_minor=minor,
            fw_patch=patch,
            min_version=config.versions[0],
            max_version=config.versions[1],
            selected_version=selected,
            needle_um=config.needle_um,
            head_id=self.head_id,
            head_uses=self.head_uses,
            footprint_mm2=self.footprint_mm2,
            battery_pct=self.battery.pct(self._now),
            boot=self.boot,
            last_seq=self.last_seq,
        )

    def _announce(self) -> None:
        """DEVICE_INFO with ANNOUNCE: sent at every boot, whoever listens."""
        self._link_restart = True
        self._out.append(FLUSH)
        self._emit(self._device_info(0), Flag.ANNOUNCE)

    def _send_heartbeat(self) -> None:
        state = HeartbeatState.NONE
        if self.armed:
            state |= HeartbeatState.ARMED
        if self.buffer.full:
            state |= HeartbeatState.BUFFER_FULL
        if self.battery.pct(self._now) <= self.config.low_battery:
            state |= HeartbeatState.LOW_BATTERY
        if self.time_synced:
            state |= HeartbeatState.TIME_SYNCED
        self._emit(Heartbeat(self.boot, self.last_seq, min(len(self.buffer), U16_MAX), int(state)))
        self._next_heartbeat = self._now + self.config.heartbeat_interval

    def _emit(self, message: Message, flags: int = 0) -> None:
        self._out.append(self._conn.send(message, flags))
        self.counters.frames_sent += 1

    def _nack(self, msg_type: int, lseq: int, code: NackCode) -> None:
        self.counters.nacks += 1
        self._emit(Nack(msg_type & 0xFF, lseq & 0xFF, code))

    def _notify(self, message: Message) -> None:
        """An unsolicited report: now if the host listens, else once it is back."""
        if self.talking:
            self._emit(message)
            return
        notices = self._notices
        if isinstance(message, _LATEST_ONLY):
            notices[:] = [m for m in notices if type(m) is not type(message)]
        notices.append(message)
        del notices[:-NOTICE_QUEUE_SIZE]

    def _flush_notices(self) -> None:
        notices = self._notices
        self._notices = []
        for message in notices:
            self._emit(message)
