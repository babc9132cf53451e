"""Every message round-trips through the real encoder and decoder, in both roles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stampside.firmware_protocol import Connection, EncodeError, Frame, ProtocolError, Role, Stamp
from stampside.firmware_protocol import messages as m
from stampside.firmware_protocol.framing import MAX_PAYLOAD

from .strategies import MESSAGES


def _pair(message: m.Message) -> tuple[Connection, Connection]:
    sender = Role.HOST if Role.HOST in message.SENDERS else Role.DEVICE
    receiver = Role.DEVICE if sender is Role.HOST else Role.HOST
    return Connection(sender), Connection(receiver)


@given(MESSAGES, st.integers(0, 3))
def test_every_message_round_trips(message: m.Message, flags: int) -> None:
    tx, rx = _pair(message)
    events = rx.receive_data(tx.send(message, flags))
    assert len(events) == 1
    frame = events[0]
    assert isinstance(frame, Frame)
    assert frame.message == message
    assert frame.flags == flags


@given(st.lists(MESSAGES.filter(lambda msg: Role.DEVICE in msg.SENDERS), min_size=1, max_size=30))
def test_link_sequence_numbers_count_up_without_gaps(messages: list[m.Message]) -> None:
    tx, rx = Connection(Role.DEVICE), Connection(Role.HOST)
    events = rx.receive_data(b"".join(tx.send(msg) for msg in messages))
    assert [e.lseq for e in events if isinstance(e, Frame)] == [i & 0xFF for i in range(len(messages))]
    assert rx.counters.rx_lseq_gaps == 0


def test_common_messages_fit_one_ble_notification() -> None:
    device, host = Connection(Role.DEVICE), Connection(Role.HOST)
    assert len(device.send(Stamp(0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFF, 0xFFF, 0xF))) <= 20
    assert len(host.send(m.Ack(0xFFFF, 0xFFFF_FFFF))) <= 20
    assert len(device.send(m.Heartbeat(0xFFFF, 0xFFFF_FFFF, 0xFFFF, 0xFF))) <= 20
    assert len(host.send(m.Heartbeat(0xFFFF, 0xFFFF_FFFF, 0xFFFF, 0xFF))) <= 20


def test_every_payload_fits_the_maximum_frame() -> None:
    for cls in m.MESSAGE_CLASSES:
        assert cls.payload_size() <= MAX_PAYLOAD, cls.__name__


def test_type_codes_are_unique() -> None:
    assert len({cls.TYPE for cls in m.MESSAGE_CLASSES}) == len(m.MESSAGE_CLASSES)


@pytest.mark.parametrize(
    "bad",
    [
        Stamp(1, 1, 1, 256, 1, 1),
        Stamp(1, 1, 1, 1, 4096, 1),
        Stamp(1, 1, 1, 1, 1, 16),
        Stamp(-1, 1, 1, 1, 1, 1),
        m.DeviceInfo("", 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        m.DeviceInfo("THIRTEEN-CHAR", 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        m.DeviceInfo("naïve", 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        m.Ack(1, 2**32),
    ],
)
def test_out_of_range_fields_raise_encode_error(bad: m.Message) -> None:
    sender = Connection(Role.HOST if Role.HOST in bad.SENDERS else Role.DEVICE)
    with pytest.raises(EncodeError):
        sender.send(bad)


def test_a_role_cannot_send_the_other_roles_messages() -> None:
    with pytest.raises(ProtocolError, match="host does not send STAMP"):
        Connection(Role.HOST).send(Stamp(1, 1, 1, 1, 1, 1))


def test_a_device_sees_a_device_only_message_as_unknown() -> None:
    from stampside.firmware_protocol import UnknownMessage

    other_device = Connection(Role.DEVICE)
    device = Connection(Role.DEVICE)
    (event,) = device.receive_data(other_device.send(Stamp(1, 1, 1, 1, 1, 1)))
    assert isinstance(event, UnknownMessage)
    assert event.msg_type == m.MessageType.STAMP


def test_force_in_newtons() -> None:
    assert Stamp(1, 1, 1, 73, 1, 1).force_n == pytest.approx(7.3)
