"""Serial transport over pyserial: device paths, pty paths, ``socket://`` and ``loop://``.

:class:`SerialTransport` opens its URL with :func:`serial.serial_for_url`, so anything
pyserial understands works: ``/dev/ttyACM0``, a pty path such as the one ``stampside sim
--pty`` prints, ``socket://127.0.0.1:7001`` and ``loop://`` (a loopback, for tests).

A reader thread does the blocking reads and hands the bytes to asyncio (pyserial moves
about 100 MB/s over a pty this way; the asyncio wrappers are several times slower). It
stops reading while more than :data:`READ_BUFFER_LIMIT` bytes wait to be consumed, so a
slow consumer pushes back on the port instead of growing memory. Writes run in a worker
thread, one at a time.

Real ports are opened with an exclusive lock (``flock``), so a second program on the same
port gets a clear "busy" error instead of stealing half the bytes.

Note: pyserial flushes the input buffer when it opens a port. Bytes the device sent before
that are lost; the session's handshake does not depend on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import io
import socket
import struct
import termios
import threading
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import serial

from stampside.devicelink.transport import TransportDisconnected, TransportOpenError

#: How long a blocking read waits before the reader thread checks whether to stop.
READ_POLL_SECONDS = 0.1
#: A write that cannot complete in this time means the peer stopped reading.
WRITE_TIMEOUT_SECONDS = 2.0
#: The reader thread pauses while this many received bytes wait for the event loop.
READ_BUFFER_LIMIT = 1 << 20
#: The most bytes one :meth:`SerialTransport.read` returns, so one call never hogs the loop.
READ_CHUNK_LIMIT = 64 * 1024

_URL_HELP = "use a device path (/dev/ttyACM0), a pty path, socket://HOST:PORT or loop://"


class _ThreadFeed:
    """Hands byte chunks from a reader thread to one asyncio consumer, with back-pressure."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = READ_BUFFER_LIMIT) -> None:
        self._loop = loop
        self._limit = limit
        self._lock = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._error: BaseException | None = None
        self._consumer_waiting = False
        self._closed = False
        self._ready = asyncio.Event()

    # -- reader thread side ---------------------------------------------------------

    def put(self, data: bytes) -> None:
        """Queue ``data``; blocks while the consumer is too far behind."""
        with self._lock:
            while self._size >= self._limit and not self._closed:
                self._lock.wait(READ_POLL_SECONDS)
            if self._closed:
                return
            self._chunks.append(data)
            self._size += len(data)
            wake = self._consumer_waiting
            self._consumer_waiting = False
        if wake:
            self._wake()

    def fail(self, error: BaseException) -> None:
        """No more data will come: the consumer gets ``error`` once the queue is empty."""
        with self._lock:
            if self._error is None:
                self._error = error
            wake = self._consumer_waiting
            self._consumer_waiting = False
        if wake:
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits any more
            self._loop.call_soon_threadsafe(self._ready.set)

    # -- event loop side ------------------------------------------------------------

    async def get(self) -> bytes:
        while True:
            with self._lock:
                if self._chunks:
                    return self._take()
                if self._error is not None:
                    raise self._error
                self._ready.clear()
                self._consumer_waiting = True
            await self._ready.wait()

    def _take(self) -> bytes:
        chunks = self._chunks
        out = [chunks.popleft()]
        size = len(out[0])
        while chunks and size + len(chunks[0]) <= READ_CHUNK_LIMIT:
            chunk = chunks.popleft()
            out.append(chunk)
            size += len(chunk)
        self._size -= size
        self._lock.notify_all()
        return out[0] if len(out) == 1 else b"".join(out)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._chunks.clear()
            self._size = 0
            self._lock.notify_all()


def _bytes_waiting(port: Any) -> int:
    """How many received bytes can be read without blocking."""
    try:
        fd = port.fileno()
    except (AttributeError, NotImplementedError, io.UnsupportedOperation, serial.SerialException):
        return int(port.in_waiting)
    # FIONREAD works for ttys and sockets alike (pyserial's socket in_waiting says 0 or 1).
    raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("I", raw)[0])


def explain_open_error(url: str, exc: BaseException) -> str:
    """One line saying why ``url`` could not be opened and what to do about it."""
    if isinstance(exc, ValueError):
        return f"{url}: not a port or URL pyserial knows ({exc}); {_URL_HELP}"
    code = getattr(exc, "errno", None)
    cause = exc.__cause__ or exc.__context__
    if code is None and isinstance(cause, OSError):
        code = cause.errno
    if url.lower().startswith("socket://"):
        where = url[len("socket://") :]
        if isinstance(cause, socket.gaierror):
            return f"{url}: unknown host in {where!r}; check the host name"
        if code == errno.ECONNREFUSED:
            return (
                f"nothing is listening at {where}: start the device or the simulator there "
                f"(stampside sim --listen {where}) and check the port number"
            )
        if isinstance(cause, TimeoutError) or code == errno.ETIMEDOUT:
            return f"no answer from {where}: check the address and that the host is reachable"
        return f"could not connect to {where}: {cause or exc}"
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return (
            f"no such port {url}: check the path and the cable (ls /dev/ttyACM* /dev/ttyUSB*), "
            "or start the simulator first (stampside sim --pty PATH)"
        )
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied on {url}: add your user to the dialout group "
            "(sudo usermod -aG dialout $USER, then log out and back in)"
        )
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK):
        return (
            f"{url} is busy: another program has it open (another stampside, a serial terminal, "
            "ModemManager); close that program and try again"
        )
    if code == errno.EISDIR or "Could not configure port" in str(exc):
        return f"{url} is not a serial port (a tty or a pty); {_URL_HELP}"
    return f"could not open {url}: {exc}"


def _check_url(url: str) -> None:
    """Catch malformed URLs that pyserial would report with a confusing message or a TypeError."""
    if not url:
        raise TransportOpenError(f"no port given; {_URL_HELP}")
    if url.lower().startswith("socket://"):
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise TransportOpenError(f"{url}: a socket URL needs a host and a port, e.g. socket://127.0.0.1:7001")


class SerialTransport:
    """A :class:`~stampside.devicelink.transport.Transport` over :func:`serial.serial_for_url`."""

    def __init__(self, url: str, *, baudrate: int = 115200, exclusive: bool = True) -> None:
        self.url = url
        self.baudrate = baudrate
        self.exclusive = exclusive
        self._port: Any = None
        self._feed: _ThreadFeed | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._write_lock = asyncio.Lock()

    @property
    def description(self) -> str:
        return self.url

    @property
    def is_open(self) -> bool:
        return self._port is not None

    async def open(self) -> None:
        if self._port is not None:
            return
        _check_url(self.url)
        self._port = await asyncio.to_thread(self._open_port)
        self._stop = threading.Event()
        self._feed = _ThreadFeed(asyncio.get_running_loop())
        self._reader = threading.Thread(
            target=self._read_loop,
            args=(self._port, self._feed, self._stop),
            name=f"serial-reader {self.url}",
            daemon=True,
        )
        self._reader.start()

    def _open_port(self) -> Any:
        try:
            port = serial.serial_for_url(
                self.url,
                do_not_open=True,
                baudrate=self.baudrate,
                timeout=READ_POLL_SECONDS,
                write_timeout=WRITE_TIMEOUT_SECONDS,
                exclusive=self.exclusive,
            )
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportOpenError(explain_open_error(self.url, exc)) from exc
        return port

    @staticmethod
    def _read_loop(port: Any, feed: _ThreadFeed, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                data = port.read(1)
                if not data:
                    continue
                waiting = _bytes_waiting(port)
                if waiting:
                    data += port.read(waiting)
                feed.put(data)
            feed.fail(TransportDisconnected("transport closed"))
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # TypeError/AttributeError: pyserial read on a port closed under it.
            feed.fail(TransportDisconnected(str(exc) or type(exc).__name__))

    async def read(self) -> bytes:
        feed = self._feed
        if feed is None:
            raise TransportDisconnected("transport is not open")
        return await feed.get()

    async def write(self, data: bytes) -> None:
        async with self._write_lock:
            port = self._port
            if port is None:
                raise TransportDisconnected("transport is not open")
            try:
                await asyncio.to_thread(port.write, data)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                raise TransportDisconnected(f"write failed: {exc}") from exc

    async def close(self) -> None:
        port, reader, feed = self._port, self._reader, self._feed
        if port is None:
            return
        self._port = None
        self._reader = None
        self._stop.set()
        if feed is not None:
            feed.fail(TransportDisconnected("transport closed"))
            feed.close()
        for name in ("cancel_read", "cancel_write"):
            cancel = getattr(port, name, None)
            if cancel is not None:
                with contextlib.suppress(OSError, serial.SerialException):  # the port already went away
                    cancel()
        async with self._write_lock:  # let a write in a worker thread finish first
            await asyncio.to_thread(self._finish_close, port, reader)

    @staticmethod
    def _finish_close(port: Any, reader: threading.Thread | None) -> None:
        if reader is not None:
            reader.join(timeout=2.0)
        with contextlib.suppress(OSError, serial.SerialException):  # it already went away
            port.close()
