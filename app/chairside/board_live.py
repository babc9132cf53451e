"""Keeping the clinic board live: read the rows, wait for a change, read again — in a thread of its own.

:func:`open_board` opens the database read-only (:mod:`stampside.app.storage.read_only`) and its
change feed (:mod:`stampside.app.storage.change_feed`: LISTEN/NOTIFY on PostgreSQL, ``PRAGMA
data_version`` polls on SQLite). :class:`BoardFollower` reads :func:`~stampside.app.chairside.board.read_board`
at once, then again after every change the feed reports, and at least every ``heartbeat_s``
seconds (the rate and the overdue timers move with time alone). Each read is handed to
``publish`` as a :class:`~stampside.app.chairside.board.BoardSnapshot`, or a :class:`BoardProblem`
when the database cannot be read (the follower goes on and reads again at the next wake-up).

Plain Python and threads: the Textual screen (:mod:`stampside.app.tui.screens.board`) posts what it
is handed to itself; the tests drive it without Textual.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from stampside.app.chairside.board import BoardSnapshot, read_board
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.change_feed import ChangeFeed, open_change_feed
from stampside.app.storage.database import Database
from stampside.app.storage.errors import StorageError, explain
from stampside.app.storage.read_only import open_read_only

__all__ = [
    "DEFAULT_HEARTBEAT_S",
    "DEFAULT_POLL_S",
    "BoardFollower",
    "BoardProblem",
    "BoardSource",
    "BoardUpdate",
    "open_board",
]

#: SQLite: seconds between two looks at ``PRAGMA data_version``.
DEFAULT_POLL_S = 0.5
#: Seconds after which the board reads again even without a change (rates fall, timers run out).
DEFAULT_HEARTBEAT_S = 5.0
#: The least time between the starts of two reads: the commits of a busy moment (every chair's
#: stamps) are read together, at most a few times a second.
MIN_READ_GAP_S = 0.25


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BoardProblem:
    """The database could not be read: one line for the status bar."""

    message: str
    at: datetime


BoardUpdate = BoardSnapshot | BoardProblem


@dataclass
class BoardSource:
    """What a board reads from: a read-only database, its change feed, the protocols it can name steps of."""

    database: Database
    feed: ChangeFeed | None
    protocols: tuple[TreatmentProtocol, ...] = ()
    clock: Callable[[], datetime] = utc_now
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    #: Reads done so far (tests count them: one per wake-up).
    reads: int = field(default=0, init=False)

    @property
    def how(self) -> str:
        """How the board learns of changes, for its status line."""
        return self.feed.description if self.feed is not None else "read once"

    def read(self) -> BoardUpdate:
        """The board now, or what stops it from being read."""
        now = self.clock()
        self.reads += 1
        try:
            return read_board(self.database, now, protocols=self.protocols)
        except StorageError as exc:
            return BoardProblem(str(exc), now)
        except SQLAlchemyError as exc:
            return BoardProblem(str(explain(self.database.url, exc)), now)
        except ValueError as exc:  # a record another chair changed while it was read: read again
            return BoardProblem(f"could not read the board: {exc}", now)

    def close(self) -> None:
        """Close the feed and the database (after the follower has stopped)."""
        if self.feed is not None:
            self.feed.close()
        self.database.close()


def open_board(
    url: str,
    *,
    protocols: Sequence[TreatmentProtocol] = (),
    live: bool = True,
    poll_s: float = DEFAULT_POLL_S,
    heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    clock: Callable[[], datetime] = utc_now,
) -> BoardSource:
    """The board's source on the database at ``url``; ``live``: with its change feed.

    Raises :class:`StorageError` (one line) when the database cannot be opened, is not at the
    newest schema, or cannot be listened to.
    """
    database = open_read_only(url)
    try:
        feed = open_change_feed(database, poll_interval=poll_s) if live else None
    except BaseException:
        database.close()
        raise
    return BoardSource(database, feed, tuple(protocols), clock, heartbeat_s)


class BoardFollower:
    """Reads ``source`` in a thread: at once, after each change its feed reports, and every heartbeat."""

    def __init__(self, source: BoardSource, publish: Callable[[BoardUpdate], object]) -> None:
        if source.feed is None:
            raise ValueError("a board followed live needs a change feed (open_board(..., live=True))")
        self.source = source
        self._feed = source.feed
        self._publish = publish
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stampside-board", daemon=True)
        #: What stopped the thread when it was not asked to stop (None: nothing did).
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait for it (a wait ends within a tenth of a second)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                update = self.source.read()
                if self._stop.is_set():
                    break
                with contextlib.suppress(RuntimeError):  # the screen's event loop has already closed
                    self._publish(update)
                if self._feed.wait(self.source.heartbeat_s, self._stop):
                    # A change: let the rest of a busy moment's commits land, then take their
                    # notifications too, so that one read covers them all.
                    self._stop.wait(max(0.0, MIN_READ_GAP_S - (time.monotonic() - began)))
                    self._feed.wait(0.0, self._stop)
        except Exception as exc:  # a feed that failed for good: said on the board, not a traceback
            self.error = exc
            with contextlib.suppress(Exception):
                self._publish(BoardProblem(f"the board stopped following changes: {exc}", self.source.clock()))
