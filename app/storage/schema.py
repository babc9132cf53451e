"""The database schema: devices, their stamp events and a log of link events.

Alembic migrations in ``migrations/versions`` create and change these tables; every change
here needs a new migration. The metadata carries a naming convention so constraint names
are the same on every database, which migrations rely on.

Integers that are u32 on the wire (``seq``, ``device_time_ms``, ``head_id``) are
BigInteger, because INTEGER is signed 32-bit on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A 64-bit primary key that is still SQLite's auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no time zone; PostgreSQL uses ``timestamptz``. Both give back UTC here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Device(Base):
    """A derma stamp, by serial number, with the identity it last reported and its delivery cursor."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(12), unique=True)
    hw_revision: Mapped[int]
    firmware: Mapped[str] = mapped_column(String(16))
    min_version: Mapped[int] = mapped_column(SmallInteger)
    max_version: Mapped[int] = mapped_column(SmallInteger)
    needle_um: Mapped[int]
    head_id: Mapped[int] = mapped_column(BigInteger)
    head_uses: Mapped[int]
    footprint_mm2: Mapped[int]
    battery_pct: Mapped[int] = mapped_column(SmallInteger)
    last_boot: Mapped[int]
    last_seq: Mapped[int] = mapped_column(BigInteger)
    #: Delivery cursor: every event of this device with seq <= cursor_seq is stored
    #: (or was acknowledged to another host). Written in the same transaction as the stamps.
    cursor_boot: Mapped[int] = mapped_column(default=0)
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class StampEvent(Base):
    """One stamp a device counted, stored exactly once per (device, boot, seq)."""

    __tablename__ = "stamp_events"
    __table_args__ = (UniqueConstraint("device_id", "boot", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    boot: Mapped[int]
    seq: Mapped[int] = mapped_column(BigInteger)
    device_time_ms: Mapped[int] = mapped_column(BigInteger)
    #: Peak force in tenths of a newton, exactly as the device sent it (export: force_dn / 10 N).
    force_dn: Mapped[int] = mapped_column(SmallInteger)
    contact_ms: Mapped[int]
    #: 0 = unknown, 1–5 scalp zones (docs/protocol.md 4.2).
    zone: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Arrived as a replay (answer to RESUME) rather than live.
    replay: Mapped[bool]


class LinkEvent(Base):
    """Something that happened to a link: connects, drops, reboots, resyncs."""

    __tablename__ = "link_events"
    __table_args__ = (Index("ix_link_events_device_id_at", "device_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500), default="")
