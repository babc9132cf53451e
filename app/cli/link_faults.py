"""The device's faults and conditions for a person: a line when something happens, a summary for the status line.

:class:`DeviceConditions` is fed every frame the link session publishes
(``LinkSession.subscribe_frames()``) and follows the device's own reports: FAULT (buffer
full, low or empty battery, sensor, unexpected reboot), ARM_STATE, BATTERY, DEVICE_INFO,
NACK REFUSED to ARM, and the state bits of its heartbeats (which also reveal a condition
whose FAULT was lost on a noisy line). :meth:`DeviceConditions.on_frame` returns the lines
to say now: each fault once when it arrives, and once more when the device counts again.
:meth:`DeviceConditions.summary` is the state for the status line. No I/O here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from stampside.devicelink.broadcast import Subscription
from stampside.devicelink.events import Direction, FrameRecord
from stampside.devicelink.session import LinkSession
from stampside.firmware_protocol import (
    ArmReason,
    ArmState,
    Battery,
    DeviceInfo,
    Fault,
    FaultCode,
    Frame,
    Heartbeat,
    HeartbeatState,
    MessageType,
    Nack,
    NackCode,
    Stamp,
)


def fault_name(code: int) -> str:
    """``BUFFER_FULL``, ``LOW_BATTERY``, ... or ``code 9`` for a code this host does not know."""
    try:
        return FaultCode(code).name
    except ValueError:
        return f"code {code}"


def _stamps(n: int) -> str:
    return f"{n} stamp{'' if n == 1 else 's'}"


class DeviceConditions:
    """What the device reported about itself, followed frame by frame.

    ``arming``: the host arms the device after every handshake (``link record`` without
    ``--no-arm``), so a reboot's line can say it will be armed again.
    """

    def __init__(self, *, arming: bool = True) -> None:
        self.arming = arming
        #: The device's serial (from DEVICE_INFO), None until it introduced itself.
        self.serial: str | None = None
        self.boot: int | None = None
        #: Whether the device counts stamps (ARM_STATE, heartbeats); None: not known yet.
        self.armed: bool | None = None
        self.battery_pct: int | None = None
        self.battery_low = False
        self.battery_empty = False
        self.buffer_full = False
        #: Stamps refused so far, as the last FAULT BUFFER_FULL said (None: none reported).
        self.refused: int | None = None
        #: The device answered ARM with NACK REFUSED and has not been armed since.
        self.arm_refused = False
        #: Every FAULT received, by name.
        self.faults: Counter[str] = Counter()
        #: The last FAULT received (the message object the session published).
        self.last_fault: Fault | None = None
        # What was already said, so each condition is said once.
        self._said_buffer_full = False
        self._said_low_at: int | None = None  # the battery % the low-battery line named
        self._said_empty = False
        self._said_sensor_boot: int | None = None
        self._stopped = False  # a "stopped counting" line was said, a "counting again" one is due
        self._last_report: bytes = b""

    @property
    def who(self) -> str:
        return self.serial or "the device"

    # == input ===========================================================================

    def on_frame(self, record: FrameRecord) -> list[str]:
        """Follow one frame of the link; the lines to say now (often none)."""
        if record.direction is not Direction.RX:
            return []
        frame = record.event
        if type(frame) is not Frame:
            return []
        message = frame.message
        if type(message) is Stamp:
            return []
        if frame.raw == self._last_report:
            # The same frame twice in a row (same link sequence number): one report.
            if isinstance(message, Fault):
                self.last_fault = message  # the session keeps the copy it decoded last
            return []
        self._last_report = frame.raw
        if isinstance(message, Heartbeat):
            return self._on_heartbeat(HeartbeatState(message.state))
        if isinstance(message, Fault):
            return self.on_fault(message)
        if isinstance(message, ArmState):
            return self._on_arm_state(message)
        if isinstance(message, Battery):
            self._set_battery(message.pct)
        elif isinstance(message, DeviceInfo):
            self._on_device_info(message)
        elif isinstance(message, Nack):
            return self._on_nack(message)
        return []

    def on_fault(self, fault: Fault) -> list[str]:
        """A FAULT from the device; the line to say, if it is news."""
        self.last_fault = fault
        name = fault_name(fault.code)
        self.faults[name] += 1
        who = self.who
        code, detail = fault.code, fault.detail
        if code == FaultCode.BUFFER_FULL:
            self.refused = detail
            self.buffer_full = True
            self.armed = False
            if self._said_buffer_full:
                return []
            self._said_buffer_full = self._stopped = True
            return [
                f"{who}: buffer full — the device stopped counting ({_stamps(detail)} refused so far); "
                "it resumes once stored stamps are acknowledged"
            ]
        if code == FaultCode.LOW_BATTERY:
            self.battery_low = True
            self.battery_pct = detail
            if self._said_low_at is not None:
                return []
            self._said_low_at = detail
            if detail == 0:
                return []  # FAULT BATTERY_EMPTY follows and says it
            return [f"{who}: battery low — {detail} %; charge or swap it soon (at 0 % the device stops counting)"]
        if code == FaultCode.BATTERY_EMPTY:
            self.battery_empty = self.battery_low = True
            self.battery_pct = detail
            self.armed = False
            if self._said_empty:
                return []
            self._said_empty = self._stopped = True
            self._said_low_at = self._said_low_at if self._said_low_at is not None else detail
            return [
                f"{who}: battery empty ({detail} %) — the device stopped counting; "
                "charge or swap the battery, then it can be armed again"
            ]
        if code == FaultCode.SENSOR:
            if self._said_sensor_boot == self.boot and self._said_sensor_boot is not None:
                return []  # a sensor that keeps failing is said once per boot; the status line counts
            self._said_sensor_boot = self.boot
            return [
                f"{who}: force sensor fault (raw reading {detail}) — forces may be wrong; "
                "check the device (further sensor faults are counted in the status line)"
            ]
        if code == FaultCode.UNEXPECTED_REBOOT:
            self.armed = False
            then = "; the host arms it again" if self.arming else ""
            return [
                f"{who}: the device rebooted unexpectedly (now boot {detail}); the stamps in its buffer are kept{then}"
            ]
        return [f"{who}: device fault {name} (detail {detail}), unknown to this version of Stampside"]

    def catch_up(self, last_fault: Fault | None, heartbeat: Heartbeat | None, battery: Battery | None) -> list[str]:
        """Follow the session's own record of the device after frames went by unread.

        A subscriber that falls too far behind loses the oldest frames (a flood); call this
        once it has read everything left (its queue is empty), with the session's
        ``last_fault``, ``device_heartbeat`` and ``battery``. The last fault is said if it
        was among the lost frames; only an earlier fault lost in the same stretch stays unsaid.
        """
        lines = []
        if battery is not None:
            self._set_battery(battery.pct)
        if last_fault is not None and last_fault is not self.last_fault:
            lines += self.on_fault(last_fault)
        if heartbeat is not None:
            lines += self._on_heartbeat(HeartbeatState(heartbeat.state))
        return lines

    def _on_heartbeat(self, state: HeartbeatState) -> list[str]:
        armed = bool(state & HeartbeatState.ARMED)
        lines = self._set_armed(armed)
        who = self.who
        if state & HeartbeatState.BUFFER_FULL:
            self.buffer_full = True
            if not armed and not self._said_buffer_full:  # its FAULT was lost: the heartbeat tells
                self._said_buffer_full = self._stopped = True
                lines.append(
                    f"{who}: buffer full — the device stopped counting; it resumes once stored stamps are acknowledged"
                )
        elif self.buffer_full:
            self.buffer_full = False
            self._said_buffer_full = False
        if state & HeartbeatState.LOW_BATTERY:
            self.battery_low = True
            if self._said_low_at is None:
                self._said_low_at = self.battery_pct if self.battery_pct is not None else -1
                pct = f" — {self.battery_pct} %" if self.battery_pct is not None else ""
                lines.append(f"{who}: battery low{pct}; charge or swap it soon (at 0 % the device stops counting)")
        elif self.battery_low and not self.battery_empty:
            self.battery_low = False
            self._said_low_at = None
        return lines

    def _on_arm_state(self, message: ArmState) -> list[str]:
        if message.armed:
            return self._set_armed(True)
        self.armed = False
        if message.reason == ArmReason.BUFFER_FULL:
            self.buffer_full = True  # its FAULT BUFFER_FULL follows and is said
        elif message.reason == ArmReason.BATTERY_EMPTY:
            self.battery_empty = True  # its FAULT BATTERY_EMPTY follows and is said
        return []

    def _on_device_info(self, info: DeviceInfo) -> None:
        self.serial = info.serial
        if self.boot is not None and info.boot != self.boot:
            self.armed = False  # a device boots disarmed
        self.boot = info.boot
        self._set_battery(info.battery_pct)

    def _on_nack(self, nack: Nack) -> list[str]:
        if nack.refused_type != MessageType.ARM or nack.code != NackCode.REFUSED:
            return []
        self.armed = False
        if self.arm_refused:
            return []
        self.arm_refused = self._stopped = True
        if self.buffer_full:
            why = "(buffer full); it is armed again once stored stamps are acknowledged"
        elif self.battery_empty:
            why = "(battery empty); charge or swap the battery"
        else:
            why = "without saying why (NACK REFUSED)"
        return [f"{self.who}: the device refused ARM {why}"]

    def _set_armed(self, armed: bool) -> list[str]:
        was = self.armed
        self.armed = armed
        if not armed or was is True:
            return []
        # Armed again: whatever stopped it is over.
        self.arm_refused = False
        self.buffer_full = False
        self._said_buffer_full = False
        if not self._stopped:
            return []
        self._stopped = False
        return [f"{self.who}: counting again — the device is armed"]

    def _set_battery(self, pct: int) -> None:
        previous = self.battery_pct
        self.battery_pct = pct
        if pct > 0 and self.battery_empty:
            self.battery_empty = False
            self._said_empty = False
        if self._said_low_at is not None and previous is not None and pct > previous and pct > self._said_low_at:
            # Charged or swapped: a new low battery is news again.
            self._said_low_at = None
            self.battery_low = False

    # == output ==========================================================================

    def summary(self) -> str:
        """The device's state for the status line, e.g. ``device: NOT COUNTING (buffer full, 12 refused), battery
        87% | faults: BUFFER_FULL 1``; empty before the device introduced itself."""
        if self.serial is None and self.armed is None and not self.faults:
            return ""
        reasons = []
        if self.buffer_full:
            reasons.append(f"buffer full, {self.refused} refused" if self.refused is not None else "buffer full")
        if self.battery_empty:
            reasons.append("battery empty")
        if self.arm_refused:
            reasons.append("ARM refused")
        parts = []
        if self.armed:
            parts.append("armed, BUFFER FULL (the next stamp is refused)" if self.buffer_full else "armed")
        elif reasons:
            parts.append(f"NOT COUNTING ({'; '.join(reasons)})")
        elif self.armed is not None:
            parts.append("disarmed")
        if self.battery_pct is not None:
            parts.append(f"battery {self.battery_pct}%{' LOW' if self.battery_low and not self.battery_empty else ''}")
        text = "device: " + ", ".join(parts) if parts else ""
        if self.faults:
            counts = ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items()))
            text += (" | " if text else "") + f"faults: {counts}"
        return text


async def follow_device(
    frames: Subscription[FrameRecord], conditions: DeviceConditions, say: Callable[[str], None]
) -> None:
    """Feed every frame of ``frames`` to ``conditions`` and ``say`` each line it returns, until the session closes."""
    with frames:
        async for record in frames:
            for line in conditions.on_frame(record):
                say(line)


class CatchUp:
    """Calls :meth:`DeviceConditions.catch_up` once after each stretch of frames ``frames`` lost."""

    def __init__(self, frames: Subscription[FrameRecord], conditions: DeviceConditions) -> None:
        self.frames = frames
        self.conditions = conditions
        self._handled = 0

    def __call__(self, session: LinkSession) -> list[str]:
        frames = self.frames
        if frames.dropped == self._handled or frames.pending():
            return []  # nothing lost, or the follower has not read everything yet
        self._handled = frames.dropped
        return self.conditions.catch_up(session.last_fault, session.device_heartbeat, session.battery)
