"""One treatment session walking through the protocol's steps: a small state machine.

:class:`SessionFlow` holds the current step and a :class:`StepRecord` per step started. A step
is started by a practitioner, collects what it needs (device checks, the product lot, the
volume, its timer) and is completed with the practitioner who confirms it. It cannot complete
while a gate is failing and not overridden: a device check the step lists, or its timer.

Time comes from an injected clock (a function returning an aware ``datetime``), so tests run
timers without waiting. Records are plain frozen dataclasses for storage; a session is
resumed with :meth:`SessionFlow.restore` from the records stored so far.

Rules that cannot be overridden: steps go in protocol order, a lot past its expiry is refused
(:class:`ExpiredLotError`), and a step that needs a lot cannot complete without one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from stampside.app.domain.gates import (
    DeviceFacts,
    Gate,
    GateResult,
    Override,
    OverrideRefused,
    check_device,
    check_lot_not_expired,
    check_timer_elapsed,
    format_duration,
    make_override,
    timer_seconds_left,
)
from stampside.app.domain.treatment_protocol import Step, StepKind, TreatmentProtocol

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class StepError(ValueError):
    """The practitioner asked for something the protocol does not allow now. The message says why."""


class ExpiredLotError(StepError):
    """A product lot past its expiry date was refused."""


class StepBlocked(StepError):
    """A step cannot complete: ``blocking`` lists the gates that failed and were not overridden."""

    def __init__(self, step: Step, blocking: list[GateResult]) -> None:
        self.blocking = blocking
        reasons = "; ".join(result.message for result in blocking)
        super().__init__(f"{step.title} cannot be completed yet: {reasons}")


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """A stored gate outcome: what a device check said when it ran."""

    gate: Gate
    passed: bool
    message: str


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What happened in one step, ready to store. ``position`` is the step's index in the protocol."""

    step_id: str
    kind: StepKind
    position: int
    started_at: datetime
    started_by: str
    ended_at: datetime | None = None
    confirmed_by: str | None = None
    volume_ml: float | None = None
    lot: str | None = None
    lot_expiry: date | None = None
    timer_seconds: int | None = None
    timer_started_at: datetime | None = None
    timer_ran_seconds: float | None = None
    checks: tuple[CheckOutcome, ...] = ()
    overrides: tuple[Override, ...] = ()

    @property
    def completed(self) -> bool:
        return self.ended_at is not None

    def override_for(self, gate: Gate) -> Override | None:
        """The newest override of ``gate`` in this step, if any."""
        for override in reversed(self.overrides):
            if override.gate is gate:
                return override
        return None


class SessionFlow:
    """The steps of one session: which is current, and what has been recorded."""

    def __init__(self, protocol: TreatmentProtocol, clock: Clock = utc_now) -> None:
        self.protocol = protocol
        self.clock = clock
        self._records: list[StepRecord] = []

    @classmethod
    def restore(cls, protocol: TreatmentProtocol, records: Iterable[StepRecord], clock: Clock = utc_now) -> SessionFlow:
        """Rebuild a flow from stored records (any order). Only the last record may be open."""
        flow = cls(protocol, clock)
        ordered = sorted(records, key=lambda record: record.position)
        for expected, record in enumerate(ordered):
            if record.position != expected:
                raise StepError(
                    f"stored steps are not contiguous: expected step {expected + 1}, got {record.position + 1}"
                )
            if expected >= len(protocol.steps):
                raise StepError(f"stored step {record.step_id!r} is beyond the end of {protocol.label}")
            step = protocol.steps[expected]
            if record.step_id != step.id:
                raise StepError(
                    f"stored step {expected + 1} is {record.step_id!r} but {protocol.label} has {step.id!r} there"
                )
            if not record.completed and expected != len(ordered) - 1:
                raise StepError(f"stored step {record.step_id!r} is open but later steps were started")
        flow._records = list(ordered)
        return flow

    # --- where the session is ---------------------------------------------------------------

    @property
    def records(self) -> tuple[StepRecord, ...]:
        return tuple(self._records)

    @property
    def position(self) -> int:
        """The index of the current step (``len(protocol.steps)`` once every step is done)."""
        return sum(1 for record in self._records if record.completed)

    @property
    def finished(self) -> bool:
        return self.position >= len(self.protocol.steps)

    @property
    def current_step(self) -> Step | None:
        return None if self.finished else self.protocol.steps[self.position]

    @property
    def current_record(self) -> StepRecord | None:
        """The open record of the current step, or ``None`` before it starts."""
        if self._records and not self._records[-1].completed:
            return self._records[-1]
        return None

    @property
    def treatment_ended_at(self) -> datetime | None:
        """When the last hands-on step (an application or stamping) ended: the aftercare clock starts here."""
        hands_on = (StepKind.APPLICATION, StepKind.STAMPING)
        ends = [record.ended_at for record in self._records if record.kind in hands_on and record.ended_at is not None]
        return ends[-1] if ends else None

    def _step(self) -> Step:
        step = self.current_step
        if step is None:
            raise StepError("the session is finished; every step is complete")
        return step

    def _open(self) -> tuple[Step, StepRecord]:
        step = self._step()
        record = self.current_record
        if record is None:
            raise StepError(f"{step.title} has not started")
        return step, record

    def _update(self, record: StepRecord) -> StepRecord:
        self._records[-1] = record
        return record

    # --- actions ------------------------------------------------------------------------------

    def start(self, by: str) -> StepRecord:
        """Start the current step; its timer (if any) starts now."""
        step = self._step()
        if self.current_record is not None:
            raise StepError(f"{step.title} has already started")
        who = _practitioner(by)
        now = self.clock()
        record = StepRecord(
            step_id=step.id,
            kind=step.kind,
            position=self.position,
            started_at=now,
            started_by=who,
            timer_seconds=step.timer.seconds if step.timer else None,
            timer_started_at=now if step.timer else None,
        )
        self._records.append(record)
        return record

    def restart_timer(self) -> StepRecord:
        """Start the current step's timer again from now (for example after re-applying)."""
        step, record = self._open()
        if step.timer is None:
            raise StepError(f"{step.title} has no timer")
        return self._update(replace(record, timer_started_at=self.clock()))

    def timer_remaining(self) -> int | None:
        """Whole seconds left on the current step's timer, rounded up (0 once over), or ``None`` without a timer.

        The same figure its check's message gives (:func:`~stampside.app.domain.gates.timer_seconds_left`).
        """
        step, record = self._open()
        if step.timer is None or record.timer_started_at is None:
            return None
        return timer_seconds_left(step.timer.seconds, record.timer_started_at, self.clock())

    def record_volume(self, volume_ml: float) -> StepRecord:
        """The volume actually used in the current step, in ml."""
        step, record = self._open()
        if step.kind is not StepKind.APPLICATION:
            raise StepError(f"{step.title} applies no product: record the volume on the application step")
        if not 0 < volume_ml <= 100:
            raise StepError(f"volume must be more than 0 and at most 100 ml, got {volume_ml} ml")
        return self._update(replace(record, volume_ml=volume_ml))

    def record_lot(self, lot: str, expiry: date, *, today: date | None = None) -> StepRecord:
        """The product lot and expiry for an application step; an expired lot is refused.

        ``today`` defaults to the clock's date. A lot can be used on its expiry date.
        """
        step, record = self._open()
        if step.kind is not StepKind.APPLICATION:
            raise StepError(f"{step.title} does not use a product lot")
        name = lot.strip()
        if not name:
            raise StepError("the product lot is empty; type the lot number from the vial")
        result = check_lot_not_expired(name, expiry, today or self.clock().date())
        if not result.passed:
            raise ExpiredLotError(result.message)
        return self._update(replace(record, lot=name, lot_expiry=expiry))

    def check_device(self, facts: DeviceFacts) -> list[GateResult]:
        """Run the current step's device checks on ``facts`` and keep the outcome (the newest wins)."""
        step, record = self._open()
        results = check_device(step.gates, facts, self.protocol.device)
        checks = tuple(CheckOutcome(result.gate, result.passed, result.message) for result in results)
        self._update(replace(record, checks=checks))
        return self.gates()

    def gates(self) -> list[GateResult]:
        """Every gate of the current step as it stands now, with overrides applied."""
        step, record = self._open()
        results: list[GateResult] = []
        checked = {outcome.gate: outcome for outcome in record.checks}
        for device_gate in step.gates:
            gate = Gate(device_gate.value)
            outcome = checked.get(gate)
            if outcome is None:
                results.append(GateResult(gate, False, f"{gate.label} not checked yet"))
            else:
                results.append(GateResult(gate, outcome.passed, outcome.message))
        if step.timer is not None:
            results.append(
                check_timer_elapsed(step.timer.label, step.timer.seconds, record.timer_started_at, self.clock())
            )
        return [
            replace(result, override=record.override_for(result.gate)) if not result.passed else result
            for result in results
        ]

    def override(self, gate: Gate, reason: str, by: str, *, signer_id: int | None = None) -> Override:
        """Let a failing gate of the current step through; needs a real reason (see :mod:`stampside.app.domain.gates`).

        ``signer_id``: the practitioner whose PIN signed it (stored with a signature when the record is saved).
        """
        step, record = self._open()
        current = {result.gate: result for result in self.gates()}
        result = current.get(gate)
        if result is None:
            raise OverrideRefused(f"{step.title} has no {gate.label} gate")
        if result.passed:
            raise OverrideRefused(f"{gate.label} passed; there is nothing to override")
        override = make_override(gate, reason, by=by, at=self.clock(), failure=result.message, signer_id=signer_id)
        self._update(replace(record, overrides=(*record.overrides, override)))
        return override

    def complete(self, by: str) -> StepRecord:
        """Complete the current step, confirmed by ``by``; raises :class:`StepBlocked` if a gate stops it."""
        step, record = self._open()
        who = _practitioner(by)
        if step.requires_lot and record.lot is None:
            raise StepError(f"{step.title} needs the product lot and expiry; record them first")
        blocking = [result for result in self.gates() if not result.ok]
        if blocking:
            raise StepBlocked(step, blocking)
        now = self.clock()
        ran = (now - record.timer_started_at).total_seconds() if record.timer_started_at else None
        volume = record.volume_ml if record.volume_ml is not None else step.volume_ml
        done = replace(record, ended_at=now, confirmed_by=who, timer_ran_seconds=ran, volume_ml=volume)
        return self._update(done)


@dataclass(frozen=True, slots=True)
class KnownLot:
    """A product lot recorded before, offered again to be confirmed against the vial, never reused silently."""

    lot: str
    expiry: date
    #: Where it was recorded, for the practitioner: "the first application", "session 2 of 6".
    source: str


def lot_to_offer(
    protocol: TreatmentProtocol, records: Sequence[StepRecord], position: int, earlier: KnownLot | None
) -> KnownLot | None:
    """The lot an application step at ``position`` is offered: the newest one recorded earlier in
    this session (the first application's, for the second), else ``earlier`` (the patient's
    previous session's). ``None`` for a step that is not an application."""
    if protocol.steps[position].kind is not StepKind.APPLICATION:
        return None
    for record in sorted(records, key=lambda record: record.position, reverse=True):
        if record.position < position and record.lot is not None and record.lot_expiry is not None:
            return KnownLot(record.lot, record.lot_expiry, f"the {protocol.steps[record.position].title.lower()}")
    return earlier


def step_requirements(step: Step) -> list[str]:
    """What ``step`` needs before it can complete, in words, for the screen's help (``?``)."""
    needs: list[str] = []
    if step.kind is StepKind.DISINFECTION:
        agent = f" with {step.agent}" if step.agent else ""
        needs.append(f"The treatment area disinfected{agent}, confirmed (c or enter).")
    if step.requires_lot:
        needs.append("The product lot and its expiry from the vial; an expired lot is refused.")
    elif step.kind is StepKind.APPLICATION:
        needs.append("The product lot and expiry if known (optional here).")
    if step.volume_ml is not None:
        needs.append(f"The volume applied ({step.volume_ml:g} ml unless another is recorded).")
    for gate in step.gates:
        needs.append(f"Check: {Gate(gate.value).label} (a failing check can be overridden with a reason, ctrl+o).")
    if step.timer is not None:
        needs.append(f"The {step.timer.label} to run its {format_duration(step.timer.seconds)} (or an override).")
    if step.kind is StepKind.STAMPING:
        needs.append("Each treated zone stamped to its target; finishing under target is asked first.")
    if not needs:
        needs.append("Nothing to record: read it through with the patient and go on.")
    return needs


def _practitioner(by: str) -> str:
    who = by.strip()
    if not who:
        raise StepError("choose the practitioner who confirms this step")
    return who
