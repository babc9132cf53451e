from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stampside.app.storage import Database, DatabaseSink, open_database
from stampside.app.storage.schema import Device, StampEvent
from stampside.devicelink.session import LinkOptions
from tests.devicelink.scripted_device import ScriptedDevice

#: Short timings so link losses and retries happen within a test's patience.
FAST = LinkOptions(link_timeout=0.6, reply_timeout=0.2, backoff_initial=0.05, backoff_max=0.2, ping_interval=0)


@pytest.fixture
async def device(tmp_path: Path) -> AsyncIterator[ScriptedDevice]:
    dev = ScriptedDevice(heartbeat_interval=0.2)
    yield dev
    await dev.stop()


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """The link's database: a SQLite file, then a database on the suite's PostgreSQL server."""
    db = open_database(db_url)
    yield db
    db.close()


@pytest.fixture
def sink(database: Database) -> DatabaseSink:
    return DatabaseSink(database)


def stored(database: Database) -> list[tuple[int, int]]:
    """(boot, seq) of every stored stamp, in seq order."""
    with database.Session.begin() as session:
        return [(b, s) for b, s in session.execute(select(StampEvent.boot, StampEvent.seq).order_by(StampEvent.seq))]


def stored_count(database: Database) -> int:
    with database.Session.begin() as session:
        return session.scalar(select(func.count()).select_from(StampEvent)) or 0


def cursor(database: Database, serial: str = "TEST0001") -> tuple[int, int]:
    with database.Session.begin() as session:
        device = session.scalars(select(Device).where(Device.serial == serial)).one()
        return (device.cursor_boot, device.cursor_seq)
