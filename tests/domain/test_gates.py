"""Every gate passes and fails with a message a practitioner can act on; overrides need a real reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stampside.app.domain.gates import (
    MIN_REASON_CHARS,
    DeviceFacts,
    Gate,
    GateResult,
    OverrideRefused,
    blocking,
    check_battery,
    check_clock_synced,
    check_device,
    check_device_armed,
    check_device_identified,
    check_head_unused,
    check_lot_not_expired,
    check_needle_length,
    check_timer_elapsed,
    clock_text,
    format_duration,
    make_override,
    mm,
    timer_seconds_left,
)
from stampside.app.domain.treatment_protocol import DeviceGate, DeviceRequirements, default_protocol
from stampside.firmware_protocol.messages import DeviceInfo

REQUIRED = default_protocol().device
GOOD = DeviceFacts(
    identified=True,
    serial="SIM0001",
    needle_um=2000,
    head_id=7,
    head_used_elsewhere=False,
    battery_pct=80,
    clock_synced=True,
    armed=True,
)
NOW = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
REASON = "patient consented, needle checked by hand"


def failed(gate: Gate, message: str = "it failed") -> GateResult:
    return GateResult(gate, False, message)


# --- device gates --------------------------------------------------------------------------


def test_a_device_that_is_not_identified_fails() -> None:
    assert check_device_identified(GOOD).passed
    result = check_device_identified(DeviceFacts())
    assert not result.passed
    assert "connect" in result.message


def test_the_wrong_needle_length_fails_with_both_lengths_in_mm() -> None:
    assert check_needle_length(GOOD, REQUIRED).passed
    result = check_needle_length(DeviceFacts(identified=True, needle_um=1500), REQUIRED)
    assert not result.passed
    assert result.message == "needle is 1.5 mm; the protocol needs 2.0 mm"


def test_the_needle_tolerance_is_honoured_and_shown() -> None:
    loose = REQUIRED.model_copy(update={"needle_tolerance_um": 100})
    assert check_needle_length(DeviceFacts(needle_um=2100), loose).passed
    result = check_needle_length(DeviceFacts(needle_um=2250), loose)
    assert not result.passed
    assert result.message == "needle is 2.25 mm; the protocol needs 2.0 mm ± 0.1 mm"


def test_an_unknown_needle_length_fails() -> None:
    assert not check_needle_length(DeviceFacts(), REQUIRED).passed


def test_a_head_used_in_another_session_fails() -> None:
    assert check_head_unused(GOOD, REQUIRED).passed
    result = check_head_unused(DeviceFacts(head_id=7, head_used_elsewhere=True), REQUIRED)
    assert not result.passed
    assert "head 7 was already used in another session" in result.message


def test_a_reused_head_passes_when_the_protocol_allows_it() -> None:
    lenient = REQUIRED.model_copy(update={"head_must_be_unused": False})
    assert check_head_unused(DeviceFacts(head_id=7, head_used_elsewhere=True), lenient).passed


def test_an_unknown_head_fails() -> None:
    assert not check_head_unused(DeviceFacts(), REQUIRED).passed


def test_a_battery_below_the_protocols_minimum_fails() -> None:
    minimum = REQUIRED.min_battery_pct
    assert check_battery(DeviceFacts(battery_pct=minimum), REQUIRED).passed
    result = check_battery(DeviceFacts(battery_pct=minimum - 1), REQUIRED)
    assert not result.passed
    assert f"battery is {minimum - 1} %; the protocol needs at least {minimum} %" in result.message
    assert not check_battery(DeviceFacts(), REQUIRED).passed


def test_an_unsynced_clock_fails_unless_the_protocol_allows_it() -> None:
    assert check_clock_synced(GOOD, REQUIRED).passed
    assert not check_clock_synced(DeviceFacts(clock_synced=False), REQUIRED).passed
    lenient = REQUIRED.model_copy(update={"clock_synced": False})
    assert check_clock_synced(DeviceFacts(clock_synced=False), lenient).passed


def test_a_device_that_is_not_armed_fails() -> None:
    assert check_device_armed(GOOD).passed
    assert "arm it" in check_device_armed(DeviceFacts(armed=False)).message


def test_check_device_runs_the_listed_gates_in_order() -> None:
    gates = default_protocol().step("pre_checks").gates
    results = check_device(gates, GOOD, REQUIRED)
    assert [result.gate.value for result in results] == [gate.value for gate in gates]
    assert all(result.passed for result in results)
    bad = DeviceFacts(identified=True, needle_um=2500, head_id=1, battery_pct=10, clock_synced=True)
    assert [result.gate for result in blocking(check_device(gates, bad, REQUIRED))] == [
        Gate.NEEDLE_LENGTH,
        Gate.BATTERY,
    ]


def test_device_facts_are_read_from_a_device_info_message() -> None:
    info = DeviceInfo(
        serial="SIM0042",
        hw_revision=1,
        fw_major=1,
        fw_minor=0,
        fw_patch=0,
        min_version=1,
        max_version=1,
        selected_version=1,
        needle_um=2000,
        head_id=12,
        head_uses=0,
        footprint_mm2=100,
        battery_pct=64,
        boot=1,
        last_seq=0,
    )
    facts = DeviceFacts.from_device_info(info, head_used_elsewhere=False, clock_synced=True)
    assert facts == DeviceFacts(
        identified=True,
        serial="SIM0042",
        needle_um=2000,
        head_id=12,
        head_used_elsewhere=False,
        battery_pct=64,
        clock_synced=True,
        armed=False,
    )
    assert all(result.passed for result in check_device(tuple(DeviceGate)[:-1], facts, REQUIRED))


# --- timer and lot -------------------------------------------------------------------------


def test_the_seconds_left_round_up_so_zero_means_over_and_the_message_gives_the_same_figure() -> None:
    for elapsed, left in [(0.0, 60), (0.2, 60), (14.5, 46), (59.01, 1), (59.999, 1), (60.0, 0), (75.0, 0)]:
        now = NOW + timedelta(seconds=elapsed)
        assert timer_seconds_left(60, NOW, now) == left
        result = check_timer_elapsed("rub-in", 60, NOW, now)
        assert result.passed is (left == 0)
        if left:
            assert f"{clock_text(left)} left" in result.message


def test_a_timer_fails_until_it_has_run_its_full_duration() -> None:
    started = NOW
    running = check_timer_elapsed("contact and dry time", 60, started, started + timedelta(seconds=15))
    assert not running.passed
    assert running.message == "contact and dry time is not over: 0:45 left of 1:00"
    assert check_timer_elapsed("contact and dry time", 60, started, started + timedelta(seconds=60)).passed


def test_a_timer_that_never_started_fails() -> None:
    result = check_timer_elapsed("rub-in", 120, None, NOW)
    assert not result.passed
    assert "has not started" in result.message


def test_a_lot_past_its_expiry_fails_and_a_lot_on_its_expiry_day_passes() -> None:
    today = date(2026, 11, 26)
    assert check_lot_not_expired("L123", today, today).passed
    result = check_lot_not_expired("L123", date(2026, 11, 25), today)
    assert not result.passed
    assert result.message == "lot L123 expired on 2026-11-25; use an unexpired lot"


# --- overrides -----------------------------------------------------------------------------


@pytest.mark.parametrize("gate", list(Gate))
def test_every_gate_can_be_overridden_with_a_reason_recording_who_and_when(gate: Gate) -> None:
    result = failed(gate, "the failure").overridden(f"  {REASON}  ", by=" Dr Ada ", at=NOW)
    assert result.ok and not result.passed
    assert result.override is not None
    assert result.override.gate is gate
    assert result.override.reason == REASON
    assert result.override.by == "Dr Ada"
    assert result.override.at == NOW
    assert result.override.failure == "the failure"


@pytest.mark.parametrize("gate", list(Gate))
@pytest.mark.parametrize("reason", ["", "   ", "\n\t", "ok", "because", "x" * 30, "ok go"])
def test_no_gate_can_be_overridden_without_a_real_reason(gate: Gate, reason: str) -> None:
    with pytest.raises(OverrideRefused, match=gate.label) as refused:
        failed(gate).overridden(reason, by="Dr Ada", at=NOW)
    assert gate.value not in str(refused.value) or gate.value == gate.label, "the stored code leaked into the message"


@pytest.mark.parametrize("gate", list(Gate))
def test_every_gate_has_words_for_people_not_its_stored_code(gate: Gate) -> None:
    assert gate.label and "_" not in gate.label


def test_an_empty_reason_is_refused_with_a_message_asking_for_one() -> None:
    with pytest.raises(OverrideRefused, match="needs a reason"):
        make_override(Gate.BATTERY, "   ", by="Dr Ada", at=NOW)


def test_a_short_reason_is_refused_with_the_minimum_in_the_message() -> None:
    with pytest.raises(OverrideRefused, match=f"{MIN_REASON_CHARS} characters"):
        make_override(Gate.BATTERY, "ok fine", by="Dr Ada", at=NOW)


def test_the_shortest_accepted_reason_has_two_words_and_ten_characters() -> None:
    assert make_override(Gate.BATTERY, "spare  on hand", by="Dr Ada", at=NOW).reason == "spare on hand"
    assert make_override(Gate.BATTERY, "spare hand", by="Dr Ada", at=NOW).reason == "spare hand"


def test_an_override_needs_a_practitioner() -> None:
    with pytest.raises(OverrideRefused, match="practitioner"):
        make_override(Gate.BATTERY, REASON, by="  ", at=NOW)


def test_a_passed_gate_cannot_be_overridden() -> None:
    with pytest.raises(OverrideRefused, match="nothing to override"):
        GateResult(Gate.BATTERY, True, "battery is 80 %").overridden(REASON, by="Dr Ada", at=NOW)


def test_an_overridden_gate_no_longer_blocks() -> None:
    results = [failed(Gate.NEEDLE_LENGTH), failed(Gate.BATTERY).overridden(REASON, by="Dr Ada", at=NOW)]
    assert [result.gate for result in blocking(results)] == [Gate.NEEDLE_LENGTH]


def test_helpers_format_lengths_and_durations() -> None:
    assert [mm(2000), mm(1500), mm(2050), mm(500)] == ["2.0 mm", "1.5 mm", "2.05 mm", "0.5 mm"]
    assert [format_duration(45), format_duration(60), format_duration(75)] == ["45 s", "1 min", "1 min 15 s"]


def test_device_requirements_compare_needles_within_tolerance() -> None:
    required = DeviceRequirements(needle_um=2000, needle_tolerance_um=50, min_battery_pct=20)
    assert required.needle_ok(1950) and required.needle_ok(2050)
    assert not required.needle_ok(2051)
