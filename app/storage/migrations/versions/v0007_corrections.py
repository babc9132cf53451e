"""Corrections: a stored record corrected in the app, with what changed, the reason, who and when.

One new table, empty at first; no existing table changes, so the audit trail's records hash as
before. The trail records corrections from their first row on (``corrections`` is among the
audited tables), so it needs no baseline.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stampside.app.storage.schema import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("corrected_by", sa.String(length=120), nullable=False),
        sa.Column("corrected_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_corrections_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    op.create_index(op.f("ix_corrections_patient_id"), "corrections", ["patient_id"], unique=False)
    op.create_index("ix_corrections_table_name_record_id", "corrections", ["table_name", "record_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_corrections_table_name_record_id", table_name="corrections")
    op.drop_index(op.f("ix_corrections_patient_id"), table_name="corrections")
    op.drop_table("corrections")
