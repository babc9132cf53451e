"""What the host's conversation machine (:mod:`stampside.firmware_protocol.host`) is told and what it asks for.

The machine does no I/O. Its caller (a driver such as ``devicelink.LinkSession``) feeds it
bytes, time and the answers of storage, and carries out the actions it returns, in order:

* :class:`Send` — write these bytes to the device.
* :class:`OpenLedger` — read (or create) what storage holds for this device: a :class:`Ledger`;
  answer with :meth:`HostConnection.ledger_opened`.
* :class:`StartLife` — the device restarted its numbering: open a new ledger for it (its
  stamps are kept apart from the earlier ones) and answer with ``ledger_opened``.
* :class:`BindEpoch` — the device told the epoch of a ledger that did not know it: store it.
* :class:`Deliver` — a new stamp for storage (commit it, then call ``committed``).
* :class:`StateChanged`, :class:`Note` — for people and logs.
* :class:`Reopen` — close the transport and open it again.
* :class:`Reply` — the answer to a :meth:`HostConnection.request`.

:data:`TRANSITIONS` is the machine's whole state table; ``docs/protocol.md`` draws its
diagram from it (``stampside protocol states``) and a test drives every state × input.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from stampside.firmware_protocol.connection import Frame
from stampside.firmware_protocol.messages import DeviceInfo, Message, Stamp


class HostState(enum.Enum):
    """Where the host's side of the conversation stands."""

    #: No transport is open.
    IDLE = "idle"
    #: HELLO sent (a lone 0x00 first), waiting for DEVICE_INFO; HELLO is repeated until it comes.
    HELLO = "hello"
    #: The device is known; waiting for storage to open its ledger (the cursor and epoch).
    LEDGER = "ledger"
    #: TIME_SYNC, RESUME and ARM are out, all at once; waiting for their replies.
    SYNC = "sync"
    #: Connected: stamps flow and are acknowledged after they are stored.
    READY = "ready"
    #: Closed for good: :meth:`close`, or a device that speaks no common version.
    CLOSED = "closed"


class Input(enum.Enum):
    """What moves the machine from one state to another."""

    OPENED = "transport opened"
    DEVICE_INFO = "DEVICE_INFO answers HELLO"
    INCOMPATIBLE = "no common version"
    LEDGER_OPENED = "ledger opened"
    NEW_NUMBERING = "numbering restarted"
    SYNCED = "handshake replies in"
    NEW_BOOT = "device rebooted"
    SILENCE = "silence"
    TRANSPORT_LOST = "transport closed"
    CLOSE = "close"


S, In = HostState, Input

#: Every transition the machine makes. A (state, input) pair that is not here is in
#: :data:`IGNORED`: the input changes nothing in that state.
TRANSITIONS: dict[tuple[HostState, Input], HostState] = {
    (S.IDLE, In.OPENED): S.HELLO,
    (S.HELLO, In.DEVICE_INFO): S.LEDGER,
    (S.HELLO, In.INCOMPATIBLE): S.CLOSED,
    (S.HELLO, In.NEW_BOOT): S.HELLO,
    (S.HELLO, In.SILENCE): S.IDLE,
    (S.LEDGER, In.LEDGER_OPENED): S.SYNC,
    (S.LEDGER, In.NEW_NUMBERING): S.LEDGER,
    (S.LEDGER, In.NEW_BOOT): S.HELLO,
    (S.LEDGER, In.SILENCE): S.HELLO,
    (S.SYNC, In.SYNCED): S.READY,
    (S.SYNC, In.NEW_NUMBERING): S.LEDGER,
    (S.SYNC, In.NEW_BOOT): S.HELLO,
    (S.SYNC, In.SILENCE): S.HELLO,
    (S.READY, In.NEW_NUMBERING): S.LEDGER,
    (S.READY, In.NEW_BOOT): S.HELLO,
    (S.READY, In.SILENCE): S.HELLO,
    **{(state, In.TRANSPORT_LOST): S.IDLE for state in (S.HELLO, S.LEDGER, S.SYNC, S.READY)},
    **{(state, In.CLOSE): S.CLOSED for state in HostState if state is not S.CLOSED},
}

#: The (state, input) pairs that change nothing.
IGNORED: frozenset[tuple[HostState, Input]] = frozenset(
    (state, event) for state in HostState for event in Input if (state, event) not in TRANSITIONS
)

#: What each input means, for the state diagram's legend.
INPUT_MEANING: dict[Input, str] = {
    In.OPENED: "the driver opened the transport",
    In.DEVICE_INFO: "DEVICE_INFO answering HELLO, with a common version",
    In.INCOMPATIBLE: "DEVICE_INFO with no common version (or a wrongly selected one)",
    In.LEDGER_OPENED: "storage answered OpenLedger / StartLife with the device's ledger",
    In.NEW_NUMBERING: "the device's numbering restarted: its seq below the cursor, its boot counter back, "
    "or another epoch in RESUME_REPLY",
    In.SYNCED: "the replies to TIME_SYNC, RESUME and ARM are in (or their retries ran out)",
    In.NEW_BOOT: "ANNOUNCE or HEARTBEAT with another boot counter, NACK NOT_READY",
    In.SILENCE: "no valid frame within the link timeout (in HELLO: no byte at all within reopen_after)",
    In.TRANSPORT_LOST: "the transport closed",
    In.CLOSE: "close()",
}


def state_diagram() -> str:
    """The host's state diagram as Mermaid ``stateDiagram-v2`` text, drawn from :data:`TRANSITIONS`.

    ``docs/protocol.md`` carries this text (``stampside link states`` prints it); a test
    keeps the two the same.
    """
    lines = ["stateDiagram-v2", f"    [*] --> {HostState.IDLE.name}"]
    for (state, event), target in TRANSITIONS.items():
        if event is Input.CLOSE and state is not HostState.IDLE:
            continue  # every state closes: drawn once, from IDLE, to keep the picture readable
        lines.append(f"    {state.name} --> {target.name}: {event.value}")
    lines.append(f"    {HostState.CLOSED.name} --> [*]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Ledger:
    """What the host has durably stored of one numbering of one device.

    A device numbers its stamps (boot, seq) within an **epoch** (docs/protocol.md 3.5). When
    it restarts its numbering, the host opens a new ledger — a new ``life`` for the same
    serial — so the new stamps never collide with the stored ones.
    """

    serial: str
    #: 1 for the first numbering the host saw of this serial, then 2, 3 …
    life: int = 1
    #: The device's numbering epoch; 0 when not known (a v1 device, or not learnt yet).
    epoch: int = 0
    #: The delivery cursor: every event up to (boot, seq) is stored.
    boot: int = 0
    seq: int = 0


# -- actions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``data`` to the device. ``message`` is what it encodes (None: the lone 0x00)."""

    data: bytes
    message: Message | None


@dataclass(frozen=True, slots=True)
class OpenLedger:
    """Find or create the ledger of ``info.serial``'s current numbering; answer with ``ledger_opened``."""

    info: DeviceInfo


@dataclass(frozen=True, slots=True)
class StartLife:
    """The device restarted its numbering: open a new ledger after ``previous`` (cursor 0, 0).

    ``epoch`` is the device's new epoch (0: not known yet). ``reason`` says, for a person,
    how the host could tell. Answer with ``ledger_opened``.
    """

    info: DeviceInfo
    previous: Ledger
    epoch: int
    reason: str


@dataclass(frozen=True, slots=True)
class BindEpoch:
    """Store ``epoch`` with ``ledger``, which did not know it (before the next stamps of it)."""

    ledger: Ledger
    epoch: int


@dataclass(frozen=True, slots=True)
class Deliver:
    """A stamp seen for the first time. With a ledger: store it in ``ledger``, then call ``committed``."""

    stamp: Stamp
    replay: bool
    ledger: Ledger | None
    serial: str


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: HostState
    previous: HostState
    input: Input
    reason: str


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth keeping in the link log.

    ``kind`` is a short stable word: ``connected``, ``lost``, ``reboot``, ``resync``, ``jump``,
    ``new-numbering``, ``fault``, ``arm-refused``, ``incompatible``, ``handshake``.
    """

    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class Reopen:
    """Close the transport and open it again (nothing has come back for a long time)."""

    reason: str


class ReplyError(enum.Enum):
    """Why a request got no reply message."""

    #: The device answered NACK (see :attr:`Reply.nack_code`).
    REFUSED = "refused"
    #: No answer after every attempt.
    TIMEOUT = "timeout"
    #: The link went down (a reboot, a silence, the transport) before the answer came.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of :meth:`HostConnection.request` number ``request``."""

    request: int
    frame: Frame | None
    error: ReplyError | None = None
    #: The NACK code when refused.
    nack_code: int = 0
    detail: str = ""


Action = Send | OpenLedger | StartLife | BindEpoch | Deliver | StateChanged | Note | Reopen | Reply
