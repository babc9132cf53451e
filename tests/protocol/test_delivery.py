"""Exactly-once bookkeeping: the device's buffer and the host's delivery tracker."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stampside.firmware_protocol import DeliveryTracker, EventBuffer, ResumeReply, Stamp


def stamp(seq: int, boot: int = 1) -> Stamp:
    return Stamp(boot, seq, seq * 10, 60, 180, 0)


# -- EventBuffer --------------------------------------------------------------------


def test_buffer_refuses_when_full_and_never_overwrites() -> None:
    buf = EventBuffer(capacity=3)
    assert all(buf.push(stamp(i)) for i in (1, 2, 3))
    assert buf.full
    assert not buf.push(stamp(4))
    assert [e.seq for e in buf] == [1, 2, 3]


def test_buffer_ack_drops_up_to_seq_and_after_lists_the_rest() -> None:
    buf = EventBuffer(capacity=10, events=[stamp(i) for i in range(1, 6)])
    assert buf.ack(2) == 2
    assert buf.first_seq == 3
    assert [e.seq for e in buf.after(3)] == [4, 5]
    assert buf.ack(99) == 3
    assert buf.first_seq is None


def test_buffer_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        EventBuffer(capacity=0)


# -- DeliveryTracker ----------------------------------------------------------------


def test_cursor_moves_only_over_contiguous_committed_events() -> None:
    t = DeliveryTracker()
    batch = [s for s in (stamp(1), stamp(2), stamp(4)) if t.accept(s, 0.0)]
    assert t.plan_commit(batch) == (1, 2)
    assert t.committed(batch)
    assert t.acked_seq == 2
    assert t.has_gap()  # seq 3 is missing
    assert t.accept(stamp(3), 0.0)
    assert t.plan_commit([stamp(3)]) == (1, 4)
    t.committed([stamp(3)])
    assert t.acked_seq == 4
    assert not t.has_gap()
    assert t.complete


def test_duplicates_are_refused_before_and_after_commit() -> None:
    t = DeliveryTracker()
    assert t.accept(stamp(1), 0.0)
    assert not t.accept(stamp(1), 0.0)  # in flight
    t.committed([stamp(1)])
    assert not t.accept(stamp(1), 0.0)  # below the cursor
    assert t.accept(stamp(3), 0.0)
    t.committed([stamp(3)])
    assert not t.accept(stamp(3), 0.0)  # stored above the cursor
    assert t.stats.duplicates == 3


def test_cursor_boot_follows_the_event_it_points_at() -> None:
    t = DeliveryTracker()
    batch = [stamp(1, boot=1), stamp(2, boot=2)]
    for s in batch:
        t.accept(s, 0.0)
    t.committed(batch)
    assert (t.acked_boot, t.acked_seq) == (2, 2)


def test_a_heartbeat_ahead_of_us_is_a_gap() -> None:
    t = DeliveryTracker(acked_boot=1, acked_seq=10)
    assert not t.has_gap()
    t.note_device_head(12)
    assert t.has_gap()
    assert t.resume_due(0.0)


def test_no_second_resume_while_the_replay_is_arriving() -> None:
    t = DeliveryTracker(resume_timeout=0.5)
    t.note_device_head(5)
    assert t.resume_due(0.0)
    t.resume_sent(0.0)
    assert not t.resume_due(0.1)
    t.on_resume_reply(ResumeReply(1, 1, 5), 0.2)
    t.accept(stamp(1), 0.6, replay=True)
    t.committed([stamp(1)])
    assert not t.resume_due(0.7)  # the replay made progress at 0.6
    # the rest of the replay is lost; after the timeout the tracker asks again
    assert t.resume_due(1.2)


def test_the_last_replayed_event_ends_the_resume() -> None:
    t = DeliveryTracker()
    t.note_device_head(2)
    t.resume_sent(0.0)
    t.on_resume_reply(ResumeReply(1, 1, 2), 0.0)
    for s in (stamp(1), stamp(2)):
        t.accept(s, 0.0, replay=True)
    assert not t.resume_outstanding


def test_an_empty_replay_ends_the_resume() -> None:
    t = DeliveryTracker(acked_seq=4)
    t.resume_sent(0.0)
    t.on_resume_reply(ResumeReply(1, 5, 0), 0.0)
    assert not t.resume_outstanding
    assert t.complete


def test_events_acknowledged_elsewhere_move_the_cursor() -> None:
    t = DeliveryTracker(acked_seq=10)
    t.resume_sent(0.0)
    t.on_resume_reply(ResumeReply(3, 50, 2), 0.0)
    assert t.acked_seq == 49
    assert t.stats.jumps == 1


def test_abandoned_inflight_events_are_accepted_again() -> None:
    t = DeliveryTracker()
    assert t.accept(stamp(1), 0.0)
    t.abandon_inflight()
    assert t.accept(stamp(1), 0.0)


@settings(max_examples=200)
@given(st.integers(1, 300), st.floats(0.0, 0.4), st.randoms(use_true_random=False))
def test_lossy_link_with_resume_stores_every_event_exactly_once(n: int, loss: float, rnd: random.Random) -> None:
    """A model of the link: the device sends, frames get lost, the host resumes on gaps."""
    device = EventBuffer(capacity=10_000, events=[stamp(i) for i in range(1, n + 1)])
    host = DeliveryTracker(resume_timeout=1.0)
    stored: list[int] = []
    now = 0.0
    to_send = list(device)
    host.note_device_head(n)
    for _ in range(10_000):
        if host.complete:
            break
        now += 0.1
        batch = []
        for event in to_send:
            if rnd.random() < loss:
                continue
            if host.accept(event, now, replay=True):
                batch.append(event)
        to_send = []
        host.plan_commit(batch)
        stored += [e.seq for e in batch]
        if host.committed(batch):
            device.ack(host.acked_seq)
        if host.resume_due(now):
            host.resume_sent(now)
            device.ack(host.acked_seq)
            remaining = device.after(host.acked_seq)
            if rnd.random() >= loss:
                reply = ResumeReply(1, remaining[0].seq if remaining else n + 1, len(remaining))
                host.on_resume_reply(reply, now)
            to_send = remaining
    assert host.complete
    assert sorted(stored) == list(range(1, n + 1))
    assert len(stored) == len(set(stored))
