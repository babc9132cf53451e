"""Link faults on their own: drops, noise, truncation, duplication."""

from __future__ import annotations

from stampside.firmware_protocol import Connection, Frame, Ping, Role
from stampside.firmware_protocol.framing import FrameDecoder
from stampside.simulator.config import FaultConfig
from stampside.simulator.faults import LineNoise, LinkFaults

FRAME = Connection(Role.HOST).send(Ping(0x01020304))


def test_no_faults_pass_bytes_through_unchanged() -> None:
    faults = LinkFaults(FaultConfig())
    assert faults.outgoing([FRAME, FRAME], 0.0) == FRAME * 2
    assert faults.incoming(FRAME, 0.0) == FRAME


def test_a_drop_discards_both_directions_for_its_duration() -> None:
    faults = LinkFaults(FaultConfig())
    faults.drop(1.0, 5.0)
    assert faults.dropping(5.5)
    assert faults.outgoing([FRAME], 5.5) == b""
    assert faults.incoming(FRAME, 5.9) == b""
    assert faults.stats.bytes_dropped_out == faults.stats.bytes_dropped_in == len(FRAME)
    assert not faults.dropping(6.0)
    assert faults.outgoing([FRAME], 6.0) == FRAME


def test_scheduled_drops_repeat() -> None:
    faults = LinkFaults(FaultConfig(drop_every=10, drop_for=2))
    assert not faults.update(9.9)
    assert faults.update(10.0) and faults.dropping(11.9)
    assert not faults.dropping(12.0)
    assert faults.next_change(12.0) == 20.0
    assert faults.update(20.5) and faults.stats.drops == 2


def test_noise_flips_bytes_at_about_the_rate() -> None:
    noise = LineNoise(__import__("random").Random(1))
    data = bytes(200_000)
    out, damaged = noise.apply(data, 0.01)
    changed = sum(1 for a, b in zip(data, out, strict=True) if a != b)
    assert changed == damaged
    assert 1700 < damaged < 2300
    # Each damaged byte has exactly one bit flipped.
    assert all(bin(b).count("1") == 1 for b in out if b)


def test_noise_carries_its_state_across_small_writes() -> None:
    noise = LineNoise(__import__("random").Random(2))
    damaged = sum(noise.apply(b"\x00" * 10, 0.01)[1] for _ in range(20_000))
    assert 1700 < damaged < 2300


def test_corrupted_frames_are_caught_by_the_crc() -> None:
    faults = LinkFaults(FaultConfig(corrupt=0.05), seed=3)
    decoder = FrameDecoder()
    items = decoder.feed(faults.outgoing([FRAME] * 2000, 0.0))
    good = [i for i in items if isinstance(i, bytes)]
    assert 0 < len(good) < 2000
    assert decoder.stats.bad_total > 0
    assert faults.stats.bytes_corrupted_out > 0


def test_a_corruption_burst_raises_the_rate_for_a_while() -> None:
    faults = LinkFaults(FaultConfig(corrupt=0.001))
    faults.corrupt_burst(0.5, 2.0, 10.0)
    assert faults.corrupt_rate(11.0) == 0.5
    assert faults.corrupt_rate(12.0) == 0.001


def test_truncated_frames_lose_their_tail_and_delimiter() -> None:
    faults = LinkFaults(FaultConfig(truncate=1.0))
    out = faults.outgoing([FRAME], 0.0)
    assert 1 <= len(out) < len(FRAME) and FRAME.startswith(out) and not out.endswith(b"\x00")
    assert faults.stats.frames_truncated == 1


def test_duplicated_frames_arrive_twice() -> None:
    faults = LinkFaults(FaultConfig(duplicate=1.0))
    assert faults.outgoing([FRAME], 0.0) == FRAME * 2
    host = Connection(Role.DEVICE)
    assert len([e for e in host.receive_data(FRAME * 2) if isinstance(e, Frame)]) == 2


def test_faults_are_repeatable_with_a_seed() -> None:
    def run(seed: int) -> bytes:
        faults = LinkFaults(FaultConfig(corrupt=0.01, truncate=0.1, duplicate=0.1), seed=seed)
        return faults.outgoing([FRAME] * 500, 0.0)

    assert run(1) == run(1)
    assert run(1) != run(2)
