"""A small device the tests script step by step, on the far end of a real pty or TCP socket.

It speaks the device side of docs/protocol.md with ``firmware_protocol.Connection(Role.DEVICE)``
and keeps an :class:`~stampside.firmware_protocol.EventBuffer`, so ACK and RESUME really drop and
replay events. The test decides everything else: when stamps happen, which live frames
get lost, when the line goes silent, when the device reboots, which commands it ignores.
Every message the host sends is kept in :attr:`ScriptedDevice.received`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty
from collections.abc import Callable
from pathlib import Path

from stampside.firmware_protocol import (
    Ack,
    Arm,
    ArmReason,
    ArmState,
    DeviceInfo,
    Disarm,
    EventBuffer,
    Flag,
    Frame,
    Heartbeat,
    HeartbeatState,
    Hello,
    Message,
    Nack,
    NackCode,
    Ping,
    Pong,
    Resume,
    ResumeReply,
    Role,
    Stamp,
    TimeSync,
    TimeSyncReply,
)
from stampside.firmware_protocol.connection import Connection


class ScriptedDevice:
    def __init__(
        self,
        serial: str = "TEST0001",
        *,
        versions: tuple[int, int] = (1, 1),
        boot: int = 1,
        capacity: int = 4096,
        heartbeat_interval: float = 0.5,
    ) -> None:
        self.serial = serial
        self.versions = versions
        self.boot = boot
        self.seq = 0
        self.buffer = EventBuffer(capacity)
        self.heartbeat_interval = heartbeat_interval
        self.conn = Connection(Role.DEVICE, versions)
        self.hello_done = False
        self.armed = False
        #: Discard every byte both ways (a link drop).
        self.silent = False
        #: Message types the device ignores (no reply), e.g. {Ack} to lose every ACK.
        self.ignore: set[type[Message]] = set()
        #: Message types the device refuses with NACK REFUSED.
        self.refuse: set[type[Message]] = set()
        #: Send every outgoing frame twice.
        self.duplicate = False
        self.received: list[Message] = []
        self.raw_in = bytearray()
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._server: asyncio.Server | None = None
        self._fds: list[int] = []
        self.connections = 0
        self._start = time.monotonic()

    # -- transports ---------------------------------------------------------------------

    async def serve_pty(self, tmp_path: Path) -> str:
        """Serve a raw pty; returns a symlink to its slave (the URL for the host)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds += [master, slave]  # keep the slave open so the host may reopen it
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(master, "rb", 0, closefd=False)
        )
        write_fd = os.dup(master)
        self._fds.append(write_fd)
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(write_fd, "wb", 0, closefd=False)
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._attach(reader, writer)
        link = tmp_path / "stamp"
        link.symlink_to(os.ttyname(slave))
        return str(link)

    async def serve_tcp(self) -> str:
        """Serve TCP on localhost, one client at a time; returns the socket:// URL."""
        self._server = await asyncio.start_server(self._attach_tcp, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"socket://127.0.0.1:{port}"

    async def _attach_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None:
            self._writer.close()
        self._attach(reader, writer)

    def _attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writer = writer
        self.conn.reset()
        self._tasks.append(asyncio.create_task(self._read_loop(reader)))
        if len(self._tasks) == 1:
            self._tasks.append(asyncio.create_task(self._heartbeat_loop()))

    async def close_client(self) -> None:
        """Close the TCP connection (the host sees a disconnect)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- wire -----------------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        while True:
            data = await reader.read(4096)
            if not data:
                return
            if self.silent:
                continue
            self.raw_in += data
            for event in self.conn.receive_data(data):
                if isinstance(event, Frame):
                    self._handle(event)

    def send(self, message: Message, flags: int = 0) -> None:
        if self.silent or self._writer is None:
            self.conn.send(message, flags)  # numbered, then lost on the wire
            return
        data = self.conn.send(message, flags)
        self._writer.write(data + data if self.duplicate else data)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            state = HeartbeatState.ARMED if self.armed else HeartbeatState.NONE
            self.send(Heartbeat(self.boot, self.seq, min(len(self.buffer), 0xFFFF), state))

    def device_time(self) -> int:
        return int((time.monotonic() - self._start) * 1000)

    def info(self, selected: int, flags: int = 0) -> DeviceInfo:
        return DeviceInfo(self.serial, 1, 1, 0, 0, *self.versions, selected, 2000, 7, 0, 100, 90, self.boot, self.seq)

    # -- behaviour ----------------------------------------------------------------------

    def _handle(self, frame: Frame) -> None:
        msg = frame.message
        self.received.append(msg)
        if type(msg) in self.ignore:
            return
        if isinstance(msg, Hello):
            low, high = max(msg.min_version, self.versions[0]), min(msg.max_version, self.versions[1])
            selected = high if low <= high else 0
            self.send(self.info(selected))
            if selected:
                self.conn.version = selected
                self.hello_done = True
            else:
                self.send(Nack(frame.message.TYPE, frame.lseq, NackCode.VERSION_UNSUPPORTED))
            return
        if not self.hello_done:
            self.send(Nack(msg.TYPE, frame.lseq, NackCode.NOT_READY))
            return
        if type(msg) in self.refuse:
            self.send(Nack(msg.TYPE, frame.lseq, NackCode.REFUSED))
            return
        if isinstance(msg, TimeSync):
            self.send(TimeSyncReply(msg.host_unix_ms, self.device_time()))
        elif isinstance(msg, Ack):
            self.buffer.ack(msg.seq)
        elif isinstance(msg, Resume):
            self.buffer.ack(msg.seq)
            events = list(self.buffer)
            first = events[0].seq if events else self.seq + 1
            self.send(ResumeReply(self.boot, first, len(events)))
            for event in events:
                self.send(event, Flag.REPLAY)
        elif isinstance(msg, Arm):
            self.armed = True
            self.send(ArmState(1, ArmReason.COMMAND))
        elif isinstance(msg, Disarm):
            self.armed = False
            self.send(ArmState(0, ArmReason.COMMAND))
        elif isinstance(msg, Ping):
            self.send(Pong(msg.nonce, self.device_time()))

    def stamp(self, count: int = 1, *, live: bool | Callable[[int], bool] = True) -> list[Stamp]:
        """Count ``count`` stamps; send each live unless ``live`` says otherwise (a lost frame)."""
        out = []
        for _ in range(count):
            self.seq += 1
            s = Stamp(self.boot, self.seq, self.device_time(), 40 + self.seq % 100, 150 + self.seq % 50, self.seq % 6)
            assert self.buffer.push(s)
            out.append(s)
            send = live(self.seq) if callable(live) else live
            if send:
                self.send(s)
        return out

    def reboot(self) -> None:
        """Power-cycle: new boot, disarmed, waiting for HELLO; announce it. The buffer survives."""
        self.boot += 1
        self.armed = False
        self.hello_done = False
        self.conn.reset()
        self.send(self.info(0), Flag.ANNOUNCE)

    def sent_by_host(self, kind: type[Message]) -> list[Message]:
        return [m for m in self.received if isinstance(m, kind)]


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
