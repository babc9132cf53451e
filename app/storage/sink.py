"""The database as the link session's durable sink (:class:`devicelink.sink.StampSink`)."""

from __future__ import annotations

import threading
import time

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.storage.database import Database
from app.storage.errors import explain
from app.storage.stamps import add_link_events, device_id_for, register_device, set_cursor, store_stamps, utc
from devicelink.sink import CommitBatch, Cursor
from firmware_protocol import DeviceInfo

#: Times a batch is retried after losing a race with another writer on the unique key.
INTEGRITY_RETRIES = 3


class DatabaseSink:
    """Stores stamp batches and the device's cursor in one transaction each.

    Called from worker threads, one call at a time. When :meth:`commit` returns, the
    transaction is durable (SQLite: WAL + ``synchronous=FULL``).

    While :attr:`session_id` names an open treatment session, newly stored stamps and link
    events join it in the same transaction. Setting it waits for a commit in progress, so
    one batch never straddles two sessions.
    """

    def __init__(self, database: Database, *, session_id: int | None = None) -> None:
        self.database = database
        self._device_ids: dict[str, int] = {}
        self._lock = threading.Lock()
        self._session_id = session_id

    @property
    def session_id(self) -> int | None:
        """The treatment session new stamps join, or ``None`` outside a session."""
        return self._session_id

    @session_id.setter
    def session_id(self, value: int | None) -> None:
        with self._lock:
            self._session_id = value

    def open_device(self, info: DeviceInfo) -> Cursor:
        try:
            with self._lock, self.database.Session.begin() as session:
                device = register_device(session, info, utc(time.time()))
                self._device_ids[info.serial] = device.id
                return (device.cursor_boot, device.cursor_seq)
        except SQLAlchemyError as exc:
            raise explain(self.database.url, exc) from None

    def commit(self, batch: CommitBatch) -> int:
        for attempt in range(INTEGRITY_RETRIES):
            try:
                with self._lock, self.database.Session.begin() as session:
                    device_id = None
                    if batch.serial is not None:
                        device_id = self._device_ids.get(batch.serial) or device_id_for(session, batch.serial)
                        if device_id is None:
                            raise ValueError(f"device {batch.serial!r} was never opened with open_device()")
                    new = 0
                    if device_id is not None:
                        new = store_stamps(session, device_id, batch.stamps, session_id=self._session_id)
                        if batch.cursor is not None:
                            set_cursor(session, device_id, batch.cursor)
                    add_link_events(session, device_id, batch.log, session_id=self._session_id)
                return new
            except IntegrityError as exc:
                if attempt == INTEGRITY_RETRIES - 1:
                    raise explain(self.database.url, exc) from None
            except SQLAlchemyError as exc:
                raise explain(self.database.url, exc) from None
        raise AssertionError("unreachable")
