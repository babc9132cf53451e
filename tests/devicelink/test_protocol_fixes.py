"""Fixes to firmware_protocol found while writing the link layer."""

from __future__ import annotations

from stampside.firmware_protocol import DeliveryTracker, Frame, Heartbeat, Role
from stampside.firmware_protocol.connection import Connection


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


def test_a_device_ahead_of_the_cursor_is_only_noted() -> None:
    tracker = DeliveryTracker(acked_boot=1, acked_seq=10)
    tracker.note_device_head(15)
    assert (tracker.acked_seq, tracker.device_last_seq) == (10, 15)
    assert tracker.has_gap()
