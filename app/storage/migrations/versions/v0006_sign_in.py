"""Practitioner sign-in and signed records: PIN hashes, signatures, security events.

Three new tables, empty at first: every practitioner of an existing database has no PIN and
chooses one at their first sign-in (or ``stampside practitioner set-pin``); records stored
before this revision carry no signature. No existing table changes, so the audit trail's
records (v0005) hash as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stampside.app.storage.schema import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "practitioner_pins",
        sa.Column("practitioner_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pin_hash", sa.String(length=255), nullable=False),
        sa.Column("set_at", UtcDateTime(), nullable=False),
        sa.Column("failures", sa.SmallInteger(), nullable=False),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"], name=op.f("fk_practitioner_pins_practitioner_id_practitioners")
        ),
        sa.PrimaryKeyConstraint("practitioner_id", name=op.f("pk_practitioner_pins")),
    )
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("signer_name", sa.String(length=120), nullable=False),
        sa.Column("meaning", sa.String(length=16), nullable=False),
        sa.Column("signed_at", UtcDateTime(), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "meaning IN ('performed', 'reviewed', 'approved', 'overridden')", name=op.f("ck_signatures_meaning")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_signatures_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"], name=op.f("fk_signatures_practitioner_id_practitioners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signatures")),
    )
    op.create_index(op.f("ix_signatures_patient_id"), "signatures", ["patient_id"], unique=False)
    op.create_index("ix_signatures_record_type_record_id", "signatures", ["record_type", "record_id"], unique=False)
    op.create_table(
        "security_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"], name=op.f("fk_security_events_practitioner_id_practitioners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    op.create_index(op.f("ix_security_events_at"), "security_events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_security_events_at"), table_name="security_events")
    op.drop_table("security_events")
    op.drop_index("ix_signatures_record_type_record_id", table_name="signatures")
    op.drop_index(op.f("ix_signatures_patient_id"), table_name="signatures")
    op.drop_table("signatures")
    op.drop_table("practitioner_pins")
