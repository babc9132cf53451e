"""Gates: the checks that must pass before a step may go on, and their overrides.

Each check is a plain function returning a :class:`GateResult`: passed, or failed with a
message a practitioner can act on ("needle is 1.5 mm; the protocol needs 2.0 mm"). Device
checks read :class:`DeviceFacts`, a small snapshot the app fills from the link's DEVICE_INFO
and its own records (:meth:`DeviceFacts.from_device_info` takes a DEVICE_INFO duck-typed).

A failed gate can be overridden only with a typed reason: at least
:data:`MIN_REASON_CHARS` characters and :data:`MIN_REASON_WORDS` words once surrounding and
repeated whitespace is removed. The override records who made it and when. Anything shorter
raises :class:`OverrideRefused`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from stampside.app.domain.treatment_protocol import DeviceGate, DeviceRequirements

#: An override reason needs at least this many characters (after collapsing whitespace)…
MIN_REASON_CHARS = 10
#: …and at least this many words, so "ok" or "xxxxxxxxxx" is not a reason.
MIN_REASON_WORDS = 2


class Gate(StrEnum):
    """Every gate the domain knows: the device gates a protocol step lists, and the step's own."""

    DEVICE_IDENTIFIED = DeviceGate.DEVICE_IDENTIFIED.value
    NEEDLE_LENGTH = DeviceGate.NEEDLE_LENGTH.value
    HEAD_UNUSED = DeviceGate.HEAD_UNUSED.value
    BATTERY = DeviceGate.BATTERY.value
    CLOCK_SYNCED = DeviceGate.CLOCK_SYNCED.value
    DEVICE_ARMED = DeviceGate.DEVICE_ARMED.value
    TIMER_ELAPSED = "timer_elapsed"
    LOT_NOT_EXPIRED = "lot_not_expired"

    @property
    def label(self) -> str:
        """What a person reads for the gate (the value is the stored code): ``waiting time``."""
        return GATE_LABELS[self]


#: The words shown for each gate on screens, in messages and in reports.
GATE_LABELS: dict[Gate, str] = {
    Gate.DEVICE_IDENTIFIED: "device identified",
    Gate.NEEDLE_LENGTH: "needle length",
    Gate.HEAD_UNUSED: "unused needle head",
    Gate.BATTERY: "battery",
    Gate.CLOCK_SYNCED: "device clock",
    Gate.DEVICE_ARMED: "device armed",
    Gate.TIMER_ELAPSED: "waiting time",
    Gate.LOT_NOT_EXPIRED: "product lot in date",
}


class OverrideRefused(ValueError):
    """An override was asked for without a real reason (or for a gate that did not fail)."""


@dataclass(frozen=True, slots=True)
class Override:
    """Who let a failed gate pass, when, and why."""

    gate: Gate
    reason: str
    by: str
    at: datetime
    failure: str  # the gate's message when it was overridden
    #: The practitioner whose PIN signed it (:mod:`stampside.app.domain.signatures`); None: not signed (made before
    #: sign-in, or by a script such as the demo data).
    signer_id: int | None = None


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of one gate. ``ok`` is true when it passed or was overridden."""

    gate: Gate
    passed: bool
    message: str
    override: Override | None = None

    @property
    def ok(self) -> bool:
        return self.passed or self.override is not None

    def overridden(self, reason: str, *, by: str, at: datetime) -> GateResult:
        """This failed result, let through by ``by`` at ``at`` for ``reason``."""
        if self.passed:
            raise OverrideRefused(f"{self.gate.label} passed; there is nothing to override")
        return replace(self, override=make_override(self.gate, reason, by=by, at=at, failure=self.message))


def clean_reason(reason: str) -> str:
    """The reason with surrounding and repeated whitespace removed."""
    return " ".join(reason.split())


def checked_reason(gate_name: str, reason: str, by: str) -> tuple[str, str]:
    """The cleaned reason and practitioner of an override; :class:`OverrideRefused` if either will not do.

    The rule every override follows (step gates and course gates alike): a reason of at least
    :data:`MIN_REASON_WORDS` words and :data:`MIN_REASON_CHARS` characters, and who makes it.
    """
    text = clean_reason(reason)
    if not text:
        raise OverrideRefused(f"overriding {gate_name} needs a reason; type why it is safe to go on")
    if len(text) < MIN_REASON_CHARS or len(text.split()) < MIN_REASON_WORDS:
        raise OverrideRefused(
            f"the reason for overriding {gate_name} is too short: write at least {MIN_REASON_WORDS} words "
            f"and {MIN_REASON_CHARS} characters saying why it is safe to go on"
        )
    who = by.strip()
    if not who:
        raise OverrideRefused(f"overriding {gate_name} needs the practitioner who makes it")
    return text, who


def make_override(
    gate: Gate, reason: str, *, by: str, at: datetime, failure: str = "", signer_id: int | None = None
) -> Override:
    """An :class:`Override`, or :class:`OverrideRefused` if the reason or practitioner is missing."""
    text, who = checked_reason(gate.label, reason, by)
    return Override(gate=gate, reason=text, by=who, at=at, failure=failure, signer_id=signer_id)


class DeviceInfoLike(Protocol):
    """The fields of a DEVICE_INFO message the gates read."""

    @property
    def needle_um(self) -> int: ...
    @property
    def head_id(self) -> int: ...
    @property
    def battery_pct(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What the app knows about the device right now. ``None`` means not known (not identified).

    ``head_used_elsewhere`` is true when the head was used in another session (the app decides
    from its head history and the device's use counter).
    """

    identified: bool = False
    serial: str | None = None
    needle_um: int | None = None
    head_id: int | None = None
    head_used_elsewhere: bool = False
    battery_pct: int | None = None
    clock_synced: bool = False
    armed: bool = False

    @classmethod
    def from_device_info(
        cls,
        info: DeviceInfoLike,
        *,
        serial: str | None = None,
        head_used_elsewhere: bool,
        clock_synced: bool,
        armed: bool = False,
    ) -> DeviceFacts:
        return cls(
            identified=True,
            serial=serial if serial is not None else getattr(info, "serial", None),
            needle_um=info.needle_um,
            head_id=info.head_id,
            head_used_elsewhere=head_used_elsewhere,
            battery_pct=info.battery_pct,
            clock_synced=clock_synced,
            armed=armed,
        )


def _passed(gate: Gate, message: str) -> GateResult:
    return GateResult(gate, True, message)


def _failed(gate: Gate, message: str) -> GateResult:
    return GateResult(gate, False, message)


def mm(micrometres: int) -> str:
    """Micrometres as millimetres with one decimal at least (2000 → "2.0 mm", 2050 → "2.05 mm")."""
    text = f"{micrometres / 1000:.3f}".rstrip("0")
    return (text + "0" if text.endswith(".") else text) + " mm"


def check_device_identified(facts: DeviceFacts) -> GateResult:
    gate = Gate.DEVICE_IDENTIFIED
    if not facts.identified:
        return _failed(gate, "no stamp is connected and identified; connect the stamp and wait for it")
    name = f"stamp {facts.serial}" if facts.serial else "stamp"
    return _passed(gate, f"{name} connected and identified")


def check_needle_length(facts: DeviceFacts, required: DeviceRequirements) -> GateResult:
    gate = Gate.NEEDLE_LENGTH
    need = mm(required.needle_um)
    if required.needle_tolerance_um:
        need += f" ± {mm(required.needle_tolerance_um)}"
    if facts.needle_um is None:
        return _failed(gate, f"needle length unknown; the protocol needs {need}")
    if not required.needle_ok(facts.needle_um):
        return _failed(gate, f"needle is {mm(facts.needle_um)}; the protocol needs {need}")
    return _passed(gate, f"needle is {mm(facts.needle_um)}")


def check_head_unused(facts: DeviceFacts, required: DeviceRequirements) -> GateResult:
    gate = Gate.HEAD_UNUSED
    head = f"head {facts.head_id}" if facts.head_id is not None else "the stamp head"
    if facts.head_id is None:
        return _failed(gate, "stamp head unknown; connect the stamp so its head can be checked")
    if facts.head_used_elsewhere and required.head_must_be_unused:
        return _failed(gate, f"{head} was already used in another session; fit a new head")
    if facts.head_used_elsewhere:
        return _passed(gate, f"{head} was used before (the protocol allows it)")
    return _passed(gate, f"{head} has not been used in another session")


def check_battery(facts: DeviceFacts, required: DeviceRequirements) -> GateResult:
    gate = Gate.BATTERY
    if facts.battery_pct is None:
        return _failed(gate, f"battery level unknown; the protocol needs at least {required.min_battery_pct} %")
    if facts.battery_pct < required.min_battery_pct:
        return _failed(
            gate,
            f"battery is {facts.battery_pct} %; the protocol needs at least {required.min_battery_pct} % "
            "to finish a session: charge or swap it",
        )
    return _passed(gate, f"battery is {facts.battery_pct} %")


def check_clock_synced(facts: DeviceFacts, required: DeviceRequirements) -> GateResult:
    gate = Gate.CLOCK_SYNCED
    if facts.clock_synced:
        return _passed(gate, "device clock synced")
    if not required.clock_synced:
        return _passed(gate, "device clock not synced (the protocol allows it)")
    return _failed(gate, "device clock is not synced; reconnect the stamp so the app can set its clock")


def check_device_armed(facts: DeviceFacts) -> GateResult:
    gate = Gate.DEVICE_ARMED
    if facts.armed:
        return _passed(gate, "stamp armed")
    return _failed(gate, "the stamp is not armed; arm it before stamping")


def check_timer_elapsed(label: str, seconds: int, started_at: datetime | None, now: datetime) -> GateResult:
    """Whether a step's timer of ``seconds`` started at ``started_at`` has run out by ``now``."""
    gate = Gate.TIMER_ELAPSED
    if started_at is None:
        return _failed(gate, f"{label} ({format_duration(seconds)}) has not started")
    left = timer_seconds_left(seconds, started_at, now)
    if left > 0:
        return _failed(gate, f"{label} is not over: {clock_text(left)} left of {clock_text(seconds)}")
    return _passed(gate, f"{label} ({format_duration(seconds)}) is over")


def timer_seconds_left(seconds: float, started_at: datetime, now: datetime) -> int:
    """Whole seconds left on a timer, rounded up: 0 only once it is over. The one figure every readout shows."""
    left = seconds - (now - started_at).total_seconds()
    return max(0, math.ceil(left))


def clock_text(seconds: float) -> str:
    """``75`` → ``1:15``; fractions round up, so ``0:00`` means over."""
    whole = max(0, math.ceil(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes}:{rest:02d}"


def check_lot_not_expired(lot: str, expiry: date, today: date) -> GateResult:
    """A lot may be used up to and including its expiry date."""
    gate = Gate.LOT_NOT_EXPIRED
    if expiry < today:
        return _failed(gate, f"lot {lot} expired on {expiry.isoformat()}; use an unexpired lot")
    return _passed(gate, f"lot {lot} expires on {expiry.isoformat()}")


def format_duration(seconds: int) -> str:
    """``75`` → ``"1 min 15 s"``, ``60`` → ``"1 min"``, ``45`` → ``"45 s"``."""
    minutes, rest = divmod(int(seconds), 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


_DEVICE_CHECKS: dict[DeviceGate, Callable[[DeviceFacts, DeviceRequirements], GateResult]] = {
    DeviceGate.DEVICE_IDENTIFIED: lambda facts, _required: check_device_identified(facts),
    DeviceGate.NEEDLE_LENGTH: check_needle_length,
    DeviceGate.HEAD_UNUSED: check_head_unused,
    DeviceGate.BATTERY: check_battery,
    DeviceGate.CLOCK_SYNCED: check_clock_synced,
    DeviceGate.DEVICE_ARMED: lambda facts, _required: check_device_armed(facts),
}


def check_device(gates: tuple[DeviceGate, ...], facts: DeviceFacts, required: DeviceRequirements) -> list[GateResult]:
    """Evaluate the device gates a step lists, in order."""
    return [_DEVICE_CHECKS[gate](facts, required) for gate in gates]


def blocking(results: list[GateResult]) -> list[GateResult]:
    """The results that stop a step: failed and not overridden."""
    return [result for result in results if not result.ok]
