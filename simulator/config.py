"""The simulator's settings: one pydantic schema shared by the CLI, scenario files and the API.

A :class:`SimConfig` is made of sections, and a scenario file has the same sections::

    seed = 7
    [device]      what the device is and the state it starts in
    [stamping]    how the practitioner stamps
    [faults]      link and device faults that repeat
    [link]        how the simulator is reached (pty or TCP) and its line rate
    [ble]         or as a BLE peripheral (bumble), with its GATT-level faults
    [[timeline]]  one-off events at a stamp count or a time

Every model forbids unknown keys, so a typo in a scenario file is an error that names it.
``docs/simulator.md`` documents every field; the ``description`` of each field here is the
one-line version.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stampside.firmware_protocol import DEFAULT_BUFFER_CAPACITY, SUPPORTED_VERSIONS
from stampside.firmware_protocol.timing import HEARTBEAT_INTERVAL_S, LINK_TIMEOUT_S

U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF
#: The header carries the protocol version in four bits.
MAX_PROTOCOL_VERSION = 15


class StrictModel(BaseModel):
    """Base of every settings model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(StrictModel):
    """What the device is, and the state it powers up in."""

    serial: str = Field(
        "SS-000001", min_length=1, max_length=12, pattern=r"^[\x20-\x7e]+$", description="serial number, ASCII"
    )
    hw_revision: int = Field(2, ge=0, le=255, description="hardware revision")
    firmware: str = Field("1.0.0", pattern=r"^\d{1,3}\.\d{1,3}\.\d{1,3}$", description="firmware version X.Y.Z")
    versions: tuple[int, int] = Field(SUPPORTED_VERSIONS, description="protocol versions spoken, [min, max]")
    needle_um: int = Field(2000, ge=0, le=U16_MAX, description="needle length in µm")
    head_id: int = Field(1001, ge=0, le=U32_MAX, description="id of the fitted stamp head")
    head_uses: int = Field(0, ge=0, le=U16_MAX, description="sessions the head has been used in before")
    footprint_mm2: int = Field(100, ge=1, le=U16_MAX, description="area one stamp covers, mm²")
    battery: float = Field(100.0, ge=0, le=100, description="battery level at power-up, %")
    battery_per_stamp: float = Field(0.0005, ge=0, le=100, description="battery used by one stamp, %")
    battery_per_minute: float = Field(0.05, ge=0, le=100, description="battery used per minute switched on, %")
    low_battery: int = Field(15, ge=0, le=100, description="FAULT LOW_BATTERY at or below this %")
    buffer_size: int = Field(DEFAULT_BUFFER_CAPACITY, ge=1, le=1_000_000, description="event buffer capacity")
    boot: int = Field(1, ge=1, le=U16_MAX - 1, description="boot counter of the first power-up")
    last_seq: int = Field(0, ge=0, le=U32_MAX - 1_000_000, description="newest seq counted before this run")
    epoch: int | None = Field(
        None, ge=1, le=U32_MAX, description="numbering epoch, 1–0xFFFFFFFF; unset = a random one (new_epoch)"
    )
    armed: bool = Field(False, description="count stamps from the start, without waiting for ARM")
    reboot_silence: float = Field(0.3, ge=0, le=60, description="seconds a reboot keeps the device silent")
    heartbeat_interval: float = Field(HEARTBEAT_INTERVAL_S, gt=0, le=60, description="seconds between heartbeats")
    host_timeout: float = Field(
        LINK_TIMEOUT_S, gt=0, le=600, description="host is present while it sent a frame this recently"
    )

    @field_validator("firmware")
    @classmethod
    def _firmware_fits(cls, value: str) -> str:
        if any(int(part) > 255 for part in value.split(".")):
            raise ValueError("each part of the firmware version must be 0–255")
        return value

    @field_validator("versions")
    @classmethod
    def _versions_valid(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= MAX_PROTOCOL_VERSION:
            raise ValueError(f"need 1 ≤ min ≤ max ≤ {MAX_PROTOCOL_VERSION}, got {low}–{high}")
        return value

    @property
    def firmware_parts(self) -> tuple[int, int, int]:
        major, minor, patch = (int(p) for p in self.firmware.split("."))
        return major, minor, patch


class StampingConfig(StrictModel):
    """How the practitioner stamps once the device is armed."""

    rate: float | None = Field(None, gt=0, le=1_000_000, description="stamps per second; unset = human, 1–3 Hz")
    stamps: int | None = Field(None, ge=0, description="stop stamping after this many counted stamps")
    zones: Literal["none", "walk"] = Field("none", description="none: zone 0 (unknown); walk: zones 1–5 in turn")
    zone_stamps: int = Field(60, ge=1, description="stamps per zone when walking")
    force_n: float = Field(6.0, gt=0, le=25.5, description="mean peak force, N")
    force_sd_n: float = Field(1.2, ge=0, le=25.5, description="standard deviation of the peak force, N")
    contact_ms: float = Field(180.0, ge=1, le=4095, description="median contact duration, ms")
    contact_sigma: float = Field(0.3, ge=0, le=3, description="spread of the contact duration (log-normal sigma)")


class FaultConfig(StrictModel):
    """Faults that repeat for the whole run."""

    drop_every: float | None = Field(None, gt=0, description="start a link drop every S seconds")
    drop_for: float = Field(1.0, gt=0, description="each drop lasts S seconds")
    drop_mode: Literal["silent", "close"] = Field("silent", description="close also closes the TCP connection")
    corrupt: float = Field(0.0, ge=0, le=1, description="probability that a byte gets a bit flipped, both ways")
    truncate: float = Field(0.0, ge=0, le=1, description="probability that an outgoing frame is cut short")
    duplicate: float = Field(0.0, ge=0, le=1, description="probability that an outgoing frame is sent twice")
    reboot_every: int | None = Field(None, ge=1, description="reboot after every N counted stamps")

    @model_validator(mode="after")
    def _drop_shorter_than_period(self) -> Self:
        if self.drop_every is not None and self.drop_for >= self.drop_every:
            raise ValueError(f"drop_for ({self.drop_for} s) must be shorter than drop_every ({self.drop_every} s)")
        return self


class LinkConfig(StrictModel):
    """How the host reaches the simulator. With neither ``pty`` nor ``listen``: a pty, no symlink."""

    pty: Path | None = Field(None, description="create a pty and a symlink to it at this path")
    listen: str | None = Field(None, description="serve TCP on HOST:PORT (for pyserial socket://)")
    baud: int | None = Field(None, ge=50, le=100_000_000, description="throttle output to this line rate")

    @field_validator("listen")
    @classmethod
    def _listen_is_host_port(cls, value: str | None) -> str | None:
        if value is not None:
            parse_host_port(value)
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        if self.pty is not None and self.listen is not None:
            raise ValueError("choose a pty or a TCP address, not both")
        return self

    @property
    def listen_address(self) -> tuple[str, int] | None:
        return None if self.listen is None else parse_host_port(self.listen)


HCI_SERVE_SCHEMES = ("tcp-server", "unix-server")


class BleConfig(StrictModel):
    """The simulator as a BLE peripheral (docs/simulator.md, "BLE"). Off unless ``hci`` is set."""

    hci: str | None = Field(
        None, description='bumble HCI transport of the controller (usb:0, hci-socket:0, ...) or "virtual"'
    )
    hci_serve: str | None = Field(
        None, description="virtual link only: serve the app's controller on tcp-server:HOST:PORT or unix-server:PATH"
    )
    name: str | None = Field(
        None, min_length=1, max_length=8, pattern=r"^[\x20-\x7e]+$", description="advertised name; default from serial"
    )
    address: str | None = Field(
        None, pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$", description="random static address; default from serial"
    )
    mtu: int = Field(247, ge=23, le=517, description="largest ATT MTU the device accepts")
    drop_notify: float = Field(0.0, ge=0, le=1, description="probability that a notification is lost")
    notify_delay: float = Field(0.0, ge=0, le=10, description="seconds each notification is held back")
    cut_every: float | None = Field(
        None, gt=0, description="disconnect in the middle of a frame every S seconds"
    )
    refuse: int = Field(0, ge=0, description="refuse this many connections first (accept, then drop at once)")

    @field_validator("hci_serve")
    @classmethod
    def _serve_spec(cls, value: str | None) -> str | None:
        if value is not None:
            scheme, _, rest = value.partition(":")
            if scheme not in HCI_SERVE_SCHEMES or not rest:
                raise ValueError(f"expected tcp-server:HOST:PORT or unix-server:PATH, got {value!r}")
            if scheme == "tcp-server":
                parse_host_port(rest)
        return value

    @model_validator(mode="after")
    def _serve_needs_virtual(self) -> Self:
        if self.hci_serve is not None and self.hci != "virtual":
            raise ValueError('hci_serve needs the virtual link (hci = "virtual", --ble virtual)')
        return self

    @property
    def enabled(self) -> bool:
        return self.hci is not None

    @classmethod
    def virtual(cls, serve: str | None = "tcp-server:127.0.0.1:0", **fields: object) -> BleConfig:
        """The virtual link, the app's controller served on ``serve`` (a free local port by default)."""
        return cls.model_validate({"hci": "virtual", "hci_serve": serve, **fields})


def new_epoch() -> int:
    """A random non-zero u32: the epoch a device draws when its boot counter and seq start afresh.

    Drawn from the OS's randomness, not from the run's seed: two runs with the same seed are
    still two different numberings.
    """
    while True:
        epoch = secrets.randbits(32)
        if epoch:
            return epoch


def parse_host_port(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:PORT"`` for IPv6) as a (host, port) pair; ValueError if malformed."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    port = int(port_text)
    if port > U16_MAX:
        raise ValueError(f"port must be 0–65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


# --- the timeline -----------------------------------------------------------------


class TimelineEntry(StrictModel):
    """Base of the one-off events: each fires once, at a stamp count or a time."""

    at_stamp: int | None = Field(None, ge=1, description="fire right after this many stamps are counted")
    at_seconds: float | None = Field(None, ge=0, description="fire this many seconds after the start")

    @model_validator(mode="after")
    def _one_trigger(self) -> Self:
        if (self.at_stamp is None) == (self.at_seconds is None):
            raise ValueError("give exactly one of at_stamp or at_seconds")
        return self


class DropEvent(TimelineEntry):
    """Discard every byte, both ways, for a while."""

    action: Literal["drop"]
    seconds: float = Field(gt=0)
    mode: Literal["silent", "close"] | None = Field(None, description="default: faults.drop_mode")


class RebootEvent(TimelineEntry):
    """Reboot the device (an unexpected reboot, like a watchdog reset)."""

    action: Literal["reboot"]


class BatteryEvent(TimelineEntry):
    """Set the battery level (a battery swap, or a sudden sag)."""

    action: Literal["battery"]
    pct: float = Field(ge=0, le=100)


class HeadEvent(TimelineEntry):
    """Fit another stamp head (the device sends HEAD_CHANGED)."""

    action: Literal["head"]
    head_id: int = Field(ge=0, le=U32_MAX)
    head_uses: int = Field(0, ge=0, le=U16_MAX)
    footprint_mm2: int | None = Field(None, ge=1, le=U16_MAX, description="default: keep the current one")


class CorruptEvent(TimelineEntry):
    """A burst of line noise: this byte-flip rate, both ways, for a while."""

    action: Literal["corrupt"]
    rate: float = Field(gt=0, le=1)
    seconds: float = Field(gt=0)


class PauseEvent(TimelineEntry):
    """The practitioner stops stamping for a while (the device stays armed)."""

    action: Literal["pause"]
    seconds: float = Field(gt=0)


class RateEvent(TimelineEntry):
    """Change the stamping rate: stamps per second, or ``"human"``."""

    action: Literal["rate"]
    hz: float | Literal["human"] = Field(description="stamps per second, or \"human\"")

    @field_validator("hz")
    @classmethod
    def _positive(cls, value: float | str) -> float | str:
        if isinstance(value, float | int) and not 0 < value <= 1_000_000:
            raise ValueError("hz must be above 0 and at most 1000000, or \"human\"")
        return value


class SensorFaultEvent(TimelineEntry):
    """The force sensor reads out of range once (the device sends FAULT SENSOR)."""

    action: Literal["sensor_fault"]
    raw: int = Field(0xFFFF, ge=0, le=U32_MAX)


class BleCutEvent(TimelineEntry):
    """BLE only: disconnect in the middle of the next frame that goes out."""

    action: Literal["ble_cut"]


class BleRefuseEvent(TimelineEntry):
    """BLE only: refuse the next ``count`` connections."""

    action: Literal["ble_refuse"]
    count: int = Field(1, ge=1)


TimelineEvent = Annotated[
    DropEvent
    | RebootEvent
    | BatteryEvent
    | HeadEvent
    | CorruptEvent
    | PauseEvent
    | RateEvent
    | SensorFaultEvent
    | BleCutEvent
    | BleRefuseEvent,
    Field(discriminator="action"),
]


class SimConfig(StrictModel):
    """Everything a simulator run needs. Every field has a default: ``SimConfig()`` is a sane device."""

    description: str = Field("", description="what this scenario is for (shown at start)")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="makes the run repeatable; unset = random")
    truth: Path | None = Field(None, description="write one JSON line per counted stamp here")
    duration: float | None = Field(None, gt=0, description="stop the simulator after S seconds")
    exit_when_acked: bool = Field(False, description="stop once stamping.stamps are counted and all acknowledged")
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    stamping: StampingConfig = Field(default_factory=StampingConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)
    link: LinkConfig = Field(default_factory=LinkConfig)
    ble: BleConfig = Field(default_factory=BleConfig)
    timeline: list[TimelineEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _exit_needs_a_stamp_count(self) -> Self:
        if self.exit_when_acked and self.stamping.stamps is None:
            raise ValueError("exit_when_acked needs stamping.stamps (--stamps N): otherwise stamping never ends")
        return self

    @model_validator(mode="after")
    def _one_way_in(self) -> Self:
        if self.ble.enabled and (self.link.pty is not None or self.link.listen is not None):
            raise ValueError("choose BLE or a pty or a TCP address, not several")
        return self
