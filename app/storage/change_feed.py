"""Telling a reader that the database changed, whoever wrote it: the clinic board's wake-up.

* PostgreSQL: ``LISTEN stampside_board`` on a connection of its own. Migration v0008's triggers
  ``NOTIFY`` that channel after every statement that changes a table the board shows, from any
  chair, so :meth:`NotifyFeed.wait` returns within moments of the commit.
* SQLite (no notifications between processes): :class:`PollingFeed` asks ``PRAGMA data_version``
  every ``interval`` seconds on a read-only connection of its own. The number changes when
  another connection committed, so an unchanged database costs one tiny query per check.

Both only read. :meth:`ChangeFeed.wait` returns early (False) when ``stop`` is set, so the thread
that waits ends within a fraction of a second of being asked.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stampside.app.storage.database import Database
from stampside.app.storage.errors import BUSY_TIMEOUT_SECONDS, StorageError, describe_url, explain

if TYPE_CHECKING:
    import psycopg

__all__ = ["BOARD_CHANNEL", "ChangeFeed", "NotifyFeed", "PollingFeed", "open_change_feed"]

#: The channel migration v0008's triggers notify (its ``BOARD_CHANNEL``).
BOARD_CHANNEL = "stampside_board"
#: The longest a wait blocks in one go before it looks at ``stop`` again.
_SLICE_S = 0.1


class ChangeFeed(Protocol):
    """Something that says when the database may have changed."""

    #: How it knows, for a status line: ``live via LISTEN/NOTIFY``, ``polling every 0.5 s``.
    description: str

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Block until a change (True), ``timeout`` seconds (False) or ``stop`` (False).

        A change already there is reported at once (``timeout`` 0: only those); the changes
        reported together count as one.
        """
        ...

    def close(self) -> None:
        """Let go of the connection; idempotent."""
        ...


class PollingFeed:
    """``check()`` every ``interval`` seconds; a change is a value other than the last one.

    ``check`` is ``None`` when there is nothing cheap to ask: every interval is then a change.
    """

    def __init__(
        self, check: Callable[[], object] | None, interval: float, *, closer: Callable[[], None] | None = None
    ) -> None:
        if not interval > 0:
            raise ValueError(f"the polling interval must be more than 0 s, got {interval!r}")
        self.interval = interval
        self.description = f"polling every {interval:g} s"
        self._check = check
        self._closer = closer
        self._last: object = check() if check is not None else None

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self._check is not None:
                value = self._check()
                if value != self._last:
                    self._last = value
                    return True
            left = deadline - time.monotonic()
            if left <= 0 or stop.wait(min(self.interval, left)):
                return False
            if self._check is None:
                return True

    def close(self) -> None:
        closer, self._closer = self._closer, None
        if closer is not None:
            closer()


class NotifyFeed:
    """``LISTEN`` on a psycopg connection of its own (autocommit, as notifications need)."""

    description = "live via LISTEN/NOTIFY"

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        #: Notifications received so far (each one a wake-up of the reader).
        self.received = 0
        self._listen()

    def _listen(self) -> psycopg.Connection[Any]:
        connection = self._connect()
        try:
            connection.execute(f"LISTEN {BOARD_CHANNEL}")
        except Exception:
            connection.close()
            raise
        self._connection = connection
        return connection

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        import psycopg

        deadline = time.monotonic() + timeout
        with self._lock:
            while not stop.is_set():
                left = deadline - time.monotonic()
                connection = self._connection
                try:
                    if connection is None or connection.closed:
                        # The server went away and came back: notifications in between are lost, so
                        # the reader reads again whatever this says.
                        self._listen()
                        return True
                    if self._take(connection, min(_SLICE_S, max(0.0, left))):
                        return True
                except psycopg.Error:
                    self._drop()
                    stop.wait(min(1.0, max(0.0, deadline - time.monotonic())))
                if left <= 0:
                    return False
            return False

    def _take(self, connection: psycopg.Connection[Any], timeout: float) -> bool:
        """Whether a notification came within ``timeout``; the ones already there with it are taken too
        (one read covers them all)."""
        # One generator at a time: each holds the connection's lock while it runs.
        came = sum(1 for _ in connection.notifies(timeout=timeout, stop_after=1))
        if not came:
            return False
        self.received += came + sum(1 for _ in connection.notifies(timeout=0))
        return True

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def close(self) -> None:
        with self._lock:
            self._drop()


def open_change_feed(database: Database, *, poll_interval: float = 0.5) -> ChangeFeed:
    """The feed for ``database``: LISTEN/NOTIFY on PostgreSQL, ``PRAGMA data_version`` polls on SQLite.

    Raises :class:`~stampside.app.storage.errors.StorageError` when its connection cannot be made.
    """
    url = database.url
    if url.get_backend_name() == "postgresql":
        import psycopg

        args, kwargs = database.engine.dialect.create_connect_args(url)

        def connect() -> psycopg.Connection[Any]:
            return psycopg.connect(*args, **{**kwargs, "autocommit": True})

        try:
            return NotifyFeed(connect)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())  # one line: PostgreSQL's messages come on several
            raise StorageError(f"cannot listen for changes on {describe_url(url)}: {reason}") from None
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return PollingFeed(None, poll_interval)
    try:
        connection = sqlite3.connect(
            f"{Path(path).absolute().as_uri()}?mode=ro",
            uri=True,
            timeout=BUSY_TIMEOUT_SECONDS,
            check_same_thread=False,
            isolation_level=None,
        )
    except sqlite3.Error as exc:
        raise explain(url, exc) from None
    lock = threading.Lock()

    def data_version() -> object:
        with lock:
            try:
                row = connection.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                return object()  # unlike any value before: read again (the read says what is wrong)
        return row[0] if row else None

    def close() -> None:
        with lock:
            connection.close()

    try:
        return PollingFeed(data_version, poll_interval, closer=close)
    except Exception:
        close()
        raise
