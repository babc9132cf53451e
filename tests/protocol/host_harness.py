"""A host connection and a scripted device end, wired by hand: no I/O, time moved by the test.

:class:`Wire` feeds :class:`~stampside.firmware_protocol.host.HostConnection` frames made with a
device-role :class:`~stampside.firmware_protocol.Connection`, decodes what the host sends, and answers
storage's part (:class:`OpenLedger`, :class:`StartLife`) from a small in-memory ledger store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stampside.firmware_protocol import Connection, DeviceInfo, Flag, Frame, Message, Role
from stampside.firmware_protocol.host import HostConnection, HostTiming
from stampside.firmware_protocol.host_events import (
    Action,
    BindEpoch,
    Deliver,
    HostState,
    Input,
    Ledger,
    OpenLedger,
    Reply,
    Send,
    StartLife,
    StateChanged,
)

SERIAL = "SS-HOST"
EPOCH = 0x5EED0001
UNIX_MS = 1_764_067_200_000
TIMING = HostTiming(reply_timeout=0.1, min_reply_timeout=0.05, link_timeout=2.0, reopen_after=10.0, ping_interval=0)


def device_info(
    *, boot: int = 3, last_seq: int = 40, selected: int = 2, versions: tuple[int, int] = (1, 2)
) -> DeviceInfo:
    return DeviceInfo(SERIAL, 2, 1, 0, 0, versions[0], versions[1], selected, 2000, 7, 0, 100, 80, boot, last_seq)


@dataclass
class Wire:
    """One host connection under test and the device end the test speaks for."""

    host: HostConnection
    device: Connection = field(default_factory=lambda: Connection(Role.DEVICE, (1, 2)))
    now: float = 100.0
    #: Every action the host produced, in order.
    actions: list[Action] = field(default_factory=list)
    #: What the host sent, decoded.
    sent: list[Message] = field(default_factory=list)
    #: What storage holds: the ledger storage answers with.
    ledger: Ledger = field(default_factory=lambda: Ledger(SERIAL, 1, EPOCH, 3, 30))
    #: Answer storage's requests at once.
    auto_storage: bool = True

    @classmethod
    def make(cls, **kwargs: Any) -> Wire:
        options = {"timing": TIMING, "arm": True, "unix_ms": lambda: UNIX_MS}
        options.update(kwargs)
        return cls(HostConnection(**options))

    def pump(self) -> list[Action]:
        """Collect the host's actions; decode what it sent; answer storage when asked."""
        new: list[Action] = []
        while True:
            batch = self.host.take_actions()
            if not batch:
                return new
            for action in batch:
                new.append(action)
                self.actions.append(action)
                if isinstance(action, Send):
                    for event in self.device.receive_data(action.data):
                        if isinstance(event, Frame):
                            self.sent.append(event.message)
                elif self.auto_storage and isinstance(action, OpenLedger):
                    self.host.ledger_opened(self.ledger, self.now)
                elif self.auto_storage and isinstance(action, StartLife):
                    self.ledger = Ledger(SERIAL, action.previous.life + 1, action.epoch, 0, 0)
                    self.host.ledger_opened(self.ledger, self.now)
                elif isinstance(action, BindEpoch):
                    self.ledger = Ledger(SERIAL, self.ledger.life, action.epoch, self.ledger.boot, self.ledger.seq)

    def reply(self, message: Message, flags: int = 0) -> list[Action]:
        data = self.device.send(message, flags)
        if isinstance(message, DeviceInfo) and not flags & Flag.ANNOUNCE:
            self.device.version = message.selected_version or 1  # from now on it speaks what it chose
        self.host.receive_data(data, self.now)
        return self.pump()

    def tick(self, seconds: float) -> list[Action]:
        self.now += seconds
        self.host.tick(self.now)
        return self.pump()

    def open(self) -> list[Action]:
        self.host.connection_made(self.now)
        return self.pump()

    # -- reading what happened ---------------------------------------------------------------

    def sent_of(self, kind: type[Message]) -> list[Any]:
        return [message for message in self.sent if isinstance(message, kind)]

    def states(self) -> list[tuple[HostState, Input]]:
        return [(a.state, a.input) for a in self.actions if isinstance(a, StateChanged)]

    def delivered(self) -> list[Deliver]:
        return [a for a in self.actions if isinstance(a, Deliver)]

    def replies(self) -> list[Reply]:
        return [a for a in self.actions if isinstance(a, Reply)]

    def of(self, kind: type[Any]) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]
