"""Fixes to firmware_protocol found while writing the link layer."""

from __future__ import annotations

from firmware_protocol import DeliveryTracker, EventBuffer, Frame, Heartbeat, Role, Stamp
from firmware_protocol.connection import Connection


def test_reset_restarts_the_link_sequence_numbers_of_both_directions() -> None:
    host = Connection(Role.HOST)
    for _ in range(5):
        host.send(Heartbeat(0, 0, 0, 0))
    host.reset()
    device = Connection(Role.DEVICE)
    events = device.receive_data(host.send(Heartbeat(0, 0, 0, 0)))
    assert isinstance(events[0], Frame)
    assert events[0].lseq == 0  # "resets on every (re)connect" (docs/protocol.md section 2)


def test_a_duplicated_frame_is_not_counted_as_255_lost_frames() -> None:
    device = Connection(Role.DEVICE)
    host = Connection(Role.HOST)
    first = device.send(Heartbeat(1, 1, 0, 0))
    second = device.send(Heartbeat(1, 2, 0, 0))
    host.receive_data(first + second + second)
    assert host.counters.rx_lseq_gaps == 0
    third_lost = device.send(Heartbeat(1, 3, 0, 0))
    assert third_lost
    host.receive_data(device.send(Heartbeat(1, 4, 0, 0)))
    assert host.counters.rx_lseq_gaps == 1


def test_a_reset_device_is_not_resumed_past_its_own_numbering() -> None:
    # The host stored up to seq 500; the device was reset and has counted 1..5 since.
    tracker = DeliveryTracker(acked_boot=3, acked_seq=500)
    buffer = EventBuffer(10, [Stamp(1, s, 0, 50, 150, 0) for s in range(1, 6)])
    assert tracker.on_device_info(boot=1, last_seq=5)
    # The RESUME the host sends now acknowledges nothing ...
    assert (tracker.acked_boot, tracker.acked_seq) == (1, 0)
    assert buffer.ack(tracker.acked_seq) == 0
    # ... and every replayed event is new to the tracker.
    assert all(tracker.accept(s, 0.0, replay=True) for s in buffer)
    assert tracker.stats.regressions == 1


def test_a_device_ahead_of_the_cursor_is_only_noted() -> None:
    tracker = DeliveryTracker(acked_boot=1, acked_seq=10)
    assert not tracker.on_device_info(boot=2, last_seq=15)
    assert (tracker.acked_seq, tracker.device_last_seq) == (10, 15)
    assert tracker.has_gap()
