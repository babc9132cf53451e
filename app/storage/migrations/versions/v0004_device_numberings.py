"""A device's numberings: one ``devices`` row per (serial, life), with the epoch; a session's active zone.

A device that restarts its numbering (wiped boot counter, re-flash, a board replaced under
the same serial) gets a new row for its serial, so its stamps never collide with the stored
ones. ``devices.serial`` is therefore no longer unique on its own: (serial, life) is. Every
existing device becomes life 1 with an unknown epoch.

On SQLite changing a table constraint needs a table copy (batch mode);
``stampside.app.storage.migrate`` turns foreign keys off for the copy and checks them before commit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("life", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("epoch", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("started_because", sa.String(length=300), nullable=True))
        batch.drop_constraint("uq_devices_serial", type_="unique")
        batch.create_unique_constraint(op.f("uq_devices_serial_life"), ["serial", "life"])
    with op.batch_alter_table("treatment_sessions") as batch:
        batch.add_column(sa.Column("active_zone", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("treatment_sessions") as batch:
        batch.drop_column("active_zone")
    with op.batch_alter_table("devices") as batch:
        batch.drop_constraint("uq_devices_serial_life", type_="unique")
        batch.create_unique_constraint(op.f("uq_devices_serial"), ["serial"])
        batch.drop_column("started_because")
        batch.drop_column("epoch")
        batch.drop_column("life")
