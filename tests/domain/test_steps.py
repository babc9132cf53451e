"""The session flow: steps in order, confirmed by a practitioner, timers on a fake clock, lots, overrides, restore."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from stampside.app.domain.gates import DeviceFacts, Gate, OverrideRefused
from stampside.app.domain.steps import (
    ExpiredLotError,
    KnownLot,
    SessionFlow,
    StepBlocked,
    StepError,
    StepRecord,
    lot_to_offer,
)
from stampside.app.domain.treatment_protocol import StepKind, TreatmentProtocol, default_protocol

PROTOCOL = default_protocol()
ADA = "Dr Ada"
REASON = "timer checked on the wall clock"
GOOD = DeviceFacts(
    identified=True,
    serial="SIM0001",
    needle_um=2000,
    head_id=7,
    battery_pct=80,
    clock_synced=True,
    armed=True,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def flow(clock: FakeClock) -> SessionFlow:
    return SessionFlow(PROTOCOL, clock)


def timer_seconds(step_id: str, protocol: TreatmentProtocol = PROTOCOL) -> int:
    timer = protocol.step(step_id).timer
    assert timer is not None
    return timer.seconds


def do_pre_checks(flow: SessionFlow, clock: FakeClock) -> None:
    flow.start(ADA)
    flow.check_device(GOOD)
    clock.advance(30)
    flow.complete(ADA)


def do_disinfection(flow: SessionFlow, clock: FakeClock) -> None:
    flow.start(ADA)
    clock.advance(timer_seconds("disinfection"))
    flow.complete(ADA)


def do_first_application(flow: SessionFlow, clock: FakeClock) -> None:
    flow.start(ADA)
    flow.record_lot("LOT-42", date(2027, 1, 31))
    clock.advance(20)
    flow.complete(ADA)


def run_whole_session(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    do_first_application(flow, clock)
    flow.start(ADA)  # stamping
    flow.check_device(GOOD)
    clock.advance(300)
    flow.complete(ADA)
    flow.start(ADA)  # second application
    clock.advance(timer_seconds("second_application"))
    flow.complete(ADA)
    for _ in range(2):  # aftercare, summary
        flow.start(ADA)
        flow.complete(ADA)


# --- order and confirmation ----------------------------------------------------------------


def test_a_new_flow_is_at_the_first_step_not_started(flow: SessionFlow) -> None:
    assert flow.current_step == PROTOCOL.steps[0]
    assert flow.current_record is None
    assert flow.position == 0 and not flow.finished


def test_a_whole_session_runs_through_every_step_in_order(flow: SessionFlow, clock: FakeClock) -> None:
    run_whole_session(flow, clock)
    assert flow.finished
    assert flow.current_step is None
    assert [record.step_id for record in flow.records] == [step.id for step in PROTOCOL.steps]
    assert all(record.completed and record.confirmed_by == ADA for record in flow.records)
    ends = [record.ended_at for record in flow.records if record.ended_at is not None]
    assert ends == sorted(ends)


def test_the_treatment_ends_with_the_last_application_or_stamping(flow: SessionFlow, clock: FakeClock) -> None:
    assert flow.treatment_ended_at is None
    run_whole_session(flow, clock)
    second_application = flow.records[PROTOCOL.steps.index(PROTOCOL.step("second_application"))]
    assert flow.treatment_ended_at == second_application.ended_at


def test_starting_records_who_and_when(flow: SessionFlow, clock: FakeClock) -> None:
    record = flow.start("  Dr Ada  ")
    assert (record.step_id, record.kind, record.position) == ("pre_checks", StepKind.PRE_CHECKS, 0)
    assert record.started_at == clock.now
    assert record.started_by == ADA
    assert not record.completed


def test_completing_records_who_confirmed_and_when(flow: SessionFlow, clock: FakeClock) -> None:
    flow.start(ADA)
    flow.check_device(GOOD)
    clock.advance(12)
    record = flow.complete("Nurse Bo")
    assert record.confirmed_by == "Nurse Bo"
    assert record.ended_at == clock.now
    assert flow.current_step == PROTOCOL.step("disinfection")


def test_a_step_needs_a_practitioner(flow: SessionFlow) -> None:
    with pytest.raises(StepError, match="practitioner"):
        flow.start("  ")
    flow.start(ADA)
    flow.check_device(GOOD)
    with pytest.raises(StepError, match="practitioner"):
        flow.complete("")


def test_a_step_cannot_complete_before_it_starts_or_start_twice(flow: SessionFlow) -> None:
    with pytest.raises(StepError, match="has not started"):
        flow.complete(ADA)
    flow.start(ADA)
    with pytest.raises(StepError, match="already started"):
        flow.start(ADA)


def test_nothing_can_start_after_the_last_step(flow: SessionFlow, clock: FakeClock) -> None:
    run_whole_session(flow, clock)
    with pytest.raises(StepError, match="finished"):
        flow.start(ADA)


# --- device gates --------------------------------------------------------------------------


def test_pre_checks_cannot_complete_before_the_device_is_checked(flow: SessionFlow) -> None:
    flow.start(ADA)
    with pytest.raises(StepBlocked, match="not checked yet") as blocked:
        flow.complete(ADA)
    assert {result.gate for result in blocked.value.blocking} == {
        Gate.DEVICE_IDENTIFIED,
        Gate.NEEDLE_LENGTH,
        Gate.HEAD_UNUSED,
        Gate.BATTERY,
        Gate.CLOCK_SYNCED,
    }


def test_failed_pre_checks_block_with_their_messages_and_are_stored(flow: SessionFlow) -> None:
    flow.start(ADA)
    results = flow.check_device(replace(GOOD, needle_um=1500, battery_pct=5))
    assert [result.gate for result in results if not result.ok] == [Gate.NEEDLE_LENGTH, Gate.BATTERY]
    with pytest.raises(StepBlocked, match=r"needle is 1\.5 mm; the protocol needs 2\.0 mm"):
        flow.complete(ADA)
    record = flow.current_record
    assert record is not None
    assert {(check.gate, check.passed) for check in record.checks} >= {
        (Gate.NEEDLE_LENGTH, False),
        (Gate.BATTERY, False),
        (Gate.CLOCK_SYNCED, True),
    }


def test_the_newest_device_check_wins(flow: SessionFlow) -> None:
    flow.start(ADA)
    flow.check_device(replace(GOOD, head_used_elsewhere=True))
    flow.check_device(GOOD)  # a new head was fitted
    assert flow.complete(ADA).completed


@pytest.mark.parametrize(
    ("facts", "gate"),
    [
        (DeviceFacts(), Gate.DEVICE_IDENTIFIED),
        (replace(GOOD, needle_um=2500), Gate.NEEDLE_LENGTH),
        (replace(GOOD, head_used_elsewhere=True), Gate.HEAD_UNUSED),
        (replace(GOOD, battery_pct=3), Gate.BATTERY),
        (replace(GOOD, clock_synced=False), Gate.CLOCK_SYNCED),
    ],
)
def test_each_failed_pre_check_can_be_overridden_with_a_reason(
    flow: SessionFlow, clock: FakeClock, facts: DeviceFacts, gate: Gate
) -> None:
    flow.start(ADA)
    flow.check_device(facts)
    for result in flow.gates():
        if not result.passed:
            with pytest.raises(OverrideRefused):
                flow.override(result.gate, "  ", ADA)
            flow.override(result.gate, "checked by hand with the clinic lead", ADA)
    clock.advance(5)
    record = flow.complete(ADA)
    override = record.override_for(gate)
    assert override is not None
    assert (override.by, override.at) == (ADA, clock.now - timedelta(seconds=5))
    assert override.reason == "checked by hand with the clinic lead"


def test_an_override_without_a_reason_is_refused_and_not_recorded(flow: SessionFlow) -> None:
    flow.start(ADA)
    flow.check_device(replace(GOOD, needle_um=1500))
    with pytest.raises(OverrideRefused, match="needs a reason"):
        flow.override(Gate.NEEDLE_LENGTH, "", ADA)
    record = flow.current_record
    assert record is not None and record.overrides == ()
    with pytest.raises(StepBlocked):
        flow.complete(ADA)


def test_a_passing_gate_or_a_gate_the_step_does_not_have_cannot_be_overridden(flow: SessionFlow) -> None:
    flow.start(ADA)
    flow.check_device(GOOD)
    with pytest.raises(OverrideRefused, match="nothing to override"):
        flow.override(Gate.BATTERY, REASON, ADA)
    with pytest.raises(OverrideRefused, match="no waiting time gate"):
        flow.override(Gate.TIMER_ELAPSED, REASON, ADA)


def test_stamping_needs_the_device_armed(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    do_first_application(flow, clock)
    flow.start(ADA)
    flow.check_device(replace(GOOD, armed=False))
    with pytest.raises(StepBlocked, match="not armed"):
        flow.complete(ADA)
    flow.check_device(GOOD)
    assert flow.complete(ADA).volume_ml is None  # stamping applies no product


# --- timers --------------------------------------------------------------------------------


def test_a_step_with_a_timer_cannot_complete_before_it_elapsed(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    flow.start(ADA)
    seconds = timer_seconds("disinfection")
    clock.advance(seconds - 1)
    assert flow.timer_remaining() == 1
    with pytest.raises(StepBlocked, match="contact and dry time is not over: 0:01 left of 1:00"):
        flow.complete(ADA)
    clock.advance(1)
    assert flow.timer_remaining() == 0
    record = flow.complete(ADA)
    assert record.timer_seconds == seconds
    assert record.timer_ran_seconds == seconds


def test_a_timer_not_elapsed_can_be_overridden_with_a_reason(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    flow.start(ADA)
    clock.advance(10)
    with pytest.raises(OverrideRefused):
        flow.override(Gate.TIMER_ELAPSED, "dry", ADA)
    flow.override(Gate.TIMER_ELAPSED, REASON, ADA)
    record = flow.complete(ADA)
    override = record.override_for(Gate.TIMER_ELAPSED)
    assert override is not None and override.reason == REASON and override.by == ADA
    assert "not over" in override.failure
    assert record.timer_ran_seconds == 10


def test_restarting_a_timer_runs_it_again_from_now(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    flow.start(ADA)
    seconds = timer_seconds("disinfection")
    clock.advance(seconds - 5)
    flow.restart_timer()
    clock.advance(10)
    with pytest.raises(StepBlocked):
        flow.complete(ADA)
    clock.advance(seconds)
    flow.complete(ADA)


def test_a_step_without_a_timer_has_no_timer_to_restart(flow: SessionFlow) -> None:
    flow.start(ADA)
    assert flow.timer_remaining() is None
    with pytest.raises(StepError, match="no timer"):
        flow.restart_timer()


# --- applications --------------------------------------------------------------------------


def test_the_first_application_records_lot_expiry_and_volume(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    flow.start(ADA)
    flow.record_lot("  LOT-42 ", date(2027, 1, 31))
    record = flow.complete(ADA)
    assert (record.lot, record.lot_expiry, record.volume_ml) == ("LOT-42", date(2027, 1, 31), 2.5)


def test_an_expired_lot_is_refused_and_not_recorded(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    flow.start(ADA)
    yesterday = clock.now.date() - timedelta(days=1)
    with pytest.raises(ExpiredLotError, match=f"lot OLD-1 expired on {yesterday.isoformat()}"):
        flow.record_lot("OLD-1", yesterday)
    record = flow.current_record
    assert record is not None and record.lot is None
    assert isinstance(ExpiredLotError("x"), ValueError)


def test_a_lot_is_usable_on_its_expiry_day(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    flow.start(ADA)
    assert flow.record_lot("LOT-9", clock.now.date()).lot == "LOT-9"


def test_the_first_application_cannot_complete_without_a_lot(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    flow.start(ADA)
    with pytest.raises(StepError, match="product lot"):
        flow.complete(ADA)
    with pytest.raises(StepError, match="empty"):
        flow.record_lot("   ", date(2027, 1, 1))


def test_a_lot_cannot_be_recorded_on_a_step_that_is_not_an_application(flow: SessionFlow) -> None:
    flow.start(ADA)
    with pytest.raises(StepError, match="does not use a product lot"):
        flow.record_lot("LOT-1", date(2027, 1, 1))


def test_the_volume_actually_used_replaces_the_protocols(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    flow.start(ADA)
    flow.record_lot("LOT-42", date(2027, 1, 31))
    flow.record_volume(2.2)
    with pytest.raises(StepError, match="volume"):
        flow.record_volume(0)
    assert flow.complete(ADA).volume_ml == 2.2


def test_only_the_applications_record_a_volume_the_stamping_needles_in_what_was_applied(
    flow: SessionFlow, clock: FakeClock
) -> None:
    run_whole_session(flow, clock)
    volumes = {record.step_id: record.volume_ml for record in flow.records}
    assert volumes == {
        "pre_checks": None,
        "disinfection": None,
        "first_application": 2.5,
        "stamping": None,
        "second_application": 2.5,
        "aftercare": None,
        "summary": None,
    }
    assert sum(volume or 0 for volume in volumes.values()) == 5.0  # the protocol's 2 × 2.5 ml


def test_a_volume_cannot_be_recorded_on_the_stamping_step(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    do_first_application(flow, clock)
    flow.start(ADA)  # stamping
    with pytest.raises(StepError, match="applies no product: record the volume on the application step"):
        flow.record_volume(2.5)


def test_a_protocol_giving_the_stamping_step_a_volume_is_refused() -> None:
    raw = PROTOCOL.model_dump(mode="json")
    stamping = next(step for step in raw["steps"] if step["kind"] == "stamping")
    stamping["volume_ml"] = 2.5
    with pytest.raises(ValueError, match="volume_ml is only allowed on application steps"):
        TreatmentProtocol.model_validate(raw)


# --- restore -------------------------------------------------------------------------------


def test_a_flow_restored_from_its_records_continues_where_it_stopped(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    flow.start(ADA)
    flow.record_lot("LOT-42", date(2027, 1, 31))
    stored = list(reversed(flow.records))  # storage may hand them back in any order

    resumed = SessionFlow.restore(PROTOCOL, stored, clock)
    assert resumed.records == flow.records
    assert resumed.position == 2
    assert resumed.current_step == PROTOCOL.step("first_application")
    record = resumed.current_record
    assert record is not None and record.lot == "LOT-42"
    resumed.complete(ADA)
    assert resumed.current_step == PROTOCOL.step("stamping")


def test_a_restored_timer_keeps_running_from_when_it_started(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    flow.start(ADA)
    clock.advance(10)
    resumed = SessionFlow.restore(PROTOCOL, flow.records, clock)
    assert resumed.timer_remaining() == timer_seconds("disinfection") - 10
    clock.advance(timer_seconds("disinfection"))
    resumed.complete(ADA)


def test_a_restored_flow_keeps_its_overrides(flow: SessionFlow, clock: FakeClock) -> None:
    flow.start(ADA)
    flow.check_device(replace(GOOD, battery_pct=5))
    flow.override(Gate.BATTERY, "spare battery is charged and ready", ADA)
    resumed = SessionFlow.restore(PROTOCOL, flow.records, clock)
    assert all(result.ok for result in resumed.gates())
    assert resumed.complete(ADA).override_for(Gate.BATTERY) is not None


def test_a_restored_finished_flow_is_finished(flow: SessionFlow, clock: FakeClock) -> None:
    run_whole_session(flow, clock)
    assert SessionFlow.restore(PROTOCOL, flow.records, clock).finished


def test_restoring_nothing_starts_at_the_first_step(clock: FakeClock) -> None:
    assert SessionFlow.restore(PROTOCOL, [], clock).position == 0


def test_records_that_do_not_match_the_protocol_are_refused(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    first, second = flow.records
    with pytest.raises(StepError, match="not contiguous"):
        SessionFlow.restore(PROTOCOL, [second], clock)
    with pytest.raises(StepError, match=r"is 'stamping' but .* has 'disinfection' there"):
        SessionFlow.restore(PROTOCOL, [first, replace(second, step_id="stamping")], clock)
    with pytest.raises(StepError, match="open but later steps"):
        SessionFlow.restore(PROTOCOL, [replace(first, ended_at=None), second], clock)


def test_step_records_are_plain_dataclasses_for_storage(flow: SessionFlow, clock: FakeClock) -> None:
    do_pre_checks(flow, clock)
    record = flow.records[0]
    assert isinstance(record, StepRecord)
    assert {"started_at", "ended_at", "confirmed_by", "volume_ml", "lot", "lot_expiry", "timer_seconds"} <= set(
        StepRecord.__dataclass_fields__
    )


# --- carried over ---------------------------------------------------------------------------


def test_the_second_application_is_offered_the_first_applications_lot_else_the_previous_sessions(
    flow: SessionFlow, clock: FakeClock
) -> None:
    previous = KnownLot("LX-1", date(2027, 1, 31), "session 1 of 6")
    first_position = PROTOCOL.steps.index(PROTOCOL.step("first_application"))
    second_position = PROTOCOL.steps.index(PROTOCOL.step("second_application"))
    assert lot_to_offer(PROTOCOL, flow.records, first_position, previous) == previous
    assert lot_to_offer(PROTOCOL, flow.records, first_position, None) is None
    do_pre_checks(flow, clock)
    do_disinfection(flow, clock)
    do_first_application(flow, clock)
    recorded = flow.records[first_position]
    assert recorded.lot is not None and recorded.lot_expiry is not None
    offered = lot_to_offer(PROTOCOL, flow.records, second_position, previous)
    assert offered == KnownLot(recorded.lot, recorded.lot_expiry, "the first application")
    assert lot_to_offer(PROTOCOL, flow.records, 0, previous) is None, "only application steps are offered a lot"
