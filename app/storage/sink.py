"""The database as the link session's durable sink (:class:`stampside.devicelink.sink.StampSink`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from stampside.app.storage.audit_actor import acting_as
from stampside.app.storage.database import Database
from stampside.app.storage.errors import explain
from stampside.app.storage.stamps import (
    add_link_events,
    bind_epoch,
    device_row_id,
    ledger_of,
    register_device,
    set_cursor,
    start_numbering,
    store_stamps,
    utc,
)
from stampside.devicelink.sink import CommitBatch, StoredStamp
from stampside.firmware_protocol import DeviceInfo
from stampside.firmware_protocol.host_events import Ledger

#: Times a batch is retried after losing a race with another writer on the unique key.
INTEGRITY_RETRIES = 3


class DatabaseSink:
    """Stores stamp batches with their session and zone, and the ledger's cursor, in one transaction each.

    Called from worker threads, one call at a time. When :meth:`commit` returns, the
    transaction is durable (SQLite: WAL + ``synchronous=FULL``). A stamp's treatment
    session and credited zone come from the tags it arrived with
    (:class:`stampside.devicelink.sink.StampTags`) and are written in the INSERT that stores it. The
    audit trail names the device as the actor (``link:<serial>``) and keeps the stamps as one
    total per session (:mod:`stampside.app.storage.audit`).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._device_ids: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def open_device(self, info: DeviceInfo) -> Ledger:
        try:
            with self._lock, self.database.Session.begin() as session:
                device = register_device(session, info, utc(time.time()))
                self._device_ids[(device.serial, device.life)] = device.id
                return ledger_of(device)
        except SQLAlchemyError as exc:
            raise explain(self.database.url, exc) from None

    def start_life(self, info: DeviceInfo, previous: Ledger, epoch: int, reason: str) -> Ledger:
        try:
            with self._lock, self.database.Session.begin() as session:
                device = start_numbering(session, info, epoch, reason, utc(time.time()))
                self._device_ids[(device.serial, device.life)] = device.id
                return ledger_of(device)
        except SQLAlchemyError as exc:
            raise explain(self.database.url, exc) from None

    def bind_epoch(self, ledger: Ledger, epoch: int) -> None:
        try:
            with self._lock, self.database.Session.begin() as session:
                bind_epoch(session, self._device_id(session, ledger), epoch)
        except SQLAlchemyError as exc:
            raise explain(self.database.url, exc) from None

    def commit(self, batch: CommitBatch) -> Sequence[StoredStamp]:
        for attempt in range(INTEGRITY_RETRIES):
            try:
                with self._lock, acting_as(_actor(batch)), self.database.Session.begin() as session:
                    device_id = None
                    stored: list[StoredStamp] = []
                    ledger = batch.ledger
                    if ledger is not None:
                        device_id = self._device_id(session, ledger)
                        stored = store_stamps(session, device_id, ledger, batch.stamps)
                        if batch.cursor is not None:
                            set_cursor(session, device_id, batch.cursor)
                    add_link_events(
                        session,
                        [
                            (entry, self._device_id(session, entry.ledger) if entry.ledger is not None else device_id)
                            for entry in batch.log
                        ],
                    )
                return stored
            except IntegrityError as exc:
                if attempt == INTEGRITY_RETRIES - 1:
                    raise explain(self.database.url, exc) from None
            except SQLAlchemyError as exc:
                raise explain(self.database.url, exc) from None
        raise AssertionError("unreachable")

    def _device_id(self, session: Session, ledger: Ledger) -> int:
        key = (ledger.serial, ledger.life)
        found = self._device_ids.get(key) or device_row_id(session, *key)
        if found is None:
            raise ValueError(f"device {ledger.serial!r} life {ledger.life} was never opened with open_device()")
        self._device_ids[key] = found
        return found


def _actor(batch: CommitBatch) -> str:
    """Who the audit trail names for a batch: the device that sent it (``link:<serial>``)."""
    ledger = batch.ledger or next((entry.ledger for entry in batch.log if entry.ledger is not None), None)
    return f"link:{ledger.serial}" if ledger is not None else "link"
