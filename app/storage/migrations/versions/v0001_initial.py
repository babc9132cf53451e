"""Devices, stamp events and link events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stampside.app.storage.schema import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=12), nullable=False),
        sa.Column("hw_revision", sa.Integer(), nullable=False),
        sa.Column("firmware", sa.String(length=16), nullable=False),
        sa.Column("min_version", sa.SmallInteger(), nullable=False),
        sa.Column("max_version", sa.SmallInteger(), nullable=False),
        sa.Column("needle_um", sa.Integer(), nullable=False),
        sa.Column("head_id", sa.BigInteger(), nullable=False),
        sa.Column("head_uses", sa.Integer(), nullable=False),
        sa.Column("footprint_mm2", sa.Integer(), nullable=False),
        sa.Column("battery_pct", sa.SmallInteger(), nullable=False),
        sa.Column("last_boot", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("cursor_boot", sa.Integer(), nullable=False),
        sa.Column("cursor_seq", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
        sa.Column("last_seen", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("serial", name=op.f("uq_devices_serial")),
    )
    op.create_table(
        "stamp_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("boot", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("device_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("force_dn", sa.SmallInteger(), nullable=False),
        sa.Column("contact_ms", sa.Integer(), nullable=False),
        sa.Column("zone", sa.SmallInteger(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("replay", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_stamp_events_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stamp_events")),
        sa.UniqueConstraint("device_id", "boot", "seq", name=op.f("uq_stamp_events_device_id_boot_seq")),
    )
    op.create_table(
        "link_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_link_events_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_events")),
    )
    op.create_index("ix_link_events_device_id_at", "link_events", ["device_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_link_events_device_id_at", table_name="link_events")
    op.drop_table("link_events")
    op.drop_table("stamp_events")
    op.drop_table("devices")
