"""The simulator's ends of the wire: a pseudo-terminal and a TCP server. They move bytes only.

Both run on the asyncio loop with non-blocking file descriptors (``add_reader`` and
``add_writer``). Writes never block the simulator: bytes wait in a short backlog while the
peer is slow, and are dropped (and counted) when the backlog is full, because a peer that
reads nothing must not make the device stall. Every stamp is in the device's buffer
anyway; the host gets it back with RESUME.

* :class:`PtyTransport` opens a pty, puts it in raw mode and optionally symlinks it.
  It keeps its own slave descriptor open: otherwise reading the master fails with EIO
  once the app closes the port, and the app could not reopen it. While it serves the
  symlink it holds a :class:`LinkClaim` on it, so a second simulator cannot take it over.
* :class:`TcpTransport` serves one client at a time (for pyserial's ``socket://``). A new
  client replaces the old one.

``baud`` throttles what the simulator writes to the line rate of a UART (10 bits a byte).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tty
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from stampside.simulator.errors import TransportError

READ_SIZE = 65536
#: Bytes that may wait for a slow peer before writes are dropped.
BACKLOG_LIMIT = 16 * 1024
#: With a baud limit, the backlog holds at most this many seconds of line time.
THROTTLED_BACKLOG_SECONDS = 0.1
#: Token bucket depth of the baud throttle, in seconds of line time.
THROTTLE_BURST_SECONDS = 0.005


class LinkListener(Protocol):
    """What a transport tells its owner."""

    def data_received(self, data: bytes) -> None: ...

    def writable(self) -> None:
        """The write backlog drained: there is room for more."""

    def connected(self, peer: str) -> None: ...

    def disconnected(self, reason: str) -> None: ...


@dataclass(slots=True)
class TransportStats:
    bytes_read: int = 0
    bytes_written: int = 0
    #: Bytes not written because the backlog was full (or no client was connected).
    bytes_dropped: int = 0
    writes_dropped: int = 0
    #: Bytes queued for an old link session and thrown away when a new one began.
    bytes_discarded: int = 0
    connections: int = 0
    #: Clients turned away during a drop in ``close`` mode.
    refused: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Channel:
    """One non-blocking descriptor: reads go to the listener; writes queue briefly, then drop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        listener: LinkListener,
        stats: TransportStats,
        on_error: Callable[[str], None],
        baud: int | None,
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._listener = listener
        self._stats = stats
        self._on_error = on_error
        self._backlog = bytearray()
        self._writing = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._rate = baud / 10 if baud else None  # bytes per second
        if self._rate is not None:
            self._limit = max(256, min(BACKLOG_LIMIT, int(self._rate * THROTTLED_BACKLOG_SECONDS)))
            self._depth = max(1.0, self._rate * THROTTLE_BURST_SECONDS)
        else:
            self._limit = BACKLOG_LIMIT
            self._depth = 0.0
        self._tokens = self._depth
        self._token_time = loop.time()
        loop.add_reader(fd, self._on_readable)

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        if len(self._backlog) + len(data) > self._limit:
            self._stats.bytes_dropped += len(data)
            self._stats.writes_dropped += 1
            return
        self._backlog += data
        if not self._writing and self._timer is None:
            self._flush()

    @property
    def room(self) -> int:
        """Bytes that may still be queued before writes are dropped."""
        return self._limit - len(self._backlog)

    def discard_backlog(self) -> None:
        self._stats.bytes_discarded += len(self._backlog)
        self._backlog.clear()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
        if self._timer is not None:
            self._timer.cancel()
        self._backlog.clear()

    # -- internals -------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._on_error(exc.strerror or str(exc))
            return
        if not data:
            self._on_error("closed by the peer")
            return
        self._stats.bytes_read += len(data)
        self._listener.data_received(data)

    def _on_writable(self) -> None:
        self._flush()
        if not self._backlog and not self._closed:
            self._listener.writable()

    def _on_timer(self) -> None:
        self._timer = None
        self._on_writable()

    def _allowance(self) -> int:
        if self._rate is None:
            return len(self._backlog)
        now = self._loop.time()
        self._tokens = min(self._depth, self._tokens + (now - self._token_time) * self._rate)
        self._token_time = now
        return int(self._tokens)

    def _flush(self) -> None:
        backlog = self._backlog
        while backlog and not self._closed:
            allowed = self._allowance()
            if allowed <= 0:
                self._stop_writer()
                if self._timer is None and self._rate is not None:
                    wait = (1.0 - self._tokens) / self._rate
                    self._timer = self._loop.call_later(max(wait, 0.0005), self._on_timer)
                return
            chunk = memoryview(backlog)[:allowed]
            try:
                written = os.write(self._fd, chunk)
            except (BlockingIOError, InterruptedError):
                written = 0
            except OSError as exc:
                chunk.release()
                self._on_error(exc.strerror or str(exc))
                return
            chunk.release()
            if self._rate is not None:
                self._tokens -= written
            del backlog[:written]
            self._stats.bytes_written += written
            if written < allowed:  # the kernel buffer is full: wait until it drains
                if not self._writing:
                    self._loop.add_writer(self._fd, self._on_writable)
                    self._writing = True
                return
        self._stop_writer()

    def _stop_writer(self) -> None:
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False


class Transport(ABC):
    """The simulator's end of the wire."""

    def __init__(self, baud: int | None = None) -> None:
        self.baud = baud
        self.stats = TransportStats()
        #: False during a drop in ``close`` mode: new TCP clients are turned away.
        self.accepting = True
        self._channel: _Channel | None = None

    @abstractmethod
    async def open(self, listener: LinkListener) -> str:
        """Start serving; return :attr:`endpoint`. Raises :class:`TransportError`."""

    @abstractmethod
    async def close(self) -> None: ...

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """The pty path, or HOST:PORT."""

    @property
    @abstractmethod
    def url(self) -> str:
        """What a host passes to ``serial.serial_for_url``."""

    @property
    @abstractmethod
    def ready_line(self) -> str:
        """The one line ``stampside sim`` prints on stdout once it serves."""

    def write(self, data: bytes) -> None:
        if self._channel is None:
            self.stats.bytes_dropped += len(data)
            return
        self._channel.write(data)

    @property
    def backlog(self) -> int:
        return self._channel.backlog if self._channel is not None else 0

    @property
    def room(self) -> int:
        """Bytes that may still be queued before writes are dropped (0 without a connection)."""
        return self._channel.room if self._channel is not None else 0

    def discard_backlog(self) -> None:
        if self._channel is not None:
            self._channel.discard_backlog()

    def disconnect(self) -> None:  # noqa: B027 - a pty has no connection to close
        """Close the connection to the host, if the transport has one."""


class PtyTransport(Transport):
    def __init__(self, link: Path | None = None, baud: int | None = None) -> None:
        super().__init__(baud)
        self.link = link
        self.path = ""
        self._master = -1
        self._slave = -1
        self._listener: LinkListener | None = None
        #: Held while this simulator serves ``link``; see :class:`LinkClaim`.
        self._claim: LinkClaim | None = None

    async def open(self, listener: LinkListener) -> str:
        loop = asyncio.get_running_loop()
        self._listener = listener
        try:
            self._master, self._slave = os.openpty()
        except OSError as exc:
            raise TransportError(f"cannot create a pty: {exc.strerror or exc}") from None
        try:
            tty.setraw(self._slave)
            os.set_blocking(self._master, False)
            self.path = os.ttyname(self._slave)
            if self.link is not None:
                self._make_link(self.link)
        except BaseException:
            self._close_fds()
            raise
        self._channel = _Channel(loop, self._master, listener, self.stats, self._on_error, self.baud)
        return self.path

    async def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._claim is not None:
            # Only the link this simulator made, while it still points at this pty.
            with contextlib.suppress(OSError):
                if self.link is not None and os.readlink(self.link) == self.path:
                    self.link.unlink()
            self._claim.release()
            self._claim = None
        self._close_fds()

    @property
    def endpoint(self) -> str:
        return self.path

    @property
    def url(self) -> str:
        return self.path

    @property
    def ready_line(self) -> str:
        return f"pty {self.path} -> {self.link}" if self.link is not None else f"pty {self.path}"

    def _make_link(self, link: Path) -> None:
        if link.name in ("", ".", ".."):
            raise TransportError(f"--pty {str(link)!r} names no file for the link: give a path such as /tmp/stamp")
        claim = LinkClaim.take(link)  # before looking at the link: another simulator may be serving it
        try:
            if link.exists() and not link.is_symlink():
                raise TransportError(f"{link} exists and is not a symlink: choose another path for --pty")
            temp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
            try:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
                os.symlink(self.path, temp)
                os.replace(temp, link)  # a stale link (its simulator is gone: the claim was free) is replaced
            except OSError as exc:
                with contextlib.suppress(OSError):
                    temp.unlink()
                raise TransportError(f"cannot create the pty link {link}: {exc.strerror or exc}") from None
        except BaseException:
            claim.release()
            raise
        self._claim = claim

    def _on_error(self, reason: str) -> None:
        # With our own slave descriptor open the master does not fail; if it ever does, stop
        # reading it rather than spin, and let the owner know.
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._listener is not None:
            self._listener.disconnected(f"pty failed: {reason}")

    def _close_fds(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1


class LinkClaim:
    """A simulator's claim on a pty link path: an exclusive ``flock`` on a lock file beside it.

    The lock file is ``.NAME.lock`` in the link's folder and holds the owner's pid (for the
    message). The kernel drops the lock when its owner exits in any way, SIGKILL included,
    so a link left behind by a dead simulator is free to take over, while one a live
    simulator serves is refused. The owner removes the lock file when it lets go; a claimer
    that opened the file just before then finds, once it holds the lock, that the file at
    the path is another one, and tries again on that.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @staticmethod
    def lock_path(link: Path) -> Path:
        return link.with_name(f".{link.name}.lock")

    @classmethod
    def take(cls, link: Path) -> LinkClaim:
        """Claim ``link``; :class:`TransportError` if a live simulator serves it (or no lock file can be made)."""
        import fcntl  # POSIX, as ptys are

        path = cls.lock_path(link)
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            except OSError as exc:
                raise TransportError(f"cannot create the pty link {link}: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_pid(fd)
                os.close(fd)
                who = f"another simulator (pid {owner})" if owner else "another simulator"
                raise TransportError(f"{link} is served by {who}: stop it, or choose another path for --pty") from None
            except OSError as exc:
                os.close(fd)
                raise TransportError(f"cannot lock {path} for the pty link {link}: {exc.strerror or exc}") from None
            try:
                ours = os.path.samestat(os.stat(path), os.fstat(fd))
            except FileNotFoundError:
                ours = False
            if ours:
                break
            os.close(fd)  # its owner removed it meanwhile: claim the file that is there now
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        """Remove the lock file (still holding the lock, so nobody else's), then let go."""
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = -1


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class TcpTransport(Transport):
    def __init__(self, host: str, port: int, baud: int | None = None) -> None:
        super().__init__(baud)
        self.host = host
        self.port = port
        self._server: socket.socket | None = None
        self._client: socket.socket | None = None
        self._listener: LinkListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self, listener: LinkListener) -> str:
        self._loop = asyncio.get_running_loop()
        self._listener = listener
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            server = socket.create_server((self.host, self.port), family=family, backlog=4)
        except OSError as exc:
            raise TransportError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        server.setblocking(False)
        self._server = server
        self.port = server.getsockname()[1]
        self._loop.add_reader(server.fileno(), self._accept)
        return self.endpoint

    async def close(self) -> None:
        self._close_client(None)
        if self._server is not None and self._loop is not None:
            self._loop.remove_reader(self._server.fileno())
            self._server.close()
            self._server = None

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"socket://{self.endpoint}"

    @property
    def ready_line(self) -> str:
        return f"listen {self.endpoint}"

    @property
    def client_connected(self) -> bool:
        return self._client is not None

    def disconnect(self) -> None:
        self._close_client("dropped")

    def _accept(self) -> None:
        assert self._server is not None and self._loop is not None and self._listener is not None
        try:
            client, address = self._server.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if not self.accepting:
            self.stats.refused += 1
            client.close()
            return
        self._close_client("replaced by a new client")
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = client
        self.stats.connections += 1
        self._channel = _Channel(self._loop, client.fileno(), self._listener, self.stats, self._on_error, self.baud)
        self._listener.connected(f"{address[0]}:{address[1]}")

    def _on_error(self, reason: str) -> None:
        self._close_client(reason)

    def _close_client(self, reason: str | None) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._client is not None:
            self._client.close()
            self._client = None
            if reason is not None and self._listener is not None:
                self._listener.disconnected(reason)
