"""A bare-bones host for simulator tests: firmware_protocol's host role over a real fd or socket.

It runs on the test's event loop next to an in-process simulator, so nothing blocks.
"""

from __future__ import annotations

import asyncio
import os
import socket
import termios
from collections.abc import Callable

from stampside.firmware_protocol import Connection, Event, Frame, Hello, Message, MessageType, Role

Pred = Callable[[Frame], bool]


class RawHost:
    def __init__(self, fd: int, sock: socket.socket | None = None, versions: tuple[int, int] = (1, 1)) -> None:
        self.fd = fd
        self.sock = sock
        self.conn = Connection(Role.HOST, versions)
        self.events: list[Event] = []
        self.eof = False
        self._cursor = 0
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    @classmethod
    async def open_pty(cls, path: str, versions: tuple[int, int] = (1, 1)) -> RawHost:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        termios.tcflush(fd, termios.TCIFLUSH)  # as pyserial does on open
        return cls(fd, versions=versions)

    @classmethod
    async def open_tcp(cls, address: str, versions: tuple[int, int] = (1, 1)) -> RawHost:
        host, _, port = address.rpartition(":")
        sock = socket.create_connection((host, int(port)))
        sock.setblocking(False)
        return cls(sock.fileno(), sock, versions)

    def close(self) -> None:
        if self.fd >= 0:
            self._loop.remove_reader(self.fd)
            if self.sock is not None:
                self.sock.close()
            else:
                os.close(self.fd)
            self.fd = -1

    # -- sending ---------------------------------------------------------------------

    def send(self, message: Message) -> None:
        self.send_raw(self.conn.send(message))

    def send_raw(self, data: bytes) -> None:
        if self.sock is not None:
            self.sock.sendall(data)
        else:
            os.write(self.fd, data)

    async def handshake(self, versions: tuple[int, int] = (1, 1), timeout: float = 5.0) -> Frame:
        """0x00 + HELLO, then the DEVICE_INFO that answers it."""
        self.skip()
        self.send_raw(b"\x00")
        self.send(Hello(*versions))
        return await self.expect(MessageType.DEVICE_INFO, lambda f: not f.flags, timeout=timeout)

    # -- receiving -------------------------------------------------------------------

    def frames(self, msg_type: MessageType | None = None) -> list[Frame]:
        return [e for e in self.events if isinstance(e, Frame) and (msg_type is None or msg_type == e.message.TYPE)]

    def skip(self) -> None:
        """Forget what arrived so far for :meth:`expect`."""
        self._cursor = len(self.events)

    async def expect(self, msg_type: MessageType, where: Pred | None = None, timeout: float = 5.0) -> Frame:
        """The next frame of ``msg_type`` (matching ``where``) after the cursor; moves the cursor past it."""
        async with asyncio.timeout(timeout):
            while True:
                for i in range(self._cursor, len(self.events)):
                    e = self.events[i]
                    if isinstance(e, Frame) and msg_type == e.message.TYPE and (where is None or where(e)):
                        self._cursor = i + 1
                        return e
                self._cursor = len(self.events)
                await self._wait()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._wait()

    async def _wait(self) -> None:
        self._changed.clear()
        try:
            async with asyncio.timeout(0.02):
                await self._changed.wait()
        except TimeoutError:
            pass

    def _readable(self) -> None:
        try:
            data = self.sock.recv(65536) if self.sock is not None else os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.eof = True
            self._loop.remove_reader(self.fd)
            self._changed.set()
            return
        self.events.extend(self.conn.receive_data(data))
        self._changed.set()
