"""The stamping step's figures: count, rate, force quality, sparkline history, elapsed time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stampside.app.domain.stamping_stats import StampingStats
from stampside.app.domain.treatment_protocol import ForceQuality, ForceThresholds

THRESHOLDS = ForceThresholds(too_light_below_n=4.0, too_hard_above_n=8.0)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def stats(clock: FakeClock, **kwargs: object) -> StampingStats:
    return StampingStats(THRESHOLDS, clock, **kwargs)  # type: ignore[arg-type]


# -- force quality ----------------------------------------------------------------------


def test_wire_force_in_tenths_of_a_newton_is_classified_by_the_protocol_thresholds() -> None:
    s = stats(FakeClock())
    seen = []
    for seq, force_dn in enumerate([39, 40, 80, 81, 60], start=1):
        s.add(1, seq, seq * 100, force_dn)
        seen.append((s.last_force_n, s.last_quality))
    assert seen == [
        (3.9, ForceQuality.TOO_LIGHT),
        (4.0, ForceQuality.GOOD),
        (8.0, ForceQuality.GOOD),
        (8.1, ForceQuality.TOO_HARD),
        (6.0, ForceQuality.GOOD),
    ]
    assert s.quality_counts() == {ForceQuality.TOO_LIGHT: 1, ForceQuality.GOOD: 3, ForceQuality.TOO_HARD: 1}
    assert s.good_share() == pytest.approx(3 / 5)


def test_nothing_to_show_before_the_first_stamp() -> None:
    s = stats(FakeClock())
    assert (s.count, s.last_quality, s.last_force_n, s.good_share(), s.recent_forces()) == (0, None, None, None, [])
    assert s.rate_per_min() == 0.0


# -- count and history ------------------------------------------------------------------


def test_each_boot_and_seq_counts_once() -> None:
    s = stats(FakeClock())
    assert s.add(1, 1, 0, 60)
    assert not s.add(1, 1, 0, 60)
    assert s.add(2, 1, 0, 60)
    assert s.count == 2
    assert s.recent_forces() == [6.0, 6.0]


def test_force_history_keeps_the_newest_values_oldest_first() -> None:
    s = stats(FakeClock(), history=5)
    for seq in range(1, 11):
        s.add(1, seq, seq * 300, 40 + seq)
    assert s.recent_forces() == [4.6, 4.7, 4.8, 4.9, 5.0]
    assert s.count == 10


# -- rate -------------------------------------------------------------------------------


def test_rate_counts_the_stamps_of_the_last_window() -> None:
    clock = FakeClock(0.0)
    s = stats(clock, rate_window_s=60.0)
    s.start()
    for seq in range(1, 181):  # 1 Hz for 3 minutes
        clock.now = float(seq)
        s.add(1, seq, seq * 1000, 60)
    assert s.rate_per_min() == pytest.approx(60.0)
    clock.now = 210.0  # 30 s without a stamp: half the window is empty
    assert s.rate_per_min() == pytest.approx(30.0)
    clock.now = 241.0
    assert s.rate_per_min() == 0.0


def test_rate_uses_the_time_since_start_until_a_window_has_passed() -> None:
    clock = FakeClock(0.0)
    s = stats(clock, rate_window_s=60.0)
    s.start()
    for seq in range(1, 31):  # 3 Hz for 10 s
        clock.now = seq / 3
        s.add(1, seq, seq * 333, 60)
    assert s.rate_per_min() == pytest.approx(180.0)


def test_a_replay_burst_is_placed_when_the_stamps_were_made() -> None:
    clock = FakeClock(0.0)
    s = stats(clock, rate_window_s=60.0)
    s.start()
    # Live at 1 Hz for 60 s: the device clock runs 5 s behind the host clock.
    for seq in range(1, 61):
        clock.now = 5.0 + seq
        s.add(1, seq, seq * 1000, 60)
    # The link drops; the device counts 60 more stamps, 1 Hz; all 60 arrive at once, at host 150 s.
    clock.now = 150.0
    for seq in range(61, 121):
        s.add(1, seq, seq * 1000, 60)
    # Made between host 66 s and 125 s: 35 of them lie in the last 60 s, not all 60.
    assert s.rate_per_min() == pytest.approx(35.0)


def test_a_reboot_gets_its_own_clock_offset() -> None:
    clock = FakeClock(0.0)
    s = stats(clock, rate_window_s=60.0)
    s.start()
    for seq in range(1, 31):
        clock.now = 100.0 + seq
        s.add(1, seq, 500_000 + seq * 1000, 60)  # boot 1: device time far ahead
    for seq in range(1, 31):
        clock.now = 130.0 + seq
        s.add(2, seq, seq * 1000, 60)  # boot 2: device time starts again near 0
    assert s.rate_per_min() == pytest.approx(60.0)


@given(gaps=st.lists(st.floats(0.05, 30.0), min_size=1, max_size=100), window=st.floats(5.0, 120.0))
def test_rate_is_never_more_than_all_stamps_over_the_window(gaps: list[float], window: float) -> None:
    clock = FakeClock(0.0)
    s = stats(clock, rate_window_s=window)
    t = 0.0
    for seq, gap in enumerate(gaps, start=1):
        t += gap
        clock.now = t
        s.add(1, seq, int(t * 1000), 60)
        rate = s.rate_per_min()
        assert 0.0 <= rate <= seq * 60.0 / window + 1e-9


@pytest.mark.parametrize("window", [0.0, -1.0])
def test_the_rate_window_must_be_positive(window: float) -> None:
    with pytest.raises(ValueError, match="rate window"):
        stats(FakeClock(), rate_window_s=window)


def test_the_history_must_hold_a_value() -> None:
    with pytest.raises(ValueError, match="force history"):
        stats(FakeClock(), history=0)


# -- elapsed ----------------------------------------------------------------------------


def test_elapsed_runs_from_start_and_freezes_at_stop() -> None:
    clock = FakeClock(50.0)
    s = stats(clock)
    assert s.elapsed_s == 0.0
    s.start()
    clock.now = 80.5
    assert s.elapsed_s == 30.5
    s.stop()
    clock.now = 200.0
    assert s.elapsed_s == 30.5


def test_a_resumed_step_adds_the_time_it_had_already_run() -> None:
    clock = FakeClock(10.0)
    s = stats(clock)
    s.start(elapsed_before_s=125.0)
    clock.now = 15.0
    assert s.elapsed_s == 130.0


def test_the_rate_memory_stays_bounded_without_rate_queries() -> None:
    clock = FakeClock(0.0)
    s = stats(clock, rate_window_s=60.0)
    for seq in range(1, 5001):  # 3 Hz for about 28 minutes, nobody asking for the rate
        clock.now = seq / 3
        s.add(1, seq, seq * 1000 // 3, 60)
    assert len(s._recent) <= 1025
    assert s.rate_per_min() == pytest.approx(180.0, rel=0.01)
