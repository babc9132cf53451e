"""The host's conversation machine, alone: every state × input of its table, and its rules one by one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stampside.firmware_protocol import (
    Ack,
    Arm,
    ArmState,
    Disarm,
    Flag,
    Heartbeat,
    HeartbeatState,
    Hello,
    Nack,
    NackCode,
    Ping,
    Resume,
    ResumeReply,
    Stamp,
    TimeSync,
    TimeSyncReply,
)
from stampside.firmware_protocol.errors import ProtocolError
from stampside.firmware_protocol.host_events import (
    IGNORED,
    TRANSITIONS,
    BindEpoch,
    HostState,
    Input,
    Ledger,
    Note,
    OpenLedger,
    Reopen,
    StartLife,
)
from tests.protocol.host_harness import EPOCH, SERIAL, UNIX_MS, Wire, device_info

S = HostState


def in_state(state: HostState) -> Wire:
    """A wire whose host is in ``state`` (cursor 3:30, epoch known; the device at boot 3, seq 40)."""
    wire = Wire.make()
    if state is S.IDLE:
        return wire
    if state is S.CLOSED:
        wire.host.close(wire.now)
        wire.pump()
        return wire
    wire.open()
    if state is S.HELLO:
        return wire
    if state is S.LEDGER:
        wire.auto_storage = False
        wire.reply(device_info())
        return wire
    wire.reply(device_info())
    if state is S.SYNC:
        return wire
    synced(wire)
    assert wire.host.state is S.READY
    return wire


def synced(wire: Wire) -> None:
    wire.reply(TimeSyncReply(UNIX_MS, 5))
    wire.reply(ResumeReply(3, 31, 10, EPOCH))
    wire.reply(ArmState(1, 0))


def new_numbering(wire: Wire) -> None:
    if wire.host.state is S.LEDGER:
        wire.host.ledger_opened(Ledger(SERIAL, 1, EPOCH, 3, 500), wire.now)  # the cursor is past the device
        wire.pump()
    else:
        wire.reply(ResumeReply(1, 1, 5, 0x0BADF00D))  # another epoch


STIMULI: dict[Input, Callable[[Wire], object]] = {
    Input.OPENED: lambda w: (w.host.connection_made(w.now), w.pump()),
    Input.DEVICE_INFO: lambda w: w.reply(device_info()),
    Input.INCOMPATIBLE: lambda w: w.reply(device_info(selected=0, versions=(5, 6))),
    Input.LEDGER_OPENED: lambda w: (w.host.ledger_opened(Ledger(SERIAL, 1, EPOCH, 3, 30), w.now), w.pump()),
    Input.NEW_NUMBERING: new_numbering,
    Input.SYNCED: synced,
    Input.NEW_BOOT: lambda w: w.reply(device_info(boot=4, selected=0), Flag.ANNOUNCE),
    Input.SILENCE: lambda w: w.tick(11.0),
    Input.TRANSPORT_LOST: lambda w: (w.host.connection_lost(w.now, "transport closed"), w.pump()),
    Input.CLOSE: lambda w: (w.host.close(w.now), w.pump()),
}


def test_the_table_covers_every_state_and_input_once() -> None:
    pairs = {(state, event) for state in HostState for event in Input}
    assert set(TRANSITIONS) | IGNORED == pairs
    assert not set(TRANSITIONS) & IGNORED


@pytest.mark.parametrize("state", list(HostState), ids=lambda s: s.value)
@pytest.mark.parametrize("event", list(Input), ids=lambda e: e.name)
def test_every_state_and_input_does_what_the_table_says(state: HostState, event: Input) -> None:
    wire = in_state(state)
    before = len(wire.actions)
    if event is Input.OPENED and state is not S.IDLE:
        with pytest.raises(ProtocolError):  # the caller's mistake: the transport is open already
            STIMULI[event](wire)
        assert wire.host.state is state
        return
    STIMULI[event](wire)
    changes = wire.states()[len([a for a in wire.actions[:before] if hasattr(a, "input")]) :]
    expected = TRANSITIONS.get((state, event))
    if expected is None:
        assert wire.host.state is state
        assert changes == [], f"{state.value} × {event.name} is ignored, yet {changes}"
    else:
        assert changes and changes[0] == (expected, event), changes
        if event is not Input.NEW_NUMBERING:
            assert wire.host.state is expected or changes[-1][0] is wire.host.state


# -- the handshake -----------------------------------------------------------------------------------


def test_the_handshake_sends_a_zero_and_hello_then_time_resume_and_arm_at_once() -> None:
    wire = Wire.make()
    actions = wire.open()
    assert actions[-1].data[:1] == b"\x00"  # type: ignore[union-attr]
    assert wire.sent == [Hello(1, 2)]
    wire.reply(device_info())
    assert wire.of(OpenLedger)
    assert wire.sent[1:] == [TimeSync(UNIX_MS), Resume(3, 30, EPOCH), Arm()]
    synced(wire)
    assert wire.host.state is S.READY
    assert [note.kind for note in wire.of(Note)] == ["connected"]


def test_hello_is_repeated_until_answered_and_at_once_when_a_damaged_frame_comes() -> None:
    wire = Wire.make()
    wire.open()
    assert len(wire.sent_of(Hello)) == 1
    wire.tick(0.2)
    wire.tick(0.3)
    assert len(wire.sent_of(Hello)) >= 3, "repeated, backing off, never giving up on an open line"
    assert len(wire.sent_of(Hello)) % 2 == 1, "retries go in pairs: two answers in flight"
    wire.tick(0.05)
    hellos = len(wire.sent_of(Hello))
    wire.host.receive_data(b"\x05\x01\x02\x03\x00", wire.now)  # a frame that fails its CRC
    wire.pump()
    assert len(wire.sent_of(Hello)) == hellos + 2
    assert wire.host.counters.early_retries == 1
    assert wire.host.rto.srtt == pytest.approx(0.05), "the damaged answer timed the round trip"


def test_damaged_answers_bring_one_early_hello_per_round_trip_not_one_each() -> None:
    """Both answers to a pair of HELLOs may come damaged: the second must not bring two more
    HELLOs (on a line that damages most frames they would multiply)."""
    wire = Wire.make()
    wire.open()
    wire.tick(0.05)
    hellos = len(wire.sent_of(Hello))
    for _ in range(6):  # the answers to the pair, and more, all damaged, all at once
        wire.host.receive_data(b"\x05\x01\x02\x03\x00", wire.now)
        wire.pump()
    assert len(wire.sent_of(Hello)) == hellos + 2
    assert wire.host.counters.early_retries == 1
    wire.tick(0.05)  # the early pair's answers, damaged too, a round trip later: they wait
    wire.host.receive_data(b"\x05\x01\x02\x03\x00", wire.now)
    wire.pump()
    assert len(wire.sent_of(Hello)) == hellos + 2 and wire.host.counters.early_retries == 1
    wire.tick(1.0)  # the reply timeout: HELLO on time, and its damaged answer brings one early pair
    hellos = len(wire.sent_of(Hello))
    wire.host.receive_data(b"\x05\x01\x02\x03\x00", wire.now)
    wire.pump()
    assert len(wire.sent_of(Hello)) == hellos + 2 and wire.host.counters.early_retries == 2


def test_a_line_with_no_byte_at_all_asks_for_the_transport_to_be_reopened() -> None:
    wire = Wire.make()
    wire.open()
    wire.tick(9.0)
    assert not wire.of(Reopen)
    wire.tick(1.5)
    assert wire.of(Reopen) and wire.host.state is S.IDLE


def test_an_incompatible_device_closes_the_connection_with_both_ranges() -> None:
    wire = in_state(S.HELLO)
    wire.reply(device_info(selected=0, versions=(3, 4)))
    assert wire.host.state is S.CLOSED
    assert "v3–v4" in str(wire.host.error) and "v1–v2" in str(wire.host.error)


def test_a_host_that_keeps_counting_off_disarms_in_the_handshake_and_when_the_heartbeat_says_armed() -> None:
    wire = Wire.make(arm=False)
    wire.open()
    wire.reply(device_info())
    assert Disarm() in wire.sent and Arm() not in wire.sent
    wire.reply(TimeSyncReply(UNIX_MS, 5))
    wire.reply(ResumeReply(3, 31, 10, EPOCH))
    wire.reply(ArmState(0, 0))
    assert wire.host.state is S.READY
    wire.tick(1.1)
    wire.reply(Heartbeat(3, 40, 10, HeartbeatState.ARMED))  # it counts though it must not
    assert wire.sent_of(Disarm)[-1] == Disarm() and len(wire.sent_of(Disarm)) == 2


def test_a_watching_host_never_resumes_acknowledges_or_touches_the_arm_state() -> None:
    wire = Wire.make(ledger=False, arm=None)
    wire.open()
    wire.reply(device_info())
    wire.reply(TimeSyncReply(UNIX_MS, 5))
    assert wire.host.state is S.READY
    wire.reply(Stamp(3, 41, 100, 60, 150, 0))
    assert [d.stamp.seq for d in wire.delivered()] == [41]
    assert not wire.sent_of(Resume) and not wire.sent_of(Ack) and not wire.sent_of(Arm) and not wire.sent_of(Disarm)


# -- numberings ------------------------------------------------------------------------------------


def test_a_device_numbering_below_the_cursor_gets_a_new_ledger_and_nothing_acknowledged() -> None:
    wire = Wire.make()
    wire.ledger = Ledger(SERIAL, 1, 0, 3, 30)  # a v1 history: epoch unknown
    wire.open()
    wire.reply(device_info(boot=1, last_seq=12))  # wiped: it numbers from 1 again
    (life,) = wire.of(StartLife)
    assert "newest seq 12 is below the stored 30" in life.reason
    assert wire.ledger.life == 2
    assert wire.sent_of(Resume) == [Resume(0, 0, 0)]  # acknowledges nothing
    assert [note.kind for note in wire.of(Note)] == ["new-numbering"]


def test_a_boot_counter_that_went_back_is_a_new_numbering_but_a_wrap_is_not() -> None:
    wire = Wire.make()
    wire.ledger = Ledger(SERIAL, 1, 0, 9, 30)
    wire.open()
    wire.reply(device_info(boot=2, last_seq=45))
    assert wire.of(StartLife)
    wrapped = Wire.make()
    wrapped.ledger = Ledger(SERIAL, 1, 0, 0xFFFF, 30)
    wrapped.open()
    wrapped.reply(device_info(boot=1, last_seq=45))
    assert not wrapped.of(StartLife)


def test_another_epoch_in_the_resume_reply_opens_a_new_ledger_and_its_replay_is_stored_there() -> None:
    wire = in_state(S.SYNC)
    wire.reply(ResumeReply(1, 1, 3, 0x0BADF00D))  # the device acknowledged nothing (v2 rule)
    (life,) = wire.of(StartLife)
    assert life.epoch == 0x0BADF00D and "epoch" in life.reason
    assert wire.sent_of(Resume)[-1] == Resume(0, 0, 0x0BADF00D)
    wire.reply(ResumeReply(1, 1, 3, 0x0BADF00D))
    for seq in (1, 2, 3):
        wire.reply(Stamp(1, seq, seq * 100, 60, 150, 0), Flag.REPLAY)
    assert [(d.ledger.life, d.stamp.seq) for d in wire.delivered() if d.ledger] == [(2, 1), (2, 2), (2, 3)]


def test_an_unknown_epoch_is_learnt_from_the_reply_and_bound_to_the_ledger() -> None:
    wire = Wire.make()
    wire.ledger = Ledger(SERIAL, 1, 0, 3, 30)
    wire.open()
    wire.reply(device_info())
    assert wire.sent_of(Resume) == [Resume(3, 30, 0)]
    wire.reply(ResumeReply(3, 31, 10, EPOCH))
    assert [(b.ledger.life, b.epoch) for b in wire.of(BindEpoch)] == [(1, EPOCH)]
    assert wire.host.ledger is not None and wire.host.ledger.epoch == EPOCH


def test_v2_stamps_wait_for_the_epoch_check_before_they_are_stored() -> None:
    wire = in_state(S.SYNC)
    wire.reply(Stamp(3, 31, 100, 60, 150, 0), Flag.REPLAY)  # came before the reply: unverified
    assert wire.delivered() == []
    wire.reply(ResumeReply(3, 31, 2, EPOCH))
    wire.reply(Stamp(3, 31, 100, 60, 150, 0), Flag.REPLAY)
    wire.reply(Stamp(3, 32, 200, 60, 150, 0), Flag.REPLAY)
    assert [d.stamp.seq for d in wire.delivered()] == [31, 32]


# -- delivery ----------------------------------------------------------------------------------------


def test_the_ack_follows_the_commit_and_never_precedes_it() -> None:
    wire = in_state(S.READY)
    for seq in range(31, 41):
        wire.reply(Stamp(3, seq, seq, 60, 150, 0), Flag.REPLAY)
    wire.reply(Stamp(3, 41, 100, 60, 150, 0))
    assert not wire.sent_of(Ack) and [d.stamp.seq for d in wire.delivered()] == list(range(31, 42))
    ledger = wire.host.ledger
    first = [d.stamp for d in wire.delivered() if d.stamp.seq != 35]
    wire.host.committed(ledger, first, wire.now)
    wire.pump()
    assert wire.sent_of(Ack) == [Ack(3, 34)], "only up to the first stamp not committed yet"
    wire.host.committed(ledger, [d.stamp for d in wire.delivered() if d.stamp.seq == 35], wire.now)
    wire.pump()
    assert wire.sent_of(Ack)[-1] == Ack(3, 41)


def test_a_commit_for_an_old_ledger_moves_nothing() -> None:
    wire = in_state(S.READY)
    wire.reply(Stamp(3, 41, 100, 60, 150, 0))
    old = wire.host.ledger
    assert old is not None
    stale = Ledger(SERIAL, old.life + 5, old.epoch, old.boot, old.seq)
    assert wire.host.plan_commit(stale, [Stamp(3, 41, 100, 60, 150, 0)]) is None
    wire.host.committed(stale, [Stamp(3, 41, 100, 60, 150, 0)], wire.now)
    wire.pump()
    assert not wire.sent_of(Ack)


def test_an_arm_refused_before_an_ack_freed_room_is_sent_again_not_given_up() -> None:
    wire = in_state(S.SYNC)
    arm_lseq = 3  # HELLO 0, TIME_SYNC 1, RESUME 2, ARM 3
    wire.reply(TimeSyncReply(UNIX_MS, 5))
    wire.reply(ResumeReply(3, 31, 10, EPOCH))
    stamps = [Stamp(3, seq, seq, 60, 150, 0) for seq in range(31, 41)]
    for stamp in stamps:
        wire.reply(stamp, Flag.REPLAY)
    wire.host.committed(wire.host.ledger, stamps, wire.now)  # the ACK frees the full buffer
    wire.pump()
    arms = len(wire.sent_of(Arm))
    wire.reply(Nack(0x03, arm_lseq, NackCode.REFUSED))  # the refusal of the ARM sent before the ACK
    assert len(wire.sent_of(Arm)) == arms + 1
    assert not [n for n in wire.of(Note) if n.kind == "arm-refused"]


def test_a_lost_link_is_handshaken_again_on_the_open_transport() -> None:
    wire = in_state(S.READY)
    wire.tick(0.7)
    assert wire.sent_of(Ping), "a quiet line is probed"
    hellos = len(wire.sent_of(Hello))
    wire.tick(1.4)
    assert wire.host.state is S.HELLO and len(wire.sent_of(Hello)) == hellos + 1
    assert ("lost" in [n.kind for n in wire.of(Note)]) and wire.host.counters.losses == 1


def test_a_reboot_seen_in_a_heartbeat_starts_a_new_handshake() -> None:
    wire = in_state(S.READY)
    wire.reply(Heartbeat(4, 40, 0, 0))
    assert wire.host.state is S.HELLO and wire.host.counters.reboots == 1


def test_next_deadline_is_never_later_than_what_tick_has_to_do() -> None:
    wire = in_state(S.READY)
    deadline = wire.host.next_deadline()
    assert deadline is not None and deadline <= wire.now + 0.5 + 1e-9  # the host's own heartbeat
    sent = len(wire.sent)
    wire.tick(deadline - wire.now)
    assert len(wire.sent) > sent
    assert Wire.make().host.next_deadline() is None  # idle: nothing is timed


def test_user_requests_are_retried_then_time_out() -> None:
    wire = in_state(S.READY)
    request = wire.host.request(Ping(77), wire.now)
    for _ in range(8):
        wire.tick(0.3)
    outcome = [r for r in wire.replies() if r.request == request]
    assert outcome and outcome[0].error is not None and outcome[0].error.value == "timeout"
    assert len([m for m in wire.sent_of(Ping) if m.nonce == 77]) == 5


def test_the_docs_draw_the_host_state_diagram_from_the_table() -> None:
    from pathlib import Path

    from stampside.firmware_protocol.host_events import state_diagram

    docs = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    start = docs.index("```mermaid\n", docs.index("<!-- host-states")) + len("```mermaid\n")
    drawn = docs[start : docs.index("```\n<!-- /host-states -->", start)]
    assert drawn == state_diagram(), "docs/protocol.md 3.6 is stale: paste `stampside link states --format mermaid`"
