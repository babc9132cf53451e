"""Chairs sharing one database: what an open session holds (patient, device, head), and a
notification for the clinic board on PostgreSQL.

``session_claims`` is new and starts empty, but sessions left open by an earlier version hold
their patient from this revision on (one row per open session, chair "unknown"); a database
with two open sessions of one patient (possible before) keeps the newest's claim. No existing
table changes, so the audit trail's records hash as before (claims are not audited).

On PostgreSQL, a statement-level trigger on the tables the board shows sends
``NOTIFY stampside_board, '<table>'`` (PostgreSQL folds repeats within a transaction into one),
so a board LISTENing wakes within a moment of a commit from any chair, whoever wrote it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stampside.app.storage.schema import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

#: The channel the board listens on, and the tables whose changes it shows.
BOARD_CHANNEL = "stampside_board"
BOARD_TABLES = ("treatment_sessions", "session_claims", "step_records", "stamp_events", "link_events", "devices")


def upgrade() -> None:
    op.create_table(
        "session_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("claim_key", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("chair", sa.String(length=80), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('patient', 'device', 'head')", name=op.f("ck_session_claims_kind")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["treatment_sessions.id"], name=op.f("fk_session_claims_session_id_treatment_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_claims")),
        sa.UniqueConstraint("kind", "claim_key", name=op.f("uq_session_claims_kind_claim_key")),
    )
    op.create_index(op.f("ix_session_claims_session_id"), "session_claims", ["session_id"], unique=False)
    # Sessions already open hold their patient (the newest one, should a patient have two).
    op.execute(
        """
        INSERT INTO session_claims (kind, claim_key, session_id, chair, claimed_at)
        SELECT 'patient', CAST(c.patient_id AS VARCHAR(64)), MAX(s.id), 'unknown', MAX(s.started_at)
        FROM treatment_sessions s JOIN courses c ON c.id = s.course_id
        WHERE s.status = 'open'
        GROUP BY c.patient_id
        """
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION stampside_board_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{BOARD_CHANNEL}', TG_TABLE_NAME);
                RETURN NULL;
            END $$
            """
        )
        for table in BOARD_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_board_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION stampside_board_notify()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in BOARD_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_board_notify ON {table}")
        op.execute("DROP FUNCTION IF EXISTS stampside_board_notify()")
    op.drop_index(op.f("ix_session_claims_session_id"), table_name="session_claims")
    op.drop_table("session_claims")
